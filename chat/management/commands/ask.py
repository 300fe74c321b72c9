"""Run one turn from the shell, through the same service as the page, and print the stream."""

import asyncio
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat import selectors, services, turns
from chat.engines import get_engine
from chat.engines.base import Engine
from chat.engines.client import close_openai_client
from chat.models import Conversation, Message


class TerminalListener:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.shown_calls = 0

    async def turn_changed(self, update: turns.TurnUpdate) -> None:
        for call in update.tool_calls[self.shown_calls :]:
            verdict = call.error or call.output[:160]
            self.out.write(f"[tool {call.name}({call.raw_arguments}) -> {verdict}]\n")
        self.shown_calls = len(update.tool_calls)
        if update.delta:
            self.out.write(update.delta)
            self.out.flush()


async def _answered(message_id: int, engine: Engine) -> Message | None:
    """The answer, streamed to the terminal; the provider's connections closed before the
    command's loop ends."""
    try:
        return await turns.turn_run(
            message_id=message_id, listener=TerminalListener(sys.stdout), engine=engine
        )
    finally:
        await close_openai_client()


class Command(BaseCommand):
    help = "Ask the assistant one question as a user; the turn is stored like any other."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("question")
        parser.add_argument("--user", required=True, help="Username to ask as.")
        parser.add_argument(
            "--conversation", type=int, help="Continue this conversation (default: a new one)."
        )
        parser.add_argument("--engine", help="Engine to use (default: the configured one).")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.")
        conversation: Conversation | None
        if options["conversation"]:
            conversation = selectors.conversation_get(
                user=user, conversation_id=options["conversation"]
            )
            if conversation is None:
                raise CommandError(f"{user} has no conversation {options['conversation']}.")
        else:
            conversation = services.conversation_get_or_create_empty(owner=user)
        engine = get_engine(options["engine"])
        try:
            started = turns.turn_start(
                conversation=conversation, text=options["question"], engine=engine
            )
        except turns.TurnRejected as rejected:
            raise CommandError(str(rejected)) from None
        message = asyncio.run(_answered(started.assistant_message.pk, engine))
        self.stdout.write("")
        if message is None:
            raise CommandError("The answer could not be saved; see the log.")
        summary = f"[conversation {conversation.pk}, message {message.pk}: {message.status}]"
        if message.status_notice:
            summary += f" {message.status_notice}"
        ending = self.style.SUCCESS if message.status == "complete" else self.style.ERROR
        self.stdout.write(ending(summary))
        if message.status != "complete":
            raise SystemExit(1)
