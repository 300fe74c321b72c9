from typing import Any

from django.core.management.base import BaseCommand

from chat.services import turns_recover_interrupted


class Command(BaseCommand):
    help = "Mark answers left streaming by a stopped server as interrupted (run before serving)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = turns_recover_interrupted()
        self.stdout.write(f"{count} unfinished answer(s) marked interrupted.")
