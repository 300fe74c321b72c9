from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "taxsite-demo"  # noqa: S105 - a local development account, refused without DEBUG


class Command(BaseCommand):
    help = "Create (or reset) the local 'demo' staff account. Refused unless DEBUG is on."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_user only runs with DEBUG=1: it sets a well-known password.")
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        user.set_password(DEMO_PASSWORD)
        user.is_staff = True
        user.is_superuser = True
        user.save()
        self.stdout.write(f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD} (staff: /admin/ too).")
