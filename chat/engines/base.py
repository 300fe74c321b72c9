"""What every engine speaks: a turn request in, a stream of small typed events out.

An engine turns one provider API into events. It never runs tools, stores rows or renders HTML:
the turn does that once for every engine. To run a tool the engine awaits `request.run_tool`,
which stores the receipt and returns the text to send back to the model (errors included).
Provider-side objects created once (the legacy assistant) are kept through `request.resources`.
"""

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from django.utils.translation import gettext_noop


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """The model's reasoning, shown apart from the answer and never replayed as answer text."""

    text: str


@dataclass(frozen=True)
class UsageReported:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ProviderThreadBound:
    """The provider-side thread this conversation now lives in (new or replayed)."""

    thread_id: str


@dataclass(frozen=True)
class TurnDone:
    pass


@dataclass(frozen=True)
class TurnFailed:
    """The turn ended badly. `message` is shown to the person; `detail` is for staff."""

    message: str
    detail: str = ""
    # True when the answer was cut off (stream dropped, timeout) rather than refused.
    interrupted: bool = False


TOOL_LOOP = gettext_noop("The assistant kept calling tools; stopped after {rounds} rounds.")

EngineEvent = (
    TextDelta | ReasoningDelta | UsageReported | ProviderThreadBound | TurnDone | TurnFailed
)


def merged(events: Iterable[EngineEvent]) -> list[EngineEvent]:
    """Adjacent text deltas as one, and adjacent reasoning deltas as one: the deltas of one read
    of the provider's stream are then handled once, not once each."""
    joined: list[EngineEvent] = []
    for event in events:
        last = joined[-1] if joined else None
        if isinstance(event, TextDelta) and isinstance(last, TextDelta):
            joined[-1] = TextDelta(last.text + event.text)
        elif isinstance(event, ReasoningDelta) and isinstance(last, ReasoningDelta):
            joined[-1] = ReasoningDelta(last.text + event.text)
        else:
            joined.append(event)
    return joined


# call_id, tool name, raw JSON arguments -> the output text for the model (never raises).
RunTool = Callable[[str, str, str], Awaitable[str]]


class ProviderResources(Protocol):
    """Ids of provider-side objects created once and reused (stored by the turn, not the engine)."""

    async def get(self, *, kind: str, key: str) -> str | None: ...

    async def store(self, *, kind: str, key: str, resource_id: str) -> str:
        """Store `resource_id`; if another turn stored one first, that one is returned."""
        ...


@dataclass(frozen=True)
class PastToolCall:
    call_id: str  # the provider's id, as stored on the receipt
    name: str
    arguments: str
    output: str
    # Unique within the conversation: what a replayed history sends (providers reuse ids).
    replay_id: str = ""


@dataclass(frozen=True)
class PastMessage:
    role: str  # "user" or "assistant"
    text: str
    tool_calls: tuple[PastToolCall, ...] = ()


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass
class TurnRequest:
    user_text: str
    # Earlier messages of the conversation, oldest first, for engines that rebuild history.
    history: list[PastMessage]
    # The provider thread this conversation is bound to for this engine, or "".
    provider_thread_id: str
    tools: list[ToolSpec]
    max_tool_rounds: int
    # Most tool calls one answer may make; engines stop a turn that asks for more at once.
    max_tool_calls: int
    run_tool: RunTool
    resources: ProviderResources


class Engine(Protocol):
    # The engine's name in settings.ASSISTANT_ENGINES and on stored messages, and its label
    # for people: one source, the class.
    name: str
    label: str
    # Provider threads are only reused by an engine of the same scope (engine and state mode).
    thread_scope: str

    @property
    def model_name(self) -> str: ...

    def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]: ...
