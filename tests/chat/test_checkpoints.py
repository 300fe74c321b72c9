"""All of a process's streaming answers are checkpointed together (chat/checkpoints.py): each
keeps its text and lease fresh, and one ended elsewhere stops without touching the others."""

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import turns
from chat.engines.base import EngineEvent, TextDelta, TurnDone, TurnRequest
from chat.engines.offline import OfflineEngine
from chat.models import Conversation, Message
from tests.helpers.engines import ScriptedEngine
from tests.helpers.turns import RecordingListener

pytestmark = pytest.mark.django_db(transaction=True)


def start(user: User) -> turns.StartedTurn:
    conversation = Conversation.objects.create(owner=user)
    return turns.turn_start(conversation=conversation, text="question", engine=OfflineEngine())


class Steady(ScriptedEngine):
    """Forty words, one every 10 ms, recording what the database holds midway."""

    def __init__(self, message_id: int) -> None:
        super().__init__([])
        self.message_id = message_id
        self.seen_midway: tuple[str, Any] = ("", None)

    async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        for index in range(40):
            yield TextDelta(f"w{index} ")
            await asyncio.sleep(0.01)
            if index == 30:
                stored = await Message.objects.aget(pk=self.message_id)
                self.seen_midway = (stored.text, stored.lease_expires_at)
        yield TurnDone()


async def test_answers_running_together_are_checkpointed_and_one_ended_elsewhere_stops_alone(
    alice: User, settings: Any
) -> None:
    settings.CHAT_CHECKPOINT_SECONDS = 0.05
    started = [await asyncio.to_thread(start, alice) for _ in range(3)]
    ids = [s.assistant_message.pk for s in started]
    engines = [Steady(pk) for pk in ids]
    lease_at_start = started[0].assistant_message.lease_expires_at

    async def end_the_last_elsewhere() -> None:
        await asyncio.sleep(0.15)
        await asyncio.to_thread(turns.turn_end_orphaned, message_id=ids[2], error="swept")

    results = await asyncio.gather(
        *(
            turns.turn_run(message_id=pk, listener=RecordingListener(), engine=engine)
            for pk, engine in zip(ids, engines, strict=True)
        ),
        end_the_last_elsewhere(),
    )
    first, second, last = results[:3]
    assert first is not None
    assert second is not None
    assert last is not None
    assert (first.status, second.status) == ("complete", "complete")
    assert first.text == "".join(f"w{i} " for i in range(40))
    # The one ended elsewhere stopped at its next checkpoint, keeping the sweep's verdict.
    assert (last.status, last.status_notice) == ("interrupted", "swept")
    # Midway, the running answers' text was in the database and their leases renewed.
    for engine in engines[:2]:
        text, lease = engine.seen_midway
        assert text.startswith("w0 w1 ")
        assert len(text) < len(first.text)
        assert lease > lease_at_start
