"""Streaming benchmark: N concurrent answers through one daphne process, against a raw relay.

    .venv/bin/python benchmarks/streaming.py            # 50, 100, 200, 500 concurrent; 3 rounds
    .venv/bin/python benchmarks/streaming.py --quick    # small N, well under a minute
    .venv/bin/python benchmarks/streaming.py --sizes 100,200 --repeats 1 --targets relay,memory

Needs PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379). The script
starts everything itself and removes it at the end, on Ctrl-C too:

- a fake Chat Completions upstream (benchmarks/upstream.py: 500 deltas per answer at 100/s by
  default, in the real SSE wire format);
- a fresh PostgreSQL database, migrated, with one user, session and conversation per concurrent
  answer (dropped at the end);
- per configuration, one fresh server process, warmed up with one short answer: the raw relay
  (benchmarks/relay.py), or `python -m taxsite.serve ... taxsite.asgi:application` (daphne on
  uvloop, as deployed) with the in-memory channel layer ("memory") or Redis ("redis", a key
  prefix of its own, deleted at the end).

Targets run interleaved (relay, memory, redis, then again), so a noisy neighbour hurts them alike.
Each answer's client (the `websockets` library, no compression) sends `{"message": ...}` and
reads until the answer's final bubble (an `<article id="message-<id>">` whose `data-status` is
not `streaming`). It understands both protocols: delta frames
(`{"type": "delta", "message", "seq", "text", ...}`: text counted from `text`; pushes are
numbered 1, 2, 3... across delta frames and whole bubbles (`data-seq`, the final bubble being the
last push), checked consecutive) and the older one where every push is the whole bubble. An
answer is delivered when it is `complete`, its final text is the upstream's, and (delta frames)
every frame arrived once and in order.

Printed per configuration (medians over rounds; delivered is the worst round): delivered / lost /
reordered, wall time from the first send to the last final bubble, time to first text p50/p95,
server CPU per 1,000 deltas (utime + stime of the server process, /proc/<pid>/stat, from the
sends to the last final bubble), bytes received per answer, and ratios to the relay. Then one
client alone (server-added time to first text), and a growth run: one answer of 500, 2,000 and
8,000 deltas (server CPU and bytes, ratios 8000/2000). Targets are printed as pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
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
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import psycopg
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Origin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upstream import answer_text, question

ROOT = Path(__file__).resolve().parents[1]
PG = ("127.0.0.1", 5432)
REDIS_URL = "redis://127.0.0.1:6379/0"
PROJECT_TARGETS = ("memory", "redis")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARMUP_DELTAS = 20
CONNECTS_AT_ONCE = 50
UNNUMBERED = 1 << 30
T = TypeVar("T")

# --- Targets (printed, not asserted) --------------------------------------------------------------
TARGET_N = 200
TARGET_WALL_RATIO = 1.5
TARGET_CPU_RATIO = 2.0
TARGET_TTFT_P95_MS = 300.0
TARGET_NOTHING_LOST_N = 500
TARGET_SERVER_ADDED_MS = 20.0
TARGET_GROWTH_CPU_RATIO = 4.5


# --- Processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Process:
    """A child process that is always ended: by `stop`, or by `Bench.cleanup`."""

    running: list[Process] = []

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], logs: Path, *, announces: bool
    ) -> None:
        """`announces`: the child prints "listening <port>" and nothing else on stdout (read by
        `announced_port`); any other child's stdout goes to its log, never to a pipe nobody
        reads (daphne's access log would fill it and block the server)."""
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - our own fixed command lines
                command,
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE if announces else log,
                stderr=log,
            )
        Process.running.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def announced_port(self, timeout: float = 30) -> int:
        """The port from the child's "listening <port>" line."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        os.set_blocking(self.popen.stdout.fileno(), False)
        buffer = b""
        while time.monotonic() < deadline and self.popen.poll() is None:
            buffer += self.popen.stdout.read() or b""
            match = re.search(rb"listening (\d+)", buffer)
            if match:
                return int(match.group(1))
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start; see {self.log}")

    def wait_for_port(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not reachable(port):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        # Killed outright: its figures are taken, and a graceful daphne shutdown takes seconds
        # (the database it wrote to is dropped at the end anyway).
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        with contextlib.suppress(ValueError):
            Process.running.remove(self)


# --- The database and the accounts ---------------------------------------------------------------

SETUP_SCRIPT = """
import json, sys
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from chat.models import Conversation
counts = json.loads(%r)
User = get_user_model()
users = User.objects.bulk_create([User(username=f"bench{i}") for i in range(len(counts))])
sessions = []
for user in users:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    sessions.append(session.session_key)
made = Conversation.objects.bulk_create(
    [Conversation(owner=u, thread_scope="chat") for u, n in zip(users, counts) for _ in range(n)]
)
pools, at = [], 0
for n in counts:
    pools.append([c.pk for c in made[at:at + n]])
    at += n
sys.stdout.write("\\nBENCH " + json.dumps({"sessions": sessions, "conversations": pools}) + "\\n")
"""


@dataclass
class Accounts:
    """One session per user; each answer takes a fresh conversation of its user."""

    sessions: list[str]
    conversations: list[list[int]]

    def take(self, user: int) -> tuple[str, int]:
        return self.sessions[user], self.conversations[user].pop()


# --- The client -----------------------------------------------------------------------------------

_ARTICLE = re.compile(r"<article\b([^>]*)>")
_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')
_STREAMING_TEXT = re.compile(r"streaming-text[^>]*>([^<]*)<")
_ALERT = re.compile(r'id="chat-alert"[^>]*\bis-visible[^>]*>([^<]*)<')
_VOID = {"br", "hr", "img", "input", "wbr", "meta", "link", "area", "col", "source"}


class _BodyText(HTMLParser):
    """The text inside the `.bubble-body` element of one article."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        if self.depth:
            self.depth += 1
        elif "bubble-body" in (dict(attrs).get("class") or "").split():
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in _VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def body_words(article_html: str) -> list[str]:
    parser = _BodyText()
    parser.feed(article_html)
    return " ".join(parser.parts).split()


@dataclass
class Answer:
    deltas: int
    rate: float
    sent: float = 0.0
    first_text: float | None = None
    finished: float | None = None
    received_bytes: int = 0
    message_id: str | None = None
    seq: int = 0
    delta_frames: int = 0
    pieces: list[tuple[int, str]] = field(default_factory=list)
    gaps: int = 0
    out_of_order: int = 0
    last_stream_text: str = ""
    status: str = ""
    final_words_ok: bool = False
    problem: str = ""

    @property
    def question(self) -> str:
        return question(self.deltas, self.rate)

    @property
    def expected(self) -> str:
        return answer_text(self.deltas)

    @property
    def ttft_ms(self) -> float:
        return math.inf if self.first_text is None else (self.first_text - self.sent) * 1000

    def outcome(self) -> tuple[str, str]:
        """("delivered" | "reordered" | "lost", why)."""
        if self.problem:
            return "lost", self.problem
        if self.finished is None:
            return "lost", "no final bubble"
        if self.status != "complete":
            return "lost", f"status {self.status}"
        if not self.final_words_ok:
            return "lost", "final text differs"
        if self.delta_frames:
            if self.gaps:
                return "lost", "frames missing"
            if "".join(text for _, text in sorted(self.pieces)) != self.expected:
                return "lost", "streamed text differs"
            if self.out_of_order:
                return "reordered", "frames out of order"
        elif self.out_of_order:
            return "reordered", "bubble text went backwards"
        return "delivered", ""

    # -- frames --

    def on_frame(self, frame: str, now: float) -> None:
        if frame.startswith("{"):
            self.on_json(json.loads(frame), now)
        else:
            self.on_html(frame, now)

    def on_json(self, data: Any, now: float) -> None:
        if not isinstance(data, dict) or data.get("type") != "delta":
            return
        message = str(data.get("message"))
        if self.message_id is None:
            self.message_id = message
        elif message != self.message_id:
            return
        self.delta_frames += 1
        seq = int(data.get("seq") or 0)
        self.numbered(seq)
        text = data.get("text") or ""
        if text:
            self.pieces.append((seq, str(text)))
            if self.first_text is None:
                self.first_text = now

    def numbered(self, seq: int) -> None:
        """Pushes of an answer are numbered 1, 2, 3...: delta frames and whole bubbles alike
        (a receipt, the final bubble). 0 is "not numbered"; 2**30 marks a bubble sent as stored
        (after a stop or a sweep), outside the sequence."""
        if seq <= 0 or seq >= UNNUMBERED:
            return
        if seq <= self.seq:
            self.out_of_order += 1
        elif seq > self.seq + 1:
            self.gaps += seq - self.seq - 1
        self.seq = max(self.seq, seq)

    def on_html(self, frame: str, now: float) -> None:
        for match in _ARTICLE.finditer(frame):
            attributes = dict(_ATTRIBUTE.findall(match.group(1)))
            article_id = attributes.get("id", "").removeprefix("message-")
            status = attributes.get("data-status", "")
            if self.message_id is None and (
                "bubble--assistant" in attributes.get("class", "").split() or status == "streaming"
            ):
                self.message_id = article_id
            if article_id != self.message_id:
                continue
            end = frame.find("</article>", match.end())
            article = frame[match.start() : end if end >= 0 else len(frame)]
            if attributes.get("data-seq", "").isdigit():
                self.numbered(int(attributes["data-seq"]))
            if status == "streaming":
                found = _STREAMING_TEXT.search(article)
                text = found.group(1) if found else ""
                if text:
                    if not text.startswith(self.last_stream_text):
                        self.out_of_order += 1
                    self.last_stream_text = text
                    if self.first_text is None:
                        self.first_text = now
            else:
                self.status = status
                self.final_words_ok = body_words(article) == self.expected.split()
                self.finished = now
                return
        if self.message_id is None:
            alert = _ALERT.search(frame)
            if alert and alert.group(1).strip():
                self.problem = f"refused: {alert.group(1).strip()[:60]}"


@dataclass
class Server:
    target: str
    process: Process
    port: int

    @property
    def is_project(self) -> bool:
        return self.target in PROJECT_TARGETS


async def open_socket(server: Server, session: str, conversation: int) -> ClientConnection:
    options: dict[str, Any] = {
        "compression": None,  # daphne offers none; the relay is told the same
        "proxy": None,
        "ping_interval": None,
        "open_timeout": 30,
        "close_timeout": 2,
        "max_size": 16 * 2**20,
        "max_queue": 4096,
    }
    if not server.is_project:
        return await connect(f"ws://127.0.0.1:{server.port}/", **options)
    socket_ = await connect(
        f"ws://127.0.0.1:{server.port}/ws/conversations/{conversation}/",
        # Production settings: pages are served over HTTPS (behind TLS), so is their Origin.
        origin=Origin(f"https://127.0.0.1:{server.port}"),
        additional_headers={"Cookie": f"sessionid={session}"},
        **options,
    )
    await asyncio.wait_for(socket_.recv(), 30)  # the transcript, sent on connect
    return socket_


async def ask(socket_: ClientConnection, answer: Answer) -> None:
    """Send the question and read frames until the final bubble (cancel to bound it)."""
    answer.sent = time.perf_counter()
    try:
        await socket_.send(json.dumps({"message": answer.question}))
        while answer.finished is None and not answer.problem:
            frame = await socket_.recv(decode=False)
            now = time.perf_counter()
            answer.received_bytes += len(frame)
            answer.on_frame(frame.decode(), now)
    except ConnectionClosed as closed:
        answer.problem = f"socket closed ({closed.rcvd.code if closed.rcvd else 'no code'})"
    except (ValueError, WebSocketException) as error:
        answer.problem = f"bad frame: {type(error).__name__}"


async def close_all(sockets: Sequence[ClientConnection]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    for socket_ in sockets:
        socket_.transport.abort()


# --- Results --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Run:
    target: str
    n: int
    deltas: int
    answers: list[Answer]
    wall: float | None  # None: some client was still waiting at the timeout
    server_cpu: float
    client_cpu: float
    upstream_cpu: float

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(a.outcome()[0] for a in self.answers)

    @property
    def reasons(self) -> Counter[str]:
        return Counter(why for a in self.answers if (why := a.outcome()[1]))

    @property
    def protocol(self) -> str:
        with_deltas = sum(1 for a in self.answers if a.delta_frames)
        if with_deltas == len(self.answers):
            return "delta"
        if with_deltas:
            return "mixed"
        return "bubble" if any(a.finished or a.first_text for a in self.answers) else "none seen"

    @property
    def cpu_per_1k(self) -> float:
        return self.server_cpu / (self.n * self.deltas / 1000)

    @property
    def bytes_per_answer(self) -> float:
        return sum(a.received_bytes for a in self.answers) / len(self.answers)

    def ttft(self, p: float) -> float:
        return percentile([a.ttft_ms for a in self.answers], p)

    def line(self) -> str:
        o = self.outcomes
        wall = f"{self.wall:.1f} s" if self.wall is not None else "timeout"
        reasons = ", ".join(f"{k} {v}" for k, v in self.reasons.most_common(3))
        return (
            f"  {self.target:<6} N={self.n:<4} {o['delivered']}/{self.n} delivered, "
            f"{o['lost']} lost, {o['reordered']} reordered; {wall}; first text "
            f"p50 {fmt_ms(self.ttft(50))} p95 {fmt_ms(self.ttft(95))}; "
            f"{'>= ' if self.wall is None else ''}{self.cpu_per_1k:.3f} CPU-s/1k; "
            f"{self.bytes_per_answer / 1024:.0f} KiB/answer; "
            f"client {self.client_cpu:.1f} / upstream {self.upstream_cpu:.1f} CPU-s; "
            f"{self.protocol}" + (f" [{reasons}]" if reasons else "")
        )


def fmt_ms(value: float) -> str:
    if math.isinf(value):
        return "none"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or not base or math.isnan(value) or math.isinf(value):
        return "-"
    return f"{value / base:.2f}x"


@dataclass
class Summary:
    """A configuration over its rounds: delivered at its worst, the rest as medians."""

    target: str
    n: int
    runs: list[Run]

    @property
    def delivered(self) -> int:
        return min(r.outcomes["delivered"] for r in self.runs)

    @property
    def lost(self) -> int:
        return max(r.outcomes["lost"] for r in self.runs)

    @property
    def reordered(self) -> int:
        return max(r.outcomes["reordered"] for r in self.runs)

    @property
    def wall(self) -> float | None:
        walls = [r.wall for r in self.runs]
        if any(w is None for w in walls):
            return None
        return statistics.median(w for w in walls if w is not None)

    def median(self, attribute: str) -> float:
        values = [float(getattr(r, attribute)) for r in self.runs]
        return statistics.median(values)

    def ttft(self, p: float) -> float:
        return statistics.median(r.ttft(p) for r in self.runs)

    @property
    def protocol(self) -> str:
        return "/".join(sorted({r.protocol for r in self.runs}))


# --- The benchmark --------------------------------------------------------------------------------


@dataclass
class Options:
    sizes: list[int]
    repeats: int
    targets: list[str]
    deltas: int
    rate: float
    timeout: float
    single: int
    growth: list[int]
    growth_rate: float
    growth_targets: list[str]
    keep_logs: bool
    profile: Path | None = None


class Bench:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.secret_key = "benchmark-only-" + uuid.uuid4().hex  # one for setup and servers
        self.static_root = Path(tempfile.mkdtemp(prefix="taxsite-bench-static-"))
        self.run_id = uuid.uuid4().hex[:8]
        self.database = f"taxsite_bench_{self.run_id}"
        self.prefix = f"taxsite-bench-{self.run_id}"
        self.logs = Path(tempfile.mkdtemp(prefix="taxsite-bench-"))
        self.database_created = False
        self.upstream: Process | None = None
        self.upstream_url = ""
        self.accounts = Accounts([], [])
        self.starts = 0
        self.summaries: dict[tuple[str, int], Summary] = {}
        self.single_ms: dict[str, list[float]] = {}
        self.growth_runs: dict[str, dict[int, Run]] = {}

    # -- setup and cleanup --

    def env(self, target: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("OPENAI_", "DJANGO_", "REDIS_", "DATABASE_", "CHAT_", "ASSISTANT_")
            )
        }
        env |= {
            "DJANGO_SETTINGS_MODULE": "taxsite.settings",
            # Production settings, as deployed (DEBUG=1 wraps every query for the debug page).
            "DEBUG": "0",
            "SECRET_KEY": self.secret_key,
            "SECURE_SSL_REDIRECT": "0",
            "STATIC_ROOT": str(self.static_root),
            "DATABASE_URL": f"postgres://postgres@{PG[0]}:{PG[1]}/{self.database}",
            "ASSISTANT_ENGINE": "chat",
            "OPENAI_API_KEY": "x",
            "OPENAI_BASE_URL": self.upstream_url,
            "CHAT_RATE_LIMIT_TURNS": "1000000",
            "PYTHONUNBUFFERED": "1",
        }
        if target == "redis":
            self.starts += 1
            env |= {"REDIS_URL": REDIS_URL, "CHANNEL_LAYER_PREFIX": f"{self.prefix}-{self.starts}"}
        return env

    def manage(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 - our own fixed command line
            [sys.executable, "manage.py", *args],
            env=self.env("memory"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def conversations_needed(self) -> list[int]:
        """Conversations per user for the whole plan (each answer takes a fresh one)."""
        o = self.options
        project = [t for t in o.targets if t in PROJECT_TARGETS]
        counts = [0] * max([1, *o.sizes])
        for n in o.sizes:
            for user in range(n):
                counts[user] += o.repeats * len(project)
        starts = len(o.sizes) * o.repeats * len(project) + len(project)
        growth = len([t for t in o.growth_targets if t in PROJECT_TARGETS]) * len(o.growth)
        counts[0] += starts + o.single * len(project) + growth + 2
        return counts

    def setup(self) -> None:
        if not reachable(PG[1]):
            raise SystemExit("PostgreSQL is not answering on 127.0.0.1:5432.")
        if "redis" in self.options.targets:
            redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
        self.upstream = Process(
            "upstream",
            [sys.executable, str(ROOT / "benchmarks" / "upstream.py")],
            {**os.environ},
            self.logs,
            announces=True,
        )
        self.upstream_url = f"http://127.0.0.1:{self.upstream.announced_port()}/v1"
        with self.connect("postgres") as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        self.database_created = True
        began = time.monotonic()
        self.manage("collectstatic", "--noinput", "-v0")
        self.manage("migrate", "--noinput", "-v0")
        counts = self.conversations_needed()
        output = self.manage("shell", "-c", SETUP_SCRIPT % json.dumps(counts))
        created = json.loads(output.rsplit("BENCH ", 1)[1])
        self.accounts = Accounts(created["sessions"], created["conversations"])
        print(
            f"Database {self.database}: migrated, {len(counts)} users, {sum(counts)} "
            f"conversations in {time.monotonic() - began:.0f} s; logs in {self.logs}",
            flush=True,
        )

    def cleanup(self) -> None:
        for process in list(Process.running):
            with contextlib.suppress(Exception):
                process.stop()
        if self.database_created:
            try:
                with self.connect("postgres") as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                self.database_created = False
            except psycopg.Error as error:
                print(f"Could not drop database {self.database}: {error}", file=sys.stderr)
        if "redis" in self.options.targets:
            with contextlib.suppress(redis.RedisError):
                client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
                keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
                for at in range(0, len(keys), 500):
                    client.delete(*keys[at : at + 500])
        shutil.rmtree(self.static_root, ignore_errors=True)
        if not self.options.keep_logs:
            for log in self.logs.glob("*.log"):
                log.unlink()
            with contextlib.suppress(OSError):
                self.logs.rmdir()

    # -- servers --

    async def start(self, target: str) -> Server:
        if target == "relay":
            process = Process(
                "relay",
                [
                    sys.executable,
                    str(ROOT / "benchmarks" / "relay.py"),
                    "--upstream",
                    self.upstream_url,
                ],
                {**os.environ},
                self.logs,
                announces=True,
            )
            server = Server(target, process, await asyncio.to_thread(process.announced_port))
        else:
            port = free_port()
            command = [sys.executable, "-m", "taxsite.serve", "-b", "127.0.0.1", "-p", str(port)]
            process = Process(
                f"daphne-{target}",
                [*command, "taxsite.asgi:application"],
                self.env(target),
                self.logs,
                announces=False,
            )
            await asyncio.to_thread(process.wait_for_port, port)
            server = Server(target, process, port)
        try:
            warmup = await self.one(server, WARMUP_DELTAS, self.options.rate, user=0)
        except BaseException:
            await asyncio.to_thread(server.process.stop)
            raise
        if warmup.outcome()[0] != "delivered":
            await asyncio.to_thread(server.process.stop)
            raise RuntimeError(
                f"{target}: the warm-up answer failed ({warmup.outcome()[1]}); see {self.logs}"
            )
        return server

    async def one(self, server: Server, deltas: int, rate: float, *, user: int) -> Answer:
        """One answer on its own socket, bounded in time."""
        session, conversation = self.accounts.take(user) if server.is_project else ("", 0)
        answer = Answer(deltas, rate)
        socket_ = await open_socket(server, session, conversation)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deltas / rate * 2 + 30):
                    await ask(socket_, answer)
        finally:
            await close_all([socket_])
        return answer

    # -- the three parts --

    async def concurrent(self, target: str, n: int) -> Run:
        o = self.options
        server = await self.start(target)
        sockets: list[ClientConnection] = []
        try:
            gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

            answers = [Answer(o.deltas, o.rate) for _ in range(n)]

            async def connect_one(user: int) -> ClientConnection | None:
                session, conversation = self.accounts.take(user) if server.is_project else ("", 0)
                async with gate:
                    try:
                        return await open_socket(server, session, conversation)
                    except (OSError, TimeoutError, WebSocketException) as error:
                        # Counted as a lost answer: a server too busy to accept is part of it.
                        answers[user].problem = f"connect failed: {type(error).__name__}"
                        return None

            async with asyncio.timeout(120):
                opened = await asyncio.gather(*(connect_one(u) for u in range(n)))
            sockets = [s for s in opened if s is not None]
            profiler = self.profiler(server, f"{target}-{n}")
            upstream = self.upstream
            assert upstream is not None
            before = (server.process.cpu(), time.process_time(), upstream.cpu())
            began = time.perf_counter()
            tasks = [
                asyncio.ensure_future(ask(s, a))
                for s, a in zip(opened, answers, strict=True)
                if s is not None
            ]
            _, pending = await asyncio.wait(tasks, timeout=o.timeout)
            after = (server.process.cpu(), time.process_time(), upstream.cpu())
            # Every client done (final bubble, refusal or closed socket), or the timeout.
            wall = None if pending else time.perf_counter() - began
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                await asyncio.to_thread(profiler.wait, 30)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return Run(
                target,
                n,
                o.deltas,
                answers,
                wall,
                after[0] - before[0],
                after[1] - before[1],
                after[2] - before[2],
            )
        finally:
            await close_all(sockets)
            await asyncio.to_thread(server.process.stop)
            await asyncio.to_thread(self.end_leftovers)

    def profiler(self, server: Server, name: str) -> subprocess.Popen[bytes] | None:
        """py-spy sampling the server (a separate process: it does not bill the server's CPU)."""
        folder = self.options.profile
        if folder is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        command = [spy, "record", "--nonblocking", "--gil", "--format", "raw", "--rate", "200"]
        output = folder / f"{name}-{server.process.pid}.txt"
        return subprocess.Popen(  # noqa: S603 - our own fixed command line
            [*command, "--pid", str(server.process.pid), "-o", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def end_leftovers(self) -> None:
        """End the answers a killed server left streaming, as its lease sweep would later: the
        next server's sweep must not do that work (and bill it) during its own measurement."""
        if self.database_created:
            with self.connect(self.database) as connection:
                connection.execute(
                    "UPDATE chat_message SET status = 'interrupted', lease_expires_at = NULL "
                    "WHERE status = 'streaming'"
                )

    @staticmethod
    def connect(database: str) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host=PG[0], port=PG[1], user="postgres", dbname=database, autocommit=True
        )

    async def serial(self, target: str) -> None:
        """One server: the one-client answers, then the growth answers (if asked for)."""
        o = self.options
        server = await self.start(target)
        upstream = self.upstream
        assert upstream is not None
        try:
            if o.single:
                times = []
                for _ in range(o.single):
                    answer = await self.one(server, WARMUP_DELTAS, o.rate, user=0)
                    times.append(answer.ttft_ms)
                self.single_ms[target] = times
                print(
                    f"  {target:<6} one client: first text median "
                    f"{fmt_ms(statistics.median(times))}",
                    flush=True,
                )
            if target not in o.growth_targets:
                return
            runs = self.growth_runs.setdefault(target, {})
            for deltas in o.growth:
                before = (server.process.cpu(), time.process_time(), upstream.cpu())
                began = time.perf_counter()
                answer = await self.one(server, deltas, o.growth_rate, user=0)
                after = (server.process.cpu(), time.process_time(), upstream.cpu())
                wall = answer.finished - began if answer.finished else None
                runs[deltas] = Run(
                    target,
                    1,
                    deltas,
                    [answer],
                    wall,
                    after[0] - before[0],
                    after[1] - before[1],
                    after[2] - before[2],
                )
                print(f"  growth {deltas}:" + runs[deltas].line(), flush=True)
        finally:
            await asyncio.to_thread(server.process.stop)
            await asyncio.to_thread(self.end_leftovers)

    async def guarded(self, work: Coroutine[Any, Any, T], name: str) -> T | None:
        """Run one configuration; one that cannot be set up is reported, and the rest go on."""
        try:
            return await work
        except (RuntimeError, OSError, TimeoutError, WebSocketException) as error:
            print(f"  {name}: FAILED to run: {type(error).__name__}: {error}", flush=True)
            return None

    async def run(self) -> None:
        o = self.options
        print(
            f"{o.deltas} deltas per answer at {o.rate:g}/s; targets {', '.join(o.targets)}; "
            f"{o.repeats} round(s); {o.timeout:g} s per configuration",
            flush=True,
        )
        for n in o.sizes:
            print(f"N = {n}", flush=True)
            for _ in range(o.repeats):
                for target in o.targets:
                    run = await self.guarded(self.concurrent(target, n), f"{target} N={n}")
                    if run is not None:
                        print(run.line(), flush=True)
                        summary = self.summaries.setdefault((target, n), Summary(target, n, []))
                        summary.runs.append(run)
        if o.single or o.growth:
            print(
                f"One client alone ({o.single} answers of {WARMUP_DELTAS} deltas), then growth: "
                f"one answer of {', '.join(map(str, o.growth))} deltas at {o.growth_rate:g}/s",
                flush=True,
            )
            for target in o.targets:
                if o.single or target in o.growth_targets:
                    await self.guarded(self.serial(target), target)

    # -- the report --

    def report(self) -> None:
        o = self.options
        print(
            f"\n## Concurrent answers ({o.deltas} deltas at {o.rate:g}/s each; medians of "
            f"{o.repeats} round(s), delivered = worst round; where a round timed out, CPU counts "
            "only the work done by then against all N x deltas: a lower bound)\n"
        )
        table_row(
            "N", "target", "protocol", "delivered", "lost", "reordered", "wall",
            "first text p50", "p95", "CPU-s/1k deltas", "KiB/answer", "wall / relay",
            "CPU / relay", "bytes / relay",
        )  # fmt: skip
        print("|" + "---|" * 14)
        for (target, n), s in self.summaries.items():
            relay = self.summaries.get(("relay", n))
            cpu, size = s.median("cpu_per_1k"), s.median("bytes_per_answer")
            table_row(
                n, target, s.protocol, f"{s.delivered}/{n}", s.lost, s.reordered,
                f"{s.wall:.1f} s" if s.wall is not None else f"> {o.timeout:g} s",
                fmt_ms(s.ttft(50)), fmt_ms(s.ttft(95)),
                f"{'>= ' if s.wall is None else ''}{cpu:.3f}", f"{size / 1024:.0f}",
                ratio(s.wall, relay.wall if relay else None),
                ratio(cpu, relay.median("cpu_per_1k") if relay else None),
                ratio(size, relay.median("bytes_per_answer") if relay else None),
            )  # fmt: skip
        if self.single_ms:
            print(f"\n## One client alone ({o.single} answers, median time to first text)\n")
            for target, times in self.single_ms.items():
                added = self.server_added_ms(target)
                extra = f"; server-added vs relay {added:+.1f} ms" if added is not None else ""
                print(f"- {target}: {statistics.median(times):.1f} ms{extra}")
        if self.growth_runs:
            print(f"\n## Growth (one answer, {o.growth_rate:g} deltas/s)\n")
            table_row(
                "target", "deltas", "delivered", "server CPU-s", "KiB received",
                "CPU / previous", "bytes / previous",
            )  # fmt: skip
            print("|" + "---|" * 7)
            for target, runs in self.growth_runs.items():
                previous: Run | None = None
                for deltas, run in sorted(runs.items()):
                    before = previous.bytes_per_answer if previous else None
                    table_row(
                        target, deltas, f"{run.outcomes['delivered']}/1", f"{run.server_cpu:.2f}",
                        f"{run.bytes_per_answer / 1024:.0f}",
                        ratio(run.server_cpu, previous.server_cpu if previous else None),
                        ratio(run.bytes_per_answer, before),
                    )  # fmt: skip
                    previous = run
        print("\n## Targets\n")
        checks = self.checks()
        if not checks:
            print(
                f"(set at N={TARGET_N} and N={TARGET_NOTHING_LOST_N}, one client, and the growth "
                "run: none measured in this run)"
            )
        for name, ok, value in checks:
            verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
            print(f"- {verdict} {name}: {value}")

    def server_added_ms(self, target: str) -> float | None:
        if target == "relay" or "relay" not in self.single_ms or target not in self.single_ms:
            return None
        return statistics.median(self.single_ms[target]) - statistics.median(
            self.single_ms["relay"]
        )

    def checks(self) -> list[tuple[str, bool | None, str]]:
        """The issue's targets, each (what, passed or None when not comparable, the figure)."""
        checks: list[tuple[str, bool | None, str]] = []
        relay = self.summaries.get(("relay", TARGET_N))
        for layer in PROJECT_TARGETS:
            s = self.summaries.get((layer, TARGET_N))
            if s is None:
                continue
            at = f"{layer} N={TARGET_N}"
            checks.append(
                (
                    f"{at}: {TARGET_N}/{TARGET_N} delivered complete, in order",
                    s.delivered == TARGET_N,
                    f"{s.delivered}/{TARGET_N}, {s.lost} lost, {s.reordered} reordered",
                )
            )
            if relay is not None:
                wall_ok = None if relay.wall is None else s.wall is not None
                if wall_ok and s.wall is not None and relay.wall is not None:
                    wall_ok = s.wall <= TARGET_WALL_RATIO * relay.wall
                checks.append(
                    (
                        f"{at}: wall time <= {TARGET_WALL_RATIO:g}x the relay",
                        wall_ok,
                        ratio(s.wall, relay.wall) if s.wall is not None else "timed out",
                    )
                )
                cpu, base = s.median("cpu_per_1k"), relay.median("cpu_per_1k")
                checks.append(
                    (
                        f"{at}: CPU per 1,000 deltas <= {TARGET_CPU_RATIO:g}x the relay",
                        cpu <= TARGET_CPU_RATIO * base,
                        ratio(cpu, base),
                    )
                )
            p95 = s.ttft(95)
            checks.append(
                (
                    f"{at}: time to first text p95 <= {TARGET_TTFT_P95_MS:.0f} ms",
                    p95 <= TARGET_TTFT_P95_MS,
                    fmt_ms(p95),
                )
            )
        for layer in PROJECT_TARGETS:
            s = self.summaries.get((layer, TARGET_NOTHING_LOST_N))
            if s is not None:
                checks.append(
                    (
                        f"{layer} N={TARGET_NOTHING_LOST_N}: nothing lost",
                        s.lost == 0,
                        f"{s.lost} lost, {s.delivered}/{TARGET_NOTHING_LOST_N} delivered",
                    )
                )
        for layer in PROJECT_TARGETS:
            added = self.server_added_ms(layer)
            if added is not None:
                checks.append(
                    (
                        f"{layer} one client: server-added time to first text "
                        f"<= {TARGET_SERVER_ADDED_MS:.0f} ms",
                        added <= TARGET_SERVER_ADDED_MS,
                        f"{added:+.1f} ms",
                    )
                )
        for target, runs in self.growth_runs.items():
            sizes = sorted(runs)
            if target not in PROJECT_TARGETS or len(sizes) < 2:
                continue
            small, big = sizes[-2], sizes[-1]
            # 4.5x for 4x the deltas (8,000 vs 2,000): linear plus a margin, scaled to the sizes.
            limit = TARGET_GROWTH_CPU_RATIO * (big / small) / 4
            growth = runs[big].server_cpu / max(runs[small].server_cpu, 1e-9)
            checks.append(
                (
                    f"{target} growth: CPU {big} / {small} deltas <= {limit:.2f}x",
                    growth <= limit,
                    f"{growth:.2f}x (bytes "
                    f"{ratio(runs[big].bytes_per_answer, runs[small].bytes_per_answer)})",
                )
            )
        return checks


def table_row(*cells: object) -> None:
    print("| " + " | ".join(str(cell) for cell in cells) + " |")


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="N concurrent answers through one daphne process, against a raw relay."
    )

    def numbers(text: str) -> list[int]:
        return [int(part) for part in text.split(",") if part.strip()]

    def names(text: str) -> list[str]:
        chosen = [part.strip() for part in text.split(",") if part.strip()]
        unknown = set(chosen) - {"relay", *PROJECT_TARGETS}
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown target(s): {', '.join(sorted(unknown))}")
        return chosen

    parser.add_argument("--quick", action="store_true", help="small N and short answers (< 60 s)")
    parser.add_argument("--sizes", type=numbers, help="concurrent answers (default 50,100,200,500)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--targets", type=names, default=["relay", "memory", "redis"])
    parser.add_argument("--deltas", type=int, help="deltas per answer (default 500)")
    parser.add_argument("--rate", type=float, default=100.0, help="deltas per second (100)")
    parser.add_argument("--timeout", type=float, help="seconds per configuration (default 90)")
    parser.add_argument("--single", type=int, help="answers for the one-client run (default 10)")
    parser.add_argument(
        "--growth", type=numbers, help="growth run sizes (500,2000,8000); empty: skip"
    )
    parser.add_argument(
        "--growth-rate", type=float, help="deltas per second in the growth run (100)"
    )
    parser.add_argument("--growth-targets", type=names, help="default: relay,memory")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    parser.add_argument(
        "--profile",
        type=Path,
        help="directory: sample each concurrent run's server with py-spy (collapsed stacks)",
    )
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    targets: list[str] = args.targets
    return Options(
        sizes=pick(args.sizes, [50, 100, 200, 500], [10]),
        repeats=pick(args.repeats, 3, 1),
        targets=targets,
        deltas=pick(args.deltas, 500, 50),
        rate=args.rate,
        timeout=pick(args.timeout, 90.0, 30.0),
        single=pick(args.single, 10, 3),
        growth=pick(args.growth, [500, 2000, 8000], [100, 400, 1600]),
        growth_rate=pick(args.growth_rate, 100.0, 800.0),
        growth_targets=[
            t
            for t in pick(args.growth_targets, ["relay", "memory"], ["relay", "memory"])
            if t in targets
        ],
        keep_logs=args.keep_logs,
        profile=args.profile,
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # Also when started in the background, where the shell had SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    bench = Bench(options)
    began = time.monotonic()
    status = 0
    try:
        bench.setup()
        asyncio.run(bench.run())
    except KeyboardInterrupt:
        print("\nInterrupted: cleaning up; what was measured so far follows.", file=sys.stderr)
        status = 130
    finally:
        bench.cleanup()
    bench.report()
    print(f"\n(total {time.monotonic() - began:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
