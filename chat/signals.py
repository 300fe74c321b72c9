"""Logging out closes the person's open sockets: a socket keeps the user it connected with."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from chat.groups import user_group


@receiver(user_logged_out)
def close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    async_to_sync(get_channel_layer().group_send)(user_group(user.pk), {"type": "session.ended"})
