"""A turn listener: render each change once, send it to every socket on the conversation."""

from channels.layers import get_channel_layer

from chat import fragments
from chat.groups import conversation_group
from chat.services import TurnUpdate


class ConversationBroadcaster:
    def __init__(self, conversation_id: int) -> None:
        self.group = conversation_group(conversation_id)
        self.layer = get_channel_layer()

    async def turn_changed(self, update: TurnUpdate) -> None:
        # The whole bubble each time: a socket that missed a frame is whole again at the next one.
        html = fragments.message_bubble(update.message, update.tool_calls)
        await self.layer.group_send(self.group, {"type": "chat.fragment", "html": html})
