"""Reading the socket's frames as the page does: HTML fragments and numbered delta frames."""

import json
from typing import Any


def delta_frames(frames: list[str], message_id: int | None = None) -> list[dict[str, Any]]:
    """The JSON delta frames among `frames` (of one answer, if given), in order."""
    deltas = []
    for text in frames:
        if not text.startswith("{"):
            continue
        frame = json.loads(text)
        if frame.get("type") == "delta" and message_id in (None, frame["message"]):
            deltas.append(frame)
    return deltas


def streamed_text(frames: list[str], message_id: int | None = None) -> str:
    """The answer text carried by the delta frames, joined."""
    return "".join(frame["text"] for frame in delta_frames(frames, message_id))
