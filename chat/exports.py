"""A conversation as Markdown, as JSON, and its calculations as CSV (page and shell alike)."""

import csv
import io
import json
from typing import Any

from django.utils import timezone
from django.utils.text import slugify

from chat import selectors
from chat.models import Conversation, Message
from chat.tools.tax import TABLE

CSV_COLUMNS = ("time", "revenue", "tax", "effective_rate_percent", "table_version", "message_id")
FORMATS = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "json": ("application/json", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}


def export_filename(conversation: Conversation, kind: str) -> str:
    stem = slugify(conversation.title)[:60] or f"conversation-{conversation.pk}"
    if kind == "csv":
        stem += "-calculations"
    return f"{stem}.{FORMATS[kind][1]}"


def _time(value: Any) -> str:
    return str(timezone.localtime(value).isoformat(timespec="seconds"))


def conversation_markdown(conversation: Conversation) -> str:
    """The transcript (current versions) as Markdown: each turn under a heading, answers as
    written, calculations summarised beneath the answer that made them."""
    lines = [f"# {conversation.title or 'Untitled conversation'}", ""]
    lines += [f"_Exported {_time(timezone.now())}. {TABLE.note} Not tax advice._", ""]
    for message in selectors.message_list(conversation=conversation):
        who = "You" if message.role == Message.Role.USER else "Assistant"
        lines += [f"## {who} · {_time(message.created_at)}", ""]
        for call in message.tool_calls.all():
            if call.result:
                lines.append(
                    f"> Calculation: revenue €{call.result.get('revenue')}, tax "
                    f"€{call.result.get('tax')}, effective rate "
                    f"{call.result.get('effective_rate_percent')} %"
                )
            else:
                lines.append(f"> Calculation not made: {call.error}")
            lines.append("")
        lines += [message.text or "_(no text)_", ""]
        if message.status_notice:
            lines += [f"_{message.get_status_display()}: {message.status_notice}_", ""]
    return "\n".join(lines).rstrip() + "\n"


def conversation_json(conversation: Conversation) -> str:
    """Every message, earlier versions included (`current` marks the transcript)."""
    data = {
        "id": conversation.pk,
        "title": conversation.title,
        "created_at": _time(conversation.created_at),
        "exported_at": _time(timezone.now()),
        "messages": [
            {
                "id": m.pk,
                "role": m.role,
                "text": m.text,
                "status": m.status,
                "error": m.status_notice,
                "created_at": _time(m.created_at),
                "engine": m.engine,
                "model": m.model_name,
                "usage": m.usage,
                "version": m.version_number,
                "version_of": m.version_of_id,
                "current": m.is_current,
                "tool_calls": [
                    {
                        "name": c.name,
                        "arguments": c.raw_arguments,
                        "output": c.output,
                        "result": c.result,
                        "error": c.error,
                    }
                    for c in m.tool_calls.all()
                ],
            }
            for m in selectors.message_list_all_versions(conversation=conversation)
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def conversation_calculations_csv(conversation: Conversation) -> str:
    """One row per tax calculation of the transcript (refused inputs have no figures)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for call in selectors.tool_call_list(conversation=conversation):
        if call.name != "calculate_tax" or not call.result:
            continue
        result = call.result
        writer.writerow(
            [
                _time(call.created_at),
                result.get("revenue", ""),
                result.get("tax", ""),
                result.get("effective_rate_percent", ""),
                result.get("table_version", ""),
                call.message_id,
            ]
        )
    return out.getvalue()


def conversation_export(conversation: Conversation, kind: str) -> str:
    return {
        "md": conversation_markdown,
        "json": conversation_json,
        "csv": conversation_calculations_csv,
    }[kind](conversation)
