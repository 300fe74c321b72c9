"""Recorded provider replies, in the formats public projects keep them, read back unchanged.

- `*.sse` (and any other file): one raw response body, served as an event stream.
- `*.yaml`: a VCR cassette (vcrpy / pytest-recording): each interaction's recorded status,
  content type and body string, in order.
- `*.chunks.txt`: the Vercel AI SDK's recordings, one JSON chunk per line; served framed as that
  project's own test harness frames them (`data: <line>` and a blank line, then `data: [DONE]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from tests.fake_openai.steps import WIRE


@dataclass(frozen=True)
class Captured:
    status: int
    content_type: str
    body: bytes
    # The recorded request's URL, for telling chat and responses captures apart.
    uri: str = ""


def _header(headers: dict[str, object], name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return ""


@cache
def load_capture(path: str) -> tuple[Captured, ...]:
    file = WIRE / path if not Path(path).is_absolute() else Path(path)
    raw = file.read_bytes()
    if file.name.endswith((".yaml", ".yml")):
        cassette = yaml.safe_load(raw.decode("utf-8"))
        replies = []
        for interaction in cassette.get("interactions", []):
            request, response = interaction["request"], interaction["response"]
            if request.get("method") != "POST":
                continue
            body = response.get("body", {})
            text = body.get("string", "") if isinstance(body, dict) else str(body)
            replies.append(
                Captured(
                    status=int(response.get("status", {}).get("code", 200)),
                    content_type=_header(response.get("headers", {}), "content-type"),
                    body=text.encode("utf-8") if isinstance(text, str) else bytes(text),
                    uri=str(request.get("uri", "")),
                )
            )
        return tuple(replies)
    if file.name.endswith(".chunks.txt"):
        lines = [line for line in raw.split(b"\n") if line.strip()]
        body = b"".join(b"data: " + line + b"\n\n" for line in lines) + b"data: [DONE]\n\n"
        return (Captured(200, "text/event-stream", body),)
    return (Captured(200, "text/event-stream", raw),)
