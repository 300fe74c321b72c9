"""What every engine speaks: a turn request in, a stream of small typed events out.

An engine turns one provider API into events. It never runs tools, stores rows or renders HTML:
the service does that once for every engine. When an engine yields ToolCallRequested, the service
runs the tool before resuming the engine, so the output is in `request.tool_outputs` by then.
"""

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallRequested:
    call_id: str
    name: str
    arguments: str


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


TOOL_LOOP = "The assistant kept calling tools; stopped after {rounds} rounds."

EngineEvent = (
    TextDelta | ToolCallRequested | UsageReported | ProviderThreadBound | TurnDone | TurnFailed
)


@dataclass(frozen=True)
class PastToolCall:
    call_id: str
    name: str
    arguments: str
    output: str


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
    tool_outputs: dict[str, str] = field(default_factory=dict)

    def output_for(self, call_id: str) -> str:
        """The output the service produced for a call this engine requested."""
        return self.tool_outputs[call_id]


class Engine(Protocol):
    name: str
    label: str
    # Provider threads are only reused by an engine of the same scope (engine and state mode).
    thread_scope: str

    @property
    def model_name(self) -> str: ...

    def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]: ...
