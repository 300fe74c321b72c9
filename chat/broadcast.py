"""Turn listeners that send each change to every socket on the conversation."""

from channels.layers import get_channel_layer

from chat import fragments
from chat.db import db_async
from chat.groups import conversation_group
from chat.models import Message, ToolCall
from chat.turns import TurnUpdate


class ConversationBroadcaster:
    def __init__(self, conversation_id: int) -> None:
        self.group = conversation_group(conversation_id)
        self.layer = get_channel_layer()

    async def turn_changed(self, update: TurnUpdate) -> None:
        # The whole bubble each time: a socket that missed a frame is whole again at the next one.
        html = fragments.message_bubble(update.message, update.tool_calls)
        await self.layer.group_send(self.group, {"type": "chat.fragment", "html": html})


@db_async
def _message_with_receipts(message_id: int) -> tuple[Message, list[ToolCall]]:
    message = Message.objects.get(pk=message_id)
    return message, list(message.tool_calls.order_by("created_at", "pk"))


async def broadcast_message(message_id: int) -> None:
    """Send a message as stored to its conversation's sockets (after a sweep or a stop)."""
    message, receipts = await _message_with_receipts(message_id)
    await ConversationBroadcaster(message.conversation_id).turn_changed(
        TurnUpdate(message, receipts, finished=not message.is_streaming)
    )
