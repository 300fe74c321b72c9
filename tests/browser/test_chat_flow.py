"""What a person does on the page, in Debian's Chromium."""

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

QUESTION = "What is the tax on 85,000 euros of revenue?"


def sign_up(page: Page, base_url: str) -> str:
    username = f"p{uuid.uuid4().hex[:8]}"
    page.goto(f"{base_url}/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("a long passphrase 9")
    page.get_by_label("Password confirmation").fill("a long passphrase 9")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#connection")).to_have_text("Live")
    return username


def test_sign_up_ask_stream_card_reload_history(
    page: Page, live_server_url: str, artifacts: Path
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_up(page, live_server_url)
    expect(page.get_by_text("not real tax law").first).to_be_visible()

    message_box = page.get_by_role("textbox", name="Message")
    message_box.fill(QUESTION)
    message_box.press("Enter")

    expect(page.locator(".bubble--user .plain")).to_have_text(QUESTION)
    expect(message_box).to_have_value("")
    answer = page.locator(".bubble--assistant").last
    # Streaming: the typing indicator shows while the text grows token by token.
    expect(answer.locator(".typing")).to_be_visible()
    expect(answer.locator(".streaming-text")).to_contain_text("I read your yearly revenue")
    partial = answer.locator(".streaming-text").inner_text()
    page.screenshot(path=str(artifacts / "chat-streaming.png"))
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    assert len(partial) < len(answer.locator(".markdown").inner_text())
    expect(answer.locator(".typing")).to_have_count(0)

    card = answer.locator(".calc-card")
    expect(card).to_contain_text("Tax calculation")
    expect(card.locator(".calc-tax dd")).to_have_text("€14,500.00")
    expect(card.locator(".calc-breakdown tbody tr")).to_have_count(4)
    expect(answer.locator(".markdown strong").nth(1)).to_have_text("€14,500.00")
    # The card stands above the answer text.
    assert card.bounding_box()["y"] < answer.locator(".markdown").bounding_box()["y"]
    expect(page.locator("#conversation-list")).to_contain_text("Tax on €85,000")
    expect(page.locator("#chat-title")).to_contain_text("Tax on €85,000")
    page.screenshot(path=str(artifacts / "chat-answered.png"))

    page.reload()
    expect(page.locator(".bubble--user .plain")).to_have_text(QUESTION)
    expect(page.locator(".bubble--assistant .calc-tax dd")).to_have_text("€14,500.00")
    expect(page.locator(".bubble--assistant .markdown")).to_contain_text("€14,500.00")
    assert dialogs == []


def test_shift_enter_is_a_new_line_and_enter_sends(page: Page, live_server_url: str) -> None:
    sign_up(page, live_server_url)
    message_box = page.get_by_role("textbox", name="Message")
    message_box.type("first line")
    message_box.press("Shift+Enter")
    message_box.type("tax on 20000 EUR")
    expect(message_box).to_have_value("first line\ntax on 20000 EUR")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".bubble--assistant").last).to_have_attribute("data-status", "complete")
    expect(page.locator(".bubble--user .plain").last).to_have_text("first line\ntax on 20000 EUR")


def test_reload_mid_answer_shows_text_so_far_and_keeps_streaming(
    page: Page, live_server_url: str
) -> None:
    sign_up(page, live_server_url)
    page.get_by_role("textbox", name="Message").fill("tax on 250000 EUR")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".bubble--assistant .streaming-text")).to_contain_text("tax is")
    page.reload()
    answer = page.locator(".bubble--assistant").last
    expect(page.locator(".bubble--user .plain")).to_have_text("tax on 250000 EUR")
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(answer.locator(".markdown")).to_contain_text("€74,000.00")


def test_stop_keeps_the_partial_answer(page: Page, live_server_url: str) -> None:
    sign_up(page, live_server_url)
    page.get_by_role("textbox", name="Message").fill("tax on 1000000 EUR")
    page.get_by_role("textbox", name="Message").press("Enter")
    answer = page.locator(".bubble--assistant").last
    expect(answer.locator(".streaming-text")).to_contain_text("tax is")
    page.get_by_role("button", name=re.compile("Stop")).click()
    expect(answer).to_have_attribute("data-status", "interrupted")
    expect(answer).to_contain_text("Stopped before the answer was finished")
    expect(page.get_by_role("button", name=re.compile("Stop"))).to_be_hidden()
