"""The conversation socket: authenticate, authorize, start or stop turns, forward fragments."""

import json
import logging
from importlib import import_module
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.utils.crypto import constant_time_compare

from chat import fragments, selectors, services, turns
from chat.db import db_async
from chat.engines import get_engine
from chat.groups import conversation_group, user_group
from chat.models import Conversation
from chat.runner import turn_launch, turn_owner, turn_stop

logger = logging.getLogger(__name__)

LAYER_DOWN = (
    "Live updates are unavailable: our message service is down. Your conversations are safe "
    "and answers are still saved; reload the page in a moment to see them."
)

# A chat message is at most a few thousand characters; anything far larger is not one.
MAX_FRAME_CHARS = 64 * 1024

CLOSE_TRY_AGAIN = 1011  # htmx's ws extension reconnects after this code
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_SESSION_ENDED = 4001

VERSION_ACTIONS = ("regenerate", "retry", "edit")


class ConversationConsumer(AsyncWebsocketConsumer):
    conversation_id: int
    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
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
        except Exception:
            # The channel layer (Redis) is down: say so; the page keeps trying to reconnect.
            logger.exception("Channel layer unavailable for conversation %s", conversation_id)
            await self.accept()
            await self.send(text_data=fragments.alert(LAYER_DOWN))
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        await turn_owner()  # this process's turn runner: stops routed here, dead turns swept
        await self.accept()
        # Catch up: whatever happened while this socket was away, from the database.
        await self.send(text_data=await _transcript_html(conversation))

    async def disconnect(self, code: int) -> None:
        # The turn keeps running: leaving the page must not lose the answer.
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
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
        else:
            await self.send(text_data=fragments.alert("Unknown action."))

    async def session_still_valid(self) -> bool:
        """The session may have ended since connect (logout elsewhere, password change)."""
        session_key = self.scope["session"].session_key
        return bool(session_key) and await _session_user_id(session_key) == self.scope["user"].pk

    async def start_turn(self, text: object) -> None:
        if not isinstance(text, str):
            await self.send(text_data=fragments.alert("Type a message first."))
            return
        engine = get_engine()
        try:
            started, sidebar = await _start_turn(
                self.scope["user"], self.conversation_id, text, engine, await turn_owner()
            )
        except turns.TurnRejected as rejected:
            # Give the text back so that nothing the person typed is lost.
            await self.send(text_data=fragments.alert(str(rejected)) + fragments.composer(text))
            return
        appended = fragments.messages_appended(
            [(started.user_message, []), (started.assistant_message, [])]
        )
        try:
            await self.channel_layer.group_send(
                conversation_group(self.conversation_id),
                {"type": "chat.fragment", "html": appended},
            )
            notice = ""
        except Exception:
            # The question is stored and will be answered; only live updates are lost.
            logger.exception("Channel layer unavailable for conversation %s", self.conversation_id)
            await self.send(text_data=appended)
            notice = LAYER_DOWN
        await self.send(text_data=fragments.alert(notice) + (sidebar or ""))
        await turn_launch(
            conversation_id=self.conversation_id,
            message_id=started.assistant_message.pk,
            engine=engine,
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
        html = fragments.messages_versioned(versioned.replaced_ids, versioned.new_messages)
        try:
            await self.channel_layer.group_send(
                conversation_group(self.conversation_id), {"type": "chat.fragment", "html": html}
            )
        except Exception:
            logger.exception("Channel layer unavailable for conversation %s", self.conversation_id)
            await self.send(text_data=html + fragments.alert(LAYER_DOWN))
        await turn_launch(
            conversation_id=self.conversation_id,
            message_id=versioned.assistant_message.pk,
            engine=engine,
        )

    # --- Group messages (only the server sends these) ----------------------------------------

    async def chat_fragment(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["html"])

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_SESSION_ENDED)

    async def conversation_deleted(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_NOT_FOUND)


def _parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any] | str:
    """The frame as a JSON object, or the reason it is refused."""
    if bytes_data is not None or text_data is None:
        return "Binary frames are not accepted."
    if len(text_data) > MAX_FRAME_CHARS:
        return "That message is too large to send."
    try:
        payload = json.loads(text_data)
    except (ValueError, RecursionError):
        return "That frame was not valid JSON."
    if not isinstance(payload, dict):
        return "That frame was not a JSON object."
    return payload


@db_async
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
def _transcript_html(conversation: Conversation) -> str:
    # features: the latest page only ("Load earlier" fetches the rest over HTTP).
    page = selectors.message_page(conversation=conversation)
    return fragments.messages_replaced(page.messages, has_earlier=page.has_earlier)


@db_async
def _start_turn(
    user: Any, conversation_id: int, text: str, engine: Any, owner: str
) -> tuple[turns.StartedTurn, str | None]:
    conversation = selectors.conversation_get(user=user, conversation_id=conversation_id)
    if conversation is None:
        raise turns.TurnRejected("This conversation no longer exists.")
    started = turns.turn_start(conversation=conversation, text=text, engine=engine, owner=owner)
    sidebar = None
    if started.title_changed:
        sidebar = fragments.sidebar(selectors.conversation_list(user=user), conversation)
    return started, sidebar


@db_async
def _start_version(
    user: Any, conversation_id: int, action: str, payload: dict[str, Any], engine: Any, owner: str
) -> services.VersionedTurn:
    message_id = payload.get("message_id")
    if not isinstance(message_id, int | str) or not str(message_id).isdigit():
        raise turns.TurnRejected("That message does not exist.")
    if action == "edit":
        text = payload.get("message")
        if not isinstance(text, str):
            raise turns.TurnRejected("Type a message first.")
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
