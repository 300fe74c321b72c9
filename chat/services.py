"""Writes, and the lifecycle of a turn: store, stream, run tools, checkpoint, finish."""

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import timedelta
from math import ceil
from typing import Protocol

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from chat.db import db_async
from chat.engines import get_engine
from chat.engines.base import (
    Engine,
    PastMessage,
    PastToolCall,
    ProviderThreadBound,
    TextDelta,
    ToolCallRequested,
    ToolSpec,
    TurnDone,
    TurnFailed,
    TurnRequest,
    UsageReported,
)
from chat.models import Conversation, Message, ToolCall
from chat.tools.registry import ToolOutcome, registry

logger = logging.getLogger(__name__)

TITLE_CHARS = 60
STOPPED_MESSAGE = "Stopped before the answer was finished."
UNEXPECTED_MESSAGE = "Something went wrong on our side while answering. Please try again."
TURN_RUNNING_MESSAGE = (
    "An answer is still being written in this conversation. Wait for it, or stop it."
)


class TurnRejected(Exception):
    """A turn that cannot start; the message says why, in words for the person."""


@dataclass
class TurnUpdate:
    """A turn's state as the listeners see it: the message so far and the latest piece."""

    message: Message
    tool_calls: Sequence[ToolCall]
    delta: str = ""
    finished: bool = False


class TurnListener(Protocol):
    async def turn_changed(self, update: TurnUpdate) -> None: ...


@dataclass(frozen=True)
class StartedTurn:
    user_message: Message
    assistant_message: Message
    title_changed: bool


# --- Conversations --------------------------------------------------------------------------------


def conversation_get_or_create_empty(*, owner: User) -> Conversation:
    """A fresh conversation, reusing the person's empty one so "New" never piles up blanks."""
    empty = Conversation.objects.filter(owner=owner, messages__isnull=True).order_by("-pk").first()
    if empty is not None:
        return empty
    return Conversation.objects.create(owner=owner)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


# --- Starting a turn ------------------------------------------------------------------------------


def _check_rate(owner_id: int) -> None:
    """At most CHAT_RATE_LIMIT_TURNS questions per person per window, counted in the database
    so that every process and tab shares one budget."""
    window = timedelta(seconds=settings.CHAT_RATE_LIMIT_WINDOW_SECONDS)
    since = timezone.now() - window
    recent = list(
        Message.objects.filter(
            conversation__owner_id=owner_id, role=Message.Role.USER, created_at__gte=since
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: settings.CHAT_RATE_LIMIT_TURNS]
    )
    if len(recent) >= settings.CHAT_RATE_LIMIT_TURNS:
        wait = (recent[-1] + window - timezone.now()).total_seconds()
        raise TurnRejected(
            f"You are sending questions faster than we can answer. Try again in {ceil(wait)} s."
        )


def turn_start(*, conversation: Conversation, text: str, engine: Engine) -> StartedTurn:
    """Store the person's message and an empty streaming answer, or refuse with a reason.

    The person's message is stored here, before any provider is called. The database refuses a
    second streaming answer in the same conversation, so two tabs cannot start two turns.
    """
    text = text.strip()
    if not text:
        raise TurnRejected("Type a message first.")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise TurnRejected(
            f"Your message is {len(text):,} characters long; the limit is {limit:,}."
        )
    _check_rate(conversation.owner_id)
    try:
        with transaction.atomic():
            user_message = Message.objects.create(
                conversation=conversation, role=Message.Role.USER, text=text
            )
            assistant_message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                status=Message.Status.STREAMING,
                engine=engine.name,
                model_name=engine.model_name,
            )
    except IntegrityError:
        raise TurnRejected(TURN_RUNNING_MESSAGE) from None
    title_changed = not conversation.title
    if title_changed:
        conversation.title = _title_from(text)
    if not conversation.provider_thread_id:
        conversation.engine = engine.thread_scope
    conversation.save(update_fields=["title", "engine", "updated_at"])
    return StartedTurn(user_message, assistant_message, title_changed)


# --- Running a turn -------------------------------------------------------------------------------


@dataclass
class _TurnContext:
    message: Message
    conversation: Conversation
    request: TurnRequest
    tool_calls: list[ToolCall] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    pending_delta: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    last_push: float = 0.0
    last_checkpoint: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _history(conversation: Conversation, before: Message) -> tuple[list[PastMessage], str]:
    """Earlier finished messages (oldest first) and the person's text for this turn."""
    messages = list(
        conversation.messages.filter(pk__lt=before.pk)
        .exclude(status=Message.Status.STREAMING)
        .prefetch_related("tool_calls")
        .order_by("created_at", "pk")
    )
    if not messages or messages[-1].role != Message.Role.USER:
        raise TurnRejected("This answer has no question before it.")
    past = [
        PastMessage(
            role=m.role,
            text=m.text,
            tool_calls=tuple(
                PastToolCall(c.call_id, c.name, c.raw_arguments, c.output)
                for c in m.tool_calls.all()
            ),
        )
        for m in messages[:-1]
    ]
    return past, messages[-1].text


@db_async
def _load_turn(message_id: int, engine: Engine) -> _TurnContext:
    message = Message.objects.select_related("conversation").get(pk=message_id)
    conversation = message.conversation
    history, user_text = _history(conversation, message)
    same_engine = conversation.engine == engine.thread_scope
    request = TurnRequest(
        user_text=user_text,
        history=history,
        provider_thread_id=conversation.provider_thread_id if same_engine else "",
        tools=[ToolSpec(t.name, t.description, t.parameters) for t in registry.schemas()],
        max_tool_rounds=settings.ASSISTANT_MAX_TOOL_ROUNDS,
    )
    return _TurnContext(message=message, conversation=conversation, request=request)


@db_async
def _mark_failed(message_id: int, error: str) -> None:
    Message.objects.filter(pk=message_id).update(
        status=Message.Status.ERROR, error_detail=error, updated_at=timezone.now()
    )


@db_async
def _checkpoint(message_id: int, text: str) -> None:
    Message.objects.filter(pk=message_id).update(text=text, updated_at=timezone.now())


@db_async
def _bind_provider_thread(conversation: Conversation, thread_scope: str, thread_id: str) -> None:
    """Bind to a provider thread; a thread of another engine is kept for the record."""
    if conversation.provider_thread_id and conversation.engine != thread_scope:
        conversation.previous_provider_threads = [
            *conversation.previous_provider_threads,
            {
                "engine": conversation.engine,
                "thread_id": conversation.provider_thread_id,
                "until": timezone.now().isoformat(),
            },
        ]
    conversation.engine = thread_scope
    conversation.provider_thread_id = thread_id
    conversation.save(
        update_fields=["engine", "provider_thread_id", "previous_provider_threads", "updated_at"]
    )


@db_async
def _save_tool_call(message: Message, call: ToolCallRequested, outcome: ToolOutcome) -> ToolCall:
    return ToolCall.objects.create(
        message=message,
        call_id=call.call_id[:200],
        name=call.name[:100],
        raw_arguments=call.arguments,
        parsed_input=outcome.parsed_input,
        output=outcome.output,
        result=outcome.result,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
    )


FINAL_SAVE_ATTEMPTS = 5


@db_async
def _finish(message: Message, conversation: Conversation) -> None:
    """Write the finished answer once; a locked database is retried, not given up on."""
    for attempt in range(1, FINAL_SAVE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                message.save(
                    update_fields=["text", "status", "error_detail", "usage", "updated_at"]
                )
                conversation.save(update_fields=["updated_at"])
            return
        except OperationalError:
            if attempt == FINAL_SAVE_ATTEMPTS:
                raise
            logger.warning("Final save of message %s failed (attempt %s)", message.pk, attempt)
            time.sleep(0.2 * attempt)


async def _notify(listener: TurnListener, ctx: _TurnContext, *, finished: bool = False) -> None:
    ctx.message.text = ctx.text  # joined here, per push, not per delta
    delta = "".join(ctx.pending_delta)
    ctx.pending_delta.clear()
    ctx.last_push = time.monotonic()
    try:
        await listener.turn_changed(
            TurnUpdate(ctx.message, ctx.tool_calls, delta=delta, finished=finished)
        )
    except Exception:  # a listener that fails must not lose the turn
        logger.exception("Listener failed for message %s", ctx.message.pk)


async def _on_text(listener: TurnListener, ctx: _TurnContext, text: str) -> None:
    ctx.parts.append(text)
    ctx.pending_delta.append(text)
    now = time.monotonic()
    if now - ctx.last_push >= settings.CHAT_PUSH_SECONDS:
        await _notify(listener, ctx)
    if now - ctx.last_checkpoint >= settings.CHAT_CHECKPOINT_SECONDS:
        ctx.last_checkpoint = now
        await _checkpoint(ctx.message.pk, ctx.text)


async def _on_tool_call(listener: TurnListener, ctx: _TurnContext, call: ToolCallRequested) -> None:
    if len(ctx.tool_calls) >= settings.ASSISTANT_MAX_TOOL_CALLS_PER_TURN:
        limit = settings.ASSISTANT_MAX_TOOL_CALLS_PER_TURN
        outcome = ToolOutcome(
            name=call.name,
            parsed_input=None,
            output=f'{{"error": "Too many tool calls in one answer (limit {limit}). Answer now."}}',
            error=f"Refused: more than {limit} tool calls in one answer.",
        )
    else:
        outcome = registry.run(call.name, call.arguments)
    ctx.request.tool_outputs[call.call_id] = outcome.output
    ctx.tool_calls.append(await _save_tool_call(ctx.message, call, outcome))
    await _notify(listener, ctx)


def _end(ctx: _TurnContext, status: str, error: str = "") -> None:
    ctx.message.text = ctx.text
    ctx.message.status = status
    ctx.message.error_detail = error
    ctx.message.usage = dict(ctx.usage)


async def turn_run(
    *, message_id: int, listener: TurnListener, engine: Engine | None = None
) -> Message:
    """Run the engine for a streaming answer until it completes, fails or is cancelled."""
    engine = engine or get_engine()
    try:
        ctx = await _load_turn(message_id, engine)
    except Exception:
        logger.exception("Turn %s could not start", message_id)
        await _mark_failed(message_id, UNEXPECTED_MESSAGE)
        raise
    ctx.last_checkpoint = time.monotonic()
    try:
        async with aclosing(engine.stream(ctx.request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    await _on_text(listener, ctx, event.text)
                elif isinstance(event, ToolCallRequested):
                    await _on_tool_call(listener, ctx, event)
                elif isinstance(event, UsageReported):
                    ctx.usage["input_tokens"] = (
                        ctx.usage.get("input_tokens", 0) + event.input_tokens
                    )
                    ctx.usage["output_tokens"] = (
                        ctx.usage.get("output_tokens", 0) + event.output_tokens
                    )
                elif isinstance(event, ProviderThreadBound):
                    await _bind_provider_thread(
                        ctx.conversation, engine.thread_scope, event.thread_id
                    )
                elif isinstance(event, TurnFailed):
                    logger.warning("Turn %s failed: %s %s", message_id, event.message, event.detail)
                    status = (
                        Message.Status.INTERRUPTED if event.interrupted else Message.Status.ERROR
                    )
                    _end(ctx, status, event.message)
                    break
                elif isinstance(event, TurnDone):
                    _end(ctx, Message.Status.COMPLETE)
                    break
            else:
                _end(ctx, Message.Status.INTERRUPTED, "The answer ended unexpectedly.")
    except asyncio.CancelledError:
        _end(ctx, Message.Status.INTERRUPTED, STOPPED_MESSAGE)
        await _finish(ctx.message, ctx.conversation)
        await _notify(listener, ctx, finished=True)
        raise
    except Exception:
        logger.exception("Turn %s crashed", message_id)
        _end(ctx, Message.Status.ERROR, UNEXPECTED_MESSAGE)
    await _finish(ctx.message, ctx.conversation)
    await _notify(listener, ctx, finished=True)
    message: Message = ctx.message
    return message


def turns_recover_interrupted() -> int:
    """Mark answers left streaming by a stopped process as interrupted; returns how many."""
    return Message.objects.filter(status=Message.Status.STREAMING).update(
        status=Message.Status.INTERRUPTED,
        error_detail="The server restarted before this answer was finished.",
        updated_at=timezone.now(),
    )
