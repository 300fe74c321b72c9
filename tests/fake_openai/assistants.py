"""The Assistants API runs (legacy): events told apart by their `event:` line only."""

from __future__ import annotations

import time
from typing import Any

from tests.fake_openai.sse import Frame, Ids, sse, words
from tests.fake_openai.steps import Failed, Incomplete, Refusal, Step, Text, ToolCalls


def assistants_frames(step: Step, ids: Ids, run: dict[str, Any]) -> list[Frame]:
    def ev(kind: str, data: dict[str, Any], is_delta: bool = False) -> Frame:
        return Frame(sse(data, kind), is_delta)

    def run_state(status: str, **extra: Any) -> dict[str, Any]:
        return {**run, "status": status, **extra}

    frames = [
        ev("thread.run.created", run_state("queued")),
        ev("thread.run.queued", run_state("queued")),
        ev("thread.run.in_progress", run_state("in_progress")),
    ]
    if isinstance(step, ToolCalls):
        calls = [
            {
                "id": ids("call"),
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for name, arguments in step.calls
        ]
        action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
        run["pending_calls"] = [c["id"] for c in calls]
        frames.append(
            ev("thread.run.requires_action", run_state("requires_action", required_action=action))
        )
    elif isinstance(step, Failed):
        error = {"code": "server_error", "message": step.message}
        frames.append(ev("thread.run.failed", run_state("failed", last_error=error)))
    else:
        text = step.text if isinstance(step, Text | Incomplete | Refusal) else ""
        message_id = ids("msg")
        message = {
            "id": message_id,
            "object": "thread.message",
            "created_at": int(time.time()),
            "assistant_id": run["assistant_id"],
            "thread_id": run["thread_id"],
            "run_id": run["id"],
            "status": "in_progress",
            "role": "assistant",
            "content": [],
            "attachments": [],
            "metadata": {},
        }
        frames.append(ev("thread.message.created", message))
        frames.append(ev("thread.message.in_progress", message))
        for word in words(text):
            delta = {
                "id": message_id,
                "object": "thread.message.delta",
                "delta": {
                    "content": [
                        {"index": 0, "type": "text", "text": {"value": word, "annotations": []}}
                    ]
                },
            }
            frames.append(ev("thread.message.delta", delta, True))
        content = [{"type": "text", "text": {"value": text, "annotations": []}}]
        frames.append(
            ev("thread.message.completed", {**message, "status": "completed", "content": content})
        )
        if isinstance(step, Incomplete):
            details = {"reason": step.reason}
            frames.append(
                ev("thread.run.incomplete", run_state("incomplete", incomplete_details=details))
            )
        else:
            usage = {
                "prompt_tokens": 45,
                "completion_tokens": len(words(text)),
                "total_tokens": 45 + len(words(text)),
            }
            frames.append(ev("thread.run.completed", run_state("completed", usage=usage)))
        run["pending_calls"] = []
    frames.append(Frame(b"event: done\ndata: [DONE]\n\n"))
    return frames
