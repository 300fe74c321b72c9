"""Writes on conversations. The lifecycle of a turn lives in chat.turns."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from chat import selectors, turns
from chat.checkpoints import lease_until
from chat.engines.base import Engine
from chat.models import Conversation, Message

TITLE_MAX_CHARS = Conversation._meta.get_field("title").max_length or 120
# Stored on an answer cut off by the deletion, in English (see chat.notices).
DELETED_MESSAGE = gettext_noop("The conversation was deleted.")


class ConversationRefused(Exception):
    """A change the person asked for that cannot be made; the message says why, in words."""


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


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    """Give the conversation the person's own title (it is never replaced by a made-up one)."""
    title = " ".join(title.split())
    if not title:
        raise ConversationRefused(_("A title cannot be empty."))
    conversation.title = title[:TITLE_MAX_CHARS]
    # updated_at is left alone: renaming does not move the conversation up the list.
    conversation.save(update_fields=["title"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Delete the conversation for its owner.

    The person never sees it again (every selector skips it); the title and the text and
    reasoning of every message are erased. The rows, their statuses, times and usage, and the
    tool receipts stay as a tombstone for staff review. A streaming answer is ended first: its
    turn finds the row no longer streaming and stops without writing its text.
    """
    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(conversation=conversation, status=Message.Status.STREAMING).update(
            status=Message.Status.INTERRUPTED,
            status_notice=DELETED_MESSAGE,
            turn_owner="",
            lease_expires_at=None,
            updated_at=now,
        )
        Message.objects.filter(conversation=conversation).update(text="", reasoning="")
        Conversation.objects.filter(pk=conversation.pk).update(deleted_at=now, title="")
    conversation.deleted_at = now
    conversation.title = ""


# --- Versions: regenerate, retry, edit --------------------------------------------------------


@dataclass(frozen=True)
class VersionedTurn:
    """A turn that replaces the end of the transcript with a new version of it."""

    replaced_ids: list[int]  # the bubbles on the page that the new ones take the place of
    new_messages: list[Message]  # in the same order
    assistant_message: Message
    title_changed: bool = False


def _check_answer_rate(owner_id: int) -> None:
    """Regenerating counts against the same budget as asking (CHAT_RATE_LIMIT_TURNS per
    window); every turn, asked or regenerated, writes one answer, so answers are counted."""
    now = timezone.now()
    recent = list(
        Message.objects.filter(
            conversation__owner_id=owner_id,
            role=Message.Role.ASSISTANT,
            created_at__gte=now - timedelta(seconds=settings.CHAT_RATE_LIMIT_WINDOW_SECONDS),
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: settings.CHAT_RATE_LIMIT_TURNS]
    )
    refusal = turns.too_fast(recent, now)
    if refusal is not None:
        raise refusal


def _last_of(
    user: User | AnonymousUser | AbstractBaseUser, conversation_id: int, message_id: int
) -> tuple[Conversation, Message]:
    conversation = selectors.conversation_get(user=user, conversation_id=conversation_id)  # type: ignore[arg-type]
    if conversation is None:
        raise turns.TurnRejected(_("This conversation no longer exists."))
    if selectors.message_streaming(conversation=conversation) is not None:
        raise turns.TurnRejected(_(turns.TURN_RUNNING_MESSAGE))
    last = selectors.message_last(conversation=conversation)
    if last is None:
        raise turns.TurnRejected(_("This conversation has no messages yet."))
    return conversation, last


def _next_version(message: Message) -> tuple[int, int]:
    """(first version's id, next version number) for a new version of `message`."""
    root_id = message.version_of_id or message.pk
    highest = Message.objects.filter(Q(pk=root_id) | Q(version_of_id=root_id)).aggregate(
        n=Max("version_number")
    )["n"]
    return root_id, (highest or 1) + 1


def _start_fresh_provider_thread(conversation: Conversation) -> None:
    """The provider's thread holds the replaced messages: the next turn replays our current
    transcript into a new thread instead (the old id is kept for the record)."""
    if not conversation.provider_thread_id:
        return
    conversation.previous_provider_threads = [
        *conversation.previous_provider_threads,
        {
            "engine": conversation.thread_scope,
            "thread_id": conversation.provider_thread_id,
            "until": timezone.now().isoformat(),
            "reason": "version",
        },
    ]
    conversation.provider_thread_id = ""
    conversation.save(update_fields=["provider_thread_id", "previous_provider_threads"])


def message_regenerate(
    *,
    user: User | AnonymousUser | AbstractBaseUser,
    conversation_id: int,
    message_id: int,
    engine: Engine,
    owner: str = "",
) -> VersionedTurn:
    """A new answer to the last question, replacing the last answer (kept as an earlier
    version). Also the Retry of an answer that ended in an error or was interrupted.

    Same rules as asking: the rate limit, and one streaming answer per conversation.
    """
    conversation, last = _last_of(user, conversation_id, message_id)
    if last.pk != message_id or last.role != Message.Role.ASSISTANT:
        raise turns.TurnRejected(_("Only the last answer can be regenerated."))
    _check_answer_rate(conversation.owner_id)
    root_id, number = _next_version(last)
    try:
        with transaction.atomic():
            if not Message.objects.filter(pk=last.pk, is_current=True).update(is_current=False):
                raise turns.TurnRejected(_("That answer was already replaced."))
            answer = Message.objects.create(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                status=Message.Status.STREAMING,
                engine=engine.name,
                model_name=engine.model_name,
                turn_owner=owner,
                lease_expires_at=lease_until(),
                version_of_id=root_id,
                version_number=number,
            )
    except IntegrityError:
        raise turns.TurnRejected(_(turns.TURN_RUNNING_MESSAGE)) from None
    _start_fresh_provider_thread(conversation)
    return VersionedTurn([last.pk], [answer], answer)


def message_edit(
    *,
    user: User | AnonymousUser | AbstractBaseUser,
    conversation_id: int,
    message_id: int,
    text: str,
    engine: Engine,
    owner: str = "",
) -> VersionedTurn:
    """Resend the person's last question with new text: the earlier question and its answers
    are kept as an earlier version (a branch), the new question is answered as usual."""
    conversation, _last = _last_of(user, conversation_id, message_id)
    question = (
        conversation.messages.filter(pk=message_id, role=Message.Role.USER, is_current=True)
        .order_by()
        .first()
    )
    later = conversation.messages.filter(is_current=True, pk__gt=message_id)
    if question is None or later.filter(role=Message.Role.USER).exists():
        raise turns.TurnRejected(_("Only your last message can be edited."))
    replaced = [question.pk, *later.order_by("pk").values_list("pk", flat=True)]
    root_id, number = _next_version(question)
    with transaction.atomic():
        Message.objects.filter(pk__in=replaced).update(is_current=False)
        started = turns.turn_start(conversation=conversation, text=text, engine=engine, owner=owner)
        started.user_message.version_of_id = root_id
        started.user_message.version_number = number
        started.user_message.save(update_fields=["version_of", "version_number"])
    _start_fresh_provider_thread(conversation)
    new = [started.user_message, started.assistant_message]
    return VersionedTurn(replaced, new, started.assistant_message, started.title_changed)
