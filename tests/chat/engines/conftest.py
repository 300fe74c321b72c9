"""Helpers for the engine tests: one turn through the real turn code, and per-engine adapters
that say where each engine's requests go and how each wire format carries tool calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services, turns
from chat.engines import get_engine
from chat.models import Conversation, Message
from tests.fake_openai import FakeOpenAI, Recorded


class Listener:
    def __init__(self) -> None:
        self.updates: list[turns.TurnUpdate] = []
        self.reasoning_seen: list[str] = []

    async def turn_changed(self, update: turns.TurnUpdate) -> None:
        self.updates.append(update)
        self.reasoning_seen.append(update.message.reasoning)


async def ask(
    user: User,
    text: str,
    conversation: Conversation | None = None,
    listener: Listener | None = None,
) -> Message:
    """One turn through the turn code, with the configured engine; the stored answer."""
    if conversation is None:
        conversation = await asyncio.to_thread(
            services.conversation_get_or_create_empty, owner=user
        )
    engine = get_engine()
    started = await asyncio.to_thread(
        turns.turn_start, conversation=conversation, text=text, engine=engine
    )
    await turns.turn_run(
        message_id=started.assistant_message.pk, listener=listener or Listener(), engine=engine
    )
    return await Message.objects.select_related("conversation").aget(
        pk=started.assistant_message.pk
    )


@dataclass(frozen=True)
class Adapter:
    """What differs between engines, for tests that run on all three."""

    engine: str

    def generations(self, fake: FakeOpenAI) -> list[Recorded]:
        if self.engine == "assistants":
            return [
                r for r in fake.requests if "/runs" in r.path and not r.path.endswith("/cancel")
            ]
        path = {"responses": "/responses", "chat": "/chat/completions"}[self.engine]
        return fake.requests_to(path)

    def calls_sent(self, body: dict[str, Any]) -> list[str]:
        """Ids of the tool calls a request replays to the provider (none for Assistants)."""
        if self.engine == "responses":
            return [i["call_id"] for i in body.get("input", []) if i.get("type") == "function_call"]
        if self.engine == "chat":
            return [
                c["id"]
                for m in body.get("messages", [])
                if m.get("role") == "assistant"
                for c in m.get("tool_calls") or []
            ]
        return []

    def outputs_sent(self, body: dict[str, Any]) -> list[str]:
        """Ids of the tool outputs a request sends back."""
        if self.engine == "responses":
            return [
                i["call_id"]
                for i in body.get("input", [])
                if i.get("type") == "function_call_output"
            ]
        if self.engine == "chat":
            return [m["tool_call_id"] for m in body.get("messages", []) if m["role"] == "tool"]
        return [o["tool_call_id"] for o in body.get("tool_outputs", [])]

    def forced_answer(self, body: dict[str, Any]) -> bool:
        return body.get("tool_choice") == "none"


ENGINES = ["responses", "chat", "assistants"]


@pytest.fixture(params=ENGINES)
def adapter(request: pytest.FixtureRequest, settings: Any, fake_openai: FakeOpenAI) -> Adapter:
    settings.ASSISTANT_ENGINE = request.param
    return Adapter(request.param)
