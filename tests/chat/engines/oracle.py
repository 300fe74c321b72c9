"""What a recorded reply says, read the plain way: the oracle the engines are checked against.

Deliberately naive and independent of chat.engines: split the body into lines, take every
`data:` line that is JSON, and add up what the OpenAI wire formats define.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.fake_openai import Captured


@dataclass
class Reply:
    answer: str = ""
    reasoning: str = ""
    call_ids: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    error: str = ""
    finish: str = ""


def _payloads(body: bytes) -> list[Any]:
    found = []
    for line in body.decode("utf-8").replace("\r\n", "\n").split("\n"):
        if line.startswith("data:"):
            data = line[5:].strip()
            if data and data != "[DONE]":
                found.append(json.loads(data))
    return found


def _split_think(text: str) -> tuple[str, str]:
    stripped = text.lstrip()
    if stripped.startswith("<think>") and "</think>" in stripped:
        thought, _, answer = stripped[len("<think>") :].partition("</think>")
        return answer.lstrip(), thought
    return text, ""


def _texts(content: Any, kind: str) -> str:
    if isinstance(content, str):
        return content if kind == "text" else ""
    out = ""
    for part in content or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and kind == "text":
            out += part.get("text", "")
        elif part.get("type") == "thinking" and kind == "reasoning":
            inner = part.get("thinking")
            out += inner if isinstance(inner, str) else _texts(inner, "text")
    return out


def chat_reply(reply: Captured) -> Reply:
    result = Reply()
    text = reasoning = ""
    usage: dict[str, Any] | None = None
    for chunk in _payloads(reply.body):
        if chunk.get("error"):
            result.error = json.dumps(chunk["error"])
            break
        if chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage"):
            usage = chunk.get("usage") or chunk["x_groq"]["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            text += _texts(delta.get("content"), "text")
            reasoning += _texts(delta.get("content"), "reasoning")
            reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
            for call in delta.get("tool_calls") or []:
                if call.get("id") and call["id"] not in result.call_ids:
                    result.call_ids.append(call["id"])
            result.finish = choice.get("finish_reason") or result.finish
    result.answer, thought = _split_think(text)
    result.reasoning = reasoning + thought
    if usage:
        result.input_tokens = usage.get("prompt_tokens") or 0
        result.output_tokens = usage.get("completion_tokens") or 0
    return result


def responses_reply(reply: Captured) -> Reply:
    result = Reply()
    for event in _payloads(reply.body):
        kind = event.get("type")
        if kind == "response.output_text.delta":
            result.answer += event["delta"]
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            result.reasoning += event["delta"]
        elif kind == "response.output_item.done" and event["item"]["type"] == "function_call":
            result.call_ids.append(event["item"]["call_id"])
        elif kind == "response.completed":
            usage = event["response"].get("usage") or {}
            result.input_tokens = usage.get("input_tokens") or 0
            result.output_tokens = usage.get("output_tokens") or 0
            result.finish = "completed"
        elif kind == "error" or kind == "response.failed":
            result.error = json.dumps(event)
    return result


def api_of(reply: Captured) -> str:
    if "/responses" in reply.uri:
        return "responses"
    if "/chat/completions" in reply.uri:
        return "chat"
    first = _payloads(reply.body)[0]
    return "responses" if "type" in first else "chat"


def read_reply(reply: Captured) -> Reply:
    return responses_reply(reply) if api_of(reply) == "responses" else chat_reply(reply)
