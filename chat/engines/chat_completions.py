"""Chat Completions with tools: what OpenAI-compatible local servers speak.

Ollama, vLLM (--enable-auto-tool-choice), llama.cpp (--jinja), LM Studio and LiteLLM all serve
it; point OPENAI_BASE_URL at them. No provider-side thread: history is rebuilt from our database.
"""

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings

from chat.engines.base import (
    TOOL_LOOP,
    EngineEvent,
    TextDelta,
    TurnDone,
    TurnFailed,
    TurnRequest,
    UsageReported,
)
from chat.engines.client import OpenAIEngine, openai_client
from chat.engines.errors import STREAM_ENDED_EARLY, failure_from
from chat.engines.history import chat_messages, chat_tools


@dataclass
class _PendingCall:
    call_id: str
    name: str = ""
    arguments: str = ""


class ChatCompletionsEngine(OpenAIEngine):
    name = "chat"
    label = "Chat Completions"
    thread_scope = "chat"

    async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        client = openai_client()
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": settings.ASSISTANT_INSTRUCTIONS},
            *chat_messages(request.history),
            {"role": "user", "content": request.user_text},
        ]
        options: dict[str, Any] = {
            "model": self.model_name,
            "tools": chat_tools(request.tools),
            "stream_options": {"include_usage": True},
        }
        partial = False
        try:
            for round_number in range(request.max_tool_rounds + 1):
                if round_number == request.max_tool_rounds:
                    options["tool_choice"] = "none"
                calls: dict[int, _PendingCall] = {}
                text: list[str] = []
                finish_reason: str | None = None
                refused = False
                stream = await client.chat.completions.create(
                    messages=cast(Any, messages), stream=True, **options
                )
                async with stream:
                    async for chunk in stream:
                        if chunk.usage is not None:
                            yield UsageReported(
                                chunk.usage.prompt_tokens, chunk.usage.completion_tokens
                            )
                        for choice in chunk.choices:
                            delta = choice.delta
                            piece = delta.content or getattr(delta, "refusal", None)
                            if piece:
                                partial = True
                                refused = refused or bool(getattr(delta, "refusal", None))
                                text.append(piece)
                                yield TextDelta(piece)
                            # Tool calls arrive in pieces, told apart by index.
                            for tool_call in delta.tool_calls or []:
                                pending = calls.setdefault(
                                    tool_call.index, _PendingCall(f"call_{tool_call.index}")
                                )
                                if tool_call.id:
                                    pending.call_id = tool_call.id
                                if tool_call.function and tool_call.function.name:
                                    pending.name += tool_call.function.name
                                if tool_call.function and tool_call.function.arguments:
                                    pending.arguments += tool_call.function.arguments
                            if choice.finish_reason:
                                finish_reason = choice.finish_reason
                if finish_reason is None:
                    yield TurnFailed(STREAM_ENDED_EARLY, interrupted=True)
                    return
                if finish_reason == "length":
                    yield TurnFailed(
                        "The answer was cut short by the AI provider (length).", interrupted=True
                    )
                    return
                if finish_reason == "content_filter" or refused:
                    yield TurnFailed("The model declined to answer this request.")
                    return
                if not calls:
                    yield TurnDone()
                    return
                ordered = [calls[index] for index in sorted(calls)]
                messages.append(
                    {
                        "role": "assistant",
                        "content": "".join(text) or None,
                        "tool_calls": [
                            {
                                "id": c.call_id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments},
                            }
                            for c in ordered
                        ],
                    }
                )
                for call in ordered:
                    output = await request.run_tool(call.call_id, call.name, call.arguments)
                    messages.append(
                        {"role": "tool", "tool_call_id": call.call_id, "content": output}
                    )
            yield TurnFailed(TOOL_LOOP.format(rounds=request.max_tool_rounds))
        except Exception as exc:
            yield failure_from(exc, model=self.model_name, partial=partial)
