"""Per-connection and per-person limits on sockets, so one account cannot starve the others.

Counted per process, which is the unit that runs out (file descriptors, memory, the event
loop): behind N processes a person may hold at most N times the per-process number of sockets.
"""

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings


@dataclass
class FrameBudget:
    """A token bucket: CHAT_FRAMES_PER_SECOND with bursts of CHAT_FRAME_BURST frames."""

    tokens: float = field(default_factory=lambda: float(settings.CHAT_FRAME_BURST))
    updated: float = field(default_factory=time.monotonic)
    refused: int = 0  # refused frames in a row without a calm second between them

    def allow(self) -> bool:
        now = time.monotonic()
        rate = settings.CHAT_FRAMES_PER_SECOND
        self.tokens = min(settings.CHAT_FRAME_BURST, self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused = 0
            return True
        self.refused += 1
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
