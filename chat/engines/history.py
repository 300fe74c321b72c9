"""Our stored history, in each provider API's input format (for replay and stateless modes).

Tool calls are replayed under their replay ids (unique in the conversation), not the provider's
ids: providers that number calls per response reuse `call_0`, and a history carrying one id
twice pairs outputs with calls ambiguously. Reasoning is never replayed.
"""

from typing import Any

from chat.engines.base import PastMessage, PastToolCall, ToolSpec


def _replay_id(call: PastToolCall) -> str:
    return call.replay_id or call.call_id


def responses_items(history: list[PastMessage]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in history:
        for call in message.tool_calls:
            items.append(
                {
                    "type": "function_call",
                    "call_id": _replay_id(call),
                    "name": call.name,
                    "arguments": call.arguments,
                }
            )
            items.append(
                {"type": "function_call_output", "call_id": _replay_id(call), "output": call.output}
            )
        if message.text:
            items.append({"type": "message", "role": message.role, "content": message.text})
    return items


def chat_messages(history: list[PastMessage]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for message in history:
        if message.tool_calls:
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": _replay_id(call),
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        }
                        for call in message.tool_calls
                    ],
                }
            )
            for call in message.tool_calls:
                messages.append(
                    {"role": "tool", "tool_call_id": _replay_id(call), "content": call.output}
                )
        if message.text:
            messages.append({"role": message.role, "content": message.text})
    return messages


def plain_messages(history: list[PastMessage]) -> list[dict[str, Any]]:
    """Text-only messages (Assistants threads cannot take tool-call items): results folded in."""
    messages = []
    for message in history:
        text = message.text
        if message.tool_calls:
            results = "; ".join(
                f"{c.name}({c.arguments}) -> {c.output}" for c in message.tool_calls
            )
            text = f"[tool results: {results}]\n{text}"
        if text:
            messages.append({"role": message.role, "content": text})
    return messages


def responses_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters,
            "strict": True,
        }
        for t in tools
    ]


def chat_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]
