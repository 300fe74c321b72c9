import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import services, turns
from chat.engines.offline import OfflineEngine
from chat.models import Conversation, Message, ToolCall
from tests.helpers.clients import client_for
from tests.helpers.htmlcheck import active_parts, without_feedback_forms

pytestmark = pytest.mark.django_db


def conversation_with_answer(user: User, question: str, answer: str) -> Conversation:
    conversation = services.conversation_get_or_create_empty(owner=user)
    started = turns.turn_start(conversation=conversation, text=question, engine=OfflineEngine())
    started.assistant_message.text = answer
    started.assistant_message.status = Message.Status.COMPLETE
    started.assistant_message.save()
    return conversation


@pytest.mark.parametrize("path", ["/", "/c/1/"])
def test_chat_pages_require_login(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_signup_logs_the_person_in_and_opens_a_conversation(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password1": "a long passphrase 9",
            "password2": "a long passphrase 9",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert response.context["user"].username == "carol"
    assert 'ws-connect="/ws/conversations/' in response.content.decode()


def test_signup_shows_errors_and_keeps_the_username(client: Client) -> None:
    response = client.post(
        "/accounts/signup/", {"username": "dave", "password1": "short", "password2": "other"}
    )
    assert response.status_code == 200
    assert "didn\u2019t match" in response.content.decode()
    assert 'value="dave"' in response.content.decode()


def test_conversation_page_shows_transcript_card_and_disclaimer(alice: User) -> None:
    conversation = services.conversation_get_or_create_empty(owner=alice)
    started = turns.turn_start(
        conversation=conversation, text="tax on 85000 EUR?", engine=OfflineEngine()
    )
    ToolCall.objects.create(
        message=started.assistant_message,
        call_id="call_1",
        name="calculate_tax",
        raw_arguments='{"revenue": "85000"}',
        result={
            "revenue": "85000.00",
            "tax": "14500.00",
            "effective_rate_percent": "17.06",
            "breakdown": [],
        },
        output="{}",
    )
    response = client_for(alice).get(f"/c/{conversation.pk}/")
    html = response.content.decode()
    assert "tax on 85000 EUR?" in html
    assert "€14,500.00" in html
    assert "not real tax law" in html
    assert 'data-status="streaming"' in html  # the answer so far, still being written
    assert '<label for="message-input"' in html
    assert "htmx-2.min.js" in html
    assert "hx-ws-2.min.js" in html


def test_sidebar_lists_only_my_conversations_newest_first(alice: User, bob: User) -> None:
    conversation_with_answer(alice, "first question", "a")
    second = conversation_with_answer(alice, "second question", "b")
    conversation_with_answer(bob, "bob's secret question", "c")
    html = client_for(alice).get(f"/c/{second.pk}/").content.decode()
    # Titles are made from the first question (chat.titles): "Second question".
    assert html.index("Second question") < html.index("First question")
    assert "secret question" not in html


def test_another_persons_conversation_is_404(alice: User, bob: User) -> None:
    conversation = conversation_with_answer(alice, "private", "answer")
    assert client_for(bob).get(f"/c/{conversation.pk}/").status_code == 404


def test_home_opens_the_latest_conversation(alice: User) -> None:
    latest = conversation_with_answer(alice, "latest", "answer")
    response = client_for(alice).get("/")
    assert response["Location"] == f"/c/{latest.pk}/"


def test_new_conversation_needs_post(alice: User) -> None:
    client = client_for(alice)
    assert client.get("/c/new/").status_code == 405
    response = client.post("/c/new/")
    assert response.status_code == 302
    assert Conversation.objects.filter(owner=alice).count() == 1


def test_model_output_and_titles_are_inert_in_the_page(alice: User) -> None:
    conversation = conversation_with_answer(
        alice,
        '<script>alert("t")</script> title',
        '<img src=x onerror=alert(1)> [x](javascript:alert(1)) <a hx-get="/admin/">y</a>',
    )
    html = client_for(alice).get(f"/c/{conversation.pk}/").content.decode()
    transcript = html[html.index('id="messages"') : html.index('id="chat-alert"')]
    assert active_parts(without_feedback_forms(transcript)) == []
    assert "&lt;script&gt;alert" in html


def test_tool_receipts_with_hostile_arguments_are_inert_in_the_page(alice: User) -> None:
    from chat.tools.registry import registry

    conversation = conversation_with_answer(alice, "question", "answer")
    answer = conversation.messages.get(role="assistant")
    for raw in (
        '{"revenue": "<script>alert(1)</script>"}',
        '{"revenue": "<img src=x onerror=alert(1)>"}',
    ):
        outcome = registry.run("calculate_tax", raw)
        ToolCall.objects.create(
            message=answer,
            call_id="call_x",
            name="calculate_tax",
            raw_arguments=raw,
            output=outcome.output,
            error=outcome.error,
        )
    ToolCall.objects.create(
        message=answer,
        call_id="call_y",
        name='<img src=x onerror="alert(3)">',
        error="Unknown tool",
    )
    html = client_for(alice).get(f"/c/{conversation.pk}/").content.decode()
    transcript = html[html.index('id="messages"') : html.index('id="chat-alert"')]
    assert active_parts(without_feedback_forms(transcript)) == []
    assert "Not calculated: revenue" in transcript
