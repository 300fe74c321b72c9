"""A reasoning model's thoughts, in the browser: a collapsed section above the answer, inert."""

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_chat_flow import sign_up
from tests.fake_openai import Text
from tests.helpers.servers import serve_taxsite

pytestmark = pytest.mark.browser

REASONING = (
    "The person greets me. I **should** answer briefly. "
    "<img src=/evil-reasoning onerror=\"alert('reasoning')\"> "
    + " ".join(f"thought{i}" for i in range(60))
)


def test_reasoning_is_a_collapsed_section_apart_from_the_answer(
    page: Page, browser_fake_openai: Any, tmp_path: Path, artifacts: Path
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with serve_taxsite(
        tmp_path,
        ASSISTANT_ENGINE="chat",
        OPENAI_API_KEY="sk-browser",
        OPENAI_BASE_URL=browser_fake_openai.base_url,
    ) as url:
        sign_up(page, url)
        browser_fake_openai.script(
            Text("Hello! How can I help with your taxes?", reasoning=REASONING)
        )
        box = page.get_by_role("textbox", name="Message")
        box.fill("hello")
        box.press("Enter")
        answer = page.locator(".bubble--assistant").last
        reasoning = answer.locator("details.reasoning")
        # While only reasoning streams, it is visible without a click.
        expect(reasoning).to_have_attribute("open", "", timeout=20_000)
        expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
        expect(answer.locator(".bubble-body .markdown")).to_have_text(
            "Hello! How can I help with your taxes?"
        )
        expect(reasoning).not_to_have_attribute("open", "")  # collapsed once answered
        expect(reasoning.locator(".reasoning-text")).to_be_hidden()
        page.screenshot(path=str(artifacts / "reasoning-collapsed.png"))
        reasoning.locator("summary").click()
        expect(reasoning.locator(".reasoning-text")).to_contain_text("The person greets me.")
        expect(reasoning.locator("strong")).to_have_text("should")  # Markdown, sanitized
        assert answer.locator(".bubble-body .markdown").inner_text().count("thought") == 0
        page.screenshot(path=str(artifacts / "reasoning-open.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(artifacts / "reasoning-open-390.png"))
        page.reload()
        expect(page.locator(".bubble--assistant details.reasoning")).to_have_count(1)
    assert dialogs == []
