"""How fast one turn moves deltas through the service, and how little it writes.

    DEBUG=1 .venv/bin/python benchmarks/turn_throughput.py [deltas]

Runs a scripted engine that yields N deltas as fast as it can (SQLite in a temporary file),
through the real service with a listener that renders the bubble like the socket does, and
prints deltas per second, pushes to listeners and database writes of the message.
"""

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taxsite.settings")
os.environ.setdefault("DEBUG", "1")
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402

from chat import fragments, services, turns  # noqa: E402
from chat.engines.base import EngineEvent, TextDelta, TurnDone, TurnRequest  # noqa: E402


class FastEngine:
    name = "bench"
    label = "Benchmark"
    model_name = "bench"
    thread_scope = "bench"

    def __init__(self, deltas: int, pause_every: int = 50) -> None:
        self.deltas = deltas
        self.pause_every = pause_every

    async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        for index in range(self.deltas):
            if index % self.pause_every == 0:
                await asyncio.sleep(0.01)  # a provider's pace: bursts of tokens
            yield TextDelta(f"tok{index} ")
        yield TurnDone()


class RenderingListener:
    def __init__(self) -> None:
        self.pushes = 0
        self.bytes = 0

    async def turn_changed(self, update: turns.TurnUpdate) -> None:
        self.pushes += 1
        self.bytes += len(fragments.message_bubble(update.message, update.tool_calls))


def main() -> None:
    deltas = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    conversation = services.conversation_get_or_create_empty(owner=user)
    engine = FastEngine(deltas)
    started = turns.turn_start(conversation=conversation, text="bench", engine=engine)
    writes: list[str] = []

    def count_writes(sql: str) -> None:
        if sql.startswith("UPDATE") and "chat_message" in sql:
            writes.append(sql)

    listener = RenderingListener()
    began = time.perf_counter()

    def trace(sender: object, connection: object, **kwargs: object) -> None:
        connection.connection.set_trace_callback(count_writes)  # type: ignore[attr-defined]

    # Channels opens and closes a connection around each ORM call: trace every one.
    connection_created.connect(trace)
    asyncio.run(
        turns.turn_run(message_id=started.assistant_message.pk, listener=listener, engine=engine)
    )
    elapsed = time.perf_counter() - began
    print(f"deltas:                {deltas}")
    print(f"turn time:             {elapsed * 1000:.0f} ms ({deltas / elapsed:,.0f} deltas/s)")
    rendered = f"{listener.bytes / 1024:.0f} KiB of HTML rendered"
    print(f"pushes to listeners:   {listener.pushes} ({rendered})")
    print(f"message UPDATEs:       {len(writes)} (checkpoints + the final save)")


if __name__ == "__main__":
    main()
