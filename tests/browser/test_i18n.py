"""English and Korean in the browser: the switch, a Korean question, the Korean page."""

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

KOREAN_QUESTION = "연 수입 8만 5천 유로의 세금은 얼마인가요?"


def test_switch_to_korean_ask_in_korean_and_read_korean(
    page: Page, live_server_url: str, artifacts: Path
) -> None:
    username = f"k{uuid.uuid4().hex[:8]}"
    page.goto(f"{live_server_url}/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("a long passphrase 9")
    page.get_by_label("Password confirmation").fill("a long passphrase 9")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("button", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("#connection")).to_have_text("연결됨")  # from the script catalogue
    expect(page.get_by_role("button", name="English")).to_be_visible()
    expect(page.locator(".disclaimer summary")).to_contain_text("시연용이에요")

    message_box = page.get_by_role("textbox", name="메시지")
    message_box.fill(KOREAN_QUESTION)
    message_box.press("Enter")
    answer = page.locator(".bubble--assistant").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    card = answer.locator(".calc-card")
    expect(card).to_contain_text("세금 계산")
    expect(card).to_contain_text("실효세율")
    expect(card.locator(".calc-tax dd")).to_have_text("€14,500.00")
    expect(answer.locator(".markdown")).to_contain_text("€14,500.00")
    assert re.search("[가-힣]", answer.locator(".markdown").inner_text())  # a Korean answer
    expect(answer.get_by_role("button", name="좋은 답변")).to_be_visible()
    expect(answer.get_by_role("button", name="다시 생성")).to_be_visible()
    page.screenshot(path=str(artifacts / "i18n-korean-desktop.png"), full_page=True)

    # Remembered: a new visit is Korean, and so is the phone layout.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("#connection")).to_have_text("연결됨")
    expect(page.locator(".bubble--assistant .calc-card").last).to_contain_text("세금 계산")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts / "i18n-korean-phone.png"))

    # Stopping in Korean: the stored notice is shown in Korean.
    message_box.fill("연 수입 100만 유로의 세금은?")
    message_box.press("Enter")
    streaming = page.locator(".bubble--assistant").last
    expect(streaming.locator(".streaming-text")).not_to_be_empty()
    page.get_by_role("button", name=re.compile("답변 중지")).click()
    expect(streaming).to_have_attribute("data-status", "interrupted")
    expect(streaming).to_contain_text("답변이 끝나기 전에 중지했어요.")

    # And back to English: the same answer, its notice in English.
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator(".bubble--assistant").last).to_contain_text(
        "Stopped before the answer was finished."
    )


def test_a_korean_browser_gets_korean_pages(
    browser: Any, live_server_url: str, artifacts: Path
) -> None:
    context = browser.new_context(locale="ko-KR", viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{live_server_url}/accounts/login/")
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        expect(page.get_by_role("heading", name="로그인")).to_be_visible()
        expect(page.get_by_role("link", name="계정 만들기")).to_be_visible()
        page.get_by_role("button", name="로그인").click()  # empty: Django's own Korean errors
        expect(page.locator(".field-errors").first).to_contain_text("필수 항목")
        page.screenshot(path=str(artifacts / "i18n-korean-login-phone.png"))
    finally:
        context.close()
