"""Each OpenAI engine, in the browser, against the fake OpenAI server over real HTTP."""

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_chat_flow import sign_up
from tests.helpers.servers import serve_taxsite

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("engine", ["responses", "chat", "assistants"])
def test_each_engine_chats_in_the_browser(
    page: Page,
    browser_fake_openai: Any,
    tmp_path: Path,
    artifacts: Path,
    engine: str,
) -> None:
    with serve_taxsite(
        tmp_path,
        ASSISTANT_ENGINE=engine,
        OPENAI_API_KEY="sk-browser",
        OPENAI_BASE_URL=browser_fake_openai.base_url,
        OPENAI_MODEL="gpt-fake-1",
    ) as url:
        sign_up(page, url)
        expect(page.locator(".engine-badge")).to_contain_text("gpt-fake-1")
        # The streaming state is short with a fast fake: record it as it happens, not by polling.
        page.evaluate(
            """() => {
              window.sawStreaming = false;
              new MutationObserver(() => {
                if (document.querySelector('.bubble--assistant[data-status="streaming"] .typing')) {
                  window.sawStreaming = true;
                }
              }).observe(document.body, {subtree: true, childList: true, attributes: true});
            }"""
        )
        box = page.get_by_role("textbox", name="Message")
        box.fill("What is the tax on 85,000 euros of revenue?")
        box.press("Enter")
        answer = page.locator(".bubble--assistant").last
        expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
        assert page.evaluate("() => window.sawStreaming")  # it streamed, typing dots and all
        expect(answer.locator(".calc-tax dd")).to_have_text("€14,500.00")
        expect(answer.locator(".markdown")).to_have_text("The tax on €85000.00 is €14500.00.")
        expect(answer.locator(".bubble-meta")).to_contain_text("gpt-fake-1")
        expect(answer.locator(".bubble-meta")).to_contain_text("tokens")
        page.screenshot(path=str(artifacts / f"engine-{engine}.png"))
        page.reload()
        expect(page.locator(".bubble--assistant .calc-tax dd")).to_have_text("€14,500.00")
