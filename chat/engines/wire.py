"""Reading a provider's streamed reply ourselves: every OpenAI-compatible server's dialect.

The SDK sends the request (retries, status errors, auth); the body is read here, because what
servers really send differs from what the SDK's typed stream expects: comments (`: PROCESSING`),
CRLF line ends, no final blank line, `event: error` or `{"error": …}` mid-stream, a whole JSON
answer to a streamed request, an HTML page from a proxy, or plain garbage. Payloads come out as
plain dicts; the engines read them leniently.

`WireStream.ended_cleanly` tells a finished stream from a cut one: `[DONE]` was seen, or the body
ended where its HTTP framing (Content-Length, chunked terminator, HTTP/2) said it would. A cut
connection raises in the HTTP layer instead; a body with no framing ends cleanly only by `[DONE]`.
"""

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_noop

if TYPE_CHECKING:
    import httpx2

# Stored on the answer in English, shown in the reader's language (chat.notices).
UNREADABLE = gettext_noop("The AI provider sent a reply we could not read.")
PROVIDER_ERROR_SAID = gettext_noop("The AI provider reported an error: {said}")
PROVIDER_ERROR_SILENT = gettext_noop("The AI provider reported an error.")
# How much of a provider's own error message a person sees (the rest goes to the log).
SHOWN_ERROR_CHARS = 200
# A body that is not an event stream is read whole only up to this size.
MAX_WHOLE_BODY = 1_000_000


_SKIP: tuple[str, Any] = ("", None)
_SSE_STARTS = (b"data:", b"event:", b":")


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


class _Ticks:
    """One timer for all the paced streams of an event loop: each waits for the next tick
    (at most `period` away) rather than arming a timer of its own at every read, which cost
    hundreds of timers a second with hundreds of answers streaming."""

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float) -> None:
        self.loop = loop
        self.period = period
        self.next: asyncio.Future[None] | None = None

    def wait(self) -> "asyncio.Future[None]":
        if self.next is None or self.next.done():
            self.next = self.loop.create_future()
            self.loop.call_later(self.period, _tick, self.next)
        # Shielded: a stream stopped while it waits must not cancel the tick of the others.
        return asyncio.shield(self.next)


def _tick(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


_ticks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, _Ticks]]" = (
    weakref.WeakKeyDictionary()
)


async def _next_tick(period: float) -> None:
    loop = asyncio.get_running_loop()
    by_period = _ticks.setdefault(loop, {})
    ticks = by_period.get(period)
    if ticks is None:
        ticks = by_period[period] = _Ticks(loop, period)
    await ticks.wait()


# How often the stall watch looks at the streams it holds (a stall is seen this late at most).
STALL_CHECK_SECONDS = 0.25


class _StallWatch:
    """The read timeout of an event loop's provider streams, kept by one timer.

    aiohttp re-arms a timer handle for the read timeout at every TCP segment it reads, about
    one per delta: 7 % of the server's CPU with 200 answers streaming (py-spy under
    `benchmarks/streaming.py`). A stream that takes the timeout over (`WireStream`) is looked at
    here every STALL_CHECK_SECONDS instead, and ended as aiohttp would have ended it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Weak: a stream whose reader was abandoned (not closed) leaves with it.
        self.streams: weakref.WeakSet[WireStream] = weakref.WeakSet()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, stream: "WireStream") -> None:
        self.streams.add(stream)
        if self.handle is None:
            self.handle = self.loop.call_later(STALL_CHECK_SECONDS, self._check)

    def _check(self) -> None:
        self.handle = None
        now = time.monotonic()
        for stream in list(self.streams):
            stream.end_if_stalled(now)
        if self.streams:
            self.handle = self.loop.call_later(STALL_CHECK_SECONDS, self._check)


_stall_watches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _StallWatch]" = (
    weakref.WeakKeyDictionary()
)


def _stall_watch() -> _StallWatch:
    loop = asyncio.get_running_loop()
    watch = _stall_watches.get(loop)
    if watch is None:
        watch = _stall_watches[loop] = _StallWatch(loop)
    return watch


class WireError(Exception):
    """The reply cannot be used: `message` is for the person, `detail` for staff."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass
class ServerEvent:
    event: str
    data: str


@dataclass
class _Decoder:
    """Server-Sent Events as the HTML standard defines them, fed bytes in arbitrary pieces.

    Each piece is split into lines at once (CRLF, LF or CR, as `bytes.splitlines` does): a
    stream delivers hundreds of pieces a second per answer, each usually a whole event.
    """

    buffer: bytes = b""
    event: str = ""
    data: list[str] = field(default_factory=list)
    # Lines that are neither fields nor comments (an HTML page, garbage): counted, not kept.
    stray_lines: int = 0
    first_stray: str = ""
    # The last piece ended with CR: an LF starting the next one is the rest of a CRLF.
    after_cr: bool = False

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        if self.after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self.after_cr = False
        pending = self.buffer + chunk if self.buffer else chunk
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r"))
        if cut < 0:
            self.buffer = pending
            return []
        complete, self.buffer = pending[: cut + 1], pending[cut + 1 :]
        self.after_cr = complete[-1:] == b"\r"
        events: list[ServerEvent] = []
        for line in complete.splitlines():
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def finish(self) -> list[ServerEvent]:
        """The end of the body: a last line and event without their blank line still count."""
        events = self.feed(b"\n") if self.buffer else []
        last = self._line("")
        return [*events, last] if last is not None else events

    def _line(self, line: str) -> ServerEvent | None:
        if not line:
            if not self.data and not self.event:
                return None
            event = ServerEvent(self.event, "\n".join(self.data))
            self.event, self.data = "", []
            return event
        if line.startswith(":"):
            return None  # a comment: keep-alives such as ": OPENROUTER PROCESSING"
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self.data.append(value.removeprefix("\ufeff"))
        elif name == "event":
            self.event = value
        elif name not in ("id", "retry") and not name.startswith("\ufeff"):
            self.stray_lines += 1
            self.first_stray = self.first_stray or line[:200]
        return None


def _error_text(payload: Any) -> str:
    """A provider's error message, from the shapes servers use."""
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        for key in ("message", "msg", "detail", "error"):
            if isinstance(error.get(key), str) and error[key]:
                return str(error[key])
        return json.dumps(error)[:500]
    return str(error)


def token_count(value: Any) -> int:
    """A token count as servers send it (int, float or numeric string); 0 if unreadable."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def provider_error(payload: Any) -> WireError:
    text = " ".join(_error_text(payload).split())
    shown = text if len(text) <= SHOWN_ERROR_CHARS else text[: SHOWN_ERROR_CHARS - 1] + "…"
    return WireError(
        PROVIDER_ERROR_SAID.format(said=shown) if shown else PROVIDER_ERROR_SILENT, text
    )


def is_error_payload(payload: Any) -> bool:
    """`{"error": {...}}` (OpenAI, OpenRouter, vLLM, llama.cpp) mid-stream or as a whole body."""
    return isinstance(payload, dict) and bool(payload.get("error")) and "type" not in payload


class WireStream:
    """The JSON payloads of one streamed reply, in order, read from the raw HTTP body."""

    def __init__(self, response: "httpx2.Response") -> None:
        self.response = response
        self.saw_done = False
        self.framed_end = False
        self.events = 0
        # Seconds between reads once `pace` was called: 0 reads each piece as it arrives.
        self._read_every = 0.0
        # Once the read timeout is taken over from aiohttp (`_take_over_read_timeout`).
        self._body: Any = None
        self._watch: _StallWatch | None = None
        self._read_timeout = 0.0
        self._waiting_since = 0.0  # while a read waits for the provider

    def pace(self, seconds: float) -> None:
        """From now on, read at most every `seconds`: what arrives in between is handled as
        one batch. Called once the first words are out, so they are never held back."""
        self._read_every = seconds

    def _take_over_read_timeout(self) -> None:
        """Keep this body's read timeout with the stall watch, not in aiohttp (see _StallWatch).
        Only with the SDK's aiohttp transport (chat.engines.client); otherwise the HTTP client
        keeps its own."""
        stream: Any = self.response.stream
        for _ in range(3):  # httpx wraps the transport's stream in its own
            aiohttp_response = getattr(stream, "_aiohttp_response", None)
            if aiohttp_response is not None:
                break
            stream = getattr(stream, "_stream", None)
        else:
            return
        protocol: Any = getattr(getattr(aiohttp_response, "connection", None), "protocol", None)
        timeout = getattr(protocol, "read_timeout", None)
        if not timeout or not hasattr(aiohttp_response.content, "set_exception"):
            return  # no timeout to keep, or the body is in already (the connection is free)
        protocol.read_timeout = None  # aiohttp arms no new timer from its next read on
        self._body = aiohttp_response.content
        self._read_timeout = float(timeout)
        self._watch = _stall_watch()
        self._watch.add(self)

    def end_if_stalled(self, now: float) -> None:
        """Called by the stall watch: a read that has waited longer than the timeout fails as
        aiohttp's own timeout fails it (the SDK's transport makes it an httpx ReadTimeout)."""
        if self._waiting_since and now - self._waiting_since > self._read_timeout:
            from aiohttp import SocketTimeoutError

            self._waiting_since = 0.0
            self._body.set_exception(SocketTimeoutError("Timeout on reading data from socket"))

    @property
    def ended_cleanly(self) -> bool:
        return self.saw_done or self.framed_end

    def _framed(self) -> bool:
        headers = self.response.headers
        return (
            self.response.http_version == "HTTP/2"
            or "content-length" in headers
            or "chunked" in headers.get("transfer-encoding", "").lower()
        )

    async def batches(self) -> AsyncIterator[list[tuple[str, Any]]]:
        """(event name, parsed JSON) pairs, a list per read of the body; raises WireError for
        error events and garbage."""
        content_type = self.response.headers.get("content-type", "").lower()
        chunks = aiter(self.response.aiter_bytes())
        first = b""
        async for chunk in chunks:
            first = chunk
            if chunk.strip():
                break
        # An event stream under another content type (some proxies say text/plain) is still one.
        if "text/event-stream" not in content_type and not first.lstrip().startswith(_SSE_STARTS):
            async for payload in self._whole_body(content_type, first, chunks):
                yield [payload]
            return
        decoder = _Decoder()
        piece: bytes | None = first
        self._take_over_read_timeout()
        try:
            while True:
                read_at = time.monotonic()
                # None: the body has ended, and what the decoder still holds is the last of it.
                batch, ended, error = self._parsed(
                    decoder.feed(piece) if piece is not None else decoder.finish()
                )
                if batch:
                    yield batch
                if error is not None:
                    raise error
                if ended:
                    return
                if piece is None:
                    break
                if self._read_every and time.monotonic() - read_at < self._read_every:
                    # Paced: the next deltas gather in the socket's buffer meanwhile.
                    await _next_tick(self._read_every)
                self._waiting_since = time.monotonic()
                try:
                    piece = await anext(chunks)
                except StopAsyncIteration:
                    piece = None
                finally:
                    self._waiting_since = 0.0
        finally:
            if self._watch is not None:
                self._watch.streams.discard(self)
        self.framed_end = self._framed()
        if not self.events and decoder.stray_lines:
            raise WireError(UNREADABLE, f"not an event stream: {decoder.first_stray!r}")

    def _parsed(
        self, events: list[ServerEvent]
    ) -> tuple[list[tuple[str, Any]], bool, WireError | None]:
        """The payloads of these events; whether the stream ended among them (`[DONE]`, after
        which nothing is read); and an error among them, raised once the payloads before it
        are out."""
        batch: list[tuple[str, Any]] = []
        for event in events:
            try:
                parsed = self._parse(event)
            except WireError as error:
                return batch, True, error
            if parsed is None:
                return batch, True, None
            if parsed is not _SKIP:
                batch.append(parsed)
        return batch, False, None

    def _parse(self, event: ServerEvent) -> tuple[str, Any] | None:
        """The event's payload; None at `[DONE]` (the end), `_SKIP` for an empty event."""
        data = event.data.strip()
        if data.startswith("[DONE]"):
            self.saw_done = True
            return None
        if not data:
            if event.event == "error":
                raise WireError(PROVIDER_ERROR_SILENT, "an empty error event")
            return _SKIP  # an event with no data: nothing to read
        try:
            payload = json.loads(data)
        except ValueError:
            if event.event == "error":
                raise provider_error(data) from None
            raise WireError(UNREADABLE, f"not JSON: {data[:200]!r}") from None
        self.events += 1
        if event.event == "error" or is_error_payload(payload):
            raise provider_error(payload)
        return event.event, payload

    async def _whole_body(
        self, content_type: str, first: bytes, chunks: AsyncIterator[bytes]
    ) -> AsyncIterator[tuple[str, Any]]:
        """A reply that is not an event stream: one JSON answer, a JSON error, or unusable."""
        body = bytearray()
        async for chunk in _prepend(first, chunks):
            body += chunk
            if len(body) > MAX_WHOLE_BODY:
                raise WireError(UNREADABLE, f"a {content_type or 'untyped'} body over 1 MB")
        self.framed_end = True
        text = bytes(body).decode("utf-8", errors="replace").strip()
        try:
            payload = json.loads(text)
        except ValueError:
            kind = "an HTML page" if "html" in content_type or text[:1] == "<" else "not JSON"
            raise WireError(
                f"{UNREADABLE[:-1]} ({kind}; a proxy or gateway in between may have failed).",
                f"{content_type or 'no content type'}: {text[:300]!r}",
            ) from None
        if is_error_payload(payload):
            raise provider_error(payload)
        self.events += 1
        self.saw_done = True  # a whole answer is complete by definition
        yield "", payload
