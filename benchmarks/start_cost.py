"""What N questions asked at once cost the serving process, part by part, against the SDK alone.

    .venv/bin/python benchmarks/start_cost.py              # N = 200, 3 rounds
    .venv/bin/python benchmarks/start_cost.py --n 100 --rounds 5

`benchmarks/streaming.py` measures time to first text through a whole server; when 200 questions
come at once every one's first words come out together, after every question's start is done,
so its p95 is about the process's CPU for all the starts. This script takes that CPU apart, in
one process on one event loop (CPU: `getrusage` of this process, all its threads; PostgreSQL and
the upstream are other processes, as for the server), with the same settings as the server:

- raw:    N streamed POSTs to the upstream through a bare aiohttp session, to each one's first
          body bytes: the baseline, what any Python client pays;
- sdk:    the same through the openai SDK, as the engines send them (`stream_post`);
- start:  the start's database call for the N questions together (`start_batches._start`:
          the conversations, the rate limit, the question and the empty answer stored, the new
          conversations' titles, the history read), on PostgreSQL; every round asks in new
          conversations, as `benchmarks/streaming.py` does;
- frame:  the N started-turn frames (`fragments.turn_started`, the alert cleared);
- turn:   the N answers from launch to their first push (`TurnRun`, Chat Completions engine:
          the SDK's request, the stream read, the first push rendered), the listener a no-op.

Not counted: reading the questions off the sockets and sending the frames (daphne), the channel
layer. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust): a fresh database is created,
migrated, and dropped at the end; the fake upstream is benchmarks/upstream.py.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import resource
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from upstream import question, running  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
PARTS = ("raw", "sdk", "start", "frame", "turn")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Measured:
    def __init__(self) -> None:
        self.cpu_ms: dict[str, list[float]] = {part: [] for part in PARTS}
        self.wall_ms: dict[str, list[float]] = {part: [] for part in PARTS}

    async def time(self, part: str, work: Callable[[], Awaitable[Any]]) -> Any:
        gc.collect()  # each part starts from the same collector state
        started_cpu, started = cpu(), time.perf_counter()
        result = await work()
        self.cpu_ms[part].append((cpu() - started_cpu) * 1000)
        self.wall_ms[part].append((time.perf_counter() - started) * 1000)
        return result


async def raw_requests(url: str, n: int) -> None:
    import aiohttp

    body = {"model": "bench", "messages": [{"role": "user", "content": question(5, 100)}]}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> None:
            async with session.post(f"{url}/chat/completions", json={**body, "stream": True}) as r:
                await r.content.readany()

        await asyncio.gather(*(one() for _ in range(n)))


async def sdk_requests(n: int) -> None:
    from chat.engines.client import stream_post

    body = {"model": "bench", "messages": [{"role": "user", "content": question(5, 100)}]}

    async def one() -> None:
        stream = await stream_post("/chat/completions", body)
        try:
            async for _chunk in stream.response.aiter_bytes():
                break
        finally:
            await stream.close()

    await asyncio.gather(*(one() for _ in range(n)))


def new_conversations(users: list[Any]) -> list[int]:
    """A new conversation each, as in `benchmarks/streaming.py`: each first question also gives
    its conversation a title."""
    from chat.models import Conversation

    return [c.pk for c in Conversation.objects.bulk_create(Conversation(owner=u) for u in users)]


class FirstPush:
    """A listener that notes the answer's first words and nothing else."""

    def __init__(self) -> None:
        self.first_words = asyncio.Event()

    async def turn_changed(self, update: Any) -> None:
        if update.delta:
            self.first_words.set()


async def one_round(measured: Measured, users: list[Any], url: str) -> None:
    from django.utils import translation

    from chat import fragments, start_batches, turns
    from chat.engines import get_engine

    n = len(users)
    engine = get_engine()
    conversations = await asyncio.to_thread(new_conversations, users)
    await measured.time("raw", lambda: raw_requests(url, n))
    await measured.time("sdk", lambda: sdk_requests(n))
    asks = [
        start_batches.Ask(user, conversation, question(500, 100), engine, "bench", "en")
        for user, conversation in zip(users, conversations, strict=True)
    ]
    outcomes = await measured.time("start", lambda: start_batches._start(asks))
    starts = [s for s in outcomes if isinstance(s, start_batches.Start)]
    assert len(starts) == n, outcomes

    def frame(start: start_batches.Start) -> str:
        started = start.turn
        return fragments.turn_started(
            started.user_message,
            started.assistant_message,
            started.user_message.conversation if started.title_changed else None,
            was_listed=bool(start.context.history),
        ) + fragments.alert("")

    async def frames() -> None:
        with translation.override("en"):
            for start in starts:
                fragments.localized(functools.partial(frame, start), {"en"})

    await measured.time("frame", frames)
    listeners = [FirstPush() for _ in starts]
    runs = [
        turns.TurnRun(
            message_id=s.turn.assistant_message.pk,
            engine=engine,
            listener=listener,
            context=s.context,
        )
        for s, listener in zip(starts, listeners, strict=True)
    ]
    tasks: list[asyncio.Task[Any]] = []

    async def first_pushes() -> None:
        tasks.extend(asyncio.create_task(run.run()) for run in runs)
        await asyncio.gather(*(listener.first_words.wait() for listener in listeners))

    await measured.time("turn", first_pushes)
    for run in runs:
        run.stop()  # the answers end interrupted; the next round's questions may start
    await asyncio.gather(*tasks)


def report(measured: Measured, n: int, rounds: int) -> None:
    print(f"\n{n} questions at once, medians of {rounds} rounds (CPU of this process):\n")
    print("| part | CPU ms | CPU ms a question | wall ms |")
    print("|---|---|---|---|")
    per: dict[str, float] = {}
    for part in PARTS:
        total = statistics.median(measured.cpu_ms[part])
        per[part] = total / n
        wall = statistics.median(measured.wall_ms[part])
        print(f"| {part} | {total:.0f} | {per[part]:.2f} | {wall:.0f} |")
    ours = per["start"] + per["frame"] + per["turn"]
    own = ours - per["sdk"]
    print(
        f"\nstart + frame + turn: {ours:.2f} ms a question, {ours * n:.0f} ms for {n}. Of that, "
        f"the SDK's request alone is {per['sdk']:.2f} ms ({per['sdk'] / per['raw']:.1f}x a bare "
        f"aiohttp request, {per['raw']:.2f} ms) and the rest {own:.2f} ms."
    )
    print(
        "All of it runs under one interpreter lock: with every start done before the first "
        f"words, time to first text at N = {n} is at least ~{ours * n:.0f} ms, plus reading the "
        "questions and sending the frames."
    )


async def run(options: argparse.Namespace, url: str) -> None:
    from django.conf import settings
    from django.contrib.auth.models import User

    from chat.engines.client import openai_client

    gc.set_threshold(settings.SERVER_GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])

    def people() -> list[Any]:
        return User.objects.bulk_create(User(username=f"bench{i}") for i in range(options.n))

    users = await asyncio.to_thread(people)
    measured = Measured()
    await one_round(Measured(), users, url)  # warm-up: imports, connections
    for _ in range(options.rounds):
        await one_round(measured, users, url)
    await openai_client().close()
    report(measured, options.n, options.rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="questions at once (200)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (3)")
    options = parser.parse_args()
    database = f"taxsite_start_cost_{secrets.token_hex(4)}"
    with running() as url:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        try:
            os.environ |= {
                "DJANGO_SETTINGS_MODULE": "taxsite.settings",
                "DEBUG": "0",  # as deployed: DEBUG=1 records every query
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DATABASE_URL": f"{PG}/{database}",
                "ASSISTANT_ENGINE": "chat",
                "OPENAI_API_KEY": "bench",
                "OPENAI_BASE_URL": url,
                "CHAT_RATE_LIMIT_TURNS": "1000000",
            }
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            asyncio.run(run(options, url))
        finally:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
