"""Conversations, their messages, and the receipts of the tools the assistant called."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=120, blank=True)
    thread_scope = models.CharField(
        max_length=32,
        help_text="Which kind of provider thread provider_thread_id is (an engine's thread_scope, "
        "e.g. responses:conversation); another scope starts a new thread.",
    )
    provider_thread_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="The provider-side thread (OpenAI conversation or Assistants thread) id.",
    )
    previous_provider_threads = models.JSONField(
        default=list,
        blank=True,
        help_text="Threads this conversation was bound to before its engine changed.",
    )
    deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the person deleted it: gone for them; review keeps a tombstone.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "Person"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        INTERRUPTED = "interrupted", "Interrupted"
        ERROR = "error", "Error"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    status_notice = models.TextField(
        blank=True,
        help_text="Shown to the person under an answer that ended early (interrupted or error).",
    )
    provider_detail = models.TextField(
        blank=True,
        help_text="For staff: what the provider or the HTTP layer said when the turn failed.",
    )
    engine = models.CharField(max_length=32, blank=True)
    model_name = models.CharField(max_length=100, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    reasoning = models.TextField(
        blank=True, help_text="The model's reasoning, kept apart from the answer; never replayed."
    )
    figures_verified = models.BooleanField(
        null=True,
        blank=True,
        help_text="Grounding check of the finished answer: every figure traced to a calculation, "
        "the question or the tax table (None: not checked).",
    )
    unverified_figures = models.JSONField(
        default=list,
        blank=True,
        help_text="Figures in the answer that the grounding check could not trace.",
    )
    turn_owner = models.CharField(
        max_length=200,
        blank=True,
        help_text="While streaming: the channel name of the process that runs this turn.",
    )
    lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="While streaming: the owner renews this; past it, the turn sweep ends the turn.",
    )
    # --- Versions (regenerate, retry, edit): earlier answers and questions are kept -------------
    version_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="later_versions",
        help_text="The first version of this message, when this one replaced it (regenerate, "
        "retry or edit).",
    )
    version_number = models.PositiveIntegerField(
        default=1, help_text="1 for the first version; the current version is the highest."
    )
    is_current = models.BooleanField(
        default=True,
        help_text="Part of the transcript (and of the history sent to the engine); earlier "
        "versions are kept but not.",
    )
    # --- end of versions ---------------------------------------------------------------------
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(
                fields=["conversation", "is_current", "-id"], name="message_transcript_idx"
            )
        ]
        constraints = [
            # One active turn per conversation, enforced by the database, not by hope.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status="streaming"),
                name="one_streaming_message_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.text[:60]}"

    @property
    def is_streaming(self) -> bool:
        return self.status == self.Status.STREAMING


class ToolCall(models.Model):
    """The receipt of one tool call: what the model asked, what we answered, how long it took."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tool_calls")
    call_id = models.CharField(max_length=200)
    name = models.CharField(max_length=100)
    raw_arguments = models.TextField(blank=True)
    parsed_input = models.JSONField(null=True, blank=True)
    output = models.TextField(blank=True, help_text="The text sent back to the model.")
    result = models.JSONField(null=True, blank=True, help_text="Structured result, when it ran.")
    error = models.TextField(blank=True)
    duration_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.name}({self.raw_arguments[:60]})"

    @property
    def succeeded(self) -> bool:
        return not self.error


class ProviderResource(models.Model):
    """A provider-side object created once and reused, e.g. the legacy Assistants assistant."""

    kind = models.CharField(max_length=50)
    key = models.CharField(max_length=200)
    resource_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="one_resource_per_key")]

    def __str__(self) -> str:
        return f"{self.kind} {self.resource_id}"
