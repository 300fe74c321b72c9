"""A raw WebSocket relay of a Chat Completions stream: the yardstick of the streaming benchmark.

    python benchmarks/relay.py --upstream http://127.0.0.1:PORT/v1 [--port 0]

Everything the app does that is not relaying is absent here: no database, no session, no
channel layer, no templates. A client sends `{"message": "..."}`; the relay POSTs it to the
upstream's /chat/completions (plain asyncio, HTTP/1.1, chunked SSE), sends each delta on as a
frame of the app's delta protocol (`{"type": "delta", "message", "seq", "from", "blocks",
"text"}`) and ends with the final bubble, the last push (`<article ... data-status="complete"
data-seq="<last delta's seq + 1>">`), so one benchmark client reads both. Prints
"listening <port>" once ready.
"""

import argparse
import asyncio
import html
import itertools
import json
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

_ids = itertools.count(1)


async def upstream_deltas(base_url: str, question: str) -> AsyncIterator[str]:
    """The text deltas of one streamed chat completion, read straight off the socket."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
    body = json.dumps(
        {
            "model": "bench-model",
            "messages": [{"role": "user", "content": question}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    writer.write(
        b"POST %s/chat/completions HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s"
        % (url.path.rstrip("/").encode(), url.netloc.encode(), len(body), body)
    )
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
        buffer = b""
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                return
            buffer += (await reader.readexactly(size + 2))[:-2]
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                for line in event.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        return
                    for choice in json.loads(payload).get("choices", []):
                        content = choice.get("delta", {}).get("content")
                        if content:
                            yield content
    finally:
        writer.close()


async def relay(socket: ServerConnection, base_url: str) -> None:
    try:
        async for frame in socket:
            question = json.loads(frame).get("message", "")
            message_id = next(_ids)
            seq = 0
            parts: list[str] = []
            status = "complete"
            try:
                async for text in upstream_deltas(base_url, str(question)):
                    seq += 1
                    parts.append(text)
                    await socket.send(
                        json.dumps(
                            {
                                "type": "delta",
                                "message": message_id,
                                "seq": seq,
                                "from": 0,
                                "blocks": [],
                                "text": text,
                            }
                        )
                    )
            except (OSError, ValueError, asyncio.IncompleteReadError):
                status = "error"
            # The final bubble is the last push, numbered like the app's.
            await socket.send(
                f'<article id="message-{message_id}" class="bubble bubble--assistant" '
                f'data-status="{status}" data-seq="{seq + 1}"><div class="bubble-body">'
                f"<p>{html.escape(''.join(parts))}</p></div></article>"
            )
    except ConnectionClosed:
        return


async def main(port: int, base_url: str) -> None:
    async with serve(
        lambda socket: relay(socket, base_url),
        "127.0.0.1",
        port,
        compression=None,  # as daphne: no permessage-deflate
        ping_interval=None,
        max_size=2**20,
        backlog=1024,
    ) as server:
        print(f"listening {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8001/v1")
    arguments = parser.parse_args()
    try:
        asyncio.run(main(arguments.port, arguments.upstream))
    except KeyboardInterrupt:
        sys.exit(0)
