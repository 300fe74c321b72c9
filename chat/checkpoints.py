"""Checkpoints of this process's streaming answers: all written at once, about once a second.

Every answer's new text is written and every lease renewed in one database call, one
transaction, per interval, however many answers the process is writing. One call per answer per
second queued hundreds of calls a second on the one database thread, ahead of the question a
person had just sent. An answer whose row was ended elsewhere (a stop without a live owner, a
sweep) is told so here, and stops.
"""

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.batch_writes import update_each
from chat.db import db_async
from chat.models import Message

logger = logging.getLogger(__name__)


class Checkpointed(Protocol):
    message_id: int

    def checkpoint_text(self) -> tuple[str, str] | None:
        """(text, reasoning) if they changed since the last call, else None."""

    def taken_over(self) -> None:
        """The answer's row is no longer streaming: another process or a sweep ended it."""


def lease_until() -> datetime:
    return timezone.now() + timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS)


def interval() -> float:
    # Leases are renewed three times per lease, so one late write never lets one lapse.
    return min(settings.CHAT_CHECKPOINT_SECONDS, settings.CHAT_TURN_LEASE_SECONDS / 3)


@db_async
def _write(texts: dict[int, tuple[str, str]], leases_only: list[int]) -> set[int]:
    """Write the texts, renew every lease; returns the answers no longer streaming.

    One UPDATE for all the texts, each row's values sent as arrays (`update_each`): a statement
    per answer was 200 statements a second with 200 answers streaming (`benchmarks/streaming.py`),
    and one `CASE WHEN` per answer and field took the ORM ~35 ms a second to build.
    """
    lease, now = lease_until(), timezone.now()
    streaming = Message.objects.filter(status=Message.Status.STREAMING)
    written = renewed = 0
    with transaction.atomic():
        if texts:
            written = update_each(
                Message,
                {
                    pk: {"text": text, "reasoning": reasoning}
                    for pk, (text, reasoning) in texts.items()
                },
                {"lease_expires_at": lease, "updated_at": now},
                where={"status": Message.Status.STREAMING},
            )
        if leases_only:
            renewed = streaming.filter(pk__in=leases_only).update(lease_expires_at=lease)
        if written + renewed == len(texts) + len(leases_only):
            return set()
        asked = {*texts, *leases_only}
        return asked - set(streaming.filter(pk__in=asked).values_list("pk", flat=True))


class Ledger:
    """The streaming answers this event loop writes, checkpointed together."""

    def __init__(self) -> None:
        self.turns: dict[int, Checkpointed] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, turn: Checkpointed) -> None:
        self.turns[turn.message_id] = turn
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="turn-checkpoints")

    def discard(self, turn: Checkpointed) -> None:
        if self.turns.get(turn.message_id) is turn:
            del self.turns[turn.message_id]

    async def _run(self) -> None:
        while self.turns:
            await asyncio.sleep(interval())
            try:
                await self.write()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: the next interval tries again
                logger.exception("Checkpoint of %s streaming answer(s) failed", len(self.turns))

    async def write(self) -> None:
        turns = dict(self.turns)
        texts: dict[int, tuple[str, str]] = {}
        leases_only: list[int] = []
        for pk, turn in turns.items():
            changed = turn.checkpoint_text()
            if changed is None:
                leases_only.append(pk)
            else:
                texts[pk] = changed
        if not turns:
            return
        for pk in await _write(texts, leases_only):
            if self.turns.get(pk) is turns[pk]:  # still running here: stop it
                turns[pk].taken_over()


_ledgers: dict[int, Ledger] = {}


def get_ledger() -> Ledger:
    """The ledger of this event loop."""
    key = id(asyncio.get_running_loop())
    ledger = _ledgers.get(key)
    if ledger is None:
        ledger = _ledgers[key] = Ledger()
    return ledger
