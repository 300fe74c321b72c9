"""One account cannot take the service down over sockets: frame floods, too many tabs."""

import asyncio
import json
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.consumers import CLOSE_TOO_MANY_SOCKETS, TOO_FAST, TOO_MANY_TABS
from chat.models import Conversation, Message
from chat.socket_limits import CLOSE_FLOODING
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    receive_until,
    session_cookie,
    socket_for,
    wait_for_answer,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user: User, conversation: Conversation) -> Any:
    cookie = await asyncio.to_thread(session_cookie, user)
    socket = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_from()  # catch-up
    return socket


async def test_a_frame_flood_is_refused_then_the_socket_is_closed(
    alice: User, bob: User, settings: Any
) -> None:
    settings.CHAT_FRAMES_PER_SECOND = 2
    settings.CHAT_FRAME_BURST = 5
    settings.CHAT_FRAME_ABUSE_LIMIT = 50
    flooded = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    flooder = await connect(alice, flooded)
    for _ in range(200):
        await flooder.send_to(text_data=json.dumps({"action": "nothing"}))
    received = []
    while True:
        output = await flooder.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert output["code"] == CLOSE_FLOODING
            break
        received.append(output["text"])
    # Five frames within the burst were answered ("Unknown action."), one notice for the rest.
    assert sum("Unknown action." in text for text in received) == 5
    assert sum(TOO_FAST in text for text in received) == 1
    # Meanwhile another person is served as usual.
    theirs = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=bob)
    other = await connect(bob, theirs)
    await other.send_to(text_data=frame("tax on 85000 EUR"))
    await receive_until(other, is_appended)
    # Answered to the end: a turn still writing when the test ends deadlocks the next flush.
    await wait_for_answer(other, theirs)
    await other.disconnect()
    assert not await Message.objects.filter(conversation=flooded).aexists()


async def test_the_oldest_tab_is_closed_beyond_the_cap_with_a_reason(
    alice: User, settings: Any
) -> None:
    settings.CHAT_MAX_SOCKETS_PER_PERSON = 3
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    tabs = [await connect(alice, conversation) for _ in range(3)]
    newest = await connect(alice, conversation)
    assert TOO_MANY_TABS in await tabs[0].receive_from()
    assert await tabs[0].receive_output(timeout=2) == {
        "type": "websocket.close",
        "code": CLOSE_TOO_MANY_SOCKETS,
    }
    for tab in (*tabs[1:], newest):  # the others stay open and answer
        await tab.send_to(text_data=json.dumps({"action": "nothing"}))
        assert "Unknown action." in await tab.receive_from()
    for tab in (*tabs[1:], newest):
        await tab.disconnect()


async def test_a_storm_of_connects_is_refused_before_any_work(
    alice: User, bob: User, settings: Any
) -> None:
    settings.CHAT_SOCKET_OPEN_BURST = 5
    settings.CHAT_SOCKET_OPENS_PER_MINUTE = 6
    settings.CHAT_SOCKET_REFUSAL_SECONDS = 0
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    cookie = await asyncio.to_thread(session_cookie, alice)
    outcomes = []
    for _ in range(12):
        socket = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
        connected, code = await socket.connect()
        outcomes.append(connected or code)
        if connected:
            await socket.disconnect()
    assert outcomes[:5] == [True] * 5  # a burst of tabs or reconnects passes
    assert outcomes[5:] == [CLOSE_FLOODING] * 7
    # Another person is not affected.
    theirs = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=bob)
    other = await connect(bob, theirs)
    await other.disconnect()


async def test_a_slow_trickle_of_floods_still_adds_up_to_a_close(
    alice: User, settings: Any
) -> None:
    # The refill lets a frame through now and then; that must not forgive the flood.
    settings.CHAT_FRAMES_PER_SECOND = 1000
    settings.CHAT_FRAME_BURST = 1
    settings.CHAT_FRAME_ABUSE_LIMIT = 30
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    flooder = await connect(alice, conversation)
    for _ in range(3000):
        await flooder.send_to(text_data="{}")
    while (output := await flooder.receive_output(timeout=5))["type"] != "websocket.close":
        pass
    assert output["code"] == CLOSE_FLOODING


async def test_a_backlog_of_frames_closes_the_socket_before_they_are_processed(
    alice: User, settings: Any
) -> None:
    settings.CHAT_FRAME_BACKLOG = 50
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    flooder = await connect(alice, conversation)
    for _ in range(5000):  # queued faster than any consumer takes them
        await flooder.send_to(text_data=json.dumps({"action": "nothing"}))
    answered = 0
    while (output := await flooder.receive_output(timeout=5))["type"] != "websocket.close":
        answered += "Unknown action." in output.get("text", "")
    assert output["code"] == CLOSE_FLOODING
    assert answered == 0  # closed at the first frame, not after working through the queue
