"""One account cannot take the service down over sockets: frame floods, too many tabs."""

import asyncio
import json
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.consumers import CLOSE_FLOODING, CLOSE_TOO_MANY_SOCKETS, TOO_FAST, TOO_MANY_TABS
from chat.models import Conversation, Message
from tests.conftest import ORIGIN, frame, is_appended, receive_until, session_cookie, socket_for

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
