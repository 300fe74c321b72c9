"""Exports: CSV with one row per answer (receipts, feedback, flags) and JSON."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat.models import Conversation
from review import services
from review.models import Feedback, StaffAccess
from tests.review.factories import answers, conversation_with

pytestmark = pytest.mark.django_db


def rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_csv_action_exports_one_row_per_answer_with_receipts_feedback_and_flags(
    reviewer_client: Client, reviewer: User, alice: User, bob: User, conversation: Conversation
) -> None:
    first, second = answers(conversation)
    Feedback.objects.create(message=first, author=alice, vote="bad", comment="too high")
    services.answer_flag_add(message=first, author=reviewer, kind="wrong_figure", reason="check")
    other = conversation_with(bob, [('=HYPERLINK("http://x")', "-2+3")])
    response = reviewer_client.post(
        "/admin/chat/conversation/",
        {"action": "export_csv", "_selected_action": [conversation.pk, other.pk]},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="conversations-2.csv"' in response["Content-Disposition"]
    exported = rows(response.content)
    assert [row["answer_id"] for row in exported] == [
        str(first.pk),
        str(second.pk),
        str(answers(other)[0].pk),
    ]
    row = exported[0]
    assert row["question"] == "What is the tax on 85000?"
    assert row["answer"] == "The tax on **85,000** is 14,500."
    assert (row["revenue"], row["tax"], row["effective_rate_percent"]) == (
        "85000.00",
        "14500.00",
        "17.06",
    )
    assert (row["feedback"], row["feedback_comment"]) == ("bad", "too high")
    assert row["flags"] == "Wrong figure: check (rita)"
    assert row["review_status"] == "In review"
    # Cells a spreadsheet would run as formulas are made text.
    assert exported[2]["question"].startswith("'=HYPERLINK")
    assert exported[2]["answer"] == "'-2+3"
    assert set(
        StaffAccess.objects.filter(what="export_csv").values_list("conversation_id", flat=True)
    ) == {conversation.pk, other.pk}


def test_json_export_holds_the_whole_record(
    reviewer_client: Client, reviewer: User, conversation: Conversation
) -> None:
    services.review_note_add(conversation=conversation, author=reviewer, text="noted")
    response = reviewer_client.get(f"/admin/chat/conversation/{conversation.pk}/export/json/")
    assert response["Content-Type"] == "application/json"
    (exported,) = json.loads(response.content)["conversations"]
    assert exported["owner"] == "alice"
    assert exported["review"] == {"status": "in_review", "assignee": None}
    assert exported["notes"][0]["text"] == "noted"
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"] * 2
    receipt = exported["messages"][1]["receipts"][0]
    assert (receipt["revenue"], receipt["tax"], receipt["table_version"]) == (
        "85000.00",
        "14500.00",
        "",
    )
    assert StaffAccess.objects.filter(what="export_json").count() == 1


def test_unknown_export_format_is_404(reviewer_client: Client, conversation: Conversation) -> None:
    assert (
        reviewer_client.get(f"/admin/chat/conversation/{conversation.pk}/export/xml/").status_code
        == 404
    )
