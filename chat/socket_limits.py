"""Per-connection and per-person limits on sockets, so one account cannot starve the others.

Counted per process, which is the unit that runs out (file descriptors, memory, the event
loop): behind N processes a person may hold at most N times the per-process number of sockets.
"""

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie

logger = logging.getLogger(__name__)

# The close code of a socket refused or closed for flooding (also before accept).
CLOSE_FLOODING = 4429

# Seconds without a refused frame after which a socket's refusals are forgiven.
CALM_SECONDS = 2.0


@dataclass
class FrameBudget:
    """A token bucket: `rate` frames per second with bursts of `burst` frames (by default the
    consumer's: CHAT_FRAMES_PER_SECOND with bursts of CHAT_FRAME_BURST)."""

    burst: float = field(default_factory=lambda: float(settings.CHAT_FRAME_BURST))
    rate: float = field(default_factory=lambda: float(settings.CHAT_FRAMES_PER_SECOND))
    tokens: float = -1.0  # full at the start
    updated: float = field(default_factory=time.monotonic)
    # Refused frames since the last calm spell. A frame let through by the refill does not
    # reset it: a flood gets a frame through every 1/rate seconds and must still add up.
    refused: int = 0
    last_refused: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.refused and now - self.last_refused > CALM_SECONDS:
            self.refused = 0
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.refused += 1
        self.last_refused = now
        return False

    def seconds_to_next(self) -> float:
        """How long until a frame would be allowed (0: now)."""
        tokens = self.tokens + (time.monotonic() - self.updated) * self.rate
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    @property
    def abusive(self) -> bool:
        """Sustained flooding: the socket is closed rather than answered frame by frame."""
        return self.refused > settings.CHAT_FRAME_ABUSE_LIMIT


def read_budget() -> FrameBudget:
    """How fast the server itself reads a socket's frames off the network (chat/socket_gate.py).

    Enough burst for the consumer to answer its own burst and refuse a flood up to its close
    (burst + abuse limit + 1 frames), and twice its rate, so that a sustained flood still shows
    to the consumer as refused frames and ends in a close: the consumer stays the one judge of
    a frame, and the server never parses more of a flood than the consumer needs to judge it.
    """
    return FrameBudget(
        burst=float(settings.CHAT_FRAME_BURST + settings.CHAT_FRAME_ABUSE_LIMIT + 1),
        rate=2 * float(settings.CHAT_FRAMES_PER_SECOND),
    )


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


# who -> (tokens, last update): how fast one person (or session, or address) may open sockets
# in this process.
_opening: dict[Hashable, tuple[float, float]] = {}


def socket_open_allowed(*, user_id: int) -> bool:
    """At most CHAT_SOCKET_OPENS_PER_MINUTE per person, in bursts of CHAT_SOCKET_OPEN_BURST:
    a reconnecting page or a few new tabs always pass; a storm of connects does not."""
    return _open_allowed(("user", user_id))


def _open_allowed(who: Hashable) -> bool:
    now = time.monotonic()
    burst = float(settings.CHAT_SOCKET_OPEN_BURST)
    if len(_opening) > 10_000:  # forget those idle long enough to have a full bucket again
        idle = burst * 60 / settings.CHAT_SOCKET_OPENS_PER_MINUTE
        for stale in [u for u, (_, at) in _opening.items() if now - at > idle]:
            del _opening[stale]
    tokens = _open_tokens(who, now)
    allowed = tokens >= 1
    _opening[who] = (tokens - 1 if allowed else tokens, now)
    return allowed


def _open_tokens(who: Hashable, now: float) -> float:
    burst = float(settings.CHAT_SOCKET_OPEN_BURST)
    tokens, updated = _opening.get(who, (burst, now))
    return min(burst, tokens + (now - updated) * settings.CHAT_SOCKET_OPENS_PER_MINUTE / 60)


def session_opener(cookie_header: str | None) -> Hashable | None:
    """Who opens a socket, by its session cookie (as OpenRateLimit counts them); None without."""
    session = parse_cookie(cookie_header or "").get(settings.SESSION_COOKIE_NAME)
    return ("session", session) if session else None


def open_refused_now(who: Hashable) -> bool:
    """Whether OpenRateLimit would refuse `who` now; counts nothing (a look before the
    handshake costs anything, see chat/socket_gate.py)."""
    return _open_tokens(who, time.monotonic()) < 1


def refusal_held(who: Hashable) -> bool:
    """Take one of `who`'s CHAT_SOCKET_OPEN_BURST held refusals, if one is free (give it back
    with `refusal_released`): a refused client then waits CHAT_SOCKET_REFUSAL_SECONDS."""
    if _held[who] >= settings.CHAT_SOCKET_OPEN_BURST:
        return False
    _held[who] += 1
    return True


def refusal_released(who: Hashable) -> None:
    _held[who] -= 1
    if not _held[who]:
        del _held[who]


class OpenRateLimit:
    """ASGI middleware, before authentication: the same open rate, per session cookie (or, with
    none, per client address), refused (4429 before accept: 403) without reading the session
    or the user from the database. A storm of reconnects then costs a handshake each, not two
    queries each; the per-person check in the consumer still counts all of a person's sessions.

    A refusal is also held for CHAT_SOCKET_REFUSAL_SECONDS (up to CHAT_SOCKET_OPEN_BURST of
    them at a time per session or address): a client that reconnects at once when refused then
    reconnects once a second, not hundreds of times; a page's own reconnects back off longer.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.application(scope, receive, send)
        who = _opener(scope)
        if _open_allowed(who):
            return await self.application(scope, receive, send)
        logger.warning(REFUSED_TOO_FAST, _client(scope))
        if refusal_held(who):
            try:
                await asyncio.sleep(settings.CHAT_SOCKET_REFUSAL_SECONDS)
            finally:
                refusal_released(who)
        return await _refuse(receive, send)


# who -> refusals being held right now
_held: Counter[Hashable] = Counter()


REFUSED_TOO_FAST = "Socket from %s refused: opening sockets too fast"


def _opener(scope: dict[str, Any]) -> Hashable:
    for name, value in scope.get("headers", ()):
        if name == b"cookie" and (session := session_opener(value.decode("latin-1"))):
            return session
    return ("address", _client(scope))


def _client(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _refuse(receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": CLOSE_FLOODING})


def frames_waiting(receive: Callable[..., Any]) -> int:
    """How many frames the server has queued for this socket and not handed over yet.

    The server parses frames faster than a consumer takes them, one per loop turn, so a flood
    shows as a backlog long before it shows as refused frames. Daphne (and Channels' test
    communicator) hand each connection an asyncio.Queue; any other server counts as 0.
    """
    queue = getattr(receive, "__self__", None)
    return queue.qsize() if isinstance(queue, asyncio.Queue) else 0
