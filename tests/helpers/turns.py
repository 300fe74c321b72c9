"""Running turns in tests: a recording listener, and one turn through the real turn code."""

from __future__ import annotations

import asyncio

from django.contrib.auth.models import User

from chat import services, turns
from chat.engines import get_engine
from chat.models import Conversation, Message


class RecordingListener:
    """A turn's listener that records every push (and says nothing to anyone)."""

    def __init__(self) -> None:
        self.updates: list[turns.TurnUpdate] = []
        # (text, reasoning) as each push showed them: the message object itself changes later.
        self.seen: list[tuple[str, str]] = []

    async def turn_changed(self, update: turns.TurnUpdate) -> None:
        self.updates.append(update)
        self.seen.append((update.message.text, update.message.reasoning))


async def ask(
    user: User,
    text: str,
    conversation: Conversation | None = None,
    listener: RecordingListener | None = None,
) -> Message:
    """One turn through the turn code, with the configured engine; the stored answer."""
    if conversation is None:
        conversation = await asyncio.to_thread(
            services.conversation_get_or_create_empty, owner=user
        )
    engine = get_engine()
    started = await asyncio.to_thread(
        turns.turn_start, conversation=conversation, text=text, engine=engine
    )
    await turns.turn_run(
        message_id=started.assistant_message.pk,
        listener=listener or RecordingListener(),
        engine=engine,
    )
    return await Message.objects.select_related("conversation").aget(
        pk=started.assistant_message.pk
    )
