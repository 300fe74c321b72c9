"""A Korean conversation with follow-ups, on the page, with the offline engine."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_chat_flow import sign_up

pytestmark = pytest.mark.browser


def ask(page: Page, text: str, answers: int) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(".bubble--assistant")).to_have_count(answers)
    answer = page.locator(".bubble--assistant").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=30_000)


def test_korean_question_and_follow_up(page: Page, live_server_url: str, artifacts: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_up(page, live_server_url)
    ask(page, "연 수입 8만 5천 유로면 세금이 얼마인가요?", 1)
    first = page.locator(".bubble--assistant").last
    expect(first.locator(".markdown")).to_contain_text("연간 수입을 €85,000.00(으)로 읽었습니다.")
    expect(first.locator(".calc-tax dd")).to_have_text("€14,500.00")
    expect(first.locator(".calc-note")).to_contain_text("demo-2026.1")

    ask(page, "두 배라면?", 2)
    second = page.locator(".bubble--assistant").last
    expect(second.locator(".markdown")).to_contain_text(
        "이전 수입의 두 배 금액은 €170,000.00입니다."
    )
    expect(second.locator(".calc-tax dd")).to_have_text("€42,000.00")
    expect(second.locator(".grounding-note")).to_have_count(0)
    page.screenshot(path=str(artifacts / "offline-korean-follow-up-mobile.png"))
