"""The same turn over the Redis channel layer (REDIS_URL), as a multi-process deployment runs it."""

import asyncio
import os
import socket
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.models import Message
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    is_finished_bubble,
    receive_until,
    session_cookie,
    socket_for,
)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_layer(settings: Any) -> None:
    if not redis_reachable():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Redis is not running on 127.0.0.1:6379 under CI=true.")
        pytest.skip("Redis is not running on 127.0.0.1:6379.")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "capacity": 500,
                "prefix": f"taxsite-test-{os.getpid()}",
            },
        }
    }


@pytest.mark.django_db(transaction=True)
async def test_turn_streams_through_redis(alice: User, redis_layer: None) -> None:
    from channels.layers import get_channel_layer

    assert type(get_channel_layer()).__name__ == "RedisChannelLayer"
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    cookie = await asyncio.to_thread(session_cookie, alice)
    first_tab = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    second_tab = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    assert (await first_tab.connect())[0]
    assert (await second_tab.connect())[0]
    await first_tab.receive_from()
    await second_tab.receive_from()
    await first_tab.send_to(text_data=frame("tax on 85000 EUR"))
    await receive_until(first_tab, is_appended)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    # The second tab sees the same stream, through Redis.
    frames = await receive_until(second_tab, is_finished_bubble(answer.pk), timeout=10)
    assert "€14,500.00" in frames[-1]
    await first_tab.disconnect()
    await second_tab.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_conversations_published_at_once_reach_exactly_their_sockets_elsewhere(
    redis_layer: None,
) -> None:
    """Many conversations' members are read together (one pipeline); each conversation still
    learns its own, and only those with a socket on another process go through Redis."""
    from channels.layers import get_channel_layer

    from chat.fanout import Fanout
    from chat.groups import conversation_group

    layer = get_channel_layer()
    fanout = Fanout(layer)
    conversations = list(range(900_001, 900_041))
    elsewhere = {c: f"other-process-socket-{c}" for c in conversations[::7]}
    for conversation, channel in elsewhere.items():
        await layer.group_add(conversation_group(conversation), channel)
    try:
        published = await asyncio.gather(
            *(fanout.publish(c, {"html": f"frame of {c}"}) for c in conversations)
        )
        languages = await asyncio.gather(*(fanout.languages(c) for c in conversations))

        assert all(published)
        for conversation, channel in elsewhere.items():
            received = await asyncio.wait_for(layer.receive(channel), 2)
            assert received["html"] == f"frame of {conversation}"
        # Every language for those read elsewhere; only this process's (none here) for the rest.
        unknown = [c for c, found in zip(conversations, languages, strict=True) if found is None]
        assert unknown == list(elsewhere)
        assert {found for found in languages if found is not None} == {frozenset()}
    finally:
        for conversation, channel in elsewhere.items():
            await layer.group_discard(conversation_group(conversation), channel)
