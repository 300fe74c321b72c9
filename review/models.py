"""The review record kept beside a conversation: what people said about answers, what reviewers
did, and who looked. Notes, flags, events and access entries are append-only."""

from typing import Any

from django.conf import settings
from django.db import models

from chat.models import Conversation, Message


class AppendOnlyError(Exception):
    """Raised on an attempt to edit or delete an append-only review record."""


class AppendOnlyModel(models.Model):
    """Rows are written once: an audit trail that can be rewritten proves nothing."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} rows are never deleted.")


class ConversationReview(models.Model):
    """A conversation's place in the review queue: its status and who has it."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        IN_REVIEW = "in_review", "In review"
        REVIEWED = "reviewed", "Reviewed"
        ESCALATED = "escalated", "Escalated"

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="review"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_reviews",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [
            (
                "review_conversation",
                "Can review conversations (status, assignee, notes, flags, export)",
            )
        ]

    def __str__(self) -> str:
        return f"Review of {self.conversation}: {self.get_status_display()}"


class Feedback(models.Model):
    """The person's vote on one answer: one per answer, changeable."""

    class Vote(models.TextChoices):
        GOOD = "good", "Good answer"
        BAD = "bad", "Bad answer"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answer_feedback"
    )
    vote = models.CharField(max_length=8, choices=Vote.choices)
    comment = models.TextField(blank=True, max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "feedback"
        ordering = ["-updated_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_vote_display()} on answer {self.message_id}"


class ReviewNote(AppendOnlyModel):
    """A reviewer's note on a conversation; never edited or deleted."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="review_notes"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Note by {self.author} on {self.conversation_id}"


class AnswerFlag(AppendOnlyModel):
    """A reviewer's flag on one answer, with the reason."""

    class Kind(models.TextChoices):
        WRONG_FIGURE = "wrong_figure", "Wrong figure"
        UNCLEAR = "unclear", "Unclear"
        UNSAFE = "unsafe", "Unsafe"
        OTHER = "other", "Other"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="review_flags")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reason = models.TextField(max_length=2000)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on answer {self.message_id}"


class ReviewEvent(AppendOnlyModel):
    """Who changed what in a conversation's review, and when: the review history."""

    class Action(models.TextChoices):
        STATUS = "status", "Status changed"
        ASSIGNEE = "assignee", "Assignee changed"
        NOTE = "note", "Note added"
        FLAG = "flag", "Answer flagged"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="review_events"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor}"


class StaffAccess(AppendOnlyModel):
    """One staff look at a person's conversation (who, when, what). The person sees the date."""

    class What(models.TextChoices):
        VIEWED = "viewed", "Opened the conversation"
        HISTORY = "history", "Opened the review history"
        EXPORT_CSV = "export_csv", "Exported as CSV"
        EXPORT_JSON = "export_json", "Exported as JSON"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="staff_accesses"
    )
    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    what = models.CharField(max_length=16, choices=What.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "staff access"
        verbose_name_plural = "access log"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["conversation", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.viewer}: {self.get_what_display()} ({self.conversation_id})"
