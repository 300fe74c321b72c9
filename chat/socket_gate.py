"""Daphne's WebSocket protocol with the frame budget applied to reading: a flood is not read,
let alone parsed.

The consumer (chat/consumers.py) is the one judge of a frame: it answers CHAT_FRAMES_PER_SECOND
with bursts of CHAT_FRAME_BURST, refuses the rest and closes a socket that keeps flooding. But
daphne (autobahn) parses every frame the network delivers and queues it for the consumer: under
a flood that parsing was nearly all of the event loop (py-spy, benchmarks/abuse.py), before the
consumer had seen a frame, and every parsed frame waited in memory. So here the server reads a
socket only as fast as its read budget (socket_limits.read_budget: what the consumer needs to
judge it) and otherwise stops reading it, which makes the kernel push back on the sender; and a
socket the consumer closed for flooding is dropped at once, its unread frames never parsed.

It also sends each frame at once (TCP_NODELAY), as asyncio servers do, and drops a client that
does not read what it is sent: when more than the transport's bufferSize (Twisted's 64 KiB) waits
unsent beyond what the kernel took (its send buffer: CHAT_SOCKET_SEND_BUFFER_BYTES), and the
kernel has taken none of it CHAT_SOCKET_SEND_STALL_SECONDS later, the connection is aborted
(logged); a slow client that is still taking its backlog is given more time, up to
MAX_SEND_BACKLOG_BYTES waiting. A dropped client's frames are neither framed nor buffered any
more. A page that was merely slow reconnects and is caught up.

Installed by taxsite/asgi.py when daphne serves (`daphne` and daphne's `runserver`); under any
other server the consumer's own limits still apply, at a parse per frame.
"""

import asyncio
import functools
import gc
import logging
import socket
from typing import Any

from autobahn.websocket.types import ConnectionDeny
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer  # type: ignore[import-untyped]

from chat.socket_limits import (
    CLOSE_FLOODING,
    REFUSED_TOO_FAST,
    FrameBudget,
    open_refused_now,
    read_budget,
    refusal_held,
    refusal_released,
    session_opener,
)

logger = logging.getLogger(__name__)

# However steadily a slow client takes its backlog, no more than this waits for it (the largest
# frame, a catch-up of CHAT_CATCH_UP_MESSAGES long answers, is well under a megabyte).
MAX_SEND_BACKLOG_BYTES = 4 * 1024 * 1024


class GatedWebSocketProtocol(WebSocketProtocol):  # type: ignore[misc]  # daphne is untyped
    budget: FrameBudget | None = None
    # While reading is held: the call that resumes it (daphne runs Twisted on asyncio's loop).
    resume_call: asyncio.TimerHandle | None = None
    stopped_reading = False  # for good: closed for flooding
    refused_early = False  # opening sockets too fast: refused before daphne saw it
    bytes_handed = 0  # to the transport, since the connection was made

    def connectionMade(self) -> None:
        freeze_startup_objects()
        # Twisted leaves Nagle's algorithm on (asyncio turns it off): a small frame sent right
        # after another waited for the browser's delayed ACK, up to 40 ms before first words.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        # A fixed kernel send buffer: autotuned, it grows to 4 MiB (tcp_wmem), which a client
        # that never reads fills for minutes before anything waits where the watch can see it.
        handle = getattr(self.transport, "getHandle", None)
        if handle is not None:
            handle().setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, settings.CHAT_SOCKET_SEND_BUFFER_BYTES
            )
        # The HTTP channel this socket was upgraded from is still registered as the producer
        # of the connection's writes (it no longer writes): the watch takes its place.
        self.transport.unregisterProducer()
        self.transport.registerProducer(SendBacklogWatch(self), True)
        super().connectionMade()

    def onConnect(self, request: Any) -> Any:
        """A session opening sockets faster than OpenRateLimit lets it is refused here, before
        daphne builds an application (queue, task, scope) for the handshake only to refuse it:
        1,000 handshakes refused there left the server 18-19 MiB larger for good (the storm's
        peak, in arenas a few survivors keep), refused here 6 MiB (`benchmarks/abuse.py`,
        phase 3). Those let through are counted by OpenRateLimit as before."""
        who = session_opener(request.headers.get("cookie"))
        if who is None or not open_refused_now(who):
            return super().onConnect(request)
        self.refused_early = True
        logger.warning(REFUSED_TOO_FAST, getattr(self.transport.getPeer(), "host", "unknown"))
        if not refusal_held(who):
            raise _opening_too_fast()
        refused: Deferred[None] = Deferred()

        def refuse() -> None:
            refusal_released(who)
            refused.errback(_opening_too_fast())

        asyncio.get_running_loop().call_later(settings.CHAT_SOCKET_REFUSAL_SECONDS, refuse)
        return refused

    def consumeData(self) -> None:
        if self.state not in (self.STATE_OPEN, self.STATE_CLOSING):
            super().consumeData()  # the opening handshake
            return
        # autobahn's own loop, which parses everything buffered, stopping when reading is held.
        while self.reading and self.processData():
            pass

    @property
    def reading(self) -> bool:
        return not (self.resume_call or self.stopped_reading or self.state == self.STATE_CLOSED)

    def onFrameEnd(self) -> Any:
        # Every frame counts, control frames (ping, pong) included: each costs a parse.
        result = super().onFrameEnd()
        if self.budget is None:
            self.budget = read_budget()
        self.budget.allow()
        wait = self.budget.seconds_to_next()
        if wait > 0 and self.reading:
            self.transport.pauseProducing()
            self.resume_call = asyncio.get_running_loop().call_later(wait, self.resume_reading)
        return result

    def resume_reading(self) -> None:
        self.resume_call = None
        if self.state == self.STATE_CLOSED or self.stopped_reading:
            return
        self.transport.resumeProducing()
        self.consumeData()  # what was read before the hold

    def serverClose(self, code: int | None = None) -> None:
        if code == CLOSE_FLOODING:
            # The consumer has stopped: what is buffered would only be parsed to be dropped,
            # and waiting for the flooder's closing handshake means parsing its whole backlog.
            # So nothing more is read: the close frame goes out, and autobahn drops the
            # connection when the closing handshake times out (its closeHandshakeTimeout).
            # (Dropping it at once would lose the close code: the kernel answers unread data
            # with a reset.)
            self.stopped_reading = True
            self.data = b""
            self.transport.pauseProducing()
        super().serverClose(code)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        self.bytes_handed += len(data)
        super().sendData(data, sync, chopsize)

    def bytes_sent(self) -> int:
        """What the kernel has taken so far: handed to the transport, less what still waits in
        Twisted's buffer (its attributes; a transport without them counts as all sent)."""
        transport = self.transport
        waiting = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
        return self.bytes_handed - waiting - getattr(transport, "_tempDataLen", 0)

    def drop_for_not_reading(self) -> None:
        if self.state == self.STATE_CLOSED:
            return
        logger.warning(
            "Socket from %s dropped: it has not read what it was sent for %s s",
            self.client_addr[0] if self.client_addr else "unknown",
            settings.CHAT_SOCKET_SEND_STALL_SECONDS,
        )
        self.transport.abortConnection()

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self.resume_call is not None:
            self.resume_call.cancel()
        self.resume_call = None
        if self.refused_early:
            return  # daphne never knew of it
        super().onClose(wasClean, code, reason)


def _opening_too_fast() -> Exception:
    """The handshake's answer: 403, as OpenRateLimit's refusal before accept."""
    return ConnectionDeny(ConnectionDeny.FORBIDDEN, "Opening sockets too fast")  # type: ignore[no-untyped-call]


@implementer(IPushProducer)
class SendBacklogWatch:
    """Registered with the transport as the producer of what the socket sends: Twisted pauses
    it when the unsent backlog passes the transport's bufferSize and resumes it when all of it
    has gone out. Paused, and nothing more taken by the kernel for
    CHAT_SOCKET_SEND_STALL_SECONDS: the client does not read."""

    def __init__(self, protocol: GatedWebSocketProtocol) -> None:
        self.protocol = protocol
        self.drop_call: asyncio.TimerHandle | None = None
        self.sent_at_check = 0

    def pauseProducing(self) -> None:
        if self.drop_call is None:
            self._check_later()

    def _check_later(self) -> None:
        self.sent_at_check = self.protocol.bytes_sent()
        self.drop_call = asyncio.get_running_loop().call_later(
            settings.CHAT_SOCKET_SEND_STALL_SECONDS, self._check
        )

    def resumeProducing(self) -> None:
        self.stopProducing()

    def stopProducing(self) -> None:
        if self.drop_call is not None:
            self.drop_call.cancel()
            self.drop_call = None

    def _check(self) -> None:
        self.drop_call = None
        sent = self.protocol.bytes_sent()
        if sent > self.sent_at_check and self.protocol.bytes_handed - sent < MAX_SEND_BACKLOG_BYTES:
            self._check_later()  # slow, but reading
        else:
            self.protocol.drop_for_not_reading()


@functools.cache
def freeze_startup_objects() -> None:
    """What is loaded when the first socket comes (Django, the app: ~100k objects) lives as long
    as the serving process: kept out of the collector's full passes, which otherwise walk all of
    it, stalling the event loop 25-75 ms each time a burst of sockets comes and goes (measured
    under benchmarks/abuse.py's 8-socket flood; under 10 ms frozen). Only in a process that
    serves sockets, not wherever this module is imported."""
    gc.freeze()


def install() -> None:
    """Daphne builds its WebSocket protocols from this class attribute when it starts serving
    (after importing the application)."""
    WebSocketFactory.protocol = GatedWebSocketProtocol
