"""Two real daphne processes on Redis and PostgreSQL serving one conversation: the answer streams
to both, Stop works from either, a new process never touches live answers, and a process killed
mid-answer has its answer ended by the other's sweep."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import ROOT
from tests.helpers.servers import free_port

PG = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
LEASE_SECONDS = 3.0
SWEEP_SECONDS = 0.5
DAPHNE = [sys.executable, "-m", "taxsite.serve", "-b", "127.0.0.1"]  # as deployed

pytestmark = pytest.mark.multiprocess


def _reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Deployment:
    env: dict[str, str]
    database: str
    cookie: str = ""
    conversation_id: int = 0
    quiet_conversation_id: int = 0  # a conversation nobody writes in
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    logs: Path = ROOT

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def start(self, name: str) -> int:
        port = free_port()
        log = (self.logs / f"daphne-{name}.log").open("wb")
        process = subprocess.Popen(
            [*DAPHNE, "-p", str(port), "taxsite.asgi:application"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not _reachable(("127.0.0.1", port)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne {name} did not start; see {log.name}")
            time.sleep(0.1)
        self.processes[name] = process
        self.ports[name] = port
        return port

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(
            host=PG[0], port=PG[1], user="postgres", dbname=self.database, autocommit=True
        ) as connection:
            return list(connection.execute(query, params).fetchall())

    def answers(self) -> list[tuple[int, str, str]]:
        return [
            (int(pk), str(status), str(detail))
            for pk, status, detail in self.sql(
                "SELECT id, status, status_notice FROM chat_message WHERE role = 'assistant' "
                "ORDER BY id"
            )
        ]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    if not (_reachable(PG) and _reachable(REDIS)):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL and Redis must be up on 127.0.0.1 under CI=true.")
        pytest.skip("PostgreSQL (5432) and Redis (6379) are not both running on 127.0.0.1.")
    import psycopg

    database = f"taxsite_mp_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host=PG[0], port=PG[1], user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"postgres://postgres@{PG[0]}:{PG[1]}/{database}",
        "REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
        "CHANNEL_LAYER_PREFIX": f"taxsite-mp-{uuid.uuid4().hex[:8]}",
        "ASSISTANT_ENGINE": "offline",
        "OFFLINE_TOKEN_DELAY": "0.05",
        "CHAT_TURN_LEASE_SECONDS": str(LEASE_SECONDS),
        "CHAT_TURN_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "CHAT_RATE_LIMIT_TURNS": "1000",
        "PYTHONUNBUFFERED": "1",
    }
    found = Deployment(env=env, database=database, logs=tmp_path)
    try:
        found.manage("migrate", "--noinput", "-v0")
        session_key, conversation_id, quiet_id = found.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, "
            "HASH_SESSION_KEY\n"
            "from django.contrib.sessions.backends.db import SessionStore\n"
            "from chat.models import Conversation\n"
            "user = get_user_model().objects.create_user('carol', password='correct horse 3')\n"
            "session = SessionStore()\n"
            "session[SESSION_KEY] = str(user.pk)\n"
            "session[BACKEND_SESSION_KEY] = 'accounts.backends.ThrottledModelBackend'\n"
            "session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
            "session.create()\n"
            "print(session.session_key, Conversation.objects.create(owner=user).pk, "
            "Conversation.objects.create(owner=user).pk)",
        ).split()[-3:]
        found.cookie = f"sessionid={session_key}"
        found.conversation_id = int(conversation_id)
        found.quiet_conversation_id = int(quiet_id)
        yield found
    finally:
        for process in found.processes.values():
            with suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=10)
        with psycopg.connect(
            host=PG[0], port=PG[1], user="postgres", dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class Tab:
    """One browser tab's socket: frames kept in order, waited on with a bound."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.frames: list[str] = []

    @classmethod
    async def open(cls, deployment: Deployment, process: str, *, quiet: bool = False) -> "Tab":
        from websockets.asyncio.client import connect

        port = deployment.ports[process]
        conversation_id = deployment.quiet_conversation_id if quiet else deployment.conversation_id
        connection = await connect(
            f"ws://127.0.0.1:{port}/ws/conversations/{conversation_id}/",
            additional_headers=[("Cookie", deployment.cookie)],
            origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        )
        tab = cls(connection)
        await tab.until(lambda text: 'id="messages"' in text)  # the catch-up transcript
        return tab

    async def until(self, predicate: Any, timeout: float = 15) -> str:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                text = str(await self.connection.recv())
                self.frames.append(text)
                if predicate(text):
                    return text

    async def ask(self, question: str) -> None:
        await self.connection.send(json.dumps({"message": question}))

    async def stop(self) -> None:
        await self.connection.send(json.dumps({"action": "stop"}))


def bubble_of(message_id: int, status: str | None = None) -> Any:
    def check(text: str) -> bool:
        if f'id="message-{message_id}"' not in text:
            return False
        if status is None:
            return True
        return f'data-status="{status}"' in text

    return check


def ended(message_id: int) -> Any:
    def check(text: str) -> bool:
        return f'id="message-{message_id}"' in text and 'data-status="streaming"' not in text

    return check


async def latest_answer(deployment: Deployment, count: int) -> int:
    """The id of the count-th answer, once it exists."""
    async with asyncio.timeout(10):
        # Another process writes it: polling the shared database is the only way to see it.
        while len(answers := await asyncio.to_thread(deployment.answers)) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return answers[count - 1][0]


def test_two_processes_share_the_answer_stop_and_sweep(deployment: Deployment) -> None:
    # Its own event loop in its own thread: a browser test earlier in the run leaves
    # Playwright's loop installed in the main thread.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, two_processes(deployment)).result()


async def two_processes(deployment: Deployment) -> None:
    deployment.start("A")
    deployment.start("B")
    on_a = await Tab.open(deployment, "A")
    on_b = await Tab.open(deployment, "B")
    idle = await Tab.open(deployment, "B", quiet=True)  # nothing happens in it for 60 s
    idle_since = time.monotonic()

    # 1. An answer started from A streams identically to B.
    await on_a.ask("What is the tax on 85,000 euros?")
    first = await latest_answer(deployment, 1)
    final_on_a = await on_a.until(ended(first))
    final_on_b = await on_b.until(ended(first))
    assert 'data-status="complete"' in final_on_b
    assert final_on_a == final_on_b
    assert "€14,500.00" in final_on_b

    # 2. Stop pressed on B stops A's turn within a second. Three times: the machine is shared,
    # so the best of three shows what the path costs, and none may take long or be lost.
    waits = []
    for number in (2, 3, 4):
        await on_a.ask(f"What is the tax on {number}50,000 euros?")
        answer = await latest_answer(deployment, number)
        await on_b.until(bubble_of(answer, "streaming"))
        stopped_at = time.monotonic()
        await on_b.stop()
        stopped = await on_b.until(ended(answer), timeout=5)
        waits.append(time.monotonic() - stopped_at)
        assert 'data-status="interrupted"' in stopped
        assert "Stopped before the answer was finished" in stopped
        await on_a.until(ended(answer))
    assert min(waits) < 1.0, waits

    # 3. Starting a third process (as `make run` / a rolling restart does) while A streams
    # leaves A's answer to complete.
    await on_a.ask("What is the tax on 60,000 euros?")
    third = await latest_answer(deployment, 5)
    await on_b.until(bubble_of(third, "streaming"))
    deployment.manage("turn_sweep")
    deployment.start("C")
    on_c = await Tab.open(deployment, "C")
    done = await on_b.until(ended(third))
    assert 'data-status="complete"' in done
    await on_c.connection.close()

    # 4. A killed mid-answer: B's sweep ends the answer within the lease bound, tells B's tab,
    # and the conversation takes a new question.
    await on_a.ask("What is the tax on 120,000 euros?")
    fourth = await latest_answer(deployment, 6)
    await on_b.until(bubble_of(fourth, "streaming"))
    deployment.processes["A"].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    swept = await on_b.until(ended(fourth), timeout=LEASE_SECONDS + SWEEP_SECONDS + 5)
    assert time.monotonic() - killed_at <= LEASE_SECONDS + SWEEP_SECONDS + 2
    assert 'data-status="interrupted"' in swept
    assert "The server writing this answer stopped" in swept
    await on_b.ask("And on 40,000 euros?")
    fifth = await latest_answer(deployment, 7)
    assert 'data-status="complete"' in await on_b.until(ended(fifth))
    statuses = [status for _, status, _ in await asyncio.to_thread(deployment.answers)]
    assert statuses == [
        "complete",
        *["interrupted"] * 3,
        "complete",
        "interrupted",
        "complete",
    ]
    await on_b.connection.close()

    # 5. The idle tab is still open after 60 s on the Redis layer (redis-py's socket timeout
    # once equalled channels-redis's 5 s blocking read and closed idle sockets with 1011).
    await asyncio.sleep(max(0.0, 60 - (time.monotonic() - idle_since)))
    await idle.connection.send(json.dumps({"action": "nothing"}))
    assert "Unknown action." in await idle.until(lambda text: "Unknown action." in text)
    await idle.connection.close()
