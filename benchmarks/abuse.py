"""Abuse benchmark: does one abusive account slow down another person, or keep the server's
memory after it leaves?

    .venv/bin/python benchmarks/abuse.py --quick      # under a minute
    .venv/bin/python benchmarks/abuse.py              # the full run (about four minutes)
    .venv/bin/python benchmarks/abuse.py --postgres   # on a fresh PostgreSQL database
    .venv/bin/python benchmarks/abuse.py --phases 3,4 # only some attacks (memory is per run)

Starts ONE daphne process on 127.0.0.1 (a free port, ping every 5 s, ping timeout 10 s,
production settings: DEBUG off, sockets from an https:// origin; the offline engine, the
in-memory channel layer) on its own SQLite file (or a PostgreSQL database it creates and drops),
creates the accounts with `manage.py shell -c`, then runs the phases:

  1. quiet: the victims alone;
  2. frame flood: 1, then 8 sockets of one account sending frames as fast as they can, each
     reconnecting at once when the server closes it;
  3. many sockets: one account opening 1,000 sockets (200 with --quick);
  4. non-readers: 40 raw TCP sockets that do the WebSocket handshake by hand and never read,
     on conversations where answers stream back to back (their accounts' own tabs ask);
     4c (full run) is the control: the same answers with no non-reader;
  5. after: the abusers gone, a short settle, the victims alone again.

Throughout, victims (three other accounts, one tab each) measure the round trip of a frame
(`{"action": "nothing"}` until its "Unknown action." comes back, 4 per second each, under each
one's frame budget, staggered: 300 round trips a phase, so that a p95 is not one probe's luck), and
the server's RSS, file descriptors and CPU are sampled from /proc. The attackers run in a child
process at nice 10, as if on another machine: the benchmark measures the server's fairness, not
the benchmark fighting itself for the 2 cores. Everything it starts is stopped, and its files
and database removed, on exit, Ctrl-C included. Exit status 1 if a target fails.
"""

import argparse
import asyncio
import base64
import contextlib
import ctypes
import hashlib
import json
import logging
import math
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parents[1]
PG = ("127.0.0.1", 5432)
PROBE = json.dumps({"action": "nothing"})
PROBE_REPLY = "Unknown action."
TOO_FAST = "You are sending faster"
QUESTION = "What is the tax on 250,000 euros of revenue?"
PROBES_PER_SECOND = 4.0  # under the victim's own budget (CHAT_FRAMES_PER_SECOND, default 5)
VICTIMS = 3  # other people, sampled together: a p95 of 300 round trips, not of 100
PROBE_GIVE_UP = 30.0
RTT_TARGET_RATIO = 2.0
MEMORY_TARGET_MIB = 20.0
PHASES = ("2a", "2b", "3", "4c", "4")
RSS_SAFETY_MIB = 1536  # an attack is cut short if the server grows past this (a shared machine)
ATTACKER_NICE = 10
NON_READERS = 40


# --- Measuring the server ------------------------------------------------------------------------


@dataclass
class Reading:
    rss_kib: int
    fds: int
    cpu_ticks: int


def read_process(pid: int) -> Reading:
    """RSS, open file descriptors and CPU time of a process, from /proc."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return Reading(rss_kib=rss, fds=fds, cpu_ticks=int(fields[11]) + int(fields[12]))


@dataclass
class Sampler:
    """Samples the server every 0.2 s into the current phase's list."""

    pid: int
    readings: list[Reading] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError):
                self.readings.append(read_process(self.pid))
            await asyncio.sleep(0.2)

    @property
    def peak_mib(self) -> float:
        return max((r.rss_kib for r in self.readings), default=0) / 1024


# --- The victims -------------------------------------------------------------------------------


@dataclass
class Samples:
    rtts: list[float] = field(default_factory=list)
    probes: int = 0


class Victim:
    """Another person's tab: one frame at a time (so never over its own frame budget), each
    timed until its answer comes back, however late."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.throttled = 0
        self.owed = 0  # answers still due to probes given up on (they arrive in order)

    async def probe(self) -> float:
        began = time.perf_counter()
        await self.connection.send(PROBE)
        try:
            async with asyncio.timeout(PROBE_GIVE_UP):
                while True:
                    text = str(await self.connection.recv())
                    self.throttled += TOO_FAST in text
                    if PROBE_REPLY in text:
                        if self.owed:
                            self.owed -= 1
                            continue
                        return time.perf_counter() - began
        except TimeoutError:
            self.owed += 1
            return PROBE_GIVE_UP

    async def sample(
        self,
        seconds: float,
        until: Callable[[], bool] = lambda: True,
        give_up: Callable[[], bool] = lambda: False,
    ) -> Samples:
        """Round trips, 4 a second, for `seconds` and on until `until()` holds (or `give_up()`).

        A late answer also stands for the probes a person would have sent while waiting
        (correcting for coordinated omission): a stall of 3 s counts 3 s, 2.75 s, 2.5 s...
        """
        found = Samples()
        interval = 1 / PROBES_PER_SECOND
        end = time.monotonic() + seconds
        while (time.monotonic() < end or not until()) and not give_up():
            began = time.perf_counter()
            rtt = await self.probe()
            found.probes += 1
            found.rtts.append(rtt)
            while (rtt := rtt - interval) > interval:
                found.rtts.append(rtt)
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))
        return found

    async def recover(self, threshold: float, bound: float) -> float | None:
        """Seconds until 4 round trips in a row take under `threshold` (None: not within
        `bound`)."""
        began = time.monotonic()
        streak = 0
        while time.monotonic() - began < bound:
            probe_began = time.perf_counter()
            streak = streak + 1 if await self.probe() <= threshold else 0
            if streak == 4:
                return time.monotonic() - began
            await asyncio.sleep(
                max(0.0, 1 / PROBES_PER_SECOND - (time.perf_counter() - probe_began))
            )
        return None


class Victims:
    """Several people's tabs, probing together, their round trips pooled."""

    def __init__(self, victims: list[Victim]) -> None:
        self.each = victims

    @property
    def throttled(self) -> int:
        return sum(victim.throttled for victim in self.each)

    async def sample(
        self,
        seconds: float,
        until: Callable[[], bool] = lambda: True,
        give_up: Callable[[], bool] = lambda: False,
    ) -> Samples:
        async def staggered(index: int, victim: Victim) -> Samples:
            # Spread over the interval, so the probes do not arrive in bursts of len(each).
            await asyncio.sleep(index / PROBES_PER_SECOND / len(self.each))
            return await victim.sample(seconds, until, give_up)

        found = Samples()
        for one in await asyncio.gather(*(staggered(i, v) for i, v in enumerate(self.each))):
            found.rtts += one.rtts
            found.probes += one.probes
        return found

    async def recover(self, threshold: float, bound: float) -> float | None:
        return await self.each[0].recover(threshold, bound)

    async def close(self) -> None:
        for victim in self.each:
            with contextlib.suppress(Exception):
                await victim.connection.close()


@dataclass
class Account:
    name: str
    cookie: str
    conversation: int


def socket_url(port: int, account: Account) -> str:
    return f"ws://127.0.0.1:{port}/ws/conversations/{account.conversation}/"


async def open_tab(port: int, account: Account, *, read_catch_up: bool = True) -> ClientConnection:
    connection = await connect(
        socket_url(port, account),
        additional_headers=[("Cookie", account.cookie)],
        origin=Origin(f"https://127.0.0.1:{port}"),  # served over HTTPS, behind TLS
        open_timeout=20,
        max_queue=None,
    )
    if read_catch_up:
        async with asyncio.timeout(20):
            while 'id="messages"' not in str(await connection.recv()):
                pass
    return connection


# --- The attackers (a child process: `--role ...`) ---------------------------------------------


class Attack:
    """What an attacker role shares: the stop signal, the bound and its counters."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.port = int(spec["port"])
        self.accounts = [Account(**account) for account in spec["accounts"]]
        self.stop = asyncio.Event()
        self.stats: Counter[str] = Counter()
        self.facts: dict[str, float] = {}  # measured values that are not counts
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop.set)
        # Never outlive the benchmark, even if it is killed without cleaning up.
        loop.call_later(float(spec["max_seconds"]), self.stop.set)

    @staticmethod
    def say(line: str) -> None:
        print(line, flush=True)


async def flood(attack: Attack) -> None:
    """Each socket sends frames as fast as it can; closed, it reconnects at once."""

    async def one_socket() -> None:
        account = attack.accounts[0]
        while not attack.stop.is_set():
            try:
                connection = await open_tab(attack.port, account, read_catch_up=False)
            except (OSError, InvalidHandshake, TimeoutError):
                attack.stats["connect errors"] += 1
                await asyncio.sleep(0.05)
                continue
            attack.stats["connections"] += 1
            drain = asyncio.create_task(_drain(connection))
            try:
                while not attack.stop.is_set():
                    await connection.send(PROBE)
                    attack.stats["frames sent"] += 1
                    if attack.stats["frames sent"] % 20 == 0:
                        await asyncio.sleep(0)  # let the other sockets and the reader run
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else "none"
                attack.stats[f"closed by server {code}"] += 1
            finally:
                drain.cancel()
                connection.transport.abort()

    tasks = [asyncio.create_task(one_socket()) for _ in range(int(attack.spec["sockets"]))]
    attack.say("ready")
    attack.say("done")  # a flood is steady from the start
    await attack.stop.wait()
    await _finish(tasks)


async def _drain(connection: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in connection:
            pass


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def many_sockets(attack: Attack) -> None:
    """One account opens `sockets` sockets, 25 at a time, and keeps every one it can."""
    account = attack.accounts[0]
    gate = asyncio.Semaphore(25)
    connections: list[ClientConnection] = []
    closes: Counter[str] = Counter()

    async def watch(connection: ClientConnection) -> None:
        await _drain(connection)
        closes[str(connection.close_code)] += 1

    watchers: list[asyncio.Task[None]] = []

    async def one() -> None:
        async with gate:
            if attack.stop.is_set():
                return
            try:
                connection = await open_tab(attack.port, account, read_catch_up=False)
            except InvalidStatus as refused:
                attack.stats[f"refused {refused.response.status_code}"] += 1
                return
            except (OSError, InvalidHandshake, TimeoutError):
                attack.stats["connect errors"] += 1
                return
        connections.append(connection)
        watchers.append(asyncio.create_task(watch(connection)))

    attack.say("ready")
    began = time.monotonic()
    await asyncio.gather(*(one() for _ in range(int(attack.spec["sockets"]))))
    attack.facts["seconds to open all"] = round(time.monotonic() - began, 1)
    await asyncio.sleep(2)  # evictions in flight arrive
    attack.say("done")
    await attack.stop.wait()
    attack.stats["accepted"] = len(connections)
    attack.stats["still open"] = sum(c.state is State.OPEN for c in connections)
    for code, count in closes.items():
        attack.stats[f"closed by server {code}"] = count
    for connection in connections:
        connection.transport.abort()
    await _finish(watchers)


def raw_handshake(port: int, account: Account, *, receive_buffer: int) -> socket.socket:
    """A WebSocket handshake by hand, on a socket with a tiny receive buffer that is then never
    read: everything the server sends it piles up on the server's side."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(20)
    raw.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET /ws/conversations/{account.conversation}/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: https://127.0.0.1:{port}\r\nCookie: {account.cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = raw.recv(1)  # byte by byte: nothing after the headers is read
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    accept = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()  # noqa: S324
    ).decode()
    if not head.startswith(b"HTTP/1.1 101") or accept.encode() not in head:
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return raw


async def non_readers(attack: Attack) -> None:
    """`sockets` raw sockets that never read, spread over the accounts (within the per-person
    cap, so none is evicted), while each account's own tab asks questions back to back."""
    count = int(attack.spec["sockets"])
    raws: list[tuple[socket.socket, float]] = []
    for index in range(count):
        account = attack.accounts[index % len(attack.accounts)]
        try:
            raw = await asyncio.to_thread(raw_handshake, attack.port, account, receive_buffer=4096)
        except (OSError, ConnectionError):
            attack.stats["handshake errors"] += 1
            continue
        raws.append((raw, time.monotonic()))
    attack.stats["handshakes"] = len(raws)

    async def driver(account: Account) -> None:
        """The account's own tab, reading: asks again a second after each answer or refusal."""
        connection = await open_tab(attack.port, account)

        async def read() -> None:
            async for frame in connection:
                text = str(frame)
                if "chat-alert" in text and ("Wait for it" in text or "Try again" in text):
                    attack.stats["questions refused"] += 1
                else:
                    attack.stats["bytes pushed to each socket of a conversation"] += len(text)

        reader = asyncio.create_task(read())
        try:
            while not attack.stop.is_set():
                await connection.send(json.dumps({"message": QUESTION}))
                attack.stats["questions sent"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(attack.stop.wait(), 1.0)
        finally:
            reader.cancel()
            connection.transport.abort()

    drivers = [asyncio.create_task(driver(account)) for account in attack.accounts]
    attack.say("ready")
    hold = float(attack.spec["hold_seconds"])
    dropped_after: list[float] = []
    alive = dict(raws)
    poller = select.poll()
    for raw, _ in raws:
        poller.register(raw, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    by_fd = {raw.fileno(): raw for raw, _ in raws}
    deadline = time.monotonic() + hold
    while not attack.stop.is_set() and time.monotonic() < deadline:
        # The server hanging up is seen without reading a byte.
        for fd, _ in poller.poll(0):
            raw = by_fd[fd]
            if raw in alive:
                dropped_after.append(time.monotonic() - alive.pop(raw))
                poller.unregister(fd)
        await asyncio.sleep(0.25)
    attack.stats["dropped by the server"] = len(dropped_after)
    if dropped_after:
        attack.facts["dropped after (s, median)"] = round(statistics.median(dropped_after), 1)
    attack.say("done")
    await attack.stop.wait()
    for raw, _ in raws:
        raw.close()
    await _finish(drivers)


ROLES = {"flood": flood, "sockets": many_sockets, "nonreaders": non_readers}


async def attacker_main(role: str, spec: dict[str, Any]) -> None:
    attack = Attack(spec)
    try:
        await ROLES[role](attack)
    finally:
        Attack.say("result " + json.dumps({**attack.stats, **attack.facts}))


# --- The orchestrator ----------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark dies, so nothing outlives it."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _attacker_preexec() -> None:
    os.nice(ATTACKER_NICE)
    _die_with_parent()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Attacker:
    process: asyncio.subprocess.Process
    lines: asyncio.Queue[str]
    reader: asyncio.Task[None]

    @classmethod
    async def start(cls, role: str, spec: dict[str, Any]) -> "Attacker":
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role",
            role,
            "--spec",
            json.dumps(spec),
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches the benchmark, which stops it
            preexec_fn=_attacker_preexec,
        )
        lines: asyncio.Queue[str] = asyncio.Queue()

        async def pump() -> None:
            assert process.stdout is not None
            async for line in process.stdout:
                await lines.put(line.decode().strip())
            await lines.put("")

        return cls(process, lines, asyncio.create_task(pump()))

    async def expect(self, word: str, timeout: float) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while (line := await self.lines.get()) != word:
                if not line:
                    raise RuntimeError(f"the attacker exited before saying {word!r}")

    async def stop(self) -> dict[str, Any]:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        result: dict[str, Any] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                while line := await self.lines.get():
                    if line.startswith("result "):
                        result = json.loads(line.removeprefix("result "))
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()
        self.reader.cancel()
        return result


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Phase:
    name: str
    samples: Samples
    readings: list[Reading]
    seconds: float
    attack: dict[str, Any] = field(default_factory=dict)
    fds_under_attack: int | None = None
    recovered_after: float | None = None  # seconds after the attacker left; None: not yet

    @property
    def rtts(self) -> list[float]:
        return self.samples.rtts

    def p(self, q: float) -> float:
        return quantile(self.rtts, q)

    @property
    def rss_end_mib(self) -> float:
        return self.readings[-1].rss_kib / 1024

    @property
    def rss_max_mib(self) -> float:
        return max(r.rss_kib for r in self.readings) / 1024

    @property
    def fds_max(self) -> int:
        return max(r.fds for r in self.readings)

    @property
    def cpu_percent(self) -> float:
        ticks = self.readings[-1].cpu_ticks - self.readings[0].cpu_ticks
        return 100 * ticks / os.sysconf("SC_CLK_TCK") / max(self.seconds, 0.001)


@dataclass
class Bench:
    quick: bool
    postgres: bool
    phases: list[str]  # the attack phases to run (quiet and after always run)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="taxsite-abuse-")))
    database: str = field(default_factory=lambda: f"taxsite_abuse_{uuid.uuid4().hex[:10]}")
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    server: subprocess.Popen[bytes] | None = None
    attackers: list[Attacker] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """How long the victim samples each phase."""
        return 4 if self.quick else 25

    @property
    def recovery_bound(self) -> float:
        return 5 if self.quick else 120

    def manage(self, *args: str) -> str:
        return subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def setup(self, accounts: list[str]) -> dict[str, Account]:
        url = f"sqlite:///{self.workdir / 'abuse.sqlite3'}"
        if self.postgres:
            import psycopg

            with psycopg.connect(
                host=PG[0], port=PG[1], user="postgres", dbname="postgres", autocommit=True
            ) as admin:
                admin.execute(f'CREATE DATABASE "{self.database}"')
            url = f"postgres://postgres@{PG[0]}:{PG[1]}/{self.database}"
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("OPENAI_", "DJANGO_", "CHAT_", "REDIS_", "DATABASE_"))
            },
            "DJANGO_SETTINGS_MODULE": "taxsite.settings",
            # Production settings, as deployed (DEBUG=1 wraps every query for the debug page).
            "DEBUG": "0",
            "SECRET_KEY": "benchmark-only-" + uuid.uuid4().hex,
            "SECURE_SSL_REDIRECT": "0",
            "STATIC_ROOT": str(self.workdir / "static"),
            "DATABASE_URL": url,
            "ASSISTANT_ENGINE": "offline",
            "OFFLINE_TOKEN_DELAY": "0.02",
            # Phase 4 asks back to back for 25 s: the question rate limit is not under test.
            "CHAT_RATE_LIMIT_TURNS": "1000",
            "PYTHONUNBUFFERED": "1",
        }
        self.manage("collectstatic", "--noinput", "-v0")  # served with DEBUG off: checked first
        self.manage("migrate", "--noinput", "-v0")
        script = (
            "import json\n"
            "from django.conf import settings\n"
            "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, "
            "HASH_SESSION_KEY\n"
            "from django.contrib.sessions.backends.db import SessionStore\n"
            "from chat.models import Conversation\n"
            "out = {}\n"
            f"for name in {accounts!r}:\n"
            "    user = get_user_model().objects.create_user(name)\n"
            "    session = SessionStore()\n"
            "    session[SESSION_KEY] = str(user.pk)\n"
            "    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]\n"
            "    session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
            "    session.create()\n"
            "    conversation = Conversation.objects.create(owner=user)\n"
            "    out[name] = [session.session_key, conversation.pk]\n"
            "limits = {n: getattr(settings, n) for n in ('CHAT_MAX_SOCKETS_PER_PERSON', "
            "'CHAT_FRAMES_PER_SECOND', 'CHAT_FRAME_BURST', 'CHAT_FRAME_ABUSE_LIMIT', "
            "'CHAT_SESSION_RECHECK_SECONDS', 'CHAT_RATE_LIMIT_TURNS')}\n"
            "print('BENCH', json.dumps({'accounts': out, 'limits': limits}))\n"
        )
        line = next(
            line for line in self.manage("shell", "-c", script).splitlines() if line[:6] == "BENCH "
        )
        found = json.loads(line[6:])
        self.limits = found["limits"]
        return {
            name: Account(name, f"sessionid={key}", conversation)
            for name, (key, conversation) in found["accounts"].items()
        }

    def start_server(self) -> int:
        self.port = _free_port()
        log = (self.workdir / "daphne.log").open("wb")
        self.server = subprocess.Popen(  # noqa: S603 - daphne from our own environment
            [
                *(sys.executable, "-m", "taxsite.serve", "-b", "127.0.0.1", "-p", str(self.port)),
                *("--ping-interval", "5", "--ping-timeout", "10", "taxsite.asgi:application"),
            ],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 30
        while not _reachable(("127.0.0.1", self.port)):
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("daphne did not start:\n" + self.log_tail())
            time.sleep(0.1)
        return self.server.pid

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.workdir / "daphne.log").read_text().splitlines()[-30:])
        return ""

    async def attacker(self, role: str, accounts: list[Account], **spec: Any) -> Attacker:
        spec |= {"port": self.port, "accounts": [vars(a) for a in accounts], "max_seconds": 300}
        attacker = await Attacker.start(role, spec)
        self.attackers.append(attacker)
        await attacker.expect("ready", timeout=60)
        return attacker

    async def cleanup(self) -> None:
        for attacker in self.attackers:
            with contextlib.suppress(ProcessLookupError):
                attacker.process.kill()
            await attacker.process.wait()
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.postgres:
            import psycopg

            with psycopg.connect(
                host=PG[0], port=PG[1], user="postgres", dbname="postgres", autocommit=True
            ) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def measuring(sampler: Sampler) -> AsyncIterator[Callable[[], float]]:
    """Fresh readings for a phase; yields a clock of the phase's seconds."""
    sampler.readings = []
    with contextlib.suppress(OSError, ValueError):
        sampler.readings.append(read_process(sampler.pid))
    began = time.monotonic()
    yield lambda: time.monotonic() - began
    with contextlib.suppress(OSError, ValueError):
        sampler.readings.append(read_process(sampler.pid))


async def run(bench: Bench) -> list[Phase]:
    nonreader_accounts = -(-NON_READERS // 8)  # 8 raw sockets + 1 reading tab, within the cap
    streamers = [f"{kind}{i}" for kind in ("idle", "ctrl") for i in range(nonreader_accounts)]
    watchers = [f"victim{i}" for i in range(VICTIMS)]
    names = [*watchers, "warm", "flooder", "opener", *streamers]
    print(f"setting up in {bench.workdir} ({'PostgreSQL' if bench.postgres else 'SQLite'})")
    accounts = bench.setup(names)
    cap = int(bench.limits["CHAT_MAX_SOCKETS_PER_PERSON"])
    if cap < 9:
        raise SystemExit(f"CHAT_MAX_SOCKETS_PER_PERSON={cap}: phase 4 needs 9 per account")
    pid = bench.start_server()
    print(f"daphne pid {pid} on 127.0.0.1:{bench.port}; limits {bench.limits}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    sampler = Sampler(pid)
    sampling = asyncio.create_task(sampler.run())
    victims = Victims([Victim(await open_tab(bench.port, accounts[name])) for name in watchers])
    idle = [accounts[f"idle{i}"] for i in range(nonreader_accounts)]
    control = [accounts[f"ctrl{i}"] for i in range(nonreader_accounts)]
    phases: list[Phase] = []
    try:
        await warm_up(bench, victims, accounts["warm"])

        flooder, opener = [accounts["flooder"]], [accounts["opener"]]
        opened = 200 if bench.quick else 1000
        hold = 5 if bench.quick else 25  # full: long enough for daphne's ping timeout to act
        settle = 2 if bench.quick else 10
        steps: list[tuple[str, str | None, list[Account], dict[str, Any]]] = [
            ("1 quiet", None, [], {}),
            ("2a flood, 1 socket", "flood", flooder, {"sockets": 1}),
            ("2b flood, 8 sockets", "flood", flooder, {"sockets": 8}),
            (f"3 {opened:,} sockets, 1 account", "sockets", opener, {"sockets": opened}),
            (
                "4c answers only (control)",  # phase 4's answers, no non-readers: what is whose
                "nonreaders",
                control,
                {"sockets": 0, "hold_seconds": hold},
            ),
            (
                f"4 {NON_READERS} non-readers",
                "nonreaders",
                idle,
                {"sockets": NON_READERS, "hold_seconds": hold},
            ),
        ]
        for name, role, targets, spec in steps:
            if role is not None and name.split()[0] not in bench.phases:
                continue
            found = await run_phase(bench, sampler, victims, name, role, targets, spec)
            phases.append(found)
            if role is not None:
                # The next phase starts on a server that is itself again (or bounded wait).
                normal = 2 * phases[0].p(0.95)
                found.recovered_after = await victims.recover(normal, bench.recovery_bound)
                after = found.recovered_after
                print(f"    back to normal after {after and round(after, 1)} s", flush=True)
        await asyncio.sleep(settle)  # answers in flight finish, closed sockets are let go
        phases.append(
            await run_phase(bench, sampler, victims, f"5 after (+{settle} s settle)", None, [], {})
        )
    finally:
        sampling.cancel()
        await victims.close()
    if victims.throttled:
        print(f"note: the victims' own probes were throttled {victims.throttled} times")
    return phases


async def run_phase(
    bench: Bench,
    sampler: Sampler,
    victims: Victims,
    name: str,
    role: str | None,
    targets: list[Account],
    spec: dict[str, Any],
) -> Phase:
    """The victims' round trips while an attacker (if any) does its worst, then it leaves."""
    async with measuring(sampler) as clock:
        if role is None:
            samples = await victims.sample(bench.seconds)
            fds, result = read_process(sampler.pid).fds, {}
        else:
            attacker = await bench.attacker(role, targets, **spec)
            done = asyncio.create_task(attacker.expect("done", timeout=240))
            samples = await victims.sample(
                bench.seconds, until=done.done, give_up=lambda: sampler.peak_mib > RSS_SAFETY_MIB
            )
            if sampler.peak_mib > RSS_SAFETY_MIB:
                print(f"    server RSS over {RSS_SAFETY_MIB} MiB: attack cut short", flush=True)
                done.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await done  # raises if the attacker failed
            fds = read_process(sampler.pid).fds
            result = await attacker.stop()
            bench.attackers.remove(attacker)
        seconds = clock()
    found = Phase(name, samples, list(sampler.readings), seconds, result, fds)
    print(
        f"  {name}: p95 {found.p(0.95) * 1000:.1f} ms over {samples.probes} round trips, "
        f"RSS {found.rss_end_mib:.1f} MiB, fds {fds} {result or ''}",
        flush=True,
    )
    return found


async def warm_up(bench: Bench, victims: Victims, account: Account) -> None:
    """Load every code path once (a whole answer, sockets opened and closed), so that the
    baseline is a warm server, not one still importing its Markdown renderer."""
    await victims.sample(2)
    tab = await open_tab(bench.port, account)
    await tab.send(json.dumps({"message": QUESTION}))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            deltas = 0
            while True:
                try:
                    text = str(await asyncio.wait_for(tab.recv(), 1.5 if deltas else 30))
                except TimeoutError:
                    break  # quiet for 1.5 s after the stream: the answer is done
                deltas += text.startswith('{"type":"delta"')
    await tab.close()
    for _ in range(3):
        await (await open_tab(bench.port, account)).close()
    await asyncio.sleep(2)


def report(phases: list[Phase], limits: dict[str, Any], bound: float) -> bool:
    quiet, after = phases[0], phases[-1]
    baseline_rss = quiet.rss_end_mib
    # Quiet is measured at both ends (the machine's own noise drifts while the benchmark runs);
    # the lower one is the reference, so that an attack's lasting harm cannot raise it.
    quiet_p95 = min(quiet.p(0.95), after.p(0.95))
    print()
    header = (
        f"{'phase':<26} {'n':>4} {'p50 ms':>7} {'p95 ms':>8} {'p95/quiet':>9} "
        f"{'RSS MiB end/max':>16} {'fds max':>7} {'CPU %':>6} {'back in':>7}  target"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for found in phases:
        ratio = found.p(0.95) / quiet_p95
        verdict = ""
        if found.attack:
            passed = ratio <= RTT_TARGET_RATIO
            ok &= passed
            verdict = f"RTT {'PASS' if passed else 'FAIL'}"
        if found is after:
            grown = found.rss_end_mib - baseline_rss
            passed = grown <= MEMORY_TARGET_MIB
            ok &= passed
            verdict = f"memory {'PASS' if passed else 'FAIL'} ({grown:+.1f} MiB)"
        back = ""
        if found.attack:
            recovered = found.recovered_after
            back = f"{recovered:.1f} s" if recovered is not None else f">{bound:g} s"
        print(
            f"{found.name:<26} {found.samples.probes:>4} {found.p(0.5) * 1000:>7.1f} "
            f"{found.p(0.95) * 1000:>8.1f} {ratio:>8.2f}x "
            f"{found.rss_end_mib:>7.1f}/{found.rss_max_mib:<8.1f} {found.fds_max:>7} "
            f"{found.cpu_percent:>6.0f} {back:>7}  {verdict}"
        )
    print()
    print(
        f"targets: another person's p95 round trip within {RTT_TARGET_RATIO:g}x of quiet "
        f"(the lower of phases 1 and 5: {quiet_p95 * 1000:.1f} ms); server RSS back within "
        f"+{MEMORY_TARGET_MIB:g} MiB of the quiet baseline ({baseline_rss:.1f} MiB) after the "
        "abusers leave"
    )
    for found in phases:
        if found.attack:
            details = ", ".join(f"{key} {value}" for key, value in found.attack.items())
            print(
                f"{found.name}: {details}; server fds with the attack in place "
                f"{found.fds_under_attack}"
            )
    print(
        "n: the victims' round trips; percentiles count a late answer also for the probes it "
        "held up. back in: seconds after the attacker left until 4 round trips in a row were "
        "under 2x the quiet p95."
    )
    print(f"limits: {limits}")
    print("OVERALL " + ("PASS" if ok else "FAIL"))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, under a minute")
    parser.add_argument("--postgres", action="store_true", help="a fresh database on 127.0.0.1")
    parser.add_argument(
        "--phases",
        help="attack phases to run among 2a,2b,3,4c,4 (default: all; with --quick all but "
        "the control 4c); quiet and after always run",
    )
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        asyncio.run(attacker_main(args.role, json.loads(args.spec)))
        return 0
    chosen = args.phases.split(",") if args.phases else [*PHASES]
    if args.quick and not args.phases:
        chosen.remove("4c")
    if not set(chosen) <= set(PHASES):
        parser.error(f"--phases: choose among {', '.join(PHASES)}")
    bench = Bench(quick=args.quick, postgres=args.postgres, phases=chosen)
    # asyncio's child watcher warns when subprocess's own cleanup reaped a stopped attacker first.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    began = time.monotonic()

    async def everything() -> list[Phase]:
        try:
            return await run(bench)
        except Exception:
            print(bench.log_tail())  # before cleanup removes the log
            raise
        finally:
            await bench.cleanup()

    # SIGTERM cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        phases = asyncio.run(everything())
    except KeyboardInterrupt:
        print("interrupted: server and attackers stopped, files removed")
        return 130
    ok = report(phases, bench.limits, bench.recovery_bound)
    print(f"({time.monotonic() - began:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
