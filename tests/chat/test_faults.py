"""Process and infrastructure faults: nothing the person typed or was told is lost."""

import asyncio
import threading
import time
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction

from chat import services, turns
from chat.broadcast import ConversationBroadcaster
from chat.engines.base import EngineEvent, TextDelta, TurnDone, TurnRequest
from chat.engines.offline import OfflineEngine
from chat.models import Message, ToolCall
from tests.helpers.engines import CallTool, ScriptedEngine
from tests.helpers.sockets import ORIGIN, session_cookie, socket_for
from tests.helpers.turns import RecordingListener

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_REDIS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens there
    }
}


def start(user: User, text: str = "question") -> turns.StartedTurn:
    conversation = services.conversation_get_or_create_empty(owner=user)
    return turns.turn_start(conversation=conversation, text=text, engine=OfflineEngine())


async def test_database_locked_during_the_final_save_is_retried_and_nothing_lost(
    alice: User,
) -> None:
    started = await asyncio.to_thread(start, alice)
    locked = threading.Event()

    def hold_write_lock() -> None:
        with transaction.atomic():
            # Any write takes SQLite's database lock (a row lock on PostgreSQL).
            Message.objects.filter(pk=started.assistant_message.pk).update(status_notice="")
            locked.set()
            time.sleep(0.7)
        connection.close()

    holder = threading.Thread(target=hold_write_lock)

    class LockingEngine(ScriptedEngine):
        async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
            yield TextDelta("All done.")
            holder.start()  # someone else takes the lock just as the answer finishes
            await asyncio.to_thread(locked.wait, 5)
            yield TurnDone()

    began = time.monotonic()
    message = await turns.turn_run(
        message_id=started.assistant_message.pk,
        listener=RecordingListener(),
        engine=LockingEngine([]),
    )
    waited = time.monotonic() - began
    await asyncio.to_thread(holder.join)
    stored = await Message.objects.aget(pk=message.pk)
    assert (stored.status, stored.text) == ("complete", "All done.")
    assert waited >= 0.5  # it really met the lock, and outlasted it


async def test_a_tool_that_raises_is_answered_and_the_turn_completes(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat.tools.registry import CALCULATE_TAX, Tool, registry

    def broken(arguments: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError("bug in a tool")

    monkeypatch.setitem(
        registry.tools,
        "broken_tool",
        Tool("broken_tool", "always fails", {"type": "object"}, broken),
    )
    started = await asyncio.to_thread(start, alice)
    engine = ScriptedEngine(
        [CallTool("call_1", "broken_tool", "{}"), TextDelta("Sorry."), TurnDone()]
    )
    message = await turns.turn_run(
        message_id=started.assistant_message.pk, listener=RecordingListener(), engine=engine
    )
    assert registry.tools["calculate_tax"] is CALCULATE_TAX
    assert message.status == "complete"
    receipt = await ToolCall.objects.aget(message_id=message.pk)
    assert receipt.error == "The tool failed unexpectedly."
    assert "ZeroDivision" not in receipt.output


async def test_redis_down_answers_are_still_stored(alice: User, settings: Any) -> None:
    settings.CHANNEL_LAYERS = DEAD_REDIS
    started = await asyncio.to_thread(start, alice, "tax on 85000 EUR")
    message = await turns.turn_run(
        message_id=started.assistant_message.pk,
        listener=ConversationBroadcaster(started.user_message.conversation_id),
        engine=OfflineEngine(),
    )
    stored = await Message.objects.aget(pk=message.pk)
    assert stored.status == "complete"
    assert "€14,500.00" in stored.text


async def test_redis_down_the_socket_says_so_clearly(alice: User, settings: Any) -> None:
    settings.CHANNEL_LAYERS = DEAD_REDIS
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    cookie = await asyncio.to_thread(session_cookie, alice)
    socket = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    connected, _ = await socket.connect(timeout=5)
    assert connected
    assert "our message service is down" in await socket.receive_from(timeout=5)
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1011}
