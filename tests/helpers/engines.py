"""Engine doubles that speak the real engine contract (chat.engines.base)."""

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from chat.engines.base import EngineEvent, TurnRequest


@dataclass(frozen=True)
class CallTool:
    """A scripted step: ask the turn to run a tool, as a provider's function call would."""

    call_id: str
    name: str
    arguments: str


class ScriptedEngine:
    """Yields the given events (running CallTool steps through the turn), then optionally hangs."""

    name = "scripted"
    label = "Scripted"
    model_name = "scripted-1"
    thread_scope = "scripted"

    def __init__(self, steps: list[EngineEvent | CallTool], hang: bool = False) -> None:
        self.steps = steps
        self.hang = hang
        self.closed = False
        self.outputs: list[str] = []
        # Set once every step was taken by the turn and the engine hangs: wait on this, not a sleep.
        self.hanging = asyncio.Event()

    async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        try:
            for step in self.steps:
                if isinstance(step, CallTool):
                    self.outputs.append(
                        await request.run_tool(step.call_id, step.name, step.arguments)
                    )
                else:
                    yield step
            if self.hang:
                self.hanging.set()
                await asyncio.sleep(3600)
        finally:
            self.closed = True
