"""Reads of the review domain. Person-facing reads take the person and check ownership;
staff-facing reads are only reached through views that checked the staff member's permissions."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from chat.models import Conversation, Message, ToolCall
from review.models import AnswerFlag, ConversationReview, Feedback, StaffAccess

AnyUser = User | AnonymousUser

# The queue's reasons for attention, in the order the page lists them: key -> label.
QUEUE_REASONS: dict[str, str] = {
    "bad_feedback": "Bad-answer feedback",
    "unverified": "Unverified figures",
    "errors": "Answers with errors",
    "never_reviewed": "Never reviewed",
}


def feedback_of(*, message: Message) -> Feedback | None:
    """The vote on an answer. Only its conversation's owner can vote (services.feedback_set);
    callers show it only to that owner."""
    return Feedback.objects.filter(message=message).first()


def staff_last_viewed(*, user: AnyUser, conversation: Conversation) -> datetime | None:
    """When staff last opened the person's conversation; only ever told to its owner.
    A staff member opening their own conversation does not count."""
    if not user.is_authenticated or conversation.owner_id != user.pk:
        return None
    latest = (
        StaffAccess.objects.filter(conversation=conversation)
        .exclude(viewer=conversation.owner_id)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return latest


def _count(queryset: QuerySet[Any], outer: str) -> Coalesce:
    """A correlated COUNT(*) per conversation: no join fan-out in the queue's query."""
    counted = (
        queryset.filter(**{outer: OuterRef("pk")})
        .order_by()
        .values(outer)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _reason_filters() -> dict[str, Q]:
    answers = Message.objects.filter(role=Message.Role.ASSISTANT, conversation=OuterRef("pk"))
    return {
        "bad_feedback": Q(
            Exists(
                Feedback.objects.filter(
                    message__conversation=OuterRef("pk"), vote=Feedback.Vote.BAD
                )
            )
        ),
        "unverified": Q(Exists(answers.filter(figures_verified=False))),
        "errors": Q(Exists(answers.filter(status=Message.Status.ERROR))),
        "never_reviewed": Q(review__isnull=True) | Q(review__status=ConversationReview.Status.NEW),
    }


def queue_filter(*, queryset: QuerySet[Conversation], reason: str) -> QuerySet[Conversation]:
    return queryset.filter(_reason_filters()[reason])


def queue_annotate(*, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The queue's columns: counts of answers, bad votes, unverified answers and errors."""
    answers = Message.objects.filter(role=Message.Role.ASSISTANT)
    return queryset.select_related("owner", "review", "review__assignee").annotate(
        answer_count=_count(answers, "conversation"),
        bad_feedback_count=_count(
            Feedback.objects.filter(vote=Feedback.Vote.BAD), "message__conversation"
        ),
        unverified_count=_count(answers.filter(figures_verified=False), "conversation"),
        error_count=_count(answers.filter(status=Message.Status.ERROR), "conversation"),
    )


def queue_counts() -> dict[str, int]:
    """How many conversations each queue reason holds (deleted ones included: review keeps them)."""
    filters = _reason_filters()
    base = Conversation.objects.filter(Exists(Message.objects.filter(conversation=OuterRef("pk"))))
    counts = base.aggregate(
        **{key: Count("pk", filter=condition) for key, condition in filters.items()}
    )
    return {key: counts[key] or 0 for key in QUEUE_REASONS}


def review_transcript(*, conversation: Conversation) -> QuerySet[Message]:
    """Every message once, with its receipts, the person's vote and the reviewers' flags."""
    return (
        conversation.messages.select_related("feedback")
        .prefetch_related(
            Prefetch("tool_calls", queryset=ToolCall.objects.order_by("created_at", "pk")),
            Prefetch(
                "review_flags",
                queryset=AnswerFlag.objects.select_related("author").order_by("created_at", "pk"),
            ),
        )
        .order_by("created_at", "pk")
    )


def receipts_for_conversations(*, conversation_ids: list[int]) -> QuerySet[Message]:
    """Answers of the given conversations, in order, ready to export."""
    return (
        Message.objects.filter(conversation_id__in=conversation_ids)
        .select_related("conversation", "conversation__owner", "feedback")
        .prefetch_related(
            Prefetch("tool_calls", queryset=ToolCall.objects.order_by("created_at", "pk")),
            Prefetch(
                "review_flags",
                queryset=AnswerFlag.objects.select_related("author").order_by("created_at", "pk"),
            ),
        )
        .order_by("conversation_id", "created_at", "pk")
    )
