"""Regenerate, Retry and Edit over the real socket; a deleted conversation's sockets."""

import asyncio
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import services
from chat.models import Conversation, Message
from tests.fake_openai import FakeOpenAI
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    is_delta,
    is_finished_bubble,
    receive_until,
    session_cookie,
    socket_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def open_socket(user: User, conversation: Conversation) -> Any:
    cookie = await asyncio.to_thread(session_cookie, user)
    socket = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    connected, code = await socket.connect()
    assert connected, code
    await socket.receive_from()  # catch-up
    return socket


async def answered(user: User, socket: Any, conversation: Conversation, text: str) -> Message:
    await socket.send_to(text_data=frame(text))
    await receive_until(socket, is_appended)
    answer = await Message.objects.filter(conversation=conversation, role="assistant").alatest("pk")
    await receive_until(socket, is_finished_bubble(answer.pk), timeout=10)
    return await Message.objects.aget(pk=answer.pk)


def action(name: str, message_id: int | str, **extra: Any) -> str:
    return json.dumps({"action": name, "message_id": message_id, **extra})


async def test_regenerate_replaces_the_bubble_and_keeps_the_earlier_answer(alice: User) -> None:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await open_socket(alice, conversation)
    first = await answered(alice, socket, conversation, "tax on 85000 EUR")
    await socket.send_to(text_data=action("regenerate", first.pk))
    frames = await receive_until(socket, lambda f: f"outerHTML:#message-{first.pk}" in f)
    assert 'data-status="streaming"' in frames[-1]
    second = await Message.objects.filter(conversation=conversation, role="assistant").alatest("pk")
    assert second.pk != first.pk
    done = await receive_until(socket, is_finished_bubble(second.pk), timeout=10)
    assert "2 / 2" in done[-1]
    assert "€14,500.00" in done[-1]
    await socket.disconnect()
    first = await Message.objects.aget(pk=first.pk)
    assert first.is_current is False
    assert "€14,500.00" in first.text


async def test_retry_an_interrupted_answer(alice: User, settings: Any) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.05
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await open_socket(alice, conversation)
    await socket.send_to(text_data=frame("tax on 85000 EUR"))
    await receive_until(socket, is_appended)
    await receive_until(socket, is_delta)  # some of the answer has streamed
    await socket.send_to(text_data=json.dumps({"action": "stop"}))
    stopped = await Message.objects.aget(conversation=conversation, role="assistant")
    frames = await receive_until(socket, is_finished_bubble(stopped.pk))
    assert ">Retry<" in frames[-1]
    settings.OFFLINE_TOKEN_DELAY = 0
    await socket.send_to(text_data=action("retry", stopped.pk))
    await receive_until(socket, lambda f: f"outerHTML:#message-{stopped.pk}" in f)
    retried = await Message.objects.filter(conversation=conversation, role="assistant").alatest(
        "pk"
    )
    done = await receive_until(socket, is_finished_bubble(retried.pk), timeout=10)
    assert 'data-status="complete"' in done[-1]
    assert ">Regenerate<" in done[-1]
    await socket.disconnect()


async def test_edit_resends_the_edited_question(alice: User) -> None:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await open_socket(alice, conversation)
    first = await answered(alice, socket, conversation, "tax on 85000 EUR")
    question = await Message.objects.aget(conversation=conversation, role="user")
    await socket.send_to(text_data=action("edit", str(question.pk), message="tax on 90000 EUR"))
    frames = await receive_until(socket, lambda f: f"outerHTML:#message-{question.pk}" in f)
    assert "tax on 90000 EUR" in frames[-1]
    assert f"outerHTML:#message-{first.pk}" in frames[-1]
    answer = await Message.objects.filter(conversation=conversation, role="assistant").alatest("pk")
    done = await receive_until(socket, is_finished_bubble(answer.pk), timeout=10)
    assert "€16,000.00" in done[-1]  # 2,000 + 20 % of 40,000 + 30 % of 20,000
    await socket.disconnect()


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "regenerate"},
        {"action": "regenerate", "message_id": "abc"},
        {"action": "regenerate", "message_id": [1]},
        {"action": "edit", "message_id": 1, "message": 5},
        {"action": "retry", "message_id": 999999},
    ],
)
async def test_bad_version_frames_are_refused_with_a_message(alice: User, payload: Any) -> None:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await open_socket(alice, conversation)
    await socket.send_to(text_data=json.dumps(payload))
    reply = await socket.receive_from()
    assert "chat-alert" in reply
    assert "is-visible" in reply
    assert await Message.objects.filter(conversation=conversation).acount() == 0
    await socket.disconnect()


async def test_versions_of_someone_elses_message_cannot_be_started(alice: User, bob: User) -> None:
    alices = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await open_socket(alice, alices)
    answer = await answered(alice, socket, alices, "tax on 85000 EUR")
    await socket.disconnect()
    bobs = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=bob)
    socket = await open_socket(bob, bobs)
    await socket.send_to(text_data=action("regenerate", answer.pk))
    reply = await socket.receive_from()
    assert "chat-alert" in reply
    assert await Message.objects.filter(conversation=alices).acount() == 2
    await socket.disconnect()


async def test_deleting_closes_open_sockets_and_refuses_new_ones(alice: User) -> None:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await open_socket(alice, conversation)
    await answered(alice, socket, conversation, "tax on 85000 EUR")

    def delete() -> int:
        client = Client()
        client.force_login(alice)
        return client.post(f"/c/{conversation.pk}/delete/").status_code

    assert await asyncio.to_thread(delete) == 302
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4404}
    cookie = await asyncio.to_thread(session_cookie, alice)
    again = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    connected, code = await again.connect()
    assert not connected
    assert code == 4404


async def test_regenerated_history_sent_to_the_provider_has_no_replaced_answer(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await open_socket(alice, conversation)
    await answered(alice, socket, conversation, "hello there")
    first = await answered(alice, socket, conversation, "tax on 85000 EUR")
    fake_openai.reset()
    await socket.send_to(text_data=action("regenerate", first.pk))
    second = await Message.objects.filter(conversation=conversation, role="assistant").alatest("pk")
    while second.pk == first.pk:
        await asyncio.sleep(0.05)
        second = await Message.objects.filter(conversation=conversation, role="assistant").alatest(
            "pk"
        )
    await receive_until(socket, is_finished_bubble(second.pk), timeout=15)
    await socket.disconnect()
    sent = fake_openai.requests_to("/chat/completions")[0].body["messages"]
    contents = [m.get("content") for m in sent if m["role"] in ("user", "assistant")]
    assert contents.count("tax on 85000 EUR") == 1  # asked once, not twice
    assert contents[-1] == "tax on 85000 EUR"
    assert first.text not in contents  # the replaced answer is not in the history
