"""What the fake server answers: scripted steps, and the smart default when none is queued."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIRE = Path(__file__).parent.parent / "data" / "openai-wire"
MODEL = "gpt-fake-1"


@dataclass
class Text:
    """Answer with this text, one word per delta (after `reasoning`, if any)."""

    text: str
    first_delay: float = 0.0
    # Cut the stream: after this many deltas, drop the connection or send an error event.
    drop_after: int | None = None
    error_after: int | None = None
    # Sent apart from the answer (chat: `reasoning_content`; responses: a reasoning summary).
    reasoning: str = ""
    # Go silent mid-answer: after this many deltas, send nothing for `stall_seconds`.
    stall_after: int | None = None
    stall_seconds: float = 0.0

    @classmethod
    def of_length(cls, words: int) -> Text:
        """A long answer for benchmarks: `words` words, one delta each."""
        return cls(" ".join(f"word{i}" for i in range(words)))


@dataclass
class ToolCalls:
    calls: list[tuple[str, str]]  # (name, raw arguments)
    # Text written before the calls, in the same response.
    text: str = ""
    # The call ids to use (providers that number calls per response send call_0 every time).
    ids: list[str] | None = None


@dataclass
class Status:
    """Answer the request with an HTTP error (counts once per request, retries included)."""

    code: int
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Failed:
    """Responses `response.failed` / Assistants `thread.run.failed`."""

    message: str = "The model failed."


@dataclass
class Incomplete:
    reason: str = "max_output_tokens"
    text: str = "Cut"


@dataclass
class Refusal:
    text: str = "I can't help with that."


@dataclass
class Replay:
    """Send a captured body verbatim (a raw body file under tests/data/openai-wire)."""

    path: str


@dataclass
class Capture:
    """Serve one recorded response of a capture (any format `captures.py` reads) unchanged:
    its status, content type and body bytes, whatever the request was."""

    path: str
    response: int = 0

    @classmethod
    def all(cls, path: str) -> list[Capture]:
        from tests.fake_openai.captures import load_capture

        return [cls(path, n) for n in range(len(load_capture(path)))]


@dataclass
class Raw:
    """Send these exact bytes, framed as asked: what no well-behaved server sends.

    framing: "chunked" (ends with the terminating chunk), "length" (Content-Length) or "close"
    (no length, the body ends when the connection closes). `cut` drops the connection before
    the body's end (chunked: without the terminating chunk; length: short of the length).
    """

    body: bytes
    content_type: str = "text/event-stream"
    framing: str = "chunked"
    cut: bool = False
    status: int = 200


Step = Text | ToolCalls | Status | Failed | Incomplete | Refusal | Replay | Capture | Raw


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


# --- The smart default ------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def smart_step(user_text: str | None, tool_outputs: list[str]) -> Step:
    if tool_outputs:
        sentences = []
        for output in tool_outputs:
            try:
                data = json.loads(output)
            except ValueError:
                data = {"error": output}
            if isinstance(data, dict) and "tax" in data:
                sentences.append(f"The tax on €{data['revenue']} is €{data['tax']}.")
            else:
                error = data.get("error") if isinstance(data, dict) else output
                sentences.append(f"The calculator refused: {error}")
        return Text(" ".join(sentences))
    if user_text:
        match = _NUMBER.search(user_text)
        if match:
            revenue = match.group(0).replace(",", "")
            return ToolCalls([("calculate_tax", json.dumps({"revenue": revenue}))])
        return Text(f"(fake model) You said: {user_text[:200]}")
    return Text("(fake model) Hello.")


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and "text" in part
        )
    return ""
