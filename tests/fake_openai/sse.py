"""The pieces every wire format is built from: SSE frames, ids, words."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


@dataclass
class Frame:
    body: bytes
    is_delta: bool = False  # an answer delta: paced, and counted by drop_after / error_after
    paced: bool = False  # paced like a delta, not counted (reasoning deltas)


class Ids:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}"


def words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]
