"""The seed article's Assistants API flow (legacy).

OpenAI shut the Assistants API down on 2026-08-26; this engine serves servers that still speak
it. Unlike the article, the assistant is created once and its id stored, each conversation gets
one thread (id stored), and every tool call gets an output, errors included.
"""

import asyncio
import hashlib
import json
import logging
import warnings
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, cast

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
from chat.engines.history import chat_tools, plain_messages

if TYPE_CHECKING:
    from openai import AsyncOpenAI

logger = logging.getLogger(__name__)

ENDED_BADLY = {
    "thread.run.failed": "The AI provider could not produce an answer.",
    "thread.run.incomplete": "The answer was cut short by the AI provider.",
    "thread.run.expired": "The AI provider gave up on this answer (expired).",
    "thread.run.cancelled": "The answer was cancelled by the AI provider.",
}
# Threads are created with at most this many messages; the rest are added one by one.
THREAD_CREATE_MESSAGES = 32


class AssistantsEngine(OpenAIEngine):
    name = "assistants"
    label = "Assistants (legacy: shut down by OpenAI on 2026-08-26)"
    thread_scope = "assistants"

    async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        client = openai_client()
        # We know this API is deprecated: that is what this engine is for.
        warnings.filterwarnings(
            "ignore", message="The Assistants API is deprecated", category=DeprecationWarning
        )
        partial = False
        run_id = ""
        thread_id = request.provider_thread_id
        finished = False
        try:
            assistant_id = await self._assistant_id(client, request)
            if not thread_id:
                thread_id = await self._new_thread(client, request)
                yield ProviderThreadBound(thread_id)
            await client.beta.threads.messages.create(
                thread_id, role="user", content=request.user_text
            )
            stream: Any = await client.beta.threads.runs.create(
                thread_id, assistant_id=assistant_id, stream=True
            )
            for round_number in range(request.max_tool_rounds + 1):
                required: Any = None
                ended: tuple[str, Any] | None = None
                async with stream:
                    async for event in stream:
                        kind = event.event
                        if kind == "thread.run.created":
                            run_id = event.data.id
                        elif kind == "thread.message.delta":
                            for part in event.data.delta.content or []:
                                if part.type == "text" and part.text and part.text.value:
                                    partial = True
                                    yield TextDelta(part.text.value)
                        elif kind == "thread.run.requires_action":
                            required = event.data
                        elif kind == "thread.run.completed" or kind in ENDED_BADLY:
                            ended = (kind, event.data)
                if ended is not None:
                    kind, run = ended
                    if run.usage is not None:
                        yield UsageReported(run.usage.prompt_tokens, run.usage.completion_tokens)
                    finished = True
                    if kind == "thread.run.completed":
                        yield TurnDone()
                    else:
                        detail = run.last_error.message if run.last_error else kind
                        yield TurnFailed(ENDED_BADLY[kind], detail, interrupted=partial)
                    return
                if required is None:
                    yield TurnFailed(STREAM_ENDED_EARLY, interrupted=True)
                    return
                run_id = required.id
                outputs = []
                for call in required.required_action.submit_tool_outputs.tool_calls:
                    output = await request.run_tool(
                        call.id, call.function.name, call.function.arguments
                    )
                    outputs.append({"tool_call_id": call.id, "output": output})
                if round_number == request.max_tool_rounds:
                    break
                stream = await client.beta.threads.runs.submit_tool_outputs(
                    run_id, thread_id=thread_id, tool_outputs=cast(Any, outputs), stream=True
                )
            yield TurnFailed(TOOL_LOOP.format(rounds=request.max_tool_rounds))
        except Exception as exc:
            yield failure_from(exc, model=self.model_name, partial=partial)
        finally:
            if run_id and thread_id and not finished:
                await _cancel_quietly(client, thread_id, run_id)

    async def _assistant_id(self, client: "AsyncOpenAI", request: TurnRequest) -> str:
        """The stored assistant for this server, model, instructions and tools; created once."""
        tools = chat_tools(request.tools)
        fingerprint = json.dumps(
            [settings.OPENAI_BASE_URL, self.model_name, settings.ASSISTANT_INSTRUCTIONS, tools],
            sort_keys=True,
        )
        key = hashlib.sha256(fingerprint.encode()).hexdigest()
        existing = await request.resources.get(kind="assistant", key=key)
        if existing:
            return existing
        assistant = await client.beta.assistants.create(
            model=self.model_name,
            name="taxsite tax assistant",
            instructions=settings.ASSISTANT_INSTRUCTIONS,
            tools=tools,  # type: ignore[arg-type]
        )
        return await request.resources.store(kind="assistant", key=key, resource_id=assistant.id)

    async def _new_thread(self, client: "AsyncOpenAI", request: TurnRequest) -> str:
        """A thread holding our stored history (replayed when the engine changes)."""
        messages = plain_messages(request.history)
        thread = await client.beta.threads.create(messages=messages[:THREAD_CREATE_MESSAGES])  # type: ignore[arg-type]
        for message in messages[THREAD_CREATE_MESSAGES:]:
            await client.beta.threads.messages.create(
                thread.id, role=message["role"], content=message["content"]
            )
        return thread.id


async def _cancel_quietly(client: "AsyncOpenAI", thread_id: str, run_id: str) -> None:
    """Stop a run we abandon, so the thread takes the next message."""
    try:
        async with asyncio.timeout(5):
            await client.beta.threads.runs.cancel(run_id, thread_id=thread_id)
    except Exception:
        logger.info("Could not cancel run %s on thread %s", run_id, thread_id)
