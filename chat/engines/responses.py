"""The Responses API, with an OpenAI Conversation as the provider-side thread (the default).

State modes (OPENAI_STATE_MODE): "conversation" binds each of our conversations to an OpenAI
Conversation; "previous_response_id" chains responses; "stateless" sends our stored history each
turn, for servers that keep no state.
"""

from collections.abc import AsyncGenerator
from typing import Any, cast

from django.conf import settings

from chat.engines.base import (
    TOOL_LOOP,
    EngineEvent,
    ProviderThreadBound,
    TextDelta,
    TurnDone,
    TurnFailed,
    TurnRequest,
    UsageReported,
)
from chat.engines.client import OpenAIEngine, openai_client
from chat.engines.errors import STREAM_ENDED_EARLY, failure_from
from chat.engines.history import responses_items, responses_tools

STATE_MODES = ("conversation", "previous_response_id", "stateless")
# The Conversations API takes at most 20 items per call.
ITEMS_PER_CALL = 20
REFUSED = "The model declined to answer this request."


class ResponsesEngine(OpenAIEngine):
    name = "responses"
    label = "OpenAI Responses"

    def __init__(self) -> None:
        self.state_mode = settings.OPENAI_STATE_MODE  # validated by chat.checks
        self.thread_scope = f"responses:{self.state_mode}"

    async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        client = openai_client()
        user_item = {"type": "message", "role": "user", "content": request.user_text}
        options: dict[str, Any] = {
            "model": self.model_name,
            "instructions": settings.ASSISTANT_INSTRUCTIONS,
            "tools": responses_tools(request.tools),
        }
        partial = False
        refused = False
        try:
            if self.state_mode == "conversation":
                conversation_id = request.provider_thread_id
                if not conversation_id:
                    conversation_id = await self._new_conversation(responses_items(request.history))
                    yield ProviderThreadBound(conversation_id)
                options["conversation"] = conversation_id
                pending: list[dict[str, Any]] = [user_item]
            elif self.state_mode == "previous_response_id" and request.provider_thread_id:
                options["previous_response_id"] = request.provider_thread_id
                pending = [user_item]
            else:
                pending = [*responses_items(request.history), user_item]
            history: list[dict[str, Any]] = list(pending)

            for round_number in range(request.max_tool_rounds + 1):
                if round_number == request.max_tool_rounds:
                    options["tool_choice"] = "none"  # enough tools: answer with what you have
                calls: list[Any] = []
                finished: Any = None
                stream = await client.responses.create(
                    input=cast(Any, pending), stream=True, **options
                )
                async with stream:
                    async for event in stream:
                        kind = event.type
                        if kind in ("response.output_text.delta", "response.refusal.delta"):
                            partial = True
                            refused = refused or kind == "response.refusal.delta"
                            yield TextDelta(event.delta)
                        elif (
                            kind == "response.output_item.done"
                            and event.item.type == "function_call"
                        ):
                            calls.append(event.item)
                        elif kind in (
                            "response.completed",
                            "response.failed",
                            "response.incomplete",
                        ):
                            finished = event.response
                        elif kind == "error":
                            yield TurnFailed(
                                "The AI provider reported an error mid-answer.",
                                f"{getattr(event, 'code', '')}: {getattr(event, 'message', '')}",
                                interrupted=partial,
                            )
                            return
                if finished is None:
                    yield TurnFailed(STREAM_ENDED_EARLY, interrupted=True)
                    return
                if finished.usage is not None:
                    yield UsageReported(finished.usage.input_tokens, finished.usage.output_tokens)
                if finished.status == "failed":
                    error = finished.error.message if finished.error else "unknown"
                    yield TurnFailed(
                        "The AI provider could not produce an answer.", error, interrupted=partial
                    )
                    return
                if finished.status == "incomplete":
                    reason = getattr(finished.incomplete_details, "reason", None) or "unknown"
                    yield TurnFailed(
                        f"The answer was cut short by the AI provider ({reason}).",
                        reason,
                        interrupted=True,
                    )
                    return
                if self.state_mode == "previous_response_id":
                    options["previous_response_id"] = finished.id
                    yield ProviderThreadBound(finished.id)
                if not calls:
                    yield TurnFailed(REFUSED) if refused else TurnDone()
                    return
                outputs = []
                for call in calls:
                    output = await request.run_tool(call.call_id, call.name, call.arguments)
                    outputs.append(
                        {"type": "function_call_output", "call_id": call.call_id, "output": output}
                    )
                if self.state_mode == "stateless":
                    call_items = [
                        {
                            "type": "function_call",
                            "call_id": c.call_id,
                            "name": c.name,
                            "arguments": c.arguments,
                        }
                        for c in calls
                    ]
                    history += [*call_items, *outputs]
                    pending = list(history)
                else:
                    pending = outputs
            yield TurnFailed(TOOL_LOOP.format(rounds=request.max_tool_rounds))
        except Exception as exc:
            yield failure_from(exc, model=self.model_name, partial=partial)

    async def _new_conversation(self, items: list[dict[str, Any]]) -> str:
        """An OpenAI Conversation holding our stored history (replayed when engines change)."""
        client = openai_client()
        conversation = await client.conversations.create(items=items[:ITEMS_PER_CALL])  # type: ignore[arg-type]
        for start in range(ITEMS_PER_CALL, len(items), ITEMS_PER_CALL):
            await client.conversations.items.create(
                conversation.id,
                items=items[start : start + ITEMS_PER_CALL],  # type: ignore[arg-type]
            )
        return conversation.id
