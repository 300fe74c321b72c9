import asyncio
from datetime import datetime

from django import template
from django.contrib.auth.models import AnonymousUser, User

from chat.models import Conversation, Message
from review import selectors
from review.models import Feedback

register = template.Library()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@register.simple_tag
def answer_feedback(message: Message, user: User | AnonymousUser | None = None) -> Feedback | None:
    """The person's vote on an answer, for the feedback buttons.

    The socket renders bubbles inside the event loop, where the ORM may not run; it only ever
    renders the answer being written or just finished, which has no vote yet.
    """
    if user is None or message.role != Message.Role.ASSISTANT or _in_event_loop():
        return None
    return selectors.feedback_for(user=user, message=message)


@register.simple_tag
def staff_last_viewed(
    conversation: Conversation, user: User | AnonymousUser | None = None
) -> datetime | None:
    if user is None:
        return None
    return selectors.staff_last_viewed(user=user, conversation=conversation)
