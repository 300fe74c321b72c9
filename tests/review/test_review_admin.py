"""The reviewer's pages: the queue, the review page, notes, flags, status, history, receipts."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from chat.models import Conversation, Message
from review import services
from review.models import (
    AnswerFlag,
    AppendOnlyError,
    ConversationReview,
    Feedback,
    ReviewEvent,
    ReviewNote,
    StaffAccess,
)
from tests.helpers.htmlcheck import active_parts
from tests.review.factories import answers, conversation_with, receipt_error

pytestmark = pytest.mark.django_db

QUEUE = "/admin/chat/conversation/"


def review_page(client: Client, conversation: Conversation) -> str:
    response = client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def queue_titles(client: Client, query: str = "") -> str:
    response = client.get(f"{QUEUE}{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_transcript_is_drawn_once_with_receipts_beside_each_answer(
    reviewer_client: Client, conversation: Conversation
) -> None:
    html = review_page(reviewer_client, conversation)
    assert html.count("The tax on <strong>85,000</strong> is 14,500.") == 1
    transcript = html[html.index('class="rv-transcript"') : html.index('class="rv-side"')]
    assert transcript.count("What is the tax on 85000?") == 1
    assert transcript.count('class="rv-message ') == 4
    first_answer = answers(conversation)[0]
    article = html[html.index(f'id="message-{first_answer.pk}"') :]
    article = article[: article.index("</article>")]
    receipts = article[article.index('class="rv-receipts"') :]
    for figure in ("€85,000.00", "€14,500.00", "17.06 %", "1.25"):
        assert figure in receipts
    assert "doesn't have a change history" not in html
    assert 'name="_save"' not in html


def test_receipt_table_version_and_errors_are_shown(reviewer_client: Client, alice: User) -> None:
    conversation = conversation_with(
        alice, [("85000?", "14,500")], revenue="85000", table_version="demo-2026"
    )
    receipt_error(answers(conversation)[0])
    html = review_page(reviewer_client, conversation)
    assert "demo-2026" in html
    assert "Revenue must not be negative." in html
    receipts = reviewer_client.get("/admin/chat/toolcall/?table_version=demo-2026").content.decode()
    assert "demo-2026" in receipts
    assert "14500.00" in receipts
    rejected = reviewer_client.get("/admin/chat/toolcall/?outcome=error").content.decode()
    assert "Revenue must not be negative." in rejected
    assert "14500.00" not in rejected


def test_review_page_markup_from_people_and_models_is_inert(
    reviewer_client: Client, alice: User
) -> None:
    conversation = conversation_with(
        alice,
        [("<script>alert(1)</script> 85000", "needle <img src=x onerror=alert(2)>")],
        title="<b onmouseover=alert(3)>t</b>",
    )
    answer = answers(conversation)[0]
    Feedback.objects.create(
        message=answer, author=alice, vote="bad", comment="<svg onload=alert(4)>"
    )
    html = review_page(reviewer_client, conversation)
    transcript = html[html.index('class="rv-transcript"') : html.index('class="rv-side"')]
    # Forms are ours (the flag form); nothing that came from a person or a model is active.
    assert active_parts(transcript, allowed_tags=frozenset({"form", "input"})) == []
    assert "&lt;script&gt;" in transcript
    assert "&lt;svg onload=alert(4)&gt;" in transcript
    assert "<b onmouseover" not in html


def test_queue_lists_reasons_with_counts_and_filters(
    reviewer_client: Client, alice: User, bob: User
) -> None:
    bad = conversation_with(alice, [("q bad", "a bad")], title="needs-bad")
    Feedback.objects.create(message=answers(bad)[0], author=alice, vote="bad")
    conversation_with(
        bob,
        [("q u", "a u")],
        title="needs-unverified",
        figures_verified=False,
        unverified_figures=["12,345"],
    )
    conversation_with(bob, [("q e", "")], title="needs-error", status="error")
    done = conversation_with(alice, [("q ok", "a ok")], title="all-good")
    services.review_update(conversation=done, actor=alice, status="reviewed", assignee=None)

    html = queue_titles(reviewer_client)
    for title in ("needs-bad", "needs-unverified", "needs-error", "all-good"):
        assert title in html
    assert "Bad-answer feedback <strong>1</strong>" in html
    assert "Unverified figures <strong>1</strong>" in html
    assert "Answers with errors <strong>1</strong>" in html
    assert "Never reviewed <strong>3</strong>" in html

    def only(query: str) -> set[str]:
        page = queue_titles(reviewer_client, query)
        titles = {"needs-bad", "needs-unverified", "needs-error", "all-good"}
        return {title for title in titles if title in page}

    assert only("?needs=bad_feedback") == {"needs-bad"}
    assert only("?needs=unverified") == {"needs-unverified"}
    assert only("?needs=errors") == {"needs-error"}
    assert only("?needs=never_reviewed") == {"needs-bad", "needs-unverified", "needs-error"}
    assert only("?status=reviewed") == {"all-good"}
    assert only("?q=needs") == {"needs-bad", "needs-unverified", "needs-error"}
    # Newest first by default.
    assert html.index("all-good") < html.index("needs-bad")
    # Facet counts beside the filters.
    assert "Bad-answer feedback (1)" in html


def test_reviewer_sets_status_assignee_notes_and_flags_and_each_is_recorded(
    reviewer_client: Client, reviewer: User, conversation: Conversation
) -> None:
    base = f"/admin/chat/conversation/{conversation.pk}"
    answer = answers(conversation)[0]
    response = reviewer_client.post(f"{base}/notes/", {"text": "Checked the figure."})
    assert response.status_code == 302
    assert response["Location"].endswith("#notes")
    reviewer_client.post(
        f"{base}/answers/{answer.pk}/flag/", {"kind": "wrong_figure", "reason": "14,500 ok?"}
    )
    reviewer_client.post(f"{base}/review/", {"status": "escalated", "assignee": reviewer.pk})

    review = ConversationReview.objects.get(conversation=conversation)
    assert review.status == "escalated"
    assert review.assignee == reviewer
    flag = AnswerFlag.objects.get(message=answer)
    assert (flag.kind, flag.reason, flag.author) == ("wrong_figure", "14,500 ok?", reviewer)
    events = list(
        ReviewEvent.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("action", "detail", "actor__username")
    )
    assert events == [
        ("note", "Checked the figure.", "rita"),
        ("status", "New → In review", "rita"),
        ("flag", f"answer {answer.pk}: Wrong figure: 14,500 ok?", "rita"),
        ("status", "In review → Escalated", "rita"),
        ("assignee", "nobody → rita", "rita"),
    ]
    html = review_page(reviewer_client, conversation)
    assert "Checked the figure." in html
    assert "14,500 ok?" in html
    assert "rv-message--flagged" in html
    history = reviewer_client.get(f"{base}/history/").content.decode()
    assert "In review → Escalated" in history
    assert "Opened the conversation" in history
    assert reviewer_client.get(f"{QUEUE}?assignee=me").content.decode().count("85000") >= 1


def test_invalid_review_input_changes_nothing(
    reviewer_client: Client, conversation: Conversation, bob: User
) -> None:
    base = f"/admin/chat/conversation/{conversation.pk}"
    answer = answers(conversation)[0]
    reviewer_client.post(f"{base}/notes/", {"text": "   "})
    reviewer_client.post(f"{base}/answers/{answer.pk}/flag/", {"kind": "bogus", "reason": "x"})
    reviewer_client.post(f"{base}/answers/{answer.pk}/flag/", {"kind": "unclear", "reason": ""})
    # Bob is not a reviewer: he cannot be assigned.
    reviewer_client.post(f"{base}/review/", {"status": "reviewed", "assignee": bob.pk})
    reviewer_client.post(f"{base}/review/", {"status": "done-ish", "assignee": ""})
    question = conversation.messages.filter(role="user").first()
    assert question is not None
    flag_a_question = reviewer_client.post(
        f"{base}/answers/{question.pk}/flag/", {"kind": "unclear", "reason": "x"}
    )
    assert flag_a_question.status_code == 404
    assert not ReviewNote.objects.exists()
    assert not AnswerFlag.objects.exists()
    assert not ReviewEvent.objects.exists()


def test_notes_flags_and_access_entries_are_append_only(
    reviewer: User, conversation: Conversation
) -> None:
    note = services.review_note_add(conversation=conversation, author=reviewer, text="first")
    flag = services.answer_flag_add(
        message=answers(conversation)[0], author=reviewer, kind="other", reason="r"
    )
    (access,) = services.staff_access_record(
        conversations=[conversation], viewer=reviewer, what="viewed"
    )
    for row in (note, flag, access):
        with pytest.raises(AppendOnlyError):
            row.save()
        with pytest.raises(AppendOnlyError):
            row.delete()
    assert ReviewNote.objects.get().text == "first"


def test_every_staff_look_is_logged_with_who_when_what(
    reviewer_client: Client, reviewer: User, conversation: Conversation
) -> None:
    base = f"/admin/chat/conversation/{conversation.pk}"
    reviewer_client.get(f"{base}/change/")
    reviewer_client.get(f"{base}/export/csv/")
    reviewer_client.get(f"{base}/history/")
    entries = list(
        StaffAccess.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("viewer__username", "what")
    )
    assert entries == [("rita", "viewed"), ("rita", "export_csv"), ("rita", "history")]
    log = reviewer_client.get("/admin/review/staffaccess/").content.decode()
    assert "Exported as CSV" in log
    assert "rita" in log
    # A receipt opens its answer on the review page (a logged view).
    call = answers(conversation)[0].tool_calls.get()
    response = reviewer_client.get(f"/admin/chat/toolcall/{call.pk}/change/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"{base}/change/#message-{call.message_id}")


def test_deleted_conversation_keeps_a_tombstone_for_review(
    reviewer_client: Client, alice: User, conversation: Conversation
) -> None:
    answer = answers(conversation)[0]
    Feedback.objects.create(message=answer, author=alice, vote="bad", comment="wrong")
    services.review_note_add(
        conversation=conversation, author=User.objects.get(username="rita"), text="kept note"
    )
    # What the deletion service does (another module): hide it and erase the texts.
    conversation.deleted_at = timezone.now()
    conversation.save()
    Message.objects.filter(conversation=conversation).update(text="")

    assert "(deleted by the person)" in queue_titles(reviewer_client, "?deleted=yes")
    assert "(deleted by the person)" not in queue_titles(reviewer_client, "?deleted=no")
    html = review_page(reviewer_client, conversation)
    assert "Deleted by the person on" in html
    assert "What is the tax on 85000?" not in html
    assert html.count("(text erased at deletion)") == 4
    assert "€14,500.00" in html  # receipts kept
    assert "Bad answer" in html
    assert "wrong" in html
    assert "kept note" in html
    # The person's own page no longer offers it; feedback can no longer change.
    person = Client()
    person.force_login(alice)
    response = person.post(f"/review/answers/{answer.pk}/feedback/", {"vote": "good"})
    assert response.status_code == 404
    assert Feedback.objects.get(message=answer).vote == "bad"


def test_review_page_lists_the_provider_threads_a_conversation_left(
    reviewer_client: Client, conversation: Conversation
) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        provider_thread_id="conv_new",
        previous_provider_threads=[
            {"engine": "assistants", "thread_id": "thread_<b>old", "until": "2026-11-01T10:00"}
        ],
    )
    page = review_page(reviewer_client, conversation)
    assert "Earlier threads" in page
    assert "thread_&lt;b&gt;old" in page
    assert "2026-11-01T10:00" in page


def test_review_page_shows_the_provider_detail_the_person_never_sees(
    reviewer_client: Client, conversation: Conversation
) -> None:
    answer = conversation.messages.filter(role="assistant").first()
    assert answer is not None
    Message.objects.filter(pk=answer.pk).update(
        status="error",
        status_notice="The AI provider refused the request (400).",
        provider_detail="BadRequestError: <script>max_tokens</script> too large",
    )
    page = review_page(reviewer_client, conversation)
    assert "BadRequestError: &lt;script&gt;max_tokens&lt;/script&gt; too large" in page
    person = Client()
    person.force_login(conversation.owner)
    mine = person.get(f"/c/{conversation.pk}/").content.decode()
    assert "The AI provider refused the request (400)." in mine
    assert "BadRequestError" not in mine
