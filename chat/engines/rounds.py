"""The tool-round loop the OpenAI engines share.

A round is one provider response. The loop runs rounds until the model answers without tools,
at most `request.max_tool_rounds` rounds with tools (the round after that is told to answer:
tool_choice "none"), runs every call through `request.run_tool` exactly once and hands the
outputs to the next round. A response asking for more than `request.max_tool_calls` calls at once
ends the turn: nothing is run and no follow-up carrying hundreds of outputs is sent.

Each engine supplies a `Rounds` object for one turn: how to run a round, how to send outputs
back, and how to leave the provider consistent when the turn ends with calls unanswered.
"""

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.utils.translation import gettext_noop

from chat.engines.base import (
    TOOL_LOOP,
    EngineEvent,
    PastMessage,
    TextDelta,
    TurnDone,
    TurnFailed,
    TurnRequest,
)
from chat.engines.errors import failure_from

REFUSED = gettext_noop("The model declined to answer this request.")
TOO_MANY_CALLS = gettext_noop(
    "The assistant asked for {count} tool calls at once (the limit is {limit}); "
    "the answer was stopped. Try asking about one figure at a time."
)


@dataclass
class ToolCallRequest:
    """A call the model asked for: the provider's id, and the id we send back for it."""

    call_id: str
    name: str
    arguments: str
    wire_id: str = ""


@dataclass
class RoundResult:
    calls: list[ToolCallRequest] = field(default_factory=list)
    # Set when the round ended the turn badly; a round without calls or failure is the answer.
    failure: TurnFailed | None = None
    refused: bool = False


class Rounds(Protocol):
    """One turn's exchange with a provider, round by round."""

    def begin(self) -> AsyncIterator[EngineEvent]:
        """Before the first round (bind or create the provider thread)."""
        ...

    def round(self, result: RoundResult, *, force_answer: bool) -> AsyncIterator[EngineEvent]:
        """Run one response, yielding its text and usage and filling `result`."""
        ...

    def answered(self, calls: list[ToolCallRequest], outputs: list[str]) -> None:
        """The outputs of this round's calls, for the next round to send."""
        ...

    def abandon(self, calls: list[ToolCallRequest]) -> AsyncIterator[EngineEvent]:
        """The turn ends with these calls unanswered: leave the provider side consistent."""
        ...

    async def close(self) -> None: ...


class CallIds:
    """Tool-call ids sent back to a provider, unique within one request's history.

    Providers that number calls per response (`call_0` again in the next response) would make
    outputs pair ambiguously with calls; the receipt keeps the provider's id, the wire gets one
    that cannot collide with any other id in the request (the history's replay ids included).
    """

    def __init__(self, history: Sequence[PastMessage] = ()) -> None:
        self._taken = {c.replay_id or c.call_id for m in history for c in m.tool_calls}
        self._count = 0

    def assign(self, calls: list[ToolCallRequest]) -> None:
        for call in calls:
            if not call.call_id:
                call.call_id = self._fresh("call")
            candidate = call.call_id
            if candidate in self._taken:
                candidate = self._fresh(call.call_id)
            self._taken.add(candidate)
            call.wire_id = candidate

    def _fresh(self, base: str) -> str:
        while True:
            self._count += 1
            candidate = f"{base}_{self._count}"
            if candidate not in self._taken:
                return candidate


async def run_rounds(
    request: TurnRequest, rounds: Rounds, *, model: str
) -> AsyncGenerator[EngineEvent, None]:
    """The turn: rounds until an answer, a failure, or a cap."""
    partial = False
    try:
        async for event in rounds.begin():
            yield event
        for round_number in range(request.max_tool_rounds + 1):
            result = RoundResult()
            force_answer = round_number == request.max_tool_rounds
            async for event in rounds.round(result, force_answer=force_answer):
                partial = partial or isinstance(event, TextDelta)
                yield event
            if result.failure is not None:
                async for event in rounds.abandon(result.calls):
                    yield event
                yield result.failure
                return
            if not result.calls:
                yield TurnFailed(REFUSED) if result.refused else TurnDone()
                return
            ending: TurnFailed | None = None
            if len(result.calls) > request.max_tool_calls:
                ending = TurnFailed(
                    TOO_MANY_CALLS.format(count=len(result.calls), limit=request.max_tool_calls)
                )
            elif force_answer:  # told to answer, and it still called tools
                ending = TurnFailed(TOOL_LOOP.format(rounds=request.max_tool_rounds))
            if ending is not None:
                async for event in rounds.abandon(result.calls):
                    yield event
                yield ending
                return
            outputs = [
                await request.run_tool(call.call_id, call.name, call.arguments)
                for call in result.calls
            ]
            rounds.answered(result.calls, outputs)
        raise AssertionError("unreachable: the last round answers or ends the turn")
    except Exception as exc:
        yield failure_from(exc, model=model, partial=partial)
    finally:
        await rounds.close()
