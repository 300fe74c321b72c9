"""Chat Completions with tools: what OpenAI-compatible servers speak.

Ollama, vLLM (--enable-auto-tool-choice), llama.cpp (--jinja), LM Studio, LiteLLM and hosted
providers (Groq, Mistral, DeepSeek, OpenRouter, Together, Azure, ...) all serve it; point
OPENAI_BASE_URL at them. No provider-side thread: history is rebuilt from our database.

The stream is read leniently (`ChunkReader`): content as a string or a list of typed parts,
choices without `delta`, tool calls without `index` or with ids only on their first piece,
usage in the finish chunk or a trailing chunk, reasoning in `reasoning_content`, `reasoning`,
thinking parts or `<think>` blocks.
"""

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop

from chat.engines.base import (
    EngineEvent,
    ReasoningDelta,
    TextDelta,
    TurnFailed,
    TurnRequest,
    UsageReported,
    merged,
)
from chat.engines.client import OpenAIEngine, stream_post
from chat.engines.errors import CUT_SHORT, FILTERED, STREAM_ENDED_EARLY
from chat.engines.history import chat_messages, chat_tools
from chat.engines.reasoning import ThinkSplitter, part_texts
from chat.engines.rounds import (
    CallIds,
    RoundResult,
    ToolCallRequest,
    run_rounds,
)
from chat.engines.wire import WireStream, token_count


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass
class _Call:
    provider_id: str
    name: str = ""
    arguments: str = ""


@dataclass
class ChunkReader:
    """One response's chunks, read into events and tool calls."""

    splitter: ThinkSplitter = field(default_factory=ThinkSplitter)
    calls: list[_Call] = field(default_factory=list)
    by_index: dict[Any, _Call] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    refused: bool = False
    usage: dict[str, Any] | None = None
    saw_chunk: bool = False

    def read(self, chunk: Any) -> Iterator[EngineEvent]:
        if not isinstance(chunk, dict):
            return
        self.saw_chunk = True
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if isinstance(usage, dict):
            self.usage = usage  # the last one counts: some servers repeat running totals
        choices = chunk.get("choices") or []
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) not in (0, None):
                continue  # n > 1 is never asked for; other choices are ignored
            # A choice may carry no delta at all (Azure's content-filter results) or a whole
            # message (a server answering a streamed request in one piece).
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta, dict):
                yield from self._delta(delta)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])

    def _delta(self, delta: dict[str, Any]) -> Iterator[EngineEvent]:
        reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
        if reasoning:
            yield ReasoningDelta(reasoning)
        content = delta.get("content")
        if isinstance(content, str):
            yield from self._answer(self.splitter.feed(content))
        else:
            for kind, piece in part_texts(content):
                if kind == "reasoning":
                    yield ReasoningDelta(piece)
                else:
                    yield from self._answer(self.splitter.feed(piece))
        refusal = _text(delta.get("refusal"))
        if refusal:
            self.refused = True
            yield from self._answer(iter([TextDelta(refusal)]))
        for piece in delta.get("tool_calls") or []:
            if isinstance(piece, dict):
                self._tool_piece(piece)

    def _answer(self, events: Iterator[EngineEvent]) -> Iterator[EngineEvent]:
        for event in events:
            if isinstance(event, TextDelta):
                self.text.append(event.text)
            yield event

    def _tool_piece(self, piece: dict[str, Any]) -> None:
        """Calls arrive in pieces: by index (OpenAI), by id alone (xAI, Gemini), or whole."""
        call_id = _text(piece.get("id"))
        index = piece.get("index")
        function = piece.get("function") or {}
        call: _Call | None = None
        if index is not None:
            known = self.by_index.get(index)
            # Same index with a new id: a new call (servers that send index 0 for every call).
            if known is not None and (not call_id or known.provider_id in ("", call_id)):
                call = known
        elif call_id:
            call = next((c for c in self.calls if c.provider_id == call_id), None)
        elif self.calls:
            call = self.calls[-1]  # a continuation without index or id
        if call is None:
            call = _Call(call_id)
            self.calls.append(call)
        if index is not None:
            self.by_index[index] = call
        if call_id and not call.provider_id:
            call.provider_id = call_id
        name = _text(function.get("name"))
        if name and name != call.name:
            call.name = name if not call.name else call.name + name
        arguments = function.get("arguments")
        if isinstance(arguments, dict | list):
            arguments = json.dumps(arguments)  # some servers send the object itself
        call.arguments += _text(arguments)

    def finish(self) -> Iterator[EngineEvent]:
        yield from self._answer(self.splitter.flush())

    def tool_calls(self) -> list[ToolCallRequest]:
        return [
            ToolCallRequest(c.provider_id, c.name, c.arguments)
            for c in self.calls
            if c.name or c.arguments
        ]


class ChatRounds:
    def __init__(self, engine: "ChatCompletionsEngine", request: TurnRequest) -> None:
        self.model = engine.model_name
        self.ids = CallIds(request.history)
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": settings.ASSISTANT_INSTRUCTIONS},
            *chat_messages(request.history),
            {"role": "user", "content": request.user_text},
        ]
        self.options: dict[str, Any] = {
            "model": self.model,
            "tools": chat_tools(request.tools),
            "stream_options": {"include_usage": True},
        }
        self.round_text = ""

    async def begin(self) -> AsyncIterator[EngineEvent]:
        return
        yield  # an async generator with nothing to do

    async def round(self, result: RoundResult, *, force_answer: bool) -> AsyncIterator[EngineEvent]:
        if force_answer:
            self.options["tool_choice"] = "none"  # enough tools: answer with what you have
        stream = await stream_post("/chat/completions", {"messages": self.messages, **self.options})
        reader = ChunkReader()
        wire = WireStream(stream.response)
        try:
            async for batch in wire.batches():
                for event in merged(e for _, chunk in batch for e in reader.read(chunk)):
                    yield event
                if reader.text:
                    wire.pace(settings.CHAT_PROVIDER_READ_SECONDS)
        finally:
            await stream.close()
        for event in reader.finish():
            yield event
        if reader.usage is not None:
            yield UsageReported(
                token_count(reader.usage.get("prompt_tokens")),
                token_count(reader.usage.get("completion_tokens")),
            )
        self.round_text = "".join(reader.text)
        reason = reader.finish_reason
        if reason is None and not (wire.saw_done or (wire.framed_end and reader.usage)):
            # No finish reason, no [DONE], no usage at a framed end: the stream was cut.
            result.failure = TurnFailed(STREAM_ENDED_EARLY, interrupted=True)
            return
        if reason == "length":
            result.failure = TurnFailed(CUT_SHORT.format(reason="length"), interrupted=True)
            return
        if reason == "content_filter":
            result.failure = TurnFailed(FILTERED, interrupted=bool(reader.text))
            return
        if reason == "error":
            result.failure = TurnFailed(
                "The AI provider reported an error mid-answer.", interrupted=bool(reader.text)
            )
            return
        result.refused = reader.refused
        result.calls = reader.tool_calls()
        self.ids.assign(result.calls)

    def answered(self, calls: list[ToolCallRequest], outputs: list[str]) -> None:
        self.messages.append(
            {
                "role": "assistant",
                # Only the answer text goes back: reasoning is never replayed as answer.
                "content": self.round_text or None,
                "tool_calls": [
                    {
                        "id": c.wire_id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in calls
                ],
            }
        )
        for call, output in zip(calls, outputs, strict=True):
            self.messages.append({"role": "tool", "tool_call_id": call.wire_id, "content": output})

    async def abandon(self, calls: list[ToolCallRequest]) -> AsyncIterator[EngineEvent]:
        return  # nothing is kept on the provider's side
        yield

    async def close(self) -> None:
        pass


class ChatCompletionsEngine(OpenAIEngine):
    name = "chat"
    label = gettext_noop("Chat Completions")
    thread_scope = "chat"

    def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        return run_rounds(request, ChatRounds(self, request), model=self.model_name)
