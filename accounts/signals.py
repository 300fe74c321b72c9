"""Keep every account's username skeleton, however the account was made (sign-up, admin, shell)."""

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import UsernameSkeleton
from accounts.usernames import username_skeleton


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def keep_username_skeleton(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or (update_fields is not None and "username" not in update_fields):
        return  # e.g. the last_login update of every login
    UsernameSkeleton.objects.update_or_create(
        user_id=instance.pk, defaults={"skeleton": username_skeleton(instance.get_username())}
    )
