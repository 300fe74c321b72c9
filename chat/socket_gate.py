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

It also sends each frame at once (TCP_NODELAY), as asyncio servers do.

Installed by taxsite/asgi.py when daphne serves (`daphne` and daphne's `runserver`); under any
other server the consumer's own limits still apply, at a parse per frame.
"""

import asyncio
import functools
import gc
from typing import Any

from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol

from chat.socket_limits import CLOSE_FLOODING, FrameBudget, read_budget


class GatedWebSocketProtocol(WebSocketProtocol):  # type: ignore[misc]  # daphne is untyped
    budget: FrameBudget | None = None
    # While reading is held: the call that resumes it (daphne runs Twisted on asyncio's loop).
    resume_call: asyncio.TimerHandle | None = None
    stopped_reading = False  # for good: closed for flooding

    def connectionMade(self) -> None:
        freeze_startup_objects()
        # Twisted leaves Nagle's algorithm on (asyncio turns it off): a small frame sent right
        # after another waited for the browser's delayed ACK, up to 40 ms before first words.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        super().connectionMade()

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

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self.resume_call is not None:
            self.resume_call.cancel()
        self.resume_call = None
        super().onClose(wasClean, code, reason)


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
