"""Opening the conversation socket as a signed-in person, and reading its frames with a bound."""

import asyncio
import json
from typing import Any

from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from chat.routing import conversation_socket_path
from taxsite.asgi import application

# Sockets are opened on https://testserver (the tests run in production mode, DEBUG off, where
# only the exact https origin of the Host is accepted): socket_for adds the Host header.
ORIGIN = (b"origin", b"https://testserver")
HOST = (b"host", b"testserver")


def session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def socket_for(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    if not any(name == b"host" for name, _ in headers):
        headers = [HOST, *headers]
    return WebsocketCommunicator(application, path, headers=headers)


def conversation_socket(conversation_id: int, user: User) -> WebsocketCommunicator:
    """The socket the page opens for a conversation, signed in as `user`, from our origin."""
    return socket_for(conversation_socket_path(conversation_id), [ORIGIN, session_cookie(user)])


async def receive_until(
    communicator: WebsocketCommunicator,
    predicate: Any,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> list[str]:
    """Frames received until one satisfies `predicate` (included); fails on timeout."""
    frames: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no matching frame in {timeout}s; got {frames[-3:]}")
        frame = await communicator.receive_from(timeout=remaining)
        frames.append(frame)
        if predicate(frame):
            return frames


def is_appended(frame: str) -> bool:
    """The frame that appends a new question and its (empty) answer to the transcript."""
    return 'id="messages"' in frame


async def wait_for_answer(communicator: WebsocketCommunicator, conversation: Any) -> list[str]:
    """Frames until the conversation's newest answer is finished (after `is_appended`)."""
    from chat.models import Message

    answer = await Message.objects.filter(conversation=conversation, role="assistant").alatest("pk")
    return await receive_until(communicator, is_finished_bubble(answer.pk))


def is_delta(frame: str) -> bool:
    """A numbered delta frame: part of an answer has streamed."""
    return frame.startswith("{") and json.loads(frame).get("type") == "delta"


def is_finished_bubble(message_id: int) -> Any:
    def check(frame: str) -> bool:
        return f'id="message-{message_id}"' in frame and 'data-status="streaming"' not in frame

    return check


def frame(message: str, **extra: Any) -> str:
    return json.dumps({"message": message, "HEADERS": {"HX-Request": "true"}, **extra})
