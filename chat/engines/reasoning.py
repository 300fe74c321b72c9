"""Reasoning told apart from the answer, whichever way a provider sends it.

Fields (`reasoning_content`, `reasoning`), typed parts (`{"type": "thinking", ...}`) and
Responses summaries are read by the engines; inline `<think>…</think>` blocks at the start of an
answer (DeepSeek-R1 and Qwen on hosts without a reasoning parser) are split off here, even when
the tags arrive cut across deltas.
"""

from collections.abc import Iterator
from typing import Any

from chat.engines.base import EngineEvent, ReasoningDelta, TextDelta

OPEN = "<think>"
CLOSE = "</think>"


class ThinkSplitter:
    """Splits one response's content stream into reasoning and answer events."""

    def __init__(self) -> None:
        self._state = "start"  # start -> think -> answer, or start -> answer
        self._held = ""
        self._strip_answer = False

    def feed(self, text: str) -> Iterator[EngineEvent]:
        if not text:
            return
        if self._state == "answer":
            yield from self._answer(text)
            return
        self._held += text
        if self._state == "start":
            head = self._held.lstrip()
            if not head or OPEN.startswith(head):
                return  # whitespace or part of the tag so far: wait for more
            if not head.startswith(OPEN):
                self._state, held, self._held = "answer", self._held, ""
                yield from self._answer(held)
                return
            self._state, self._held = "think", head[len(OPEN) :]
        end = self._held.find(CLOSE)
        if end >= 0:
            reasoning, rest = self._held[:end], self._held[end + len(CLOSE) :]
            self._state, self._held, self._strip_answer = "answer", "", True
            if reasoning:
                yield ReasoningDelta(reasoning)
            yield from self._answer(rest)
            return
        # Hold back what could be the start of the closing tag.
        keep = next((n for n in range(len(CLOSE) - 1, 0, -1) if self._held.endswith(CLOSE[:n])), 0)
        ready = self._held[: len(self._held) - keep]
        self._held = self._held[len(ready) :]
        if ready:
            yield ReasoningDelta(ready)

    def flush(self) -> Iterator[EngineEvent]:
        """The end of the response: what was held back is what it looked like."""
        held, self._held = self._held, ""
        if not held:
            return
        if self._state == "think":
            yield ReasoningDelta(held)
        else:
            yield from self._answer(held)

    def _answer(self, text: str) -> Iterator[EngineEvent]:
        if self._strip_answer:
            text = text.lstrip()
            if not text:
                return
            self._strip_answer = False
        yield TextDelta(text)


def part_texts(content: Any) -> Iterator[tuple[str, str]]:
    """("text" | "reasoning", text) pairs from a message's content given as a list of parts.

    Mistral's reasoning models send `[{"type": "thinking", "thinking": [{"type": "text", ...}]}]`
    then text parts; others use `{"type": "reasoning", "text": ...}`. Other parts (images,
    references) carry no text for the person.
    """
    for part in content if isinstance(content, list) else []:
        if isinstance(part, str):
            yield "text", part
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "output_text") and isinstance(part.get("text"), str):
            yield "text", part["text"]
        elif kind in ("thinking", "reasoning", "reasoning_text"):
            inner = part.get("thinking", part.get("reasoning", part.get("text")))
            if isinstance(inner, str):
                yield "reasoning", inner
            else:
                for _, text in part_texts(inner):
                    yield "reasoning", text
