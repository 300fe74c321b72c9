"""Exports of selected conversations: CSV (one row per answer) and JSON (the whole record)."""

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from chat.models import Conversation, Message, ToolCall
from review import selectors
from review.models import AnswerFlag, ConversationReview, Feedback
from review.receipts import receipt_figures

CSV_COLUMNS = [
    "conversation_id",
    "conversation_title",
    "owner",
    "conversation_deleted_at",
    "review_status",
    "assignee",
    "answer_id",
    "answered_at",
    "question",
    "answer",
    "answer_status",
    "error",
    "engine",
    "model",
    "figures_verified",
    "unverified_figures",
    "receipts",
    "revenue",
    "tax",
    "effective_rate_percent",
    "table_version",
    "receipt_errors",
    "feedback",
    "feedback_comment",
    "flags",
]

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _pairs(messages: Iterable[Message]) -> Iterable[tuple[str, Message]]:
    """Each answer with the question just before it."""
    question = ""
    for message in messages:
        if message.role == Message.Role.USER:
            question = message.text
        else:
            yield question, message


def _review(conversation: Conversation) -> ConversationReview | None:
    try:
        return conversation.review
    except ConversationReview.DoesNotExist:
        return None


def _feedback(message: Message) -> Feedback | None:
    try:
        return message.feedback
    except Feedback.DoesNotExist:
        return None


def _flag_text(flag: AnswerFlag) -> str:
    return f"{flag.get_kind_display()}: {flag.reason} ({flag.author.get_username()})"


def _join(values: Iterable[str]) -> str:
    return " | ".join(value for value in values if value)


def conversations_csv(*, conversation_ids: list[int]) -> str:
    messages = selectors.receipts_for_conversations(conversation_ids=conversation_ids)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    by_conversation: dict[int, list[Message]] = {}
    for message in messages:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    for conversation_messages in by_conversation.values():
        conversation = conversation_messages[0].conversation
        review = _review(conversation)
        for question, answer in _pairs(conversation_messages):
            calls: list[ToolCall] = list(answer.tool_calls.all())
            figures = [receipt_figures(call) for call in calls]
            feedback = _feedback(answer)
            row = [
                conversation.pk,
                conversation.title,
                conversation.owner.get_username(),
                conversation.deleted_at.isoformat() if conversation.deleted_at else "",
                review.get_status_display() if review else "New",
                review.assignee.get_username() if review and review.assignee else "",
                answer.pk,
                answer.created_at.isoformat(),
                question,
                answer.text,
                answer.status,
                answer.status_notice,
                answer.engine,
                answer.model_name,
                "" if answer.figures_verified is None else answer.figures_verified,
                _join(str(f) for f in answer.unverified_figures or []),
                len(calls),
                _join(f.revenue for f in figures),
                _join(f.tax for f in figures),
                _join(f.effective_rate_percent for f in figures),
                _join(f.table_version for f in figures),
                _join(call.error for call in calls),
                feedback.vote if feedback else "",
                feedback.comment if feedback else "",
                _join(_flag_text(flag) for flag in answer.review_flags.all()),
            ]
            writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _receipt_json(call: ToolCall) -> dict[str, Any]:
    figures = receipt_figures(call)
    return {
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.raw_arguments,
        "revenue": figures.revenue,
        "tax": figures.tax,
        "effective_rate_percent": figures.effective_rate_percent,
        "table_version": figures.table_version,
        "result": call.result,
        "error": call.error,
        "duration_ms": call.duration_ms,
        "created_at": call.created_at.isoformat(),
    }


def conversations_json(*, conversation_ids: list[int]) -> str:
    messages = selectors.receipts_for_conversations(conversation_ids=conversation_ids)
    conversations: dict[int, dict[str, Any]] = {}
    for message in messages:
        conversation = message.conversation
        if conversation.pk not in conversations:
            review = _review(conversation)
            conversations[conversation.pk] = {
                "id": conversation.pk,
                "title": conversation.title,
                "owner": conversation.owner.get_username(),
                "created_at": conversation.created_at.isoformat(),
                "deleted_at": conversation.deleted_at.isoformat()
                if conversation.deleted_at
                else None,
                "review": {
                    "status": review.status if review else ConversationReview.Status.NEW,
                    "assignee": review.assignee.get_username()
                    if review and review.assignee
                    else None,
                },
                "notes": [
                    {
                        "author": note.author.get_username(),
                        "text": note.text,
                        "created_at": note.created_at.isoformat(),
                    }
                    for note in conversation.review_notes.select_related("author")
                ],
                "messages": [],
            }
        feedback = _feedback(message)
        conversations[conversation.pk]["messages"].append(
            {
                "id": message.pk,
                "role": message.role,
                "text": message.text,
                "status": message.status,
                "error": message.status_notice,
                "provider_detail": message.provider_detail,
                "engine": message.engine,
                "model": message.model_name,
                "created_at": message.created_at.isoformat(),
                "figures_verified": message.figures_verified,
                "unverified_figures": message.unverified_figures,
                "receipts": [_receipt_json(call) for call in message.tool_calls.all()],
                "feedback": {"vote": feedback.vote, "comment": feedback.comment}
                if feedback
                else None,
                "flags": [
                    {
                        "kind": flag.kind,
                        "reason": flag.reason,
                        "author": flag.author.get_username(),
                        "created_at": flag.created_at.isoformat(),
                    }
                    for flag in message.review_flags.all()
                ],
            }
        )
    return json.dumps({"conversations": list(conversations.values())}, indent=2)
