"""The server process is killed mid-answer: nothing is lost and the conversation goes on."""

import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_chat_flow import sign_up
from tests.helpers.servers import SERVERS, free_port, serve_taxsite

pytestmark = pytest.mark.browser


def test_killed_server_leaves_the_answer_interrupted_with_its_checkpointed_text(
    page: Page, tmp_path: Path, artifacts: Path
) -> None:
    port = free_port()
    lease = {"CHAT_TURN_LEASE_SECONDS": "3"}
    slow = {"OFFLINE_TOKEN_DELAY": "0.15", "CHAT_CHECKPOINT_SECONDS": "0.2", **lease}
    with serve_taxsite(tmp_path, port=port, **slow) as url:
        sign_up(page, url)
        box = page.get_by_role("textbox", name="Message")
        box.fill("What is the tax on 85,000 euros of revenue?")
        box.press("Enter")
        answer = page.locator(".bubble--assistant").last
        expect(answer.locator(".streaming-text")).to_contain_text("the tax is")
        page.wait_for_timeout(600)  # past a checkpoint
        SERVERS[url].send_signal(signal.SIGKILL)
        SERVERS[url].wait(timeout=10)
        expect(page.locator("#connection")).to_have_text("Reconnecting…")

    # Restarted as `make run` does; the page's socket reconnects by itself, and the new
    # process's sweep ends the dead process's answer once its lease has lapsed.
    with serve_taxsite(tmp_path, port=port, **lease) as url:
        expect(answer).to_have_attribute("data-status", "interrupted", timeout=30_000)
        expect(answer).to_contain_text("I read your yearly revenue")
        expect(answer).to_contain_text(
            "The server writing this answer stopped before it was finished."
        )
        expect(page.locator("#connection")).to_have_text("Live")
        page.screenshot(path=str(artifacts / "restart-interrupted.png"))
        box = page.get_by_role("textbox", name="Message")
        box.fill("tax on 20000 EUR")
        box.press("Enter")
        expect(page.locator(".bubble--assistant").last).to_have_attribute(
            "data-status", "complete", timeout=20_000
        )
        expect(page.locator(".bubble--assistant").last).to_contain_text("€1,000.00")
