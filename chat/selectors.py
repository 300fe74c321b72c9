"""Reads. Every function takes the person asking and only ever returns what they own.

A deleted conversation is gone for its owner: no selector here returns it or its messages.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from chat.models import Conversation, Message, ToolCall

AnyUser = User | AnonymousUser

# The conversation page shows this many of the latest messages; "Load earlier" pages back.
PAGE_MESSAGES = 50
# A search result that points far back renders from that message to the end, up to this many.
MAX_WINDOW_MESSAGES = 500
SEARCH_RESULTS = 20
# The sidebar lists the newest conversations, the "All conversations" page the rest, a page at a
# time: a page must not grow with a person's history (1,000 conversations made it 1.2 MB).
SIDEBAR_CONVERSATIONS = 50
INDEX_PAGE_CONVERSATIONS = 100


def _live() -> QuerySet[Conversation]:
    return Conversation.objects.filter(deleted_at__isnull=True)


def _owned(user: AnyUser) -> QuerySet[Conversation]:
    return _live().filter(owner_id=user.pk)


def _listed(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Those with at least one message, newest first: the sidebar."""
    has_messages = Exists(Message.objects.filter(conversation=OuterRef("pk")))
    return conversations.filter(has_messages).order_by("-updated_at", "-pk")


def conversation_list(*, user: AnyUser) -> QuerySet[Conversation]:
    """The person's conversations that have at least one message, newest first."""
    if not user.is_authenticated:
        return Conversation.objects.none()
    return _listed(_owned(user))


@dataclass(frozen=True)
class Sidebar:
    conversations: list[Conversation]
    has_more: bool  # older ones are on the "All conversations" page


def conversation_sidebar(*, user: AnyUser, current: Conversation | None = None) -> Sidebar:
    """The person's newest conversations for the sidebar, and whether there are older ones.

    The conversation open on the page (`current`) is listed too when it is older than those,
    last, so that the sidebar always shows where the person is."""
    listed = conversation_list(user=user)
    newest = list(listed[: SIDEBAR_CONVERSATIONS + 1])
    shown = newest[:SIDEBAR_CONVERSATIONS]
    if current is not None and all(c.pk != current.pk for c in shown):
        shown += listed.filter(pk=current.pk)  # none if it is not the person's, or empty
    return Sidebar(shown, len(newest) > SIDEBAR_CONVERSATIONS)


def conversation_get(*, user: AnyUser, conversation_id: int) -> Conversation | None:
    if not user.is_authenticated:
        return None
    return _owned(user).filter(pk=conversation_id).first()


def conversations_get(*, asks: Sequence[tuple[AnyUser, int]]) -> list[Conversation | None]:
    """`conversation_get` for several (person, conversation id) pairs at once (one query)."""
    owners = {user.pk for user, _ in asks if user.is_authenticated}
    found = {
        (conversation.owner_id, conversation.pk): conversation
        for conversation in _live().filter(owner_id__in=owners, pk__in={i for _, i in asks})
    }
    return [found.get((user.pk, i)) if user.is_authenticated else None for user, i in asks]


def _with_receipts(messages: QuerySet[Message]) -> QuerySet[Message]:
    """With each message's tool receipts (and each answer's vote, review/_feedback.html: one
    join instead of a query per bubble)."""
    return messages.select_related("feedback").prefetch_related(
        Prefetch("tool_calls", queryset=ToolCall.objects.order_by("created_at", "pk"))
    )


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """The transcript (current versions only), with the receipts of each message's tool calls."""
    return _with_receipts(conversation.messages.filter(is_current=True)).order_by(
        "created_at", "pk"
    )


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    has_earlier: bool

    @property
    def first_id(self) -> int | None:
        return self.messages[0].pk if self.messages else None


def message_page(
    *,
    conversation: Conversation,
    before_id: int | None = None,
    at_id: int | None = None,
    limit: int = PAGE_MESSAGES,
) -> MessagePage:
    """The latest `limit` transcript messages (before `before_id`, when given), oldest first.

    With `at_id` (a search result), the page starts at that message if it is older than the
    latest page, so the person lands on it. The cost does not grow with the conversation.
    """
    current = conversation.messages.filter(is_current=True)
    if at_id is not None and before_id is None:
        window = _with_receipts(current.filter(pk__gte=at_id)).order_by("pk")
        rows = list(window[: MAX_WINDOW_MESSAGES + 1])
        if limit < len(rows) <= MAX_WINDOW_MESSAGES:
            return MessagePage(rows, current.filter(pk__lt=at_id).exists())
    if before_id is not None:
        current = current.filter(pk__lt=before_id)
    latest = list(_with_receipts(current).order_by("-pk")[: limit + 1])
    return MessagePage(latest[:limit][::-1], len(latest) > limit)


def message_streaming(*, conversation: Conversation) -> Message | None:
    return conversation.messages.filter(status=Message.Status.STREAMING).first()


def message_get(*, user: AnyUser, message_id: int) -> Message | None:
    """One of the person's messages (any version), with its conversation."""
    if not user.is_authenticated:
        return None
    return (
        Message.objects.select_related("conversation")
        .filter(pk=message_id, conversation__in=_owned(user))
        .first()
    )


def message_last(*, conversation: Conversation) -> Message | None:
    """The last message of the transcript."""
    return conversation.messages.filter(is_current=True).order_by("-pk").first()


@dataclass(frozen=True)
class MessageVersion:
    """One version of a message, for paging between versions ("1 / 2")."""

    message: Message
    total: int
    # For a question: the answer of that version's branch, shown beneath it.
    answer: Message | None = None


def message_version(*, user: AnyUser, message_id: int, number: int) -> MessageVersion | None:
    base = message_get(user=user, message_id=message_id)
    if base is None:
        return None
    root_id = base.version_of_id or base.pk
    versions = Message.objects.filter(conversation_id=base.conversation_id).filter(
        Q(pk=root_id) | Q(version_of_id=root_id)
    )
    shown = _with_receipts(versions.filter(version_number=number)).first()
    if shown is None:
        return None
    answer = None
    if shown.role == Message.Role.USER:
        answer = _branch_answer(shown)
    return MessageVersion(shown, versions.count(), answer)


def _branch_answer(question: Message) -> Message | None:
    """The answer that followed this version of a question: between it and the next question."""
    after = Message.objects.filter(conversation_id=question.conversation_id, pk__gt=question.pk)
    next_question = (
        after.filter(role=Message.Role.USER).order_by("pk").values_list("pk", flat=True).first()
    )
    answers = after.filter(role=Message.Role.ASSISTANT)
    if next_question is not None:
        answers = answers.filter(pk__lt=next_question)
    return _with_receipts(answers).order_by("-is_current", "-pk").first()


# --- Search ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    title: str
    message_id: int | None
    text: str  # the matched message text (or the title), for a snippet


def conversation_search(*, user: AnyUser, query: str) -> list[SearchHit]:
    """The person's conversations whose title or (current) message text matches `query`.

    On PostgreSQL, full-text search (the `simple` configuration: no stemming, any language),
    plus a plain substring match so that parts of words (and Korean) are found too; elsewhere,
    every word must appear (case-insensitive).
    """
    query = " ".join(query.split())[:200]
    if not user.is_authenticated or not query:
        return []
    conversations = conversation_list(user=user)
    messages = Message.objects.filter(
        conversation__in=_owned(user), is_current=True
    ).select_related("conversation")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        words = SearchQuery(query, config="simple", search_type="websearch")
        conversations = conversations.annotate(match=SearchVector("title", config="simple")).filter(
            Q(match=words) | Q(title__icontains=query)
        )
        messages = messages.annotate(match=SearchVector("text", config="simple")).filter(
            Q(match=words) | Q(text__icontains=query)
        )
    else:
        for word in query.split()[:8]:
            conversations = conversations.filter(title__icontains=word)
            messages = messages.filter(text__icontains=word)
    hits = [SearchHit(c.pk, c.title, None, c.title) for c in conversations[:SEARCH_RESULTS]]
    hits += [
        SearchHit(m.conversation_id, m.conversation.title, m.pk, m.text)
        for m in messages.order_by("-pk")[:SEARCH_RESULTS]
    ]
    return hits[:SEARCH_RESULTS]


# --- Export ---------------------------------------------------------------------------------------


def tool_call_list(*, conversation: Conversation) -> QuerySet[ToolCall]:
    """Every tool receipt of the conversation's transcript, oldest first."""
    return ToolCall.objects.filter(
        message__conversation=conversation, message__is_current=True
    ).order_by("created_at", "pk")


def message_list_all_versions(*, conversation: Conversation) -> QuerySet[Message]:
    """Every message, earlier versions included (for the JSON export)."""
    return _with_receipts(conversation.messages.all()).order_by("created_at", "pk")
