"""What differs between the three OpenAI engines, for tests that run on each (one adapter per
engine instead of `if engine == ...` branches in the tests)."""

from __future__ import annotations

from typing import Any

from chat.models import Conversation, Message
from tests.fake_openai import FakeOpenAI, Recorded


class Adapter:
    """What differs between engines, for tests that run on all three."""

    engine: str
    path: str
    # Each request carries the whole history (so a request repeats earlier rounds' outputs).
    resends_history = False
    # The last round can be told to answer without tools (an Assistants run cannot).
    can_force_answer = True

    def generations(self, fake: FakeOpenAI) -> list[Recorded]:
        return fake.requests_to(self.path)

    def calls_sent(self, body: dict[str, Any]) -> list[str]:
        """Ids of the tool calls a request replays to the provider (none for Assistants)."""
        return []

    def outputs_sent(self, body: dict[str, Any]) -> list[str]:
        """Ids of the tool outputs a request sends back."""
        raise NotImplementedError

    def forced_answer(self, body: dict[str, Any]) -> bool:
        return body.get("tool_choice") == "none"

    def check_tax_turn(self, conversation: Conversation, sent: list[Recorded], call: Any) -> None:
        """The provider-side shape of one tax turn (a call, its output, the answer)."""
        raise NotImplementedError

    def check_resumed(self, fake: FakeOpenAI, first: Message) -> None:
        """A second turn continues where the first left off."""
        raise NotImplementedError


class ResponsesAdapter(Adapter):
    engine, path = "responses", "/responses"

    def calls_sent(self, body: dict[str, Any]) -> list[str]:
        return [i["call_id"] for i in body.get("input", []) if i.get("type") == "function_call"]

    def outputs_sent(self, body: dict[str, Any]) -> list[str]:
        items = body.get("input", [])
        return [i["call_id"] for i in items if i.get("type") == "function_call_output"]

    def check_tax_turn(self, conversation: Conversation, sent: list[Recorded], call: Any) -> None:
        assert conversation.provider_thread_id.startswith("conv_")
        assert all(r.body["conversation"] == conversation.provider_thread_id for r in sent)
        assert sent[1].body["input"] == [
            {"type": "function_call_output", "call_id": call.call_id, "output": call.output}
        ]
        assert sent[0].body["tools"][0]["name"] == "calculate_tax"

    def check_resumed(self, fake: FakeOpenAI, first: Message) -> None:
        assert len(fake.requests_to("/conversations")) == 1
        threads = {r.body["conversation"] for r in self.generations(fake)}
        assert threads == {first.conversation.provider_thread_id}


class ChatAdapter(Adapter):
    engine, path = "chat", "/chat/completions"
    resends_history = True

    def calls_sent(self, body: dict[str, Any]) -> list[str]:
        messages = body.get("messages", [])
        return [c["id"] for m in messages for c in m.get("tool_calls") or []]

    def outputs_sent(self, body: dict[str, Any]) -> list[str]:
        return [m["tool_call_id"] for m in body.get("messages", []) if m["role"] == "tool"]

    def check_tax_turn(self, conversation: Conversation, sent: list[Recorded], call: Any) -> None:
        assert conversation.provider_thread_id == ""
        assert sent[1].body["messages"][-1] == {
            "role": "tool",
            "tool_call_id": call.call_id,
            "content": call.output,
        }
        assert sent[1].body["tools"][0]["function"]["name"] == "calculate_tax"  # tools resent

    def check_resumed(self, fake: FakeOpenAI, first: Message) -> None:
        history = self.generations(fake)[2].body["messages"]
        roles = [m["role"] for m in history]
        assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
        assert history[1]["content"] == "tax on 85000 EUR"


class AssistantsAdapter(Adapter):
    engine, path = "assistants", "/runs"
    can_force_answer = False

    def generations(self, fake: FakeOpenAI) -> list[Recorded]:
        return [r for r in fake.requests if "/runs" in r.path and not r.path.endswith("/cancel")]

    def outputs_sent(self, body: dict[str, Any]) -> list[str]:
        return [o["tool_call_id"] for o in body.get("tool_outputs", [])]

    def check_tax_turn(self, conversation: Conversation, sent: list[Recorded], call: Any) -> None:
        assert conversation.provider_thread_id.startswith("thread_")
        assert sent[1].body["tool_outputs"] == [
            {"tool_call_id": call.call_id, "output": call.output}
        ]

    def check_resumed(self, fake: FakeOpenAI, first: Message) -> None:
        assert len(fake.requests_to("/threads")) == 1
        assert len(fake.requests_to("/assistants")) == 1  # created once, not per message
        thread = first.conversation.provider_thread_id
        assert all(f"/threads/{thread}/" in r.path for r in self.generations(fake))


ADAPTERS: dict[str, type[Adapter]] = {
    a.engine: a for a in (ResponsesAdapter, ChatAdapter, AssistantsAdapter)
}
ENGINES = list(ADAPTERS)
