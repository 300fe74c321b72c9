"""A conversation's updates to its open sockets: this process's directly, others' by the layer.

A streaming answer pushes up to twenty frames a second. Sent through the channel layer, every
frame cost a layer message per socket (the in-memory layer also scans all its channels on each
receive, Redis a few commands), and hundreds of answers at once starved the event loop. The
process that writes an answer hands each frame straight to its own sockets on the conversation;
the channel layer carries it only when a socket of the conversation is open somewhere else
(another process or event loop), found from the conversation group's members, and then once,
marked with this fanout's origin so that sockets that already have it skip it.

Sockets still join the conversation's group on the channel layer: that is how other processes
find them, and how control messages (a deleted conversation) reach them.
"""

import asyncio
import logging
import time
import uuid
from typing import Any, Protocol

from channels.layers import InMemoryChannelLayer, get_channel_layer

from chat.cancels import raise_if_cancelling
from chat.groups import conversation_group

logger = logging.getLogger(__name__)

# How long the members of a conversation group read from Redis are trusted. A socket that opens
# on another process within this time may miss frames; its page sees the gap and resyncs.
MEMBERS_FRESH_SECONDS = 1.0


class LocalSocket(Protocol):
    channel_name: str
    language: str

    async def chat_fragment(self, event: dict[str, Any]) -> None: ...


class Fanout:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.origin = uuid.uuid4().hex
        self.sockets: dict[int, set[LocalSocket]] = {}
        self._members: dict[int, tuple[float, frozenset[str]]] = {}
        self._member_reads: dict[int, asyncio.Future[frozenset[str]]] = {}
        self._member_reader: asyncio.Task[None] | None = None

    def join(self, conversation_id: int, socket: LocalSocket) -> None:
        self.sockets.setdefault(conversation_id, set()).add(socket)

    def leave(self, conversation_id: int, socket: LocalSocket) -> None:
        joined = self.sockets.get(conversation_id)
        if joined is not None:
            joined.discard(socket)
            if not joined:
                del self.sockets[conversation_id]

    def forget_members(self, conversation_id: int) -> None:
        """A socket elsewhere just asked about this conversation: read its members afresh."""
        self._members.pop(conversation_id, None)

    async def languages(self, conversation_id: int) -> frozenset[str] | None:
        """The languages of the conversation's readers, so that a fragment is rendered only in
        those; None (every language) when some read it on another process."""
        local = self.sockets.get(conversation_id, ())
        try:
            if await self._others_listen(conversation_id):
                return None
        except Exception:
            raise_if_cancelling()
            return None  # publish will say the layer is down
        return frozenset(s.language for s in local)

    async def publish(self, conversation_id: int, event: dict[str, Any]) -> bool:
        """Deliver `event` (a `chat.fragment`) to every socket on the conversation, in order.

        False if the channel layer failed: this process's sockets have it, others may not.
        """
        message = {"type": "chat.fragment", **event}
        local = self.sockets.get(conversation_id, ())
        for socket in list(local):
            try:
                await socket.chat_fragment(message)
            except Exception:  # one broken socket must not keep the frame from the others
                raise_if_cancelling()
                logger.exception("Could not deliver to socket %s", socket.channel_name)
        try:
            if await self._others_listen(conversation_id):
                await self.layer.group_send(
                    conversation_group(conversation_id), {**message, "origin": self.origin}
                )
        except Exception:
            raise_if_cancelling()
            logger.exception("Channel layer unavailable for conversation %s", conversation_id)
            return False
        return True

    async def _others_listen(self, conversation_id: int) -> bool:
        """Whether a socket of the conversation is open anywhere but in this fanout."""
        here = {s.channel_name for s in self.sockets.get(conversation_id, ())}
        members = await self._group_members(conversation_id)
        return members is None or not members <= here

    async def _group_members(self, conversation_id: int) -> frozenset[str] | None:
        """The channels in the conversation's group; None when the layer cannot tell."""
        group = conversation_group(conversation_id)
        if isinstance(self.layer, InMemoryChannelLayer):
            return frozenset(self.layer.groups.get(group, ()))
        group_key = getattr(self.layer, "_group_key", None)
        if group_key is None:  # a layer we do not know: always send through it
            return None
        cached = self._members.get(conversation_id)
        if cached is not None and time.monotonic() - cached[0] < MEMBERS_FRESH_SECONDS:
            return cached[1]
        future = self._member_reads.get(conversation_id)
        if future is None:
            future = self._member_reads[conversation_id] = (
                asyncio.get_running_loop().create_future()
            )
            future.add_done_callback(_retrieved)
            if self._member_reader is None or self._member_reader.done():
                self._member_reader = asyncio.create_task(self._read_member_batches(group_key))
        # Shielded: one waiter's cancel must not cancel the read the others wait for too.
        return await asyncio.shield(future)

    async def _read_member_batches(self, group_key: Any) -> None:
        """Reads every conversation waiting for its members, all in one pipeline per Redis
        host; those asked for meanwhile go in the next. When hundreds of answers start at once
        a round trip each cost the event loop about as much as their first words."""
        while self._member_reads:
            batch, self._member_reads = self._member_reads, {}
            try:
                found = await self._read_members(list(batch), group_key)
            except asyncio.CancelledError:
                for future in batch.values():
                    future.cancel()
                raise
            except Exception as error:
                for future in batch.values():
                    if not future.done():
                        future.set_exception(error)
                continue
            now = time.monotonic()
            for conversation_id, future in batch.items():
                self._members[conversation_id] = (now, found[conversation_id])
                if not future.done():
                    future.set_result(found[conversation_id])

    async def _read_members(
        self, conversation_ids: list[int], group_key: Any
    ) -> dict[int, frozenset[str]]:
        # channels-redis (pinned in requirements.lock): a group is a sorted set of channels.
        by_host: dict[int, list[int]] = {}
        for conversation_id in conversation_ids:
            host = self.layer.consistent_hash(conversation_group(conversation_id))
            by_host.setdefault(host, []).append(conversation_id)
        found: dict[int, frozenset[str]] = {}
        for host, on_host in by_host.items():
            async with self.layer.connection(host).pipeline(transaction=False) as pipeline:
                for conversation_id in on_host:
                    pipeline.zrange(group_key(conversation_group(conversation_id)), 0, -1)
                replies = await pipeline.execute()
            for conversation_id, names in zip(on_host, replies, strict=True):
                found[conversation_id] = frozenset(n.decode() for n in names)
        return found


def _retrieved(future: "asyncio.Future[Any]") -> None:
    """A read's failure is seen by whoever still waits; none may be left (no "never retrieved"
    warning)."""
    if not future.cancelled():
        future.exception()


_fanouts: dict[tuple[int, int], Fanout] = {}


def get_fanout() -> Fanout:
    """The fanout of this event loop and channel layer (one of each under daphne)."""
    layer = get_channel_layer()
    key = (id(asyncio.get_running_loop()), id(layer))
    fanout = _fanouts.get(key)
    if fanout is None:
        fanout = _fanouts[key] = Fanout(layer)
    return fanout


async def conversation_publish(conversation_id: int, event: dict[str, Any]) -> bool:
    return await get_fanout().publish(conversation_id, event)


async def conversation_languages(conversation_id: int) -> frozenset[str] | None:
    return await get_fanout().languages(conversation_id)
