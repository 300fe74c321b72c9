"""This process's turns: run as tasks apart from any socket, stopped by message, swept when dead.

Each serving process has one runner per event loop. It owns a channel on the channel layer (its
name is stored as the `turn_owner` of every answer it runs), so a Stop pressed on a socket served
by any process reaches the process that runs the turn. It also sweeps, periodically, answers
whose owner stopped renewing their lease (a process killed mid-answer).
"""

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from chat.broadcast import (
    ConversationBroadcaster,
    broadcast_message,
    frame_event,
    stored_bubble_event,
)
from chat.cancels import raise_if_cancelling
from chat.db import db_async
from chat.engines.base import Engine
from chat.fanout import get_fanout
from chat.turns import (
    STOPPED_MESSAGE,
    TurnContext,
    TurnRun,
    turn_end_orphaned,
    turn_streaming_target,
    turn_sweep,
)

logger = logging.getLogger(__name__)

STOP = "turn.stop"
SNAPSHOT = "turn.snapshot"


class TurnRunner:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel = ""
        # Strong references: the event loop keeps only weak ones, and a collected task stops.
        self.turns: dict[int, tuple[TurnRun, asyncio.Task[Any]]] = {}
        self._background: list[asyncio.Task[None]] = []
        self._ready = asyncio.Lock()

    async def start(self) -> str:
        """Open this process's turn channel and start its loops (once); returns the channel."""
        async with self._ready:
            if not self.channel:
                # The default prefix: channels-redis multiplexes a process's channels by prefix,
                # and one with its own prefix would starve the sockets' receive loop.
                self.channel = await self.layer.new_channel()
                self._background = [
                    asyncio.create_task(self._receive_stops(), name="turn-stops"),
                    asyncio.create_task(self._sweep_periodically(), name="turn-sweep"),
                ]
        return self.channel

    def launch(
        self,
        *,
        conversation_id: int,
        message_id: int,
        engine: Engine,
        context: TurnContext | None = None,
    ) -> TurnRun:
        turn = TurnRun(
            message_id=message_id,
            engine=engine,
            listener=ConversationBroadcaster(conversation_id),
            owner=self.channel,
            context=context,
        )
        task = asyncio.create_task(turn.run(), name=f"turn-{message_id}")
        self.turns[message_id] = (turn, task)

        def forget(done: asyncio.Task[Any]) -> None:
            self.turns.pop(message_id, None)
            if not turn.finished:
                # Cancelled before it could run, or the finish itself failed: the lease lapses
                # and the sweep ends the answer.
                logger.error("Turn %s ended without finishing; the sweep will end it", message_id)

        task.add_done_callback(forget)
        return turn

    def running(self) -> list[int]:
        """The answers this runner is writing now (read from the database thread too: copying
        a dict's items is atomic under the GIL)."""
        return [pk for pk, (turn, _) in list(self.turns.items()) if not turn.finished]

    def stop_here(self, message_id: int) -> bool:
        running = self.turns.get(message_id)
        if running is None:
            return False
        running[0].stop()
        return True

    async def _receive_stops(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelling()
                logger.exception("Turn channel %s unavailable; retrying", self.channel)
                await asyncio.sleep(1)
                continue
            try:
                if message.get("type") == STOP:
                    await self.stop_owned(int(message["message_id"]))
                elif message.get("type") == SNAPSHOT:
                    await self.send_snapshot(int(message["message_id"]), str(message["reply_to"]))
            except Exception:
                logger.exception("Turn channel message %r failed", message.get("type"))

    async def stop_owned(self, message_id: int) -> None:
        if self.stop_here(message_id):
            return
        # Ours, but not running here (it finished, or its task is gone): end it now.
        if await db_async(turn_end_orphaned)(message_id=message_id, error=STOPPED_MESSAGE):
            await broadcast_message(message_id)

    async def send_snapshot(self, message_id: int, reply_to: str) -> None:
        """Send one socket the answer exactly as it stands here (numbered), or as stored."""
        running = self.turns.get(message_id)
        snapshot = running[0].snapshot() if running else None
        if snapshot is not None:
            # A socket (maybe on another process) joins this answer: its frames must reach it.
            get_fanout().forget_members(snapshot.message.conversation_id)
        # i18n: rendered in every language; the socket asking sends its reader's.
        if snapshot:
            event = frame_event(snapshot)
        else:
            event = await stored_bubble_event(message_id)
        await self.layer.send(reply_to, {"type": "chat.fragment", **event})

    async def sweep_once(self) -> None:
        """End the answers of dead processes and tell their tabs; never this runner's own."""
        for message in await db_async(turn_sweep)(alive=self.running):
            await broadcast_message(message.pk)

    async def _sweep_periodically(self) -> None:
        while True:
            await asyncio.sleep(settings.CHAT_TURN_SWEEP_SECONDS)
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Turn sweep failed; it runs again shortly")


_runners: dict[tuple[int, int], TurnRunner] = {}


def get_runner() -> TurnRunner:
    """The runner of this event loop and channel layer (one of each under daphne)."""
    layer = get_channel_layer()
    key = (id(asyncio.get_running_loop()), id(layer))
    runner = _runners.get(key)
    if runner is None:
        runner = _runners[key] = TurnRunner(layer)
    return runner


async def turn_launch(
    *, conversation_id: int, message_id: int, engine: Engine, context: TurnContext | None = None
) -> TurnRun:
    runner = get_runner()
    await runner.start()
    return runner.launch(
        conversation_id=conversation_id, message_id=message_id, engine=engine, context=context
    )


async def turn_owner() -> str:
    """The owner name to store on an answer this process is about to run."""
    return await get_runner().start()


async def turn_stop(*, conversation_id: int) -> None:
    """Stop the conversation's streaming answer, whichever process runs it.

    Routed to the owner through the channel layer; an answer with no live owner (its process is
    gone) is ended here at once, so Stop always frees the conversation.
    """
    runner = get_runner()
    await runner.start()
    target = await db_async(turn_streaming_target)(conversation_id=conversation_id)
    if target is None:
        return
    message_id, owner, lease_live = target
    if owner == runner.channel:
        await runner.stop_owned(message_id)
    elif owner and lease_live:
        await runner.layer.send(owner, {"type": STOP, "message_id": message_id})
    elif await db_async(turn_end_orphaned)(message_id=message_id, error=STOPPED_MESSAGE):
        await broadcast_message(message_id)


async def turn_snapshot(*, message_id: int, owner: str, lease_live: bool, reply_to: str) -> None:
    """Bring one socket to the exact current state of an answer, whichever process runs it."""
    runner = get_runner()
    await runner.start()
    if owner and lease_live and owner != runner.channel:
        await runner.layer.send(
            owner, {"type": SNAPSHOT, "message_id": message_id, "reply_to": reply_to}
        )
    else:
        await runner.send_snapshot(message_id, reply_to)
