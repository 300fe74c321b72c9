"""Reads. Every function takes the person asking and only ever returns what they own."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from chat.models import Conversation, Message, ToolCall

AnyUser = User | AnonymousUser


def conversation_list(*, user: AnyUser) -> QuerySet[Conversation]:
    """The person's conversations that have at least one message, newest first."""
    if not user.is_authenticated:
        return Conversation.objects.none()
    has_messages = Exists(Message.objects.filter(conversation=OuterRef("pk")))
    return Conversation.objects.filter(owner=user).filter(has_messages).order_by("-updated_at")


def conversation_get(*, user: AnyUser, conversation_id: int) -> Conversation | None:
    if not user.is_authenticated:
        return None
    return Conversation.objects.filter(owner=user, pk=conversation_id).first()


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """The transcript, with the receipts of each message's tool calls (and each answer's vote,
    review/_feedback.html: one join instead of a query per bubble)."""
    return (
        conversation.messages.select_related("feedback")
        .prefetch_related(
            Prefetch("tool_calls", queryset=ToolCall.objects.order_by("created_at", "pk"))
        )
        .order_by("created_at", "pk")
    )


def message_streaming(*, conversation: Conversation) -> Message | None:
    return conversation.messages.filter(status=Message.Status.STREAMING).first()
