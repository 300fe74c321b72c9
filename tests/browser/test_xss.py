"""Hostile text from the model and from the person is inert on the page: no dialog, no request."""

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_chat_flow import sign_up
from tests.fake_openai import Text
from tests.helpers.servers import serve_taxsite

pytestmark = pytest.mark.browser

PAYLOAD = (
    "<script>alert('script')</script> "
    "<img src=/evil-img onerror=\"alert('img')\"> "
    "[click me](javascript:alert('link')) "
    "[data](data:text/html,<script>alert('data')</script>) "
    '<div hx-get="/evil-hx" hx-trigger="load">hx</div> '
    '<p style="position:fixed;inset:0;background:red">cover</p> '
    '<a href="#" onclick="alert(\'click\')">onclick</a> **still bold**'
)


def test_hostile_model_output_and_person_text_stay_inert(
    page: Page, browser_fake_openai: Any, tmp_path: Path, artifacts: Path
) -> None:
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    with serve_taxsite(
        tmp_path,
        ASSISTANT_ENGINE="chat",
        OPENAI_API_KEY="sk-browser",
        OPENAI_BASE_URL=browser_fake_openai.base_url,
    ) as url:
        sign_up(page, url)
        browser_fake_openai.script(Text(PAYLOAD))
        box = page.get_by_role("textbox", name="Message")
        box.fill("<img src=/evil-title onerror=\"alert('title')\"> hello")
        box.press("Enter")
        answer = page.locator(".bubble--assistant").last
        expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
        expect(answer.locator(".markdown strong")).to_have_text("still bold")
        expect(answer).to_contain_text("[click me]")  # shown as text, never as a link
        expect(page.locator('a[href^="javascript:"], a[href^="data:"]')).to_have_count(0)
        page.screenshot(path=str(artifacts / "xss-inert.png"))
        page.reload()  # the resumed history too
        expect(page.locator(".bubble--assistant .markdown strong")).to_have_text("still bold")
        expect(page.locator("#conversation-list")).to_contain_text("<img src=/evil-title")
        page.wait_for_timeout(300)

    assert dialogs == []
    origin = urlparse(url).netloc
    for requested in requests:
        parsed = urlparse(requested)
        assert parsed.netloc == origin, requested
        assert "evil" not in parsed.path, requested
    assert page.locator("[onclick], [onerror], [hx-get], [style]").count() == 0
