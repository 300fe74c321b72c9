"""A conversation's frames reach every socket once: this process's directly, other processes'
through the channel layer (chat/fanout.py)."""

import asyncio
import json
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from chat import services
from chat.groups import conversation_group
from chat.models import Conversation, Message
from tests.helpers.frames import delta_frames, streamed_text
from tests.helpers.sockets import (
    conversation_socket,
    frame,
    is_appended,
    is_finished_bubble,
    receive_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

# A socket of the conversation on another process, as the channel layer sees it.
ELSEWHERE = "specific.another-process!socket"


async def ask_and_collect(
    user: User, conversation: Conversation, question: str
) -> tuple[list[str], Message]:
    socket = await asyncio.to_thread(conversation_socket, conversation.pk, user)
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_from()  # the catch-up transcript
    await socket.send_to(text_data=frame(question))
    await receive_until(socket, is_appended)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    frames = await receive_until(socket, is_finished_bubble(answer.pk))
    await socket.disconnect()
    return frames, await Message.objects.aget(pk=answer.pk)


async def drain(channel: str) -> list[dict[str, Any]]:
    """What the channel layer holds for a channel, until it is quiet."""
    layer = get_channel_layer()
    received = []
    while True:
        try:
            received.append(await asyncio.wait_for(layer.receive(channel), 0.5))
        except TimeoutError:
            return received


def numbers(frames: list[str], message_id: int) -> list[int]:
    return [d["seq"] for d in delta_frames(frames, message_id)]


async def test_a_socket_elsewhere_gets_every_frame_and_this_process_gets_each_once(
    alice: User, settings: Any
) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.01  # several pushes
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    await get_channel_layer().group_add(conversation_group(conversation.pk), ELSEWHERE)

    frames, answer = await ask_and_collect(alice, conversation, "What is the tax on 85,000 euros?")

    # Here: each push once, in order, although the layer carried them too.
    seqs = numbers(frames, answer.pk)
    assert len(seqs) >= 2
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert streamed_text(frames, answer.pk) == answer.text
    # Elsewhere: the same pushes, and whole bubbles in every language (its readers' unknown).
    sent = await drain(ELSEWHERE)
    elsewhere = [m["html"] for m in sent if m["html"].startswith("{")]
    assert [json.loads(f)["seq"] for f in elsewhere] == seqs
    finished = [m for m in sent if f'id="message-{answer.pk}"' in m["html"]]
    assert finished
    assert set(finished[-1]["localized"]) == {"en", "ko"}
    assert 'data-status="complete"' in finished[-1]["html"]
