"""Export one of a person's conversations as Markdown or JSON, or its calculations as CSV."""

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat import exports, selectors


class Command(BaseCommand):
    help = (
        "Export a conversation (as its owner sees it) as Markdown or JSON, or its "
        "calculations as CSV; the same files as the page's Export menu."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("conversation", type=int, help="The conversation id.")
        parser.add_argument("--user", required=True, help="The owner's username.")
        parser.add_argument("--format", choices=sorted(exports.FORMATS), default="md")
        parser.add_argument("--output", "-o", help="Write to this file (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.")
        conversation = selectors.conversation_get(
            user=user, conversation_id=options["conversation"]
        )
        if conversation is None:
            raise CommandError(
                f"{options['user']} has no conversation {options['conversation']} "
                "(or it was deleted)."
            )
        content = exports.conversation_export(conversation, options["format"])
        if options["output"]:
            Path(options["output"]).write_text(content, encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(content, ending="")
