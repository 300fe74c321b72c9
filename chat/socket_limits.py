"""Per-connection and per-person limits on sockets, so one account cannot starve the others.

Counted per process, which is the unit that runs out (file descriptors, memory, the event
loop): behind N processes a person may hold at most N times the per-process number of sockets.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

# Seconds without a refused frame after which a socket's refusals are forgiven.
CALM_SECONDS = 2.0


@dataclass
class FrameBudget:
    """A token bucket: CHAT_FRAMES_PER_SECOND with bursts of CHAT_FRAME_BURST frames."""

    tokens: float = field(default_factory=lambda: float(settings.CHAT_FRAME_BURST))
    updated: float = field(default_factory=time.monotonic)
    # Refused frames since the last calm spell. A frame let through by the refill does not
    # reset it: a flood gets a frame through every 1/rate seconds and must still add up.
    refused: int = 0
    last_refused: float = 0.0

    def allow(self) -> bool:
        now = time.monotonic()
        rate = settings.CHAT_FRAMES_PER_SECOND
        self.tokens = min(settings.CHAT_FRAME_BURST, self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.refused and now - self.last_refused > CALM_SECONDS:
            self.refused = 0
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.refused += 1
        self.last_refused = now
        return False

    @property
    def abusive(self) -> bool:
        """Sustained flooding: the socket is closed rather than answered frame by frame."""
        return self.refused > settings.CHAT_FRAME_ABUSE_LIMIT


# person -> their sockets in this process, oldest first (channel names)
_open: dict[int, "OrderedDict[str, None]"] = {}


def socket_opened(*, user_id: int, channel_name: str) -> list[str]:
    """Register a socket; returns the person's oldest sockets to close to stay within the cap."""
    sockets = _open.setdefault(user_id, OrderedDict())
    sockets[channel_name] = None
    evicted = []
    while len(sockets) > settings.CHAT_MAX_SOCKETS_PER_PERSON:
        oldest, _ = sockets.popitem(last=False)
        evicted.append(oldest)
    return evicted


def socket_closed(*, user_id: int, channel_name: str) -> None:
    sockets = _open.get(user_id)
    if sockets is None:
        return
    sockets.pop(channel_name, None)
    if not sockets:
        del _open[user_id]


def sockets_open(*, user_id: int) -> int:
    return len(_open.get(user_id, ()))


# person -> (tokens, last update): how fast one person may open sockets in this process.
_opening: dict[int, tuple[float, float]] = {}


def socket_open_allowed(*, user_id: int) -> bool:
    """At most CHAT_SOCKET_OPENS_PER_MINUTE per person, in bursts of CHAT_SOCKET_OPEN_BURST:
    a reconnecting page or a few new tabs always pass; a storm of connects does not."""
    now = time.monotonic()
    burst = float(settings.CHAT_SOCKET_OPEN_BURST)
    if len(_opening) > 10_000:  # forget people idle long enough to have a full bucket again
        idle = burst * 60 / settings.CHAT_SOCKET_OPENS_PER_MINUTE
        for stale in [u for u, (_, at) in _opening.items() if now - at > idle]:
            del _opening[stale]
    tokens, updated = _opening.get(user_id, (burst, now))
    tokens = min(burst, tokens + (now - updated) * settings.CHAT_SOCKET_OPENS_PER_MINUTE / 60)
    allowed = tokens >= 1
    _opening[user_id] = (tokens - 1 if allowed else tokens, now)
    return allowed


def frames_waiting(receive: Callable[..., Any]) -> int:
    """How many frames the server has queued for this socket and not handed over yet.

    The server parses frames faster than a consumer takes them, one per loop turn, so a flood
    shows as a backlog long before it shows as refused frames. Daphne (and Channels' test
    communicator) hand each connection an asyncio.Queue; any other server counts as 0.
    """
    queue = getattr(receive, "__self__", None)
    return queue.qsize() if isinstance(queue, asyncio.Queue) else 0
