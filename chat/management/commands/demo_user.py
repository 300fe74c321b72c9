from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.unsafe import DEMO_PASSWORD, DEMO_USERNAME


class Command(BaseCommand):
    help = (
        "Create (or reset) the local 'demo' staff account on a development database (DEBUG=1), "
        "or remove it (--remove, allowed anywhere)."
    )
    # --remove must work on the very database the published-password check refuses to serve.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--remove", action="store_true", help="delete the demo account")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        if options["remove"]:
            deleted, _ = users.filter(username=DEMO_USERNAME).delete()
            self.stdout.write("Removed the demo account." if deleted else "No demo account.")
            return
        if not settings.DEBUG:
            raise CommandError(
                "demo_user only runs with DEBUG=1, on the development database: it sets a "
                "published password, which production refuses to serve (accounts.E001)."
            )
        user, _ = users.get_or_create(username=DEMO_USERNAME)
        user.set_password(DEMO_PASSWORD)
        user.is_staff = True
        user.is_superuser = True
        user.save()
        self.stdout.write(f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD} (staff: /admin/ too).")
