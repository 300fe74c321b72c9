"""POST /v1/responses as OpenAI streams it (typed events, each with an `event:` line)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.fake_openai.sse import Frame, Ids, sse, words
from tests.fake_openai.steps import MODEL, Failed, Incomplete, Refusal, Step, Text, ToolCalls


def responses_frames(step: Step, ids: Ids, body: dict[str, Any]) -> list[Frame]:
    seq = itertools.count()
    base = {
        "id": ids("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "model": body.get("model", MODEL),
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "usage": None,
        "metadata": {},
    }

    def ev(kind: str, is_delta: bool = False, **fields: Any) -> Frame:
        return Frame(sse({"type": kind, "sequence_number": next(seq), **fields}, kind), is_delta)

    frames = [ev("response.created", response=base), ev("response.in_progress", response=base)]
    output: list[dict[str, Any]] = []
    output_tokens = 0
    if isinstance(step, Failed):
        failed = {
            **base,
            "status": "failed",
            "error": {"code": "server_error", "message": step.message},
        }
        return [*frames, ev("response.failed", response=failed)]

    reasoning = step.reasoning if isinstance(step, Text) else ""
    if reasoning:
        item_id = ids("rs")
        item = {"id": item_id, "type": "reasoning", "summary": []}
        frames.append(ev("response.output_item.added", output_index=len(output), item=item))
        for word in words(reasoning):
            frames.append(
                ev(
                    "response.reasoning_summary_text.delta",
                    False,
                    item_id=item_id,
                    output_index=len(output),
                    summary_index=0,
                    delta=word,
                )
            )
            frames[-1].paced = True
        done = {**item, "summary": [{"type": "summary_text", "text": reasoning}]}
        frames.append(ev("response.output_item.done", output_index=len(output), item=done))
        output.append(done)
        output_tokens += len(words(reasoning))

    text = step.text if isinstance(step, Text | Incomplete | Refusal | ToolCalls) else ""
    if text or not isinstance(step, ToolCalls):
        refusal = isinstance(step, Refusal)
        index = len(output)
        message_id = ids("msg")
        message = {
            "id": message_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        frames.append(ev("response.output_item.added", output_index=index, item=message))
        part = (
            {"type": "refusal", "refusal": ""}
            if refusal
            else {"type": "output_text", "text": "", "annotations": []}
        )
        frames.append(
            ev(
                "response.content_part.added",
                item_id=message_id,
                output_index=index,
                content_index=0,
                part=part,
            )
        )
        kind = "response.refusal.delta" if refusal else "response.output_text.delta"
        extra: dict[str, Any] = {} if refusal else {"logprobs": []}
        for word in words(text):
            frames.append(
                ev(
                    kind,
                    True,
                    item_id=message_id,
                    output_index=index,
                    content_index=0,
                    delta=word,
                    **extra,
                )
            )
        output_tokens += len(words(text))
        if isinstance(step, Incomplete):
            incomplete = {
                **base,
                "status": "incomplete",
                "incomplete_details": {"reason": step.reason},
            }
            return [*frames, ev("response.incomplete", response=incomplete)]
        content = (
            {"type": "refusal", "refusal": text}
            if refusal
            else {"type": "output_text", "text": text, "annotations": []}
        )
        done = {**message, "status": "completed", "content": [content]}
        frames.append(ev("response.output_item.done", output_index=index, item=done))
        output.append(done)

    if isinstance(step, ToolCalls):
        for n, (name, arguments) in enumerate(step.calls):
            index = len(output)
            call_id = step.ids[n] if step.ids else ids("call")
            item = {
                "id": ids("fc"),
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": call_id,
                "name": name,
            }
            frames.append(ev("response.output_item.added", output_index=index, item=item))
            frames.append(
                ev(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=arguments,
                )
            )
            frames.append(
                ev(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    arguments=arguments,
                )
            )
            done = {**item, "status": "completed", "arguments": arguments}
            frames.append(ev("response.output_item.done", output_index=index, item=done))
            output.append(done)
            output_tokens += 10
    usage = {"input_tokens": 50, "output_tokens": output_tokens, "total_tokens": 50 + output_tokens}
    final = {**base, "status": "completed", "output": output, "usage": usage}
    frames.append(ev("response.completed", response=final))
    return frames
