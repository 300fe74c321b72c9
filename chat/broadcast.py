"""Turn listeners that send each change to every socket on the conversation.

A delta push is a small JSON frame (new text, the blocks that changed, numbered), serialized
once for all sockets; receipts, snapshots and the end are the whole bubble, as HTML. Delivered
by `chat.fanout`: straight to this process's sockets, through the channel layer to others'.
"""

import copy
import dataclasses
from collections.abc import Collection
from typing import Any

from chat import fragments
from chat.cpu import off_loop
from chat.db import db_async
from chat.fanout import conversation_languages, conversation_publish
from chat.models import Message, ToolCall
from chat.streaming import delta_frame
from chat.turns import TurnUpdate

# The number a finished answer's stored bubble carries: after any push of the turn that wrote it.
STORED_FINAL_SEQ = 1 << 30


def update_frame(update: TurnUpdate) -> str:
    """The text frame a socket receives for an update."""
    if update.whole:
        return fragments.message_bubble(update.message, update.tool_calls, seq=update.seq)
    return delta_frame(
        message_id=update.message.pk,
        seq=update.seq,
        start=update.blocks_from,
        blocks=list(update.blocks),
        text=update.delta,
        reasoning=update.reasoning_delta,
    )


def frame_event(update: TurnUpdate, languages: Collection[str] | None = None) -> dict[str, Any]:
    """The group message of an update: a whole bubble in every language, or in `languages`
    (each socket sends its reader's), a delta frame (text and rendered Markdown, no words of
    ours) as it is."""
    if update.whole:
        return fragments.localized(lambda: update_frame(update), languages)
    return {"html": update_frame(update)}


class ConversationBroadcaster:
    def __init__(self, conversation_id: int) -> None:
        self.conversation_id = conversation_id

    async def turn_changed(self, update: TurnUpdate) -> None:
        if not update.whole:
            await conversation_publish(self.conversation_id, frame_event(update))
            return
        languages = await conversation_languages(self.conversation_id)
        if update.finished:
            # An answer's end is milliseconds of templates and Markdown per language, and
            # answers end together: rendered off the loop (chat/cpu.py), from copies. A receipt
            # stays here: it comes before the answer's first words, which must not queue
            # behind every other answer's receipt on the one worker (first text at N = 200).
            update = dataclasses.replace(
                update,
                message=copy.copy(update.message),
                tool_calls=[copy.copy(call) for call in update.tool_calls],
            )
            event = await off_loop(frame_event, update, languages)
        else:
            event = frame_event(update, languages)
        await conversation_publish(self.conversation_id, event)


@db_async
def _message_with_receipts(message_id: int) -> tuple[Message, list[ToolCall]]:
    message = Message.objects.get(pk=message_id)
    return message, list(message.tool_calls.order_by("created_at", "pk"))


async def stored_bubble_event(message_id: int) -> dict[str, Any]:
    """A message's bubble as stored (a finished answer, or the last checkpoint of a stream), in
    every language."""
    message, receipts = await _message_with_receipts(message_id)
    seq = 0 if message.is_streaming else STORED_FINAL_SEQ
    return fragments.localized(lambda: fragments.message_bubble(message, receipts, seq=seq))


async def broadcast_message(message_id: int) -> None:
    """Send a message as stored to its conversation's sockets (after a sweep or a stop)."""
    message, receipts = await _message_with_receipts(message_id)
    await ConversationBroadcaster(message.conversation_id).turn_changed(
        TurnUpdate(message, receipts, finished=not message.is_streaming, seq=STORED_FINAL_SEQ)
    )
