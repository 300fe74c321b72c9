"""POST /v1/chat/completions as OpenAI streams it (chunks, usage last, then [DONE])."""

from __future__ import annotations

import time
from typing import Any

from tests.fake_openai.sse import Frame, Ids, sse, words
from tests.fake_openai.steps import MODEL, Incomplete, Refusal, Step, Text, ToolCalls


def chat_frames(step: Step, ids: Ids, body: dict[str, Any]) -> list[Frame]:
    completion_id = ids("chatcmpl")
    model = body.get("model", MODEL)

    def chunk(delta: dict[str, Any], finish: str | None = None, is_delta: bool = False) -> Frame:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return Frame(sse(data), is_delta)

    frames = [chunk({"role": "assistant", "content": None})]
    output_tokens = 0
    if isinstance(step, Text) and step.reasoning:
        for word in words(step.reasoning):
            frames.append(Frame(chunk({"reasoning_content": word}).body, paced=True))
        output_tokens += len(words(step.reasoning))
    if isinstance(step, ToolCalls):
        if step.text:
            for word in words(step.text):
                frames.append(chunk({"content": word}, is_delta=True))
        for index, (name, arguments) in enumerate(step.calls):
            call_id = step.ids[index] if step.ids else ids("call")
            frames.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            # Arguments arrive in pieces, as real servers send them.
            middle = len(arguments) // 2
            for piece in (arguments[:middle], arguments[middle:]):
                frames.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        frames.append(chunk({}, "tool_calls"))
        output_tokens += 10 * len(step.calls)
    else:
        text = step.text if isinstance(step, Text | Incomplete | Refusal) else ""
        key = "refusal" if isinstance(step, Refusal) else "content"
        for word in words(text):
            frames.append(chunk({key: word}, is_delta=True))
        frames.append(chunk({}, "length" if isinstance(step, Incomplete) else "stop"))
        output_tokens += len(words(text))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            "prompt_tokens": 40,
            "completion_tokens": output_tokens,
            "total_tokens": 40 + output_tokens,
        }
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": usage,
        }
        frames.append(Frame(sse(data)))
    frames.append(Frame(b"data: [DONE]\n\n"))
    return frames
