"""Writes of the review domain. Each reviewer action is recorded with who and when."""

from django.contrib.auth.models import User
from django.db import transaction

from chat.models import Conversation, Message
from review.models import (
    AnswerFlag,
    ConversationReview,
    Feedback,
    ReviewEvent,
    ReviewNote,
    StaffAccess,
)

FEEDBACK_COMMENT_MAX_CHARS = 1000


class FeedbackRefused(Exception):
    """The answer cannot take feedback (still being written)."""


def feedback_set(*, user: User, message_id: int, vote: str, comment: str = "") -> Feedback:
    """The person's vote on one of their own finished answers; a second vote replaces the first.

    Raises Message.DoesNotExist for anything that is not the person's answer (the view's 404).
    """
    if vote not in Feedback.Vote.values:
        raise ValueError(f"Unknown vote {vote!r}.")
    message = Message.objects.get(
        pk=message_id,
        role=Message.Role.ASSISTANT,
        conversation__owner=user,
        conversation__deleted_at__isnull=True,
    )
    if message.is_streaming:
        raise FeedbackRefused("This answer is still being written.")
    feedback, _ = Feedback.objects.update_or_create(
        message=message,
        defaults={
            "author": user,
            "vote": vote,
            # PostgreSQL refuses NUL in text: drop it rather than fail the vote.
            "comment": comment.replace("\x00", "").strip()[:FEEDBACK_COMMENT_MAX_CHARS],
        },
    )
    return feedback


def review_get_or_create(*, conversation: Conversation) -> ConversationReview:
    review, _ = ConversationReview.objects.get_or_create(conversation=conversation)
    return review


@transaction.atomic
def review_update(
    *,
    conversation: Conversation,
    actor: User,
    status: str,
    assignee: User | None,
) -> ConversationReview:
    """Set status and assignee; one history event per field that actually changed."""
    review = ConversationReview.objects.select_for_update().get(
        pk=review_get_or_create(conversation=conversation).pk
    )
    if status not in ConversationReview.Status.values:
        raise ValueError(f"Unknown status {status!r}.")
    if status != review.status:
        old = review.get_status_display()
        review.status = status
        ReviewEvent.objects.create(
            conversation=conversation,
            actor=actor,
            action=ReviewEvent.Action.STATUS,
            detail=f"{old} → {review.get_status_display()}",
        )
    if assignee != review.assignee:
        old_name = review.assignee.get_username() if review.assignee else "nobody"
        new_name = assignee.get_username() if assignee else "nobody"
        review.assignee = assignee
        ReviewEvent.objects.create(
            conversation=conversation,
            actor=actor,
            action=ReviewEvent.Action.ASSIGNEE,
            detail=f"{old_name} → {new_name}",
        )
    review.save()
    return review


@transaction.atomic
def review_note_add(*, conversation: Conversation, author: User, text: str) -> ReviewNote:
    text = text.strip()
    if not text:
        raise ValueError("A note needs some text.")
    note = ReviewNote.objects.create(conversation=conversation, author=author, text=text)
    ReviewEvent.objects.create(
        conversation=conversation,
        actor=author,
        action=ReviewEvent.Action.NOTE,
        detail=text[:120],
    )
    _start_review(conversation=conversation, actor=author)
    return note


@transaction.atomic
def answer_flag_add(*, message: Message, author: User, kind: str, reason: str) -> AnswerFlag:
    reason = reason.strip()
    if kind not in AnswerFlag.Kind.values:
        raise ValueError(f"Unknown flag {kind!r}.")
    if not reason:
        raise ValueError("A flag needs a reason.")
    if message.role != Message.Role.ASSISTANT:
        raise ValueError("Only answers can be flagged.")
    flag = AnswerFlag.objects.create(message=message, author=author, kind=kind, reason=reason)
    ReviewEvent.objects.create(
        conversation=message.conversation,
        actor=author,
        action=ReviewEvent.Action.FLAG,
        detail=f"answer {message.pk}: {flag.get_kind_display()}: {reason[:100]}",
    )
    _start_review(conversation=message.conversation, actor=author)
    return flag


def _start_review(*, conversation: Conversation, actor: User) -> None:
    """A note or flag on a new conversation means somebody is reviewing it."""
    review = review_get_or_create(conversation=conversation)
    if review.status == ConversationReview.Status.NEW:
        review_update(
            conversation=conversation,
            actor=actor,
            status=ConversationReview.Status.IN_REVIEW,
            assignee=review.assignee,
        )


def staff_access_record(
    *, conversations: list[Conversation], viewer: User, what: str
) -> list[StaffAccess]:
    return StaffAccess.objects.bulk_create(
        StaffAccess(conversation=conversation, viewer=viewer, what=what)
        for conversation in conversations
    )
