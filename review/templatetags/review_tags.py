from datetime import datetime

from django import template
from django.contrib.auth.models import AnonymousUser, User

from chat.cpu import rendering_for_the_loop
from chat.models import Conversation, Message
from review import selectors
from review.models import Feedback

register = template.Library()


def _signed_in(user: object) -> bool:
    """A template without a request (a socket fragment) has no user: the variable is ''."""
    return bool(getattr(user, "is_authenticated", False))


@register.simple_tag
def answer_feedback(message: Message) -> Feedback | None:
    """The vote on an answer, for its feedback buttons. Bubbles are only ever rendered for the
    conversation's owner (the page and the socket check that), and only the owner can vote.

    The transcript selects votes with the messages. The socket renders a streaming or
    just-finished answer for the event loop, where the ORM may not run: it has no vote yet.
    """
    if message.role != Message.Role.ASSISTANT:
        return None
    if Message.feedback.is_cached(message):  # selected with the transcript
        try:
            return message.feedback
        except Feedback.DoesNotExist:
            return None
    if rendering_for_the_loop():
        return None
    return selectors.feedback_of(message=message)


@register.simple_tag
def staff_last_viewed(
    conversation: Conversation, user: User | AnonymousUser | str | None = None
) -> datetime | None:
    if not _signed_in(user):
        return None
    return selectors.staff_last_viewed(user=user, conversation=conversation)  # type: ignore[arg-type]
