"""The seed article's Assistants API flow (legacy).

OpenAI shut the Assistants API down on 2026-08-26; this engine serves servers that still speak
it. Unlike the article, the assistant is created once and its id stored, each conversation gets
one thread (id stored), and every tool call gets an output, errors included.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.utils.translation import gettext_noop

from chat.engines.base import (
    EngineEvent,
    ProviderThreadBound,
    TextDelta,
    TurnFailed,
    TurnRequest,
    UsageReported,
)
from chat.engines.client import OpenAIEngine, openai_client
from chat.engines.errors import NO_ANSWER, STREAM_ENDED_EARLY
from chat.engines.history import chat_tools, plain_messages
from chat.engines.rounds import RoundResult, ToolCallRequest, run_rounds

if TYPE_CHECKING:
    from openai import AsyncOpenAI

logger = logging.getLogger(__name__)

# Stored on the answer in English, shown in the reader's language (chat.notices).
ENDED_BADLY = {
    "thread.run.failed": NO_ANSWER,
    "thread.run.incomplete": gettext_noop("The answer was cut short by the AI provider."),
    "thread.run.expired": gettext_noop("The AI provider gave up on this answer (expired)."),
    "thread.run.cancelled": gettext_noop("The answer was cancelled by the AI provider."),
}
# Threads are created with at most this many messages; the rest are added one by one.
THREAD_CREATE_MESSAGES = 32


class AssistantsRounds:
    def __init__(self, engine: "AssistantsEngine", request: TurnRequest) -> None:
        self.engine = engine
        self.request = request
        self.client = openai_client()
        self.thread_id = request.provider_thread_id
        self.assistant_id = ""
        self.run_id = ""
        self.outputs: list[dict[str, str]] = []
        self.finished = False

    async def begin(self) -> AsyncIterator[EngineEvent]:
        self.assistant_id = await self.engine.assistant_id(self.client, self.request)
        if not self.thread_id:
            self.thread_id = await self.engine.new_thread(self.client, self.request)
            yield ProviderThreadBound(self.thread_id)
        await self.client.beta.threads.messages.create(
            self.thread_id, role="user", content=self.request.user_text
        )

    async def round(self, result: RoundResult, *, force_answer: bool) -> AsyncIterator[EngineEvent]:
        # A run cannot be told to stop calling tools once started: past the cap it is cancelled.
        stream: Any
        if self.outputs:
            stream = await self.client.beta.threads.runs.submit_tool_outputs(
                self.run_id,
                thread_id=self.thread_id,
                tool_outputs=cast(Any, self.outputs),
                stream=True,
            )
        else:
            stream = await self.client.beta.threads.runs.create(
                self.thread_id, assistant_id=self.assistant_id, stream=True
            )
        self.outputs = []
        required: Any = None
        ended: tuple[str, Any] | None = None
        wrote_text = False
        async with stream:
            async for event in stream:
                kind = event.event
                if kind == "thread.run.created":
                    self.run_id = event.data.id
                elif kind == "thread.message.delta":
                    for part in event.data.delta.content or []:
                        if part.type == "text" and part.text and part.text.value:
                            wrote_text = True
                            yield TextDelta(part.text.value)
                elif kind == "thread.run.requires_action":
                    required = event.data
                elif kind == "thread.run.completed" or kind in ENDED_BADLY:
                    ended = (kind, event.data)
        if ended is not None:
            kind, run = ended
            if run.usage is not None:
                yield UsageReported(run.usage.prompt_tokens, run.usage.completion_tokens)
            self.finished = True
            if kind != "thread.run.completed":
                detail = run.last_error.message if run.last_error else kind
                result.failure = TurnFailed(ENDED_BADLY[kind], detail, interrupted=wrote_text)
            return
        if required is None:
            result.failure = TurnFailed(STREAM_ENDED_EARLY, interrupted=True)
            return
        self.run_id = required.id
        result.calls = [
            # The run holds the calls: they are answered by the provider's ids.
            ToolCallRequest(call.id, call.function.name, call.function.arguments, call.id)
            for call in required.required_action.submit_tool_outputs.tool_calls
        ]

    def answered(self, calls: list[ToolCallRequest], outputs: list[str]) -> None:
        self.outputs = [
            {"tool_call_id": c.wire_id, "output": output}
            for c, output in zip(calls, outputs, strict=True)
        ]

    async def abandon(self, calls: list[ToolCallRequest]) -> AsyncIterator[EngineEvent]:
        return  # the unfinished run is cancelled in close()
        yield

    async def close(self) -> None:
        if self.run_id and self.thread_id and not self.finished:
            await _cancel_quietly(self.client, self.thread_id, self.run_id)


class AssistantsEngine(OpenAIEngine):
    name = "assistants"
    label = gettext_noop("Assistants (legacy: shut down by OpenAI on 2026-08-26)")
    thread_scope = "assistants"

    def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        return run_rounds(request, AssistantsRounds(self, request), model=self.model_name)

    async def assistant_id(self, client: "AsyncOpenAI", request: TurnRequest) -> str:
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

    async def new_thread(self, client: "AsyncOpenAI", request: TurnRequest) -> str:
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
