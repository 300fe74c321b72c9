"""Turns run as tasks of this process, apart from any socket, so they outlive a closed tab."""

import asyncio
import logging

from chat.engines.base import Engine
from chat.models import Message
from chat.services import TurnListener, turn_run

logger = logging.getLogger(__name__)

# Strong references: the event loop keeps only weak ones, and a collected task stops mid-turn.
_running: dict[int, asyncio.Task[Message]] = {}


def turn_launch(
    *, conversation_id: int, message_id: int, listener: TurnListener, engine: Engine
) -> asyncio.Task[Message]:
    task = asyncio.create_task(
        turn_run(message_id=message_id, listener=listener, engine=engine),
        name=f"turn-{message_id}",
    )
    _running[conversation_id] = task

    def forget(done: asyncio.Task[Message]) -> None:
        if _running.get(conversation_id) is done:
            del _running[conversation_id]
        if not done.cancelled() and done.exception() is not None:
            logger.error("Turn task %s ended with an error", message_id, exc_info=done.exception())

    task.add_done_callback(forget)
    return task


def turn_stop(conversation_id: int) -> bool:
    """Cancel this process's task for the conversation, if it has one."""
    task = _running.get(conversation_id)
    if task is None or task.done():
        return False
    task.cancel()
    return True
