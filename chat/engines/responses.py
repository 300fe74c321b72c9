"""The Responses API, with an OpenAI Conversation as the provider-side thread (the default).

State modes (OPENAI_STATE_MODE): "conversation" binds each of our conversations to an OpenAI
Conversation; "previous_response_id" chains responses; "stateless" sends our stored history each
turn, for servers that keep no state (vLLM, Ollama, LM Studio, llama.cpp and hosted providers
serve /v1/responses too).

Events are read from the raw stream (`chat.engines.wire`) as plain dicts, so a server's extra or
missing fields never break a turn. Reasoning (summaries, reasoning text) is kept apart.
"""

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop

from chat.engines.base import (
    EngineEvent,
    ProviderThreadBound,
    ReasoningDelta,
    TextDelta,
    TurnFailed,
    TurnRequest,
    UsageReported,
    merged,
)
from chat.engines.client import OpenAIEngine, openai_client, stream_post
from chat.engines.errors import CUT_SHORT, NO_ANSWER, STREAM_ENDED_EARLY
from chat.engines.history import responses_items, responses_tools
from chat.engines.reasoning import ThinkSplitter
from chat.engines.rounds import CallIds, RoundResult, ToolCallRequest, run_rounds
from chat.engines.wire import WireError, WireStream, provider_error, token_count

STATE_MODES = ("conversation", "previous_response_id", "stateless")
# The Conversations API takes at most 20 items per call.
ITEMS_PER_CALL = 20
ENDINGS = ("response.completed", "response.failed", "response.incomplete", "response.done")
REASONING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")


def _call_of(item: Any) -> ToolCallRequest | None:
    if not isinstance(item, dict) or item.get("type") != "function_call":
        return None
    arguments = item.get("arguments")
    return ToolCallRequest(
        str(item.get("call_id") or item.get("id") or ""),
        str(item.get("name") or ""),
        arguments if isinstance(arguments, str) else "",
    )


class ResponsesRounds:
    def __init__(self, engine: "ResponsesEngine", request: TurnRequest) -> None:
        self.engine = engine
        self.request = request
        self.state_mode = engine.state_mode
        self.ids = CallIds(request.history)
        self.options: dict[str, Any] = {
            "model": engine.model_name,
            "instructions": settings.ASSISTANT_INSTRUCTIONS,
            "tools": responses_tools(request.tools),
        }
        self.pending: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []

    async def begin(self) -> AsyncIterator[EngineEvent]:
        request = self.request
        user_item = {"type": "message", "role": "user", "content": request.user_text}
        if self.state_mode == "conversation":
            conversation_id = request.provider_thread_id
            if not conversation_id:
                conversation_id = await self.engine.new_conversation(
                    responses_items(request.history)
                )
                yield ProviderThreadBound(conversation_id)
            self.options["conversation"] = conversation_id
            self.pending = [user_item]
        elif self.state_mode == "previous_response_id" and request.provider_thread_id:
            self.options["previous_response_id"] = request.provider_thread_id
            self.pending = [user_item]
        else:
            self.pending = [*responses_items(request.history), user_item]
        self.history = list(self.pending)

    async def round(self, result: RoundResult, *, force_answer: bool) -> AsyncIterator[EngineEvent]:
        if force_answer:
            self.options["tool_choice"] = "none"  # enough tools: answer with what you have
        stream = await stream_post("/responses", {"input": self.pending, **self.options})
        splitter = ThinkSplitter()
        calls: list[ToolCallRequest] = []
        finished: dict[str, Any] | None = None
        reasoning_part: object = None
        wrote_reasoning = wrote_text = False
        wire = WireStream(stream.response)
        try:
            async for batch in wire.batches():
                pieces: list[EngineEvent] = []
                failed: WireError | None = None
                for name, event in batch:
                    if not isinstance(event, dict):
                        continue
                    kind = event.get("type") or name
                    delta = event.get("delta")
                    if kind == "response.output_text.delta" and isinstance(delta, str):
                        pieces.extend(splitter.feed(delta))
                    elif kind == "response.refusal.delta" and isinstance(delta, str):
                        result.refused = True
                        pieces.append(TextDelta(delta))
                    elif kind in REASONING_DELTAS and isinstance(delta, str) and delta:
                        part = (event.get("item_id"), event.get("summary_index"), kind)
                        if wrote_reasoning and part != reasoning_part:
                            # A new summary part: a new paragraph.
                            pieces.append(ReasoningDelta("\n\n"))
                        reasoning_part, wrote_reasoning = part, True
                        pieces.append(ReasoningDelta(delta))
                    elif kind == "response.output_item.done":
                        call = _call_of(event.get("item"))
                        if call is not None:
                            calls.append(call)
                    elif kind in ENDINGS and isinstance(event.get("response"), dict):
                        finished = event["response"]
                    elif kind == "error":
                        failed = provider_error(event)  # raised once the words before it are out
                        break
                for piece in merged(pieces):
                    wrote_text = wrote_text or isinstance(piece, TextDelta)
                    yield piece
                if failed is not None:
                    raise failed
                if wrote_text:
                    wire.pace(settings.CHAT_PROVIDER_READ_SECONDS)
        finally:
            await stream.close()
        for piece in splitter.flush():
            wrote_text = wrote_text or isinstance(piece, TextDelta)
            yield piece
        if finished is None:
            result.failure = TurnFailed(STREAM_ENDED_EARLY, interrupted=True)
            return
        usage = finished.get("usage")
        if isinstance(usage, dict):
            yield UsageReported(
                token_count(usage.get("input_tokens") or usage.get("prompt_tokens")),
                token_count(usage.get("output_tokens") or usage.get("completion_tokens")),
            )
        status = finished.get("status")
        if status == "failed":
            error = finished.get("error") or {}
            detail = error.get("message", "unknown") if isinstance(error, dict) else str(error)
            result.failure = TurnFailed(NO_ANSWER, str(detail), interrupted=wrote_text)
            return
        if status == "incomplete":
            details = finished.get("incomplete_details") or {}
            reason = (details.get("reason") if isinstance(details, dict) else None) or "unknown"
            result.failure = TurnFailed(CUT_SHORT.format(reason=reason), reason, interrupted=True)
            return
        if not calls:  # servers that only list calls in the final response
            output = finished.get("output")
            calls = (
                [c for item in output or [] if (c := _call_of(item))]
                if isinstance(output, list)
                else []
            )
        if self.state_mode == "previous_response_id" and finished.get("id"):
            self.options["previous_response_id"] = finished["id"]
            yield ProviderThreadBound(str(finished["id"]))
        result.calls = calls
        if self.state_mode == "stateless":
            self.ids.assign(calls)  # we send the calls back ourselves: ids must not collide
        else:
            for call in calls:  # the provider holds the calls: answer them by its ids
                call.wire_id = call.call_id

    def answered(self, calls: list[ToolCallRequest], outputs: list[str]) -> None:
        items = [
            {"type": "function_call_output", "call_id": c.wire_id, "output": output}
            for c, output in zip(calls, outputs, strict=True)
        ]
        if self.state_mode != "stateless":
            self.pending = items
            return
        self.history += [
            {
                "type": "function_call",
                "call_id": c.wire_id,
                "name": c.name,
                "arguments": c.arguments,
            }
            for c in calls
        ]
        self.history += items
        self.pending = list(self.history)

    async def abandon(self, calls: list[ToolCallRequest]) -> AsyncIterator[EngineEvent]:
        if calls and self.state_mode != "stateless":
            # The provider's thread now holds calls without outputs, which it would refuse to
            # continue from: the next turn replays our stored history into a fresh one.
            yield ProviderThreadBound("")

    async def close(self) -> None:
        pass


class ResponsesEngine(OpenAIEngine):
    name = "responses"
    label = gettext_noop("OpenAI Responses")

    def __init__(self) -> None:
        self.state_mode = settings.OPENAI_STATE_MODE  # validated by chat.checks
        self.thread_scope = f"responses:{self.state_mode}"

    def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        return run_rounds(request, ResponsesRounds(self, request), model=self.model_name)

    async def new_conversation(self, items: list[dict[str, Any]]) -> str:
        """An OpenAI Conversation holding our stored history (replayed when engines change)."""
        client = openai_client()
        conversation = await client.conversations.create(items=items[:ITEMS_PER_CALL])  # type: ignore[arg-type]
        for start in range(ITEMS_PER_CALL, len(items), ITEMS_PER_CALL):
            await client.conversations.items.create(
                conversation.id,
                items=items[start : start + ITEMS_PER_CALL],  # type: ignore[arg-type]
            )
        return conversation.id
