"""The lifecycle of a turn, top to bottom: start, run, stop, finish, sweep.

- `turn_start` stores the person's question, then an empty answer with status `streaming`, owned
  by the calling process and leased to it (the database allows one streaming answer per
  conversation).
- `TurnRun.run` streams the engine's events: text and reasoning are coalesced and pushed to the
  listener, tools run through `run_tool` (one receipt each), text is checkpointed about once a
  second, and every checkpoint renews the lease.
- `TurnRun.stop` is idempotent: the first call cancels the streaming part, later ones do nothing;
  a cancel a library swallowed is raised again at the engine's next event.
- The finish happens exactly once and always (engine, tool, listener or the error path raising;
  any number of cancels, during the finish too): status and partial text written, shielded from
  cancellation, then the listener told.
- `turn_sweep` ends answers whose lease expired: their owner process is gone.

Stopping from a socket is routed to the owning process by `chat.runner.turn_stop`.
"""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, aclosing, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from chat.batch_writes import insert_alike, update_each
from chat.cancels import raise_if_cancelling
from chat.checkpoints import get_ledger, lease_until
from chat.cpu import off_loop
from chat.db import db_async
from chat.engines.base import (
    Engine,
    PastMessage,
    PastToolCall,
    ProviderThreadBound,
    ReasoningDelta,
    TextDelta,
    ToolSpec,
    TurnDone,
    TurnFailed,
    TurnRequest,
    UsageReported,
)
from chat.grounding import answer_check_figures
from chat.models import Conversation, Message, ToolCall
from chat.provider_state import StoredProviderResources
from chat.streaming import BlockStream
from chat.titles import title_from_question
from chat.tools.registry import ToolOutcome, registry

logger = logging.getLogger(__name__)

# Stored on the answer in English (whoever is reading, a background task writes them) and shown
# in the reader's language by chat.notices: gettext_noop only marks them for the catalogue.
STOPPED_MESSAGE = gettext_noop("Stopped before the answer was finished.")
UNEXPECTED_MESSAGE = gettext_noop(
    "Something went wrong on our side while answering. Please try again."
)
ENDED_UNEXPECTEDLY_MESSAGE = gettext_noop("The answer ended unexpectedly.")
OWNER_GONE_MESSAGE = gettext_noop("The server writing this answer stopped before it was finished.")
# Said at once to the socket that asked, in its language (gettext where it is raised).
TURN_RUNNING_MESSAGE = gettext_noop(
    "An answer is still being written in this conversation. Wait for it, or stop it."
)
TITLE_CHARS = 60
FINAL_SAVE_ATTEMPTS = 5
PARAGRAPH_BREAK = "\n\n"


class TurnRejected(Exception):
    """A turn that cannot start; the message says why, in words for the person."""


class TurnTakenOver(Exception):
    """The answer row was ended elsewhere (a stop without a live owner, or a sweep)."""


@dataclass
class TurnUpdate:
    """A push to the listeners: what is new since the previous one, numbered.

    A delta update carries the new text and the HTML of the blocks that changed (from
    `blocks_from` on); a whole update (a receipt, a snapshot, the end) asks for the whole bubble.
    `seq` counts an answer's pushes, so a listener can tell a missed one.
    """

    message: Message
    tool_calls: Sequence[ToolCall]
    delta: str = ""
    finished: bool = False
    seq: int = 0
    whole: bool = True
    blocks_from: int = 0
    blocks: Sequence[str] = ()
    reasoning_delta: str = ""


class TurnListener(Protocol):
    async def turn_changed(self, update: TurnUpdate) -> None: ...


@dataclass(frozen=True)
class StartedTurn:
    user_message: Message
    assistant_message: Message
    title_changed: bool


# --- Start ----------------------------------------------------------------------------------------


def _title_from(text: str) -> str:
    # features: a short rule-based title ("Tax on €85,000"), see chat.titles.
    return title_from_question(text)


@dataclass(frozen=True)
class StartRequest:
    """A question to start a turn with, in a conversation already checked to be the asker's."""

    conversation: Conversation
    text: str
    engine: Engine
    owner: str = ""
    # The asker's language, for a refusal written while other people's starts are written too.
    language: str | None = None


def in_language(language: str | None) -> AbstractContextManager[None]:
    """Words for one asker, written in a batch of several people's starts."""
    return translation.override(language) if language else nullcontext()


def _cleaned(text: str, language: str | None) -> str:
    """The question as stored, or TurnRejected saying what is wrong with it (in `language`)."""
    # NUL is never meaningful in a message, and PostgreSQL cannot store it in text.
    text = text.replace("\x00", "").strip()
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if text and len(text) <= limit:
        return text
    with in_language(language):
        if not text:
            raise TurnRejected(_("Type a message first."))
        raise TurnRejected(
            _("Your message is {length} characters long; the limit is {limit}.").format(
                length=number_format(len(text), force_grouping=True),
                limit=number_format(limit, force_grouping=True),
            )
        )


def _recent_questions(owner_ids: Collection[int], since: datetime) -> dict[int, list[datetime]]:
    """When each person asked within the rate window, newest first: counted in the database so
    that every process and tab shares one budget."""
    asked: dict[int, list[datetime]] = defaultdict(list)
    rows = Message.objects.filter(
        conversation__owner_id__in=owner_ids, role=Message.Role.USER, created_at__gte=since
    ).values_list("conversation__owner_id", "created_at")
    for owner_id, created_at in rows:
        asked[owner_id].append(created_at)
    for times in asked.values():
        times.sort(reverse=True)
    return asked


def too_fast(
    asked: Sequence[datetime], now: datetime, language: str | None = None
) -> TurnRejected | None:
    """The refusal past CHAT_RATE_LIMIT_TURNS turns per person per window (`asked`: when the
    person's recent turns started, newest first), in `language` (else the active one), or
    None."""
    window = timedelta(seconds=settings.CHAT_RATE_LIMIT_WINDOW_SECONDS)
    counted = asked[: settings.CHAT_RATE_LIMIT_TURNS]
    if len(counted) < settings.CHAT_RATE_LIMIT_TURNS:
        return None
    with in_language(language):
        return TurnRejected(too_fast_message((counted[-1] + window - now).total_seconds()))


def _still_running(language: str | None) -> TurnRejected:
    """The refusal of a second answer in a conversation already answering, in `language`."""
    with in_language(language):
        return TurnRejected(_(TURN_RUNNING_MESSAGE))


def too_fast_message(wait: float) -> str:
    """The refusal of a question past the rate limit, in the active language."""
    return _(
        "You are sending questions faster than we can answer. Try again in {seconds} s."
    ).format(seconds=ceil(wait))


def turn_start(
    *, conversation: Conversation, text: str, engine: Engine, owner: str = ""
) -> StartedTurn:
    """Store the person's message and an empty streaming answer owned by `owner`, or refuse
    (TurnRejected). See `turns_start`."""
    started = turns_start([StartRequest(conversation, text, engine, owner)])[0]
    if isinstance(started, TurnRejected):
        raise started
    return started


def turns_start(requests: Sequence[StartRequest]) -> list[StartedTurn | TurnRejected]:
    """Start turns, each stored or refused: the starts a busy process gathered, written
    together in one transaction (a few statements, however many there are).

    The person's message is stored here, before any provider is called. The database refuses a
    second streaming answer in the same conversation, so two tabs cannot start two turns: the
    conversations already answering are read first, and if another process started one
    meanwhile, each start is tried again alone.
    """
    results: list[StartedTurn | TurnRejected | None] = [None] * len(requests)
    texts: dict[int, str] = {}
    for index, request in enumerate(requests):
        try:
            texts[index] = _cleaned(request.text, request.language)
        except TurnRejected as rejected:
            results[index] = rejected
    now = timezone.now()
    since = now - timedelta(seconds=settings.CHAT_RATE_LIMIT_WINDOW_SECONDS)
    asked = _recent_questions({requests[i].conversation.owner_id for i in texts}, since)
    answering = set(
        Message.objects.filter(
            conversation_id__in={requests[i].conversation.pk for i in texts},
            status=Message.Status.STREAMING,
        ).values_list("conversation_id", flat=True)
    )
    accepted: list[int] = []
    for index in texts:
        conversation = requests[index].conversation
        owner_asked = asked[conversation.owner_id]
        # Refusals in the asker's language; the language is switched only to say one.
        results[index] = too_fast(owner_asked, now, requests[index].language)
        if results[index] is None and conversation.pk in answering:
            results[index] = _still_running(requests[index].language)
        if results[index] is None:
            answering.add(conversation.pk)
            owner_asked.insert(0, now)  # counts against the person's next start in this batch
            accepted.append(index)
    if accepted:
        try:
            with transaction.atomic():
                stored = _store_starts([(requests[i], texts[i]) for i in accepted])
        except IntegrityError:
            if len(accepted) == 1:
                stored = [_still_running(requests[accepted[0]].language)]
            else:  # another process started one of these meanwhile: find which, one by one
                stored = [turns_start([requests[i]])[0] for i in accepted]
        for index, started in zip(accepted, stored, strict=True):
            results[index] = started
    done = [r for r in results if r is not None]
    assert len(done) == len(requests)  # every start above is stored or refused
    return done


def _store_starts(asks: Sequence[tuple[StartRequest, str]]) -> list[StartedTurn | TurnRejected]:
    conversations = [request.conversation.pk for request, _text in asks]
    questions = insert_alike(
        Message(role=Message.Role.USER),
        {"conversation_id": conversations, "text": [text for _request, text in asks]},
    )
    answers = insert_alike(
        Message(
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            lease_expires_at=lease_until(),
        ),
        {
            "conversation_id": conversations,
            "engine": [request.engine.name for request, _text in asks],
            "model_name": [request.engine.model_name for request, _text in asks],
            "turn_owner": [request.owner for request, _text in asks],
        },
    )
    started: list[StartedTurn | TurnRejected] = []
    changes: dict[int, dict[str, str]] = {}  # conversation -> its new title, thread scope
    for (request, text), question, answer in zip(asks, questions, answers, strict=True):
        conversation = question.conversation = answer.conversation = request.conversation
        changed = changes.setdefault(conversation.pk, {})
        title_changed = not conversation.title
        if title_changed:
            conversation.title = changed["title"] = _title_from(text)
        if not conversation.provider_thread_id:
            conversation.thread_scope = changed["thread_scope"] = request.engine.thread_scope
        started.append(StartedTurn(question, answer, title_changed))
    now = timezone.now()
    update_each(Conversation, changes, {"updated_at": now})
    for request, _text in asks:
        request.conversation.updated_at = now
    return started


# --- Reads and writes of a running turn (each one call on the database thread) -------------------


@dataclass(frozen=True)
class _PastRow:
    """An earlier message as the history needs it: read as plain values, not as a model."""

    pk: int
    role: str
    text: str
    tool_calls: tuple[PastToolCall, ...]


def _past(messages: Sequence[_PastRow]) -> tuple[list[PastMessage], str]:
    """Earlier finished messages (oldest first, the person's question last): the history the
    engine gets, and the person's text for this turn."""
    if not messages or messages[-1].role != Message.Role.USER:
        raise TurnRejected(_("This answer has no question before it."))
    past = [PastMessage(role=m.role, text=m.text, tool_calls=m.tool_calls) for m in messages[:-1]]
    return past, messages[-1].text


@dataclass
class TurnContext:
    """A streaming answer and what its engine needs: read once, when the turn starts."""

    message: Message
    conversation: Conversation
    history: list[PastMessage]
    user_text: str


def turn_context(message: Message) -> TurnContext:
    """What the engine needs for this streaming answer (`message.conversation` loaded)."""
    return turn_contexts([message])[0]


def turn_contexts(answers: Sequence[Message]) -> list[TurnContext]:
    """What the engines need for these streaming answers (one per conversation, each with its
    `conversation` loaded), read in two queries: in the same database call that started the
    turns, so a busy process does not queue a second call before the first words.

    Read as values, not models: 200 questions asked at once in conversations of a few turns
    each took 160 ms of the database thread as models with prefetched receipts, the thread the
    event loop shares the interpreter with."""
    conversation_ids = {a.conversation_id for a in answers}
    # features: earlier versions are not part of the history
    earlier = Message.objects.filter(conversation_id__in=conversation_ids, is_current=True).exclude(
        status=Message.Status.STREAMING
    )
    receipts: dict[int, list[PastToolCall]] = defaultdict(list)
    for message_id, call_id, name, arguments, output, pk in (
        ToolCall.objects.filter(message__in=earlier)
        .order_by("created_at", "pk")
        .values_list("message_id", "call_id", "name", "raw_arguments", "output", "pk")
    ):
        # Providers reuse ids across responses (call_0 again); replays use our own.
        receipts[message_id].append(PastToolCall(call_id, name, arguments, output, f"call_{pk}"))
    rows: dict[int, list[_PastRow]] = defaultdict(list)
    for pk, conversation_id, role, text in earlier.order_by("created_at", "pk").values_list(
        "pk", "conversation_id", "role", "text"
    ):
        rows[conversation_id].append(_PastRow(pk, role, text, tuple(receipts.get(pk, ()))))
    contexts = []
    for answer in answers:
        history, user_text = _past([m for m in rows[answer.conversation_id] if m.pk < answer.pk])
        contexts.append(TurnContext(answer, answer.conversation, history, user_text))
    return contexts


@db_async
def _load(message_id: int) -> TurnContext | None:
    """The answer and what the engine needs; None if the answer is no longer streaming."""
    message = Message.objects.select_related("conversation").get(pk=message_id)
    if message.status != Message.Status.STREAMING:
        return None
    return turn_context(message)


@db_async
def _bind_provider_thread(conversation_id: int, thread_scope: str, thread_id: str) -> None:
    """Bind to a provider thread; a thread of another engine is kept for the record."""
    conversation = Conversation.objects.get(pk=conversation_id)
    if conversation.provider_thread_id and conversation.thread_scope != thread_scope:
        conversation.previous_provider_threads = [
            *conversation.previous_provider_threads,
            {
                "engine": conversation.thread_scope,
                "thread_id": conversation.provider_thread_id,
                "until": timezone.now().isoformat(),
            },
        ]
    conversation.thread_scope = thread_scope
    conversation.provider_thread_id = thread_id
    conversation.save(
        update_fields=[
            "thread_scope",
            "provider_thread_id",
            "previous_provider_threads",
            "updated_at",
        ]
    )


@db_async
def _save_receipt(message_id: int, call_id: str, arguments: str, outcome: ToolOutcome) -> ToolCall:
    return ToolCall.objects.create(
        message_id=message_id,
        call_id=call_id[:200],
        name=outcome.name[:100],
        raw_arguments=arguments,
        parsed_input=outcome.parsed_input,
        output=outcome.output,
        result=outcome.result,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
    )


@dataclass(frozen=True)
class _Ending:
    status: str
    error: str = ""
    provider_detail: str = ""


@db_async
def _save_final(message_id: int, fields: dict[str, Any]) -> Message:
    """Write the end of a streaming answer (only if still streaming) and read it back whole."""
    with transaction.atomic():
        updated = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
            **fields, turn_owner="", lease_expires_at=None, updated_at=timezone.now()
        )
        message = Message.objects.select_related("conversation").get(pk=message_id)
        if updated:
            Conversation.objects.filter(pk=message.conversation_id).update(
                updated_at=timezone.now()
            )
    return message


@db_async
def _receipts(message_id: int) -> list[ToolCall]:
    return list(ToolCall.objects.filter(message_id=message_id).order_by("created_at", "pk"))


# --- Run ------------------------------------------------------------------------------------------


class _Growing:
    """Text that only grows, joined once per read (a push), not once per delta or per read."""

    def __init__(self) -> None:
        self._joined = ""
        self._parts: list[str] = []
        self._length = 0

    def append(self, part: str) -> None:
        self._parts.append(part)
        self._length += len(part)

    def __len__(self) -> int:
        return self._length

    def __str__(self) -> str:
        if self._parts:
            self._joined += "".join(self._parts)
            self._parts.clear()
        return self._joined


class TurnRun:
    """One streaming answer, run once by the process that owns it."""

    def __init__(
        self,
        *,
        message_id: int,
        engine: Engine,
        listener: TurnListener,
        owner: str = "",
        context: TurnContext | None = None,
    ) -> None:
        self.message_id = message_id
        self.context = context  # read when the turn started, else by the run
        self.engine = engine
        self.listener = listener
        self.owner = owner
        self.finished = False
        self.done = asyncio.Event()  # set once the finish has run (stored, listener told)
        self.message: Message | None = None
        self.tool_calls: list[ToolCall] = []
        self._text = _Growing()
        self._reasoning = _Growing()
        self._pending: list[str] = []
        self._pending_reasoning: list[str] = []
        self._blocks = BlockStream()
        self._last_render = 0.0
        self.seq = 0
        self._push_lock = asyncio.Lock()
        self._flush: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._usage: dict[str, int] = {}
        self._break_before_text = False
        self._tool_calls_refused = 0
        self._last_push = 0.0
        self._checkpointed = 0  # characters of text and reasoning at the last checkpoint
        self._stop_requested = False
        self._taken_over = False
        self._task: asyncio.Task[Any] | None = None
        self._finish_task: asyncio.Task[Message | None] | None = None
        self._question = ""
        self._earlier_results: list[str] = []

    @property
    def text(self) -> str:
        return str(self._text)

    @property
    def reasoning(self) -> str:
        return str(self._reasoning)

    # -- stop --

    def stop(self) -> None:
        """Ask the turn to stop; idempotent, and harmless before the run starts or after it ends."""
        if self._stop_requested:
            return
        self._stop_requested = True
        if self._task is not None and self._finish_task is None:
            self._task.cancel()

    def _raise_if_stopped(self) -> None:
        """The stop's cancel, again, if a library swallowed it: Python 3.11's `asyncio.wait_for`
        (redis-py awaits every write to Redis with it) returns normally when its inner future
        completes as the cancel arrives, and the answer would run on to its end (CPython
        gh-86296, fixed in 3.12)."""
        if self._stop_requested or self._taken_over:
            raise asyncio.CancelledError

    # -- run --

    async def run(self) -> Message | None:
        """Stream the answer to its end; returns the stored answer (None if it was not saved)."""
        self._task = asyncio.current_task()
        ending = _Ending(Message.Status.INTERRUPTED, ENDED_UNEXPECTEDLY_MESSAGE)
        ledger = get_ledger()  # checkpoints the text and renews the lease while this runs
        ledger.add(self)
        try:
            if self._stop_requested:
                raise asyncio.CancelledError
            try:
                ending = await self._stream()
            except TurnTakenOver:
                raise
            except Exception:
                raise_if_cancelling()  # a Stop that a library turned into another error
                raise
        except asyncio.CancelledError:
            ending = _Ending(Message.Status.INTERRUPTED, STOPPED_MESSAGE)
            if self._taken_over:
                ending = _Ending("", "")  # ended elsewhere: only tell the listener what is stored
            if self._task is not None:
                while self._task.uncancel():
                    pass  # the stop is handled: the finish below must run to its end
        except TurnTakenOver:
            ending = _Ending("", "")  # ended elsewhere: only tell the listener what is stored
        except Exception:
            logger.exception("Turn %s crashed", self.message_id)
            ending = _Ending(Message.Status.ERROR, UNEXPECTED_MESSAGE)
        finally:
            ledger.discard(self)
        return await self._finish_once(ending)

    async def _stream(self) -> _Ending:
        loaded = self.context or await _load(self.message_id)
        self.context = None
        if loaded is None:
            raise TurnTakenOver
        self.message = loaded.message
        self._question = loaded.user_text
        # An answer may recall an earlier calculation of the conversation: those figures count.
        self._earlier_results = [c.output for m in loaded.history for c in m.tool_calls]
        request = TurnRequest(
            user_text=loaded.user_text,
            history=loaded.history,
            provider_thread_id=(
                loaded.conversation.provider_thread_id
                if loaded.conversation.thread_scope == self.engine.thread_scope
                else ""
            ),
            tools=[ToolSpec(t.name, t.description, t.parameters) for t in registry.schemas()],
            max_tool_rounds=settings.ASSISTANT_MAX_TOOL_ROUNDS,
            max_tool_calls=settings.ASSISTANT_MAX_TOOL_CALLS_PER_TURN,
            run_tool=self.run_tool,
            resources=StoredProviderResources(),
        )
        async with aclosing(self.engine.stream(request)) as events:
            async for event in events:
                self._raise_if_stopped()
                if isinstance(event, TextDelta):
                    await self._on_text(event.text)
                elif isinstance(event, ReasoningDelta):
                    if isinstance(event.text, str) and event.text:
                        self._reasoning.append(event.text)
                        self._pending_reasoning.append(event.text)
                        await self._pushed_soon()
                elif isinstance(event, UsageReported):
                    self._usage["input_tokens"] = (
                        self._usage.get("input_tokens", 0) + event.input_tokens
                    )
                    self._usage["output_tokens"] = (
                        self._usage.get("output_tokens", 0) + event.output_tokens
                    )
                elif isinstance(event, ProviderThreadBound):
                    await _bind_provider_thread(
                        loaded.conversation.pk, self.engine.thread_scope, event.thread_id
                    )
                elif isinstance(event, TurnFailed):
                    logger.warning(
                        "Turn %s failed: %s %s", self.message_id, event.message, event.detail
                    )
                    status = (
                        Message.Status.INTERRUPTED if event.interrupted else Message.Status.ERROR
                    )
                    return _Ending(status, event.message, event.detail)
                elif isinstance(event, TurnDone):
                    return _Ending(Message.Status.COMPLETE)
        return _Ending(Message.Status.INTERRUPTED, ENDED_UNEXPECTEDLY_MESSAGE)

    async def _on_text(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            return
        if self._break_before_text:
            # Text written before a tool call and text after it are separate paragraphs.
            self._break_before_text = False
            if self._text and not self.text.endswith(PARAGRAPH_BREAK):
                text = PARAGRAPH_BREAK + text.lstrip("\n")
        self._text.append(text)
        self._pending.append(text)
        await self._pushed_soon()

    async def run_tool(self, call_id: str, name: str, arguments: str) -> str:
        """Run a tool the model asked for; store its receipt; return the output for the model.

        Past the per-answer cap the model gets a refusal, and nothing is stored or pushed, so a
        model asking for a thousand calls costs a thousand short strings, not a thousand rows.
        """
        self._raise_if_stopped()
        limit = settings.ASSISTANT_MAX_TOOL_CALLS_PER_TURN
        if len(self.tool_calls) >= limit:
            self._tool_calls_refused += 1
            return f'{{"error": "Too many tool calls in one answer (limit {limit}). Answer now."}}'
        outcome = registry.run(name, arguments)
        receipt = await _save_receipt(self.message_id, call_id, arguments, outcome)
        self.tool_calls.append(receipt)
        if self._text:
            self._break_before_text = True
        await self._push(whole=True)
        self._raise_if_stopped()  # a stopped answer sends the provider nothing more
        return outcome.output

    # -- checkpoints (written by the ledger, for all of the process's answers at once) --

    def checkpoint_text(self) -> tuple[str, str] | None:
        """The text and reasoning if they grew since the last checkpoint, else None."""
        if self.message is None or self._finish_task is not None:
            return None
        size = len(self._text) + len(self._reasoning)
        if size == self._checkpointed:
            return None
        self._checkpointed = size
        return self.text, self.reasoning

    def taken_over(self) -> None:
        """The row was ended elsewhere (a stop with no live owner, a sweep): stop streaming."""
        self._taken_over = True
        if self._task is not None and self._finish_task is None:
            self._task.cancel()

    # -- pushes --

    async def _pushed_soon(self) -> None:
        """Push now if the last push is old enough, else once the interval is up (so the
        last words of a burst are never held back until the next delta)."""
        wait = self._last_push + settings.CHAT_PUSH_SECONDS - time.monotonic()
        if wait <= 0:
            await self._push()
        elif self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(wait, self._flush_now)

    def _flush_now(self) -> None:
        self._flush = None
        if self._finish_task is None:
            self._flush_task = asyncio.create_task(self._push())

    async def _push(self, *, whole: bool = False, finished: bool = False) -> None:
        """Send what is new to the listener, numbered; pushes never overlap or reorder."""
        if self.message is None:
            return
        async with self._push_lock:
            if not whole and not finished and not (self._pending or self._pending_reasoning):
                return
            if not finished:
                self.message.text = self.text  # joined here, per push, not per delta
                self.message.reasoning = self.reasoning
            delta = "".join(self._pending)
            reasoning_delta = "".join(self._pending_reasoning)
            self._pending.clear()
            self._pending_reasoning.clear()
            self._last_push = time.monotonic()
            self.seq += 1
            blocks_from, blocks = 0, list[str]()
            if not whole and not finished:
                blocks_from, blocks = self._render_blocks(delta)
            update = TurnUpdate(
                self.message,
                list(self.tool_calls),
                delta=delta,
                finished=finished,
                seq=self.seq,
                whole=whole or finished,
                blocks_from=blocks_from,
                blocks=blocks,
                reasoning_delta=reasoning_delta,
            )
            try:
                await self.listener.turn_changed(update)
            except Exception:  # a listener that fails must not lose the turn
                raise_if_cancelling()  # nor swallow a Stop
                logger.exception("Listener failed for message %s", self.message_id)

    def _render_blocks(self, delta: str) -> tuple[int, list[str]]:
        """The changed blocks, rendered at most every CHAT_RENDER_SECONDS (and at each new
        paragraph); between renders a push carries the text alone (`from` -1), which the page
        appends as plain text to its last block until the next render replaces it."""
        if self.message is None:
            return -1, []
        now = time.monotonic()
        due = now - self._last_render >= settings.CHAT_RENDER_SECONDS
        # A break inside the delta, split across its start, or just before it: the delta opens
        # a new paragraph, and appended to the last block it would run on from the previous
        # one ("€85,000.00.On that") until the next render.
        around = self.message.text[-(len(delta) + len(PARAGRAPH_BREAK)) :]
        if not (due or PARAGRAPH_BREAK in around):
            return -1, []
        self._last_render = now
        return self._blocks.advance(self.message.text)

    def snapshot(self) -> TurnUpdate | None:
        """The answer as it stands, for a socket that (re)joins mid-answer."""
        if self.message is None or self.finished:
            return None
        self.message.text = self.text
        self.message.reasoning = self.reasoning
        return TurnUpdate(self.message, list(self.tool_calls), seq=self.seq, whole=True)

    # -- finish --

    async def _finish_once(self, ending: _Ending) -> Message | None:
        """Run the finish once, shielded: a cancel that arrives now cannot interrupt it."""
        if self._finish_task is None:
            self._finish_task = asyncio.ensure_future(self._finish(ending))
        while not self._finish_task.done():
            try:
                await asyncio.shield(self._finish_task)
            except asyncio.CancelledError:
                if self._task is not None:
                    self._task.uncancel()
            except Exception:
                break
        if self._finish_task.cancelled() or self._finish_task.exception() is not None:
            logger.error("Turn %s could not be finished; the sweep will end it", self.message_id)
            return None
        return self._finish_task.result()

    async def _finish(self, ending: _Ending) -> Message | None:
        if self._flush is not None:
            self._flush.cancel()
        # This run wrote the answer to its end: its receipts are all in self.tool_calls.
        wrote_it_all = self.message is not None and bool(ending.status)
        fields: dict[str, Any] = {}
        if ending.status:
            fields = {
                "status": ending.status,
                "status_notice": ending.error,
                "provider_detail": ending.provider_detail,
            }
            if self.message is not None:  # loaded: what was written so far is ours to keep
                fields |= {"text": self.text, "reasoning": self.reasoning, "usage": self._usage}
                fields |= await off_loop(self._figures_checked)  # milliseconds: see chat.cpu
            if self._tool_calls_refused:
                fields.setdefault("usage", dict(self._usage))
                fields["usage"]["tool_calls_refused"] = self._tool_calls_refused
        try:
            try:
                message = await self._save_final_retrying(fields)
            except Exception:
                # The full answer could not be written (a bug, bad data): end it plainly, with
                # the text of its last checkpoint, rather than leave the conversation locked.
                logger.exception("Final save of turn %s failed; ending it plainly", self.message_id)
                fallback = {"status": Message.Status.ERROR, "status_notice": UNEXPECTED_MESSAGE}
                message = await self._save_final_retrying(fallback)
            await self._push()  # the last words, so the deltas add up to the whole text
            self.finished = True
            self.message = message
            if not wrote_it_all:
                self.tool_calls = await _receipts(self.message_id)
            await self._push(finished=True)
        finally:
            self.done.set()
        return message

    def _figures_checked(self) -> dict[str, Any]:
        """The grounding check of the answer: every figure traced to a calculation of this
        turn (or an earlier one), the person's question, or the tax table."""
        check = answer_check_figures(
            answer=self.text,
            tool_results=[c.result if c.result is not None else c.output for c in self.tool_calls],
            question=self._question,
            earlier_results=self._earlier_results,
        )
        return {"figures_verified": check.verified, "unverified_figures": check.unsupported}

    async def _save_final_retrying(self, fields: dict[str, Any]) -> Message:
        """A locked database is retried (waiting here, not on the shared database thread)."""
        for attempt in range(1, FINAL_SAVE_ATTEMPTS + 1):
            try:
                return await _save_final(self.message_id, fields)
            except OperationalError:
                if attempt == FINAL_SAVE_ATTEMPTS:
                    raise
                logger.warning(
                    "Final save of message %s failed (attempt %s)", self.message_id, attempt
                )
                await asyncio.sleep(0.2 * attempt)
        raise AssertionError("unreachable")


async def turn_run(
    *, message_id: int, listener: TurnListener, engine: Engine | None = None, owner: str = ""
) -> Message | None:
    """Run a streaming answer to its end in the calling task (the shell, tests)."""
    from chat.engines import get_engine

    turn = TurnRun(
        message_id=message_id, engine=engine or get_engine(), listener=listener, owner=owner
    )
    return await turn.run()


# --- Ending turns that have no live owner ---------------------------------------------------------


def _expired() -> Q:
    return Q(lease_expires_at__lt=timezone.now()) | Q(lease_expires_at__isnull=True)


def turn_end_orphaned(*, message_id: int, error: str, only_if_expired: bool = False) -> bool:
    """End a streaming answer whose owner cannot (or can no longer) finish it; keeps its last
    checkpointed text. Returns whether this call ended it."""
    answers = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING)
    if only_if_expired:
        answers = answers.filter(_expired())
    return (
        answers.update(
            status=Message.Status.INTERRUPTED,
            status_notice=error,
            turn_owner="",
            lease_expires_at=None,
            updated_at=timezone.now(),
        )
        == 1
    )


def turn_sweep(*, alive: Callable[[], Collection[int]] = tuple) -> list[Message]:
    """End every streaming answer whose lease expired (its process is gone); returns them.

    Live answers are never touched: their owner renews the lease well within its length, and a
    process never sweeps the answers it is running (`alive()`), however late its renewals are
    under load. `alive` is asked here, when the sweep runs: a list taken when the sweep was
    queued would miss the answers started while it waited for the database thread (at 500
    answers at once, a wait of over ten seconds, and the process swept its own live answers).
    """
    candidates = list(
        Message.objects.filter(status=Message.Status.STREAMING)
        .filter(_expired())
        .values_list("pk", flat=True)
    )
    running = set(alive())
    candidates = [pk for pk in candidates if pk not in running]
    swept = [
        pk
        for pk in candidates
        if turn_end_orphaned(message_id=pk, error=OWNER_GONE_MESSAGE, only_if_expired=True)
    ]
    if swept:
        logger.warning(
            "Turn sweep ended %s answer(s) whose process was gone: %s", len(swept), swept
        )
    return list(Message.objects.filter(pk__in=swept))


def turn_streaming_target(*, conversation_id: int) -> tuple[int, str, bool] | None:
    """The conversation's streaming answer: (id, owner, lease still live), or None."""
    row = (
        Message.objects.filter(conversation_id=conversation_id, status=Message.Status.STREAMING)
        .values_list("pk", "turn_owner", "lease_expires_at")
        .first()
    )
    if row is None:
        return None
    pk, owner, lease = row
    return pk, owner, lease is not None and lease >= timezone.now()


def turn_owner_of(*, conversation_id: int, message_id: int) -> tuple[str, bool] | None:
    """Who writes an answer of this conversation: (owner, lease still live); None if no such
    answer in this conversation."""
    row = (
        Message.objects.filter(conversation_id=conversation_id, pk=message_id)
        .values_list("turn_owner", "lease_expires_at", "status")
        .first()
    )
    if row is None:
        return None
    owner, lease, status = row
    live = status == Message.Status.STREAMING and lease is not None and lease >= timezone.now()
    return owner, live
