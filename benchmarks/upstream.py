"""A fake Chat Completions upstream for the streaming benchmark: fast, paced, real wire format.

    python benchmarks/upstream.py [--port 0]     # prints "listening <port>" once ready

POST /v1/chat/completions with `stream: true` answers with `text/event-stream` in the shape the
OpenAI API sends (chunked HTTP/1.1, one `chat.completion.chunk` per event, a finish chunk, a
usage chunk when asked for, `data: [DONE]`). The last user message says how long and how fast the
answer is: `deltas=500 rate=100` (the defaults). One timer paces every open stream, so hundreds
of streams cost one wake-up per tick, not one per delta; a stream that falls behind catches up
by sending the deltas it owes in one write, keeping the pace over time. Connections are kept
alive, as the SDK's pool expects.

The answer is `answer_words(deltas)`: one word per delta, a paragraph break every 50 words, so a
client can check every delta arrived, whole and in order.
"""

import argparse
import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

TICK_SECONDS = 0.01
PARAGRAPH_WORDS = 50
_DELTAS = re.compile(r"deltas=(\d+)")
_RATE = re.compile(r"rate=(\d+(?:\.\d+)?)")


def delta_text(index: int, total: int) -> str:
    """The text of delta `index` (0-based) of an answer of `total` deltas."""
    if index == total - 1:
        return f"w{index}."
    return f"w{index}\n\n" if (index + 1) % PARAGRAPH_WORDS == 0 else f"w{index} "


def answer_text(total: int) -> str:
    return "".join(delta_text(i, total) for i in range(total))


def question(deltas: int, rate: float) -> str:
    """The question that asks this upstream for an answer of `deltas` deltas at `rate` per s."""
    return f"Benchmark answer please: deltas={deltas} rate={rate:g}"


@contextlib.contextmanager
def running() -> Iterator[str]:
    """This upstream in a child process, for a benchmark: its base URL (`.../v1`); killed at
    the end."""
    process = subprocess.Popen(  # noqa: S603 - this script, as a child
        [sys.executable, __file__, "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline().split()[1])}/v1"
    finally:
        process.kill()


def _chunk(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk holding one SSE event."""
    event = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


@dataclass(eq=False)  # hashable by identity: kept in a set
class Stream:
    writer: asyncio.StreamWriter
    total: int
    rate: float
    usage: bool
    ident: str
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def head(self) -> bytes:
        return (
            b'{"id":"%s","object":"chat.completion.chunk","created":%d,"model":"bench-model",'
            % (
                self.ident.encode(),
                int(time.time()),
            )
        )

    def event(self, delta: str, finish: str | None = None) -> bytes:
        choice = json.dumps(
            {"index": 0, "delta": json.loads(delta), "logprobs": None, "finish_reason": finish}
        )
        return _chunk(self.head() + b'"system_fingerprint":null,"choices":[%s]}' % choice.encode())

    def deltas(self, upto: int) -> bytes:
        head = self.head()
        parts = []
        for index in range(self.sent, upto):
            content = json.dumps(delta_text(index, self.total))
            parts.append(
                _chunk(
                    head + b'"system_fingerprint":null,"choices":[{"index":0,"delta":{"content":'
                    b'%s},"logprobs":null,"finish_reason":null}]}' % content.encode()
                )
            )
        self.sent = upto
        return b"".join(parts)

    def ending(self) -> bytes:
        tail = self.event("{}", "stop")
        if self.usage:
            usage = {
                "prompt_tokens": 40,
                "completion_tokens": self.total,
                "total_tokens": 40 + self.total,
            }
            tail += _chunk(self.head() + b'"choices":[],"usage":%s}' % json.dumps(usage).encode())
        return tail + _chunk(b"[DONE]") + b"0\r\n\r\n"


class Upstream:
    def __init__(self) -> None:
        self.streams: set[Stream] = set()
        self.counter = 0
        self.wake = asyncio.Event()

    async def pace(self) -> None:
        """Write every stream's due deltas, once per tick."""
        while True:
            if not self.streams:
                self.wake.clear()
                await self.wake.wait()
            now = time.monotonic()
            for stream in list(self.streams):
                if stream.writer.transport.is_closing():
                    self.finish(stream)
                    continue
                due = min(stream.total, int((now - stream.started) * stream.rate) + 1)
                data = stream.deltas(due) if due > stream.sent else b""
                if stream.sent == stream.total:
                    data += stream.ending()
                    self.finish(stream)
                if data:
                    stream.writer.write(data)
            await asyncio.sleep(TICK_SECONDS)

    def finish(self, stream: Stream) -> None:
        self.streams.discard(stream)
        if not stream.done.done():
            stream.done.set_result(None)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                keep = headers.get("connection", "").lower() != "close"
                if method != "POST" or not path.endswith("/chat/completions"):
                    self.reply(writer, 404, b'{"error":{"message":"Not found"}}', keep)
                    continue
                request = json.loads(body)
                user = [m for m in request.get("messages", []) if m.get("role") == "user"]
                text = str(user[-1].get("content", "")) if user else ""
                deltas = _DELTAS.search(text)
                rate = _RATE.search(text)
                self.counter += 1
                stream = Stream(
                    writer=writer,
                    total=max(1, int(deltas.group(1))) if deltas else 500,
                    rate=float(rate.group(1)) if rate else 100.0,
                    usage=bool((request.get("stream_options") or {}).get("include_usage")),
                    ident=f"chatcmpl-bench{self.counter}",
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                    b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n"
                    + (b"" if keep else b"connection: close\r\n")
                    + b"\r\n"
                    + stream.event('{"role":"assistant","content":""}')
                )
                self.streams.add(stream)
                self.wake.set()
                await stream.done
                if not keep:
                    return
        except (ConnectionError, ValueError, json.JSONDecodeError):
            return
        finally:
            writer.close()

    @staticmethod
    def reply(writer: asyncio.StreamWriter, status: int, body: bytes, keep: bool) -> None:
        writer.write(
            b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
            % (status, len(body), b"" if keep else b"connection: close\r\n", body)
        )


async def main(port: int) -> None:
    upstream = Upstream()
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", port, backlog=1024)
    pacer = asyncio.create_task(upstream.pace())
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await asyncio.gather(server.serve_forever(), pacer)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
