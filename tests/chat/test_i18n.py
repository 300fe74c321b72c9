"""English and Korean: pages, forms, stored notices and the socket speak the reader's language."""

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import polib
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation

from chat import services, turns
from chat.amounts import format_euros
from chat.engines import errors
from chat.engines.wire import provider_error
from chat.models import Conversation, Message, ToolCall
from chat.notices import notice_localized
from chat.templatetags.chat_tags import euros
from chat.templatetags.tax_tags import tax_table_summary
from chat.tools.registry import registry
from chat.tools.tax import TABLE
from review.models import StaffAccess
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    is_finished_bubble,
    receive_until,
    session_cookie,
    socket_for,
)

KO = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.5"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}


def html_lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', html)
    assert found
    return found.group(1)


# --- Language choice -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_browser_language_chooses_the_page_language(client: Client) -> None:
    korean = client.get("/accounts/login/", **KO).content.decode()
    assert html_lang(korean) == "ko"
    assert "<h1>로그인</h1>" in korean
    assert "계정 만들기" in korean
    assert "<h1>Log in</h1>" not in korean

    english = Client().get("/accounts/login/", **EN).content.decode()
    assert html_lang(english) == "en"
    assert "<h1>Log in</h1>" in english
    # A language we do not have falls back to English.
    french = Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert html_lang(french) == "en"


@pytest.mark.django_db
def test_the_switch_is_remembered_over_the_browser_language(client: Client, alice: User) -> None:
    client.force_login(alice)
    page = client.get("/", follow=True, **EN).content.decode()
    assert 'name="language" value="ko"' in page  # the switch offers the other language
    assert '<span class="who">Signed in as <strong>alice</strong></span>' in page

    switched = client.post("/i18n/setlang/", {"language": "ko", "next": "/"}, **EN)
    assert switched.status_code == 302
    cookie = switched.cookies["django_language"]
    assert cookie.value == "ko"
    assert int(cookie["max-age"]) >= 300 * 24 * 3600  # remembered, not for the session only

    page = client.get("/", follow=True, **EN).content.decode()
    assert html_lang(page) == "ko"
    assert "<strong>alice</strong>(으)로 로그인됨" in page
    assert 'name="language" value="en"' in page  # and back
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert html_lang(client.get("/", follow=True, **KO).content.decode()) == "en"


@pytest.mark.django_db
def test_the_switch_refuses_a_foreign_next_url(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def _script_words(html: str) -> dict[str, str]:
    found = re.search(r'<script id="script-words" type="application/json">(.*?)</script>', html)
    assert found
    words: dict[str, str] = json.loads(found.group(1))
    return words


@pytest.mark.django_db
def test_the_scripts_words_are_embedded_in_the_pages_language(client: Client, alice: User) -> None:
    """No generated script (the CSP allows only our static files): JSON data in the page."""
    client.force_login(alice)
    page = client.get("/", follow=True, **KO)
    words = _script_words(page.content.decode())
    assert words["Live"] == "연결됨"
    assert words["Reconnecting…"] == "다시 연결하는 중…"
    assert words["Version %s"] == "버전 %s"
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    # Exactly our own words: not the Django admin's script catalogue.
    ours = polib.pofile(str(Path(__file__).parents[2] / "locale/ko/LC_MESSAGES/djangojs.po"))
    assert set(words) == {entry.msgid for entry in ours}
    english = Client()
    english.force_login(alice)
    assert _script_words(english.get("/", follow=True, **EN).content.decode()) == {}


# --- The conversation page in Korean ---------------------------------------------------------


def _answered(owner: User, *, status: str = "complete", error: str = "") -> Conversation:
    conversation = services.conversation_get_or_create_empty(owner=owner)
    Message.objects.create(conversation=conversation, role="user", text="85,000 유로의 세금은?")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", text="세금은 **€14,500.00**", status=status
    )
    answer.status_notice = error
    answer.save()
    outcome = registry.run("calculate_tax", '{"revenue": "85000"}')
    ToolCall.objects.create(
        message=answer,
        call_id="call_1",
        name=outcome.name,
        raw_arguments='{"revenue": "85000"}',
        parsed_input=outcome.parsed_input,
        output=outcome.output,
        result=outcome.result,
        error=outcome.error,
    )
    return conversation


@pytest.mark.django_db
def test_the_chat_page_in_korean(client: Client, alice: User, bob: User) -> None:
    conversation = _answered(alice)
    StaffAccess.objects.create(conversation=conversation, viewer=bob, what="viewed")
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/", **KO).content.decode()
    assert html_lang(page) == "ko"
    # The disclaimer, from the one table, with a Korean date.
    assert "<strong>시연용이에요:</strong> 실제 세법이 아니며 세무 상담도 아니에요." in page
    assert "2026년 1월 1일부터 적용되는 시연용 세율표 demo-2026.1" in page
    assert "€10,000까지 0%, €30,000까지 10%, €70,000까지 20%, €150,000까지 30%, 그 이상 40%" in page
    # The calculation card: tax vocabulary, amounts, the stored note translated.
    for korean in ("세금 계산", "연 수입", "실효세율", "과세 구간", "과세 금액", "세율표"):
        assert korean in page
    assert "€85,000.00" in page
    assert "€14,500.00" in page
    assert "시연용 세율표이며 실제 세법이 아니에요." in page
    # The composer, feedback and the staff notice.
    assert 'placeholder="연 수입에 대한 세금을 물어보세요…"' in page
    assert ">보내기</button>" in page
    assert "답변 중지" in page
    assert ">좋은 답변</button>" in page
    assert ">나쁜 답변</button>" in page
    assert re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일에 직원이 확인했어요", page)
    for english in (
        "Tax calculation",
        "Effective rate",
        "Good answer",
        "Viewed by staff",
        ">Send<",
    ):
        assert english not in page


@pytest.mark.django_db
def test_the_english_page_is_unchanged(client: Client, alice: User) -> None:
    conversation = _answered(alice)
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/", **EN).content.decode()
    assert f"({TABLE.summary()})" in page
    assert "in effect from 1 January 2026" in page
    assert "Tax calculation" in page
    assert "Effective rate" in page
    assert "Demonstration tax table, not real tax law." in page
    assert "연 수입" not in page


def test_the_summary_is_the_tables_own_wording_in_english() -> None:
    with translation.override("en"):
        assert tax_table_summary() == TABLE.summary()
    with translation.override("ko"):
        assert tax_table_summary().startswith("€10,000까지 0%")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_euro_amounts_are_written_the_same_way_in_both_languages(language: str) -> None:
    with translation.override(language):
        assert euros("14500") == "€14,500.00"
        assert euros(Decimal("1234567.455")) == "€1,234,567.46"  # half-up, like the tool
        assert format_euros(Decimal("10000"), drop_zero_cents=True) == "€10,000"
        assert euros("not a number") == "not a number"


# --- Forms and throttling ------------------------------------------------------------------------


@pytest.mark.django_db
def test_form_errors_in_korean(client: Client, alice: User) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "username": "\uff41\uff4c\uff49\uff43\uff45",  # full-width alice
            "password1": "short",
            "password2": "short",
        },
        **KO,
    )
    html = response.content.decode()
    assert html_lang(html) == "ko"
    assert "이미 있는 사용자 이름과 비슷해 보여요" in html or "이미 존재합니다" in html
    assert "이 비밀번호는 너무 짧습니다." in html  # Django's own Korean catalogue


@pytest.mark.django_db
def test_a_throttled_login_says_how_long_in_korean(client: Client, alice: User) -> None:
    for _attempt in range(6):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"}, **KO)
    assert response.status_code == 429
    assert "시도가 너무 많아요. 1분 후에 다시 시도해 주세요." in response.content.decode()


# --- Stored notices ----------------------------------------------------------------------------


def test_every_stored_notice_reads_back_in_korean() -> None:
    with translation.override("en"):
        rate_limited = errors.RATE_LIMITED.format(wait=errors._wait_phrase(37))
        model = errors.NOT_FOUND_MODEL.format(model="gpt-x")
        said = provider_error({"error": {"message": "Quota exceeded for org-1"}}).message
    assert rate_limited == (
        "The AI provider is busy and asked us to slow down (429). Try again in 37 s."
    )
    with translation.override("ko"):
        assert notice_localized(rate_limited) == (
            "AI 제공자가 바빠서 요청 속도를 줄여 달라고 했어요(429). 37초 후에 다시 시도해 주세요."
        )
        assert notice_localized(model).startswith("AI 제공자가 'gpt-x' 모델을 알지 못해요(404).")
        # The provider's own words are shown as it wrote them.
        assert notice_localized(said) == "AI 제공자가 오류를 알렸어요: Quota exceeded for org-1"
        assert notice_localized(turns.STOPPED_MESSAGE) == "답변이 끝나기 전에 중지했어요."
        assert notice_localized("Something no one wrote here.") == "Something no one wrote here."
    with translation.override("en"):
        for text in (rate_limited, model, said, turns.STOPPED_MESSAGE):
            assert notice_localized(text) == text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "shown"),
    [("ko", "답변이 끝나기 전에 중지했어요."), ("en", "Stopped before the answer was finished.")],
)
def test_a_stored_notice_is_shown_in_the_readers_language(
    client: Client, alice: User, language: str, shown: str
) -> None:
    conversation = _answered(alice, status="interrupted", error=turns.STOPPED_MESSAGE)
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert shown in page
    label = "중단됨:" if language == "ko" else "Interrupted:"
    assert f'<p class="bubble-notice" role="alert">{label} {shown}</p>' in page


# --- The socket ----------------------------------------------------------------------------------


async def _socket(user: User, conversation: Conversation, language: str | None) -> Any:
    headers = [ORIGIN, await asyncio.to_thread(session_cookie, user)]
    if language:
        # The switch's cookie, next to the session's, as the browser sends them.
        name, value = headers[1]
        headers[1] = (name, value + f"; django_language={language}".encode())
    socket = socket_for(f"/ws/conversations/{conversation.pk}/", headers)
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_from()  # the catch-up transcript
    return socket


@pytest.mark.django_db(transaction=True)
async def test_the_sockets_alerts_speak_the_sessions_language(alice: User) -> None:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    korean = await _socket(alice, conversation, "ko")
    await korean.send_to(text_data="{not json")
    assert "올바른 JSON 프레임이 아니에요." in await korean.receive_from()
    await korean.send_to(text_data=frame("   "))
    assert "먼저 메시지를 입력해 주세요." in await korean.receive_from()
    await korean.send_to(text_data=frame("x" * 5000))
    assert "메시지가 5,000자예요. 최대 4,000자까지 보낼 수 있어요." in await korean.receive_from()
    english = await _socket(alice, conversation, None)
    await english.send_to(text_data=frame("   "))
    assert "Type a message first." in await english.receive_from()
    await korean.disconnect()
    await english.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_each_socket_sees_the_answer_in_its_own_language(alice: User) -> None:
    """A Korean tab and an English tab on one conversation: one answer, two languages of
    page; the answer itself follows the question (asked in Korean, answered in Korean)."""
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    korean = await _socket(alice, conversation, "ko")
    english = await _socket(alice, conversation, "en")
    await korean.send_to(text_data=frame("연 수입 8만 5천 유로의 세금은 얼마인가요?"))
    appended = (await receive_until(korean, is_appended))[-1]
    assert 'aria-label="내 메시지"' in appended
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    korean_frames = await receive_until(korean, is_finished_bubble(answer.pk))
    english_frames = await receive_until(english, is_finished_bubble(answer.pk))
    assert "세금 계산" in korean_frames[-1]
    assert "실효세율" in korean_frames[-1]
    assert "Tax calculation" in english_frames[-1]
    assert "Effective rate" in english_frames[-1]
    assert "Tax calculation" not in korean_frames[-1]
    stored = await Message.objects.aget(pk=answer.pk)
    assert stored.status == "complete"
    assert "€14,500.00" in stored.text
    assert re.search("[가-힣]", stored.text)  # the answer follows the question's language
    await korean.disconnect()
    await english.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stopped_from", ["ko", "en"])
async def test_an_answer_stopped_in_one_language_reads_in_the_other(
    alice: User, settings: Any, stopped_from: str
) -> None:
    """The notice is stored in English whoever stopped it, and every page shows it in its
    reader's language."""
    settings.OFFLINE_TOKEN_DELAY = 0.2  # long enough to stop mid-answer
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await _socket(alice, conversation, stopped_from)
    await socket.send_to(text_data=frame("What is the tax on 85,000 euros of revenue?"))
    await receive_until(socket, is_appended)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    await socket.send_to(text_data=frame("", action="stop"))
    finished = (await receive_until(socket, is_finished_bubble(answer.pk), timeout=15))[-1]
    stopped_ko, stopped_en = "답변이 끝나기 전에 중지했어요.", turns.STOPPED_MESSAGE
    assert (stopped_ko if stopped_from == "ko" else stopped_en) in finished
    await socket.disconnect()
    stored = await Message.objects.aget(pk=answer.pk)
    assert stored.status == "interrupted"
    assert stored.status_notice == "Stopped before the answer was finished."

    def pages() -> tuple[str, str]:
        client = Client()
        client.force_login(alice)
        url = f"/c/{conversation.pk}/"
        return (
            client.get(url, **KO).content.decode(),
            client.get(url, **EN).content.decode(),
        )

    korean_page, english_page = await asyncio.to_thread(pages)
    assert stopped_ko in korean_page
    assert stopped_en not in korean_page
    assert stopped_en in english_page
    assert stopped_ko not in english_page
