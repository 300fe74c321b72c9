"""The conversation socket: authenticate, authorize, start or stop turns, forward fragments."""

import json
import logging
import time
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from chat import fragments, selectors, services, turns
from chat.cpu import off_loop
from chat.db import db_async, db_async_apart
from chat.engines import get_engine
from chat.fanout import Fanout, conversation_languages, conversation_publish, get_fanout
from chat.groups import conversation_group, user_group
from chat.models import Conversation, Message
from chat.runner import turn_launch, turn_owner, turn_snapshot, turn_stop
from chat.socket_limits import (
    CLOSE_FLOODING,
    FrameBudget,
    frames_waiting,
    socket_closed,
    socket_open_allowed,
    socket_opened,
)
from chat.start_batches import Ask, get_start_batcher
from taxsite.languages import language_from_scope

logger = logging.getLogger(__name__)

# Alerts in English (tests and logs compare them); each is sent translated, gettext at use.
LAYER_DOWN = gettext_noop(
    "Live updates are unavailable: our message service is down. Your conversations are safe "
    "and answers are still saved; reload the page in a moment to see them."
)

# A chat message is at most a few thousand characters; anything far larger is not one.
MAX_FRAME_CHARS = 64 * 1024

CLOSE_TRY_AGAIN = 1011  # htmx's ws extension reconnects after this code
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_SESSION_ENDED = 4001
CLOSE_TOO_MANY_SOCKETS = 4008
# The codes the page explains to the person; chat/views.py writes them onto the page for chat.js.
CLOSE_CODES_SHOWN = {
    "signed_out": (CLOSE_SESSION_ENDED, CLOSE_UNAUTHENTICATED),
    "not_found": (CLOSE_NOT_FOUND,),
}
TOO_FAST = gettext_noop(
    "You are sending faster than we can take; some of it was ignored. Slow down a little."
)
TOO_MANY_TABS = gettext_noop(
    "This tab was closed because your account has too many tabs open; the newest ones stay "
    "connected. Reload to use this one."
)

VERSION_ACTIONS = ("regenerate", "retry", "edit")


class ConversationConsumer(AsyncWebsocketConsumer):
    conversation_id: int
    groups_joined: list[str]
    language: str = ""
    fanout: Fanout | None = None
    # Fragments that arrive while the catch-up is read: sent after it, so none goes missing
    # between the database read and the first live frame, and none lands before the catch-up.
    held: list[dict[str, Any]] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' own dispatch first closes stale database connections on the shared
        database thread, for every frame and every message: a trip behind everyone's turn
        writes before a frame is even looked at (a person's round trip grew from 2 to 12 ms
        while five answers streamed). Our database work goes through `db_async`, which does
        that around each call itself, so the handler is called here directly."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        # i18n: everything this socket renders or says is in its page's language.
        if not self.language:
            self.language = language_from_scope(self.scope)
        with translation.override(self.language):
            await handler(message)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.server_receive = receive  # the server's queue of this socket's frames (a backlog)
        await super().__call__(scope, receive, send)

    async def connect(self) -> None:
        self.groups_joined = []
        self.budget = FrameBudget()
        self.session_checked_at = time.monotonic()
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not socket_open_allowed(user_id=user.pk):
            logger.warning("Socket of user %s refused: opening sockets too fast", user.pk)
            await self.close(code=CLOSE_FLOODING)
            return
        conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        conversation = await _conversation_for(user, conversation_id)
        if conversation is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.conversation_id = conversation_id
        try:
            for group in (conversation_group(conversation_id), user_group(user.pk)):
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.append(group)
            for oldest in socket_opened(user_id=user.pk, channel_name=self.channel_name):
                await self.channel_layer.send(oldest, {"type": "socket.evicted"})
        except Exception:
            # The channel layer (Redis) is down: say so; the page keeps trying to reconnect.
            logger.exception("Channel layer unavailable for conversation %s", conversation_id)
            await self.accept()
            await self.send(text_data=fragments.alert(_(LAYER_DOWN)))
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        await turn_owner()  # this process's turn runner: stops routed here, dead turns swept
        await self.accept()
        self.held = []
        self.fanout = get_fanout()
        self.fanout.join(conversation_id, self)
        await self.catch_up(conversation, after=_after_from(self.scope.get("query_string", b"")))

    async def catch_up(self, conversation: Conversation, *, after: int | None) -> None:
        """What this socket missed, from the database (bounded), then any streaming answer as
        it stands right now, from the process writing it."""
        missed, complete, target = await _missed(conversation, after)
        # Up to CHAT_CATCH_UP_MESSAGES bubbles are milliseconds of templates: rendered off the
        # loop, so that a page (re)connecting never holds other people's frames that long.
        if after is None or not complete:
            # features: a truncated catch-up offers "Load earlier" for the rest.
            await self.send(
                text_data=await off_loop(
                    fragments.messages_replaced, missed, has_earlier=not complete
                )
            )
        elif missed:
            await self.send(
                text_data=await off_loop(
                    fragments.messages_appended, [(m, list(m.tool_calls.all())) for m in missed]
                )
            )
        held, self.held = self.held or [], None
        for event in held:
            await self.chat_fragment(event)
        if target is not None:
            message_id, owner, lease_live = target
            await turn_snapshot(
                message_id=message_id,
                owner=owner,
                lease_live=lease_live,
                reply_to=self.channel_name,
            )

    async def disconnect(self, code: int) -> None:
        # The turn keeps running: leaving the page must not lose the answer.
        user = self.scope["user"]
        if user.is_authenticated:
            socket_closed(user_id=user.pk, channel_name=self.channel_name)
        if self.fanout is not None:
            self.fanout.leave(self.conversation_id, self)
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Limits first: a flood costs a counter, not a query or a parse per frame.
        allowed = self.budget.allow()
        if self.budget.abusive or frames_waiting(self.server_receive) > settings.CHAT_FRAME_BACKLOG:
            logger.warning("Socket of user %s closed for flooding", self.scope["user"].pk)
            await self.close(code=CLOSE_FLOODING)
            # Stop now: frames still queued by the server are dropped, not processed one by
            # one, and the connection goes as soon as the close is sent.
            await self.disconnect(CLOSE_FLOODING)
            raise StopConsumer
        if not allowed:
            if self.budget.refused == 1:
                await self.send(text_data=fragments.alert(_(TOO_FAST)))
            return
        if not await self.session_still_valid():
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        payload = _parse_frame(text_data, bytes_data)
        if isinstance(payload, str):
            await self.send(text_data=fragments.alert(payload))
            return
        action = payload.get("action", "send")
        if action == "stop":
            await turn_stop(conversation_id=self.conversation_id)
        elif action == "send":
            await self.start_turn(payload.get("message"))
        elif action in VERSION_ACTIONS:  # features: regenerate, retry, edit
            await self.start_version(action, payload)
        elif action == "resync":
            await self.resync(payload.get("message"))
        else:
            await self.send(text_data=fragments.alert(_("Unknown action.")))

    async def session_still_valid(self) -> bool:
        """The session may have ended since connect (logout elsewhere, password change).

        Re-read at most every CHAT_SESSION_RECHECK_SECONDS: logging out and changing the password
        close the person's sockets at once; this catches sessions ended any other way.
        """
        now = time.monotonic()
        if now - self.session_checked_at < settings.CHAT_SESSION_RECHECK_SECONDS:
            return True
        session_key = self.scope["session"].session_key
        valid = bool(session_key) and await _session_user_id(session_key) == self.scope["user"].pk
        self.session_checked_at = now
        return valid

    async def resync(self, message_id: object) -> None:
        """The page missed a frame of an answer: send it the answer as it stands."""
        if not isinstance(message_id, int):
            return
        found = await _owner_of(self.conversation_id, message_id)
        if found is not None:
            owner, lease_live = found
            await turn_snapshot(
                message_id=message_id,
                owner=owner,
                lease_live=lease_live,
                reply_to=self.channel_name,
            )

    async def start_turn(self, text: object) -> None:
        if not isinstance(text, str):
            await self.send(text_data=fragments.alert(_("Type a message first.")))
            return
        engine = get_engine()
        ask = Ask(
            self.scope["user"],
            self.conversation_id,
            text,
            engine,
            await turn_owner(),
            translation.get_language(),
        )
        try:
            start = await get_start_batcher().start(ask)
        except turns.TurnRejected as rejected:
            # Give the text back so that nothing the person typed is lost.
            await self.send(text_data=fragments.alert(str(rejected)) + fragments.composer(text))
            return
        started, context = start.turn, start.context
        # Every tab on the conversation (all the owner's) gets the question, and the new title,
        # each in its own language (i18n).
        conversation = started.user_message.conversation
        languages = await conversation_languages(self.conversation_id)
        # The alert area is cleared on every tab in the same frame: the question was taken, so
        # what an alert said (too fast, an answer still being written) no longer holds.
        appended = fragments.localized(
            lambda: (
                fragments.turn_started(
                    started.user_message,
                    started.assistant_message,
                    conversation if started.title_changed else None,
                    was_listed=bool(context.history),
                )
                + fragments.alert("")
            ),
            languages,
        )
        # The question is stored and will be answered even if the channel layer is down; only
        # other processes' tabs miss it, and this one says so.
        if not await conversation_publish(self.conversation_id, appended):
            await self.send(text_data=fragments.alert(_(LAYER_DOWN)))
        await turn_launch(
            conversation_id=self.conversation_id,
            message_id=started.assistant_message.pk,
            engine=engine,
            context=context,
        )

    async def start_version(self, action: str, payload: dict[str, Any]) -> None:
        """Regenerate or Retry the last answer, or Edit the last question (features)."""
        engine = get_engine()
        try:
            versioned = await _start_version(
                self.scope["user"],
                self.conversation_id,
                action,
                payload,
                engine,
                await turn_owner(),
            )
        except turns.TurnRejected as rejected:
            await self.send(text_data=fragments.alert(str(rejected)))
            return
        versions = fragments.localized(
            lambda: fragments.messages_versioned(versioned.replaced_ids, versioned.new_messages),
            await conversation_languages(self.conversation_id),
        )
        if not await conversation_publish(self.conversation_id, versions):
            await self.send(text_data=fragments.alert(_(LAYER_DOWN)))
        await turn_launch(
            conversation_id=self.conversation_id,
            message_id=versioned.assistant_message.pk,
            engine=engine,
        )

    # --- Channel-layer messages (only the server sends these) --------------------------------

    async def chat_fragment(self, event: dict[str, Any]) -> None:
        """A fragment for the conversation: handed over by this process's fanout, or through
        the channel layer from another process (one this process's fanout sent is skipped:
        it was handed over already)."""
        if self.fanout is not None and event.get("origin") == self.fanout.origin:
            return
        if self.held is not None:
            self.held.append(event)
            return
        # i18n: rendered HTML comes in every language; delta frames need none.
        localized = event.get("localized") or {}
        await self.send(text_data=localized.get(self.language, event["html"]))

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_SESSION_ENDED)

    async def conversation_deleted(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_NOT_FOUND)

    async def socket_evicted(self, event: dict[str, Any]) -> None:
        await self.send(text_data=fragments.alert(_(TOO_MANY_TABS)))
        await self.close(code=CLOSE_TOO_MANY_SOCKETS)


def _after_from(query_string: bytes) -> int | None:
    """The id of the last message the page already has (`?after=`), if it said."""
    values = parse_qs(query_string.decode("latin-1")).get("after")
    if not values or not values[0].isdigit() or len(values[0]) > 18:
        return None
    return int(values[0])


def _parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any] | str:
    """The frame as a JSON object, or the reason it is refused."""
    if bytes_data is not None or text_data is None:
        return _("Binary frames are not accepted.")
    if len(text_data) > MAX_FRAME_CHARS:
        return _("That message is too large to send.")
    try:
        payload = json.loads(text_data)
    except (ValueError, RecursionError):
        return _("That frame was not valid JSON.")
    if not isinstance(payload, dict):
        return _("That frame was not a JSON object.")
    return payload


@db_async_apart  # not behind other people's turn writes: this person's frame waits for it
def _session_user_id(session_key: str) -> int | None:
    """Who the session belongs to now, read afresh (the scope's copy is from connect time)."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = User.objects.filter(pk=session.get(SESSION_KEY), is_active=True).first()
    stored_hash = session.get(HASH_SESSION_KEY) or ""
    if user is None or not constant_time_compare(stored_hash, user.get_session_auth_hash()):
        return None
    return int(user.pk)


@db_async
def _conversation_for(user: Any, conversation_id: int) -> Conversation | None:
    return selectors.conversation_get(user=user, conversation_id=conversation_id)


@db_async
def _missed(
    conversation: Conversation, after: int | None
) -> tuple[list[Message], bool, tuple[int, str, bool] | None]:
    """Messages after `after` (or the latest ones), at most CHAT_CATCH_UP_MESSAGES, with their
    receipts, read here and rendered by the caller (not on the database thread); whether that
    is all of what was missed; and the answer streaming now, if any (see
    `turns.turn_streaming_target`). One call on the database thread per connect: a second one
    queued hundreds of sockets' connects ahead of the questions asked just after."""
    limit = settings.CHAT_CATCH_UP_MESSAGES
    messages = selectors.message_list(conversation=conversation)
    if after is not None:
        messages = messages.filter(pk__gt=after)
    latest = list(messages.order_by("-created_at", "-pk")[: limit + 1])
    complete = len(latest) <= limit
    streaming = turns.turn_streaming_target(conversation_id=conversation.pk)
    return list(reversed(latest[:limit])), complete, streaming


@db_async
def _owner_of(conversation_id: int, message_id: int) -> tuple[str, bool] | None:
    return turns.turn_owner_of(conversation_id=conversation_id, message_id=message_id)


@db_async
def _start_version(
    user: Any, conversation_id: int, action: str, payload: dict[str, Any], engine: Any, owner: str
) -> services.VersionedTurn:
    message_id = payload.get("message_id")
    if not isinstance(message_id, int | str) or not str(message_id).isdigit():
        raise turns.TurnRejected(_("That message does not exist."))
    if action == "edit":
        text = payload.get("message")
        if not isinstance(text, str):
            raise turns.TurnRejected(_("Type a message first."))
        return services.message_edit(
            user=user,
            conversation_id=conversation_id,
            message_id=int(message_id),
            text=text,
            engine=engine,
            owner=owner,
        )
    return services.message_regenerate(
        user=user,
        conversation_id=conversation_id,
        message_id=int(message_id),
        engine=engine,
        owner=owner,
    )
