"""Writes on conversations. The lifecycle of a turn lives in chat.turns."""

from django.contrib.auth.models import User

from chat.models import Conversation


def conversation_get_or_create_empty(*, owner: User) -> Conversation:
    """A fresh conversation, reusing the person's empty one so "New" never piles up blanks."""
    empty = (
        Conversation.objects.filter(owner=owner, messages__isnull=True, deleted_at__isnull=True)
        .order_by("-pk")
        .first()
    )
    if empty is not None:
        return empty
    return Conversation.objects.create(owner=owner)
