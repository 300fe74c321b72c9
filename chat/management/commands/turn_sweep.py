from typing import Any

from django.core.management.base import BaseCommand

from chat.turns import turn_sweep


class Command(BaseCommand):
    help = (
        "End answers whose process is gone (their lease expired) as interrupted. Every serving "
        "process does this periodically; run it from cron where no server runs. Live answers of "
        "running processes are never touched."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        swept = turn_sweep()
        self.stdout.write(
            f"{len(swept)} unfinished answer(s) of stopped processes marked interrupted."
        )
