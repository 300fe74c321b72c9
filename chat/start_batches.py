"""Questions asked on this process's sockets, started together.

When hundreds of people ask at once, each start is a few statements on Channels' one database
thread: one after another they held the last person's first words for seconds. Here a start
waits only for the database call already under way; every start that arrived meanwhile is
written in the next call, together (`turns.turns_start`: a few statements for the whole batch).
A lone question goes at once, so an idle server adds nothing.
"""

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from chat import selectors, turns
from chat.collector import hold_collector
from chat.db import db_async
from chat.engines.base import Engine
from chat.runner import turn_launch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ask:
    """A question sent on a socket: who, where, what; the engine and the process to run it."""

    user: Any
    conversation_id: int
    text: str
    engine: Engine
    owner: str
    language: str | None = None


@dataclass(frozen=True)
class Start:
    """A started turn, and what the engine needs, so the turn runs without another database
    call."""

    turn: turns.StartedTurn
    context: turns.TurnContext


@db_async
def _start(asks: Sequence[Ask]) -> list[Start | turns.TurnRejected]:
    conversations = selectors.conversations_get(asks=[(a.user, a.conversation_id) for a in asks])
    requests: list[turns.StartRequest] = []
    for ask, conversation in zip(asks, conversations, strict=True):
        if conversation is not None:
            requests.append(
                turns.StartRequest(conversation, ask.text, ask.engine, ask.owner, ask.language)
            )
    started = iter(turns.turns_start(requests))
    outcomes: list[turns.StartedTurn | turns.TurnRejected] = []
    for ask, conversation in zip(asks, conversations, strict=True):
        if conversation is None:
            with turns.in_language(ask.language):
                outcomes.append(turns.TurnRejected(_("This conversation no longer exists.")))
        else:
            outcomes.append(next(started))
    turned = [o for o in outcomes if isinstance(o, turns.StartedTurn)]
    contexts = iter(turns.turn_contexts([o.assistant_message for o in turned]))
    return [Start(o, next(contexts)) if isinstance(o, turns.StartedTurn) else o for o in outcomes]


class StartBatcher:
    """The starts of one event loop: one database call at a time, each taking all that wait."""

    def __init__(self) -> None:
        self._waiting: list[tuple[Ask, asyncio.Future[Start]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def start(self, ask: Ask) -> Start:
        """The started turn, or TurnRejected saying why not (in the asker's language)."""
        future: asyncio.Future[Start] = asyncio.get_running_loop().create_future()
        self._waiting.append((ask, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[tuple[Ask, "asyncio.Future[Start]"]]) -> None:
        if len(batch) >= settings.CHAT_START_BURST:
            hold_collector(settings.SERVER_GC_BURST_HOLD_SECONDS)
        try:
            outcomes = await _start([ask for ask, _future in batch])
        except Exception as error:
            if len(batch) > 1:  # one start's failure must not fail the others: each alone
                for one in batch:
                    await self._write_batch([one])
                return
            _ask, future = batch[0]
            if not future.done():
                future.set_exception(error)  # the asker hears it as if it had started alone
            return
        abandoned: list[tuple[Ask, Start]] = []
        for (ask, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                if isinstance(outcome, Start):
                    future.set_result(outcome)
                else:
                    future.set_exception(outcome)
            elif isinstance(outcome, Start):
                abandoned.append((ask, outcome))
        # Every asker has heard first, so a failing launch below cannot leave one waiting.
        for ask, start in abandoned:
            # The socket closed while its question was stored: the answer is written all the
            # same, and the page shows it when the person comes back.
            try:
                await turn_launch(
                    conversation_id=ask.conversation_id,
                    message_id=start.turn.assistant_message.pk,
                    engine=ask.engine,
                    context=start.context,
                )
            except Exception:  # the lease sweep ends that answer; the others still launch
                logger.exception("Could not launch answer %s", start.turn.assistant_message.pk)


_batchers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StartBatcher]" = (
    weakref.WeakKeyDictionary()
)


def get_start_batcher() -> StartBatcher:
    """The batcher of this event loop (one under daphne; one per test's loop)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = StartBatcher()
    return batcher
