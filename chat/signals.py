"""Ending a session closes the person's open sockets: a socket keeps the user it connected with.

Logging out and changing the password both end it; each consumer also re-checks its session on
every frame, so a session ended any other way stops the socket at its next use.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from chat.groups import user_group


def close_sockets_of(user_id: int) -> None:
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "session.ended"})


@receiver(user_logged_out)
def close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        close_sockets_of(user.pk)


@receiver(pre_save, sender=User)
def note_password_change(sender: Any, instance: User, **kwargs: Any) -> None:
    if instance._state.adding:
        return
    stored = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_changed = stored is not None and stored != instance.password  # type: ignore[attr-defined]


@receiver(post_save, sender=User)
def close_sockets_on_password_change(sender: Any, instance: User, **kwargs: Any) -> None:
    if getattr(instance, "_password_changed", False):
        close_sockets_of(instance.pk)
