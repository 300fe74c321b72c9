"""A frame flood on a real daphne (chat/socket_gate.py): the server reads a socket only within
its frame budget, closes a flood with its reason and lets it go without reading the rest, a
storm of reconnects is refused before the database is asked who is connecting, and a client
that does not read what it is sent is dropped."""

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from chat.consumers import TOO_FAST
from chat.socket_limits import CLOSE_FLOODING
from tests.helpers.paths import ROOT
from tests.helpers.servers import free_port, wait_for_port

PROBE = json.dumps({"action": "nothing"})
BURST = 5
ABUSE_LIMIT = 30
DAPHNE_APP = "taxsite.asgi:application"
SEND_STALL = 1.0


@dataclass
class Server:
    port: int
    cookies: dict[str, str]
    conversations: dict[str, int]
    log: Path

    def url(self, name: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/conversations/{self.conversations[name]}/"

    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


ACCOUNTS = (
    "import json\n"
    "from django.conf import settings\n"
    "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, "
    "HASH_SESSION_KEY\n"
    "from django.contrib.sessions.backends.db import SessionStore\n"
    "from chat.models import Conversation\n"
    "out = {}\n"
    "for name in ('flooder', 'other', 'opener', 'asker', 'slow'):\n"
    "    user = get_user_model().objects.create_user(name)\n"
    "    session = SessionStore()\n"
    "    session[SESSION_KEY] = str(user.pk)\n"
    "    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]\n"
    "    session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
    "    session.create()\n"
    "    out[name] = [session.session_key, Conversation.objects.create(owner=user).pk]\n"
    "print('ACCOUNTS', json.dumps(out))\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Plain `daphne taxsite.asgi:application` (asyncio's own loop; deployed, `taxsite.serve` puts
    it on uvloop), on its own SQLite file."""
    workdir = tmp_path_factory.mktemp("gate")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CHAT_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "ASSISTANT_ENGINE": "offline",
        "CHAT_FRAME_BURST": str(BURST),
        "CHAT_FRAME_ABUSE_LIMIT": str(ABUSE_LIMIT),
        "CHAT_SOCKET_OPEN_BURST": "3",
        "CHAT_SOCKET_OPENS_PER_MINUTE": "1",
        "CHAT_SOCKET_REFUSAL_SECONDS": "0.1",
        "CHAT_SOCKET_SEND_STALL_SECONDS": str(SEND_STALL),
        "CHAT_SOCKET_SEND_BUFFER_BYTES": "4096",  # the kernel's part of a backlog: 8 KiB
        "CHAT_RATE_LIMIT_TURNS": "100",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    out = subprocess.run(
        [*manage, "shell", "-c", ACCOUNTS], env=env, check=True, cwd=ROOT, capture_output=True
    ).stdout.decode()
    found = json.loads(next(line for line in out.splitlines() if line[:9] == "ACCOUNTS ")[9:])
    port = free_port()
    log = workdir / "daphne.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), DAPHNE_APP],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process)
        yield Server(
            port,
            {name: f"sessionid={key}" for name, (key, _) in found.items()},
            {name: conversation for name, (_, conversation) in found.items()},
            log,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def open_tab(server: Server, name: str) -> ClientConnection:
    tab = connect(
        server.url(name),
        additional_headers=[("Cookie", server.cookies[name])],
        origin=server.origin(),  # type: ignore[arg-type]
        open_timeout=10,
    )
    assert 'id="messages"' in str(tab.recv(timeout=10))  # the catch-up
    return tab


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    assert len(payload) < 126
    mask = b"\x01\x02\x03\x04"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def masked_text_frame(text: str) -> bytes:
    return masked_frame(text.encode())


def raw_tab(server: Server, name: str, receive_buffer: int | None = None) -> socket.socket:
    """A socket opened by hand, so that it can flood without ever reading or answering."""
    raw = socket.socket()
    if receive_buffer is not None:  # before connecting: the window it offers the server
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", server.port))
    raw.sendall(
        (
            f"GET /ws/conversations/{server.conversations[name]}/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.origin()}\r\nCookie: {server.cookies[name]}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += raw.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return raw


def frames_from(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each whole unmasked frame the server sent."""
    frames = []
    while len(data) >= 2:
        length, start = data[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(data[2:4], "big"), 4
        elif length == 127:
            length, start = int.from_bytes(data[2:10], "big"), 10
        if len(data) < start + length:
            break
        frames.append((data[0] & 0x0F, data[start : start + length]))
        data = data[start + length :]
    return frames


def flood_until_dropped(raw: socket.socket, flood: bytes) -> int:
    """Send `flood` without ever reading; how much the server took before it hung up."""
    raw.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 30
    while sent < len(flood) and time.monotonic() < deadline:
        try:
            sent += raw.send(flood[sent : sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:  # reset: the server dropped the connection
            break
    return sent


def test_a_flood_is_not_read_and_the_flooder_is_let_go(server: Server) -> None:
    flooder = raw_tab(server, "flooder")
    flood = masked_text_frame(PROBE) * 400_000  # 13 MB, far more than kernel buffers hold
    # The server stops reading the flood, closes it, and drops the connection even though the
    # flooder never answers the close: the sending ends without the flood having gone through.
    assert flood_until_dropped(flooder, flood) < len(flood)
    flooder.close()
    # Another person is served as usual.
    other = open_tab(server, "other")
    other.send(PROBE)
    assert "Unknown action." in str(other.recv(timeout=10))
    other.close()


def test_the_flooder_hears_why_and_the_burst_was_answered(server: Server) -> None:
    flooder = raw_tab(server, "flooder")
    flooder.sendall(masked_text_frame(PROBE) * (BURST + ABUSE_LIMIT + 50))
    received = b""
    flooder.settimeout(10)
    while not any(opcode == 0x8 for opcode, _ in frames_from(received)):
        chunk = flooder.recv(65536)
        assert chunk, "closed without a close frame"
        received += chunk
    frames = frames_from(received)
    texts = [payload.decode() for opcode, payload in frames if opcode == 0x1]
    assert sum("Unknown action." in text for text in texts) == BURST
    assert sum(TOO_FAST in text for text in texts) == 1
    close = next(payload for opcode, payload in frames if opcode == 0x8)
    assert int.from_bytes(close[:2], "big") == CLOSE_FLOODING
    flooder.close()


def test_frames_beyond_the_read_budget_wait_unread(server: Server) -> None:
    """Pings are answered by the server itself, so they show what it reads: the read budget's
    burst at once, then the rest only at its rate, however many wait."""
    pinger = raw_tab(server, "other")
    pinger.sendall(masked_frame(b"x", opcode=0x9) * 1000)
    pongs = 0
    pinger.settimeout(0.2)
    until = time.monotonic() + 1.0
    received = b""
    while time.monotonic() < until:
        try:
            received += pinger.recv(65536)
        except TimeoutError:
            continue
    pongs = sum(opcode == 0xA for opcode, _ in frames_from(received))
    read_burst = BURST + ABUSE_LIMIT + 1  # socket_limits.read_budget()
    assert read_burst <= pongs < 300  # not the 1,000 it was sent
    pinger.close()


def test_a_burst_within_budget_is_all_answered(server: Server) -> None:
    tab = open_tab(server, "other")
    for _ in range(BURST):
        tab.send(PROBE)
    answers = [str(tab.recv(timeout=10)) for _ in range(BURST)]
    assert all("Unknown action." in answer for answer in answers)
    tab.close()


def test_a_storm_of_reconnects_is_refused_before_the_database(server: Server) -> None:
    path = f"/ws/conversations/{server.conversations['opener']}/"
    handed_before = server.log.read_text().count(f"WSCONNECTING {path}")
    outcomes = []
    for _ in range(6):
        try:
            open_tab(server, "opener").close()
            outcomes.append("open")
        except Exception as refused:  # websockets' InvalidStatus: 403
            outcomes.append(type(refused).__name__)
    assert outcomes[:3] == ["open"] * 3
    assert outcomes[3:] == ["InvalidStatus"] * 3
    # Refused by the session, before authentication reads who it is (the consumer would say
    # "Socket of user ...").
    assert "Socket from 127.0.0.1 refused: opening sockets too fast" in server.log.read_text()
    # Refused before daphne built an application for them: it logged only the three let in
    # (each refused handshake's application left the server larger, benchmarks/abuse.py).
    assert server.log.read_text().count(f"WSCONNECTING {path}") - handed_before == 3


def is_finished_answer(frame: str) -> bool:
    """An answer's last push: its whole bubble, no longer streaming (not a question appended
    with the answer's empty bubble)."""
    return "bubble--assistant" in frame and 'data-status="streaming"' not in frame


def ask_back_to_back(tab: ClientConnection, stop: Any, seconds: float) -> int:
    """Questions one after another, each answer read whole, until `stop()` or `seconds`."""
    answers = 0
    deadline = time.monotonic() + seconds
    while not stop() and time.monotonic() < deadline:
        tab.send(json.dumps({"message": "What is the tax on 250,000 euros of revenue?"}))
        while not is_finished_answer(frame := str(tab.recv(timeout=20))):
            assert "alert is-visible" not in frame, frame  # no question refused
        answers += 1
        time.sleep(0.3)  # within the frame budget
    return answers


def test_a_slow_client_still_reading_is_kept(server: Server) -> None:
    """A tab that reads 10 kB/s while answers stream faster: its backlog passes the watch's
    mark, but the kernel keeps taking from it, so the server keeps it."""
    drops_before = server.log.read_text().count("dropped: it has not read")
    slow = raw_tab(server, "slow", receive_buffer=4096)
    slow.settimeout(0.1)
    stop = threading.Event()
    outcome: dict[str, object] = {"taken": 0}

    def read_slowly() -> None:
        while not stop.is_set():
            try:
                chunk = slow.recv(1024)
            except TimeoutError:
                continue
            except OSError as error:  # reset: dropped
                outcome["ended"] = error
                return
            if not chunk:
                outcome["ended"] = "hung up"
                return
            outcome["taken"] = int(outcome["taken"]) + len(chunk)  # type: ignore[call-overload]
            time.sleep(0.1)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    tab = open_tab(server, "slow")
    try:
        answers = ask_back_to_back(tab, lambda: "ended" in outcome, 5 * SEND_STALL + 3)
    finally:
        stop.set()
        reader.join()
        tab.close()
        slow.close()
    assert "ended" not in outcome, f"{outcome} after {answers} answers"
    assert int(outcome["taken"]) > 40_000  # type: ignore[call-overload]  # it kept reading
    assert server.log.read_text().count("dropped: it has not read") == drops_before


def test_a_client_that_does_not_read_is_dropped_and_the_reader_is_served(server: Server) -> None:
    """A tab that never reads the answers pushed to it: once more than 64 KiB wait unsent and
    none of it is taken for CHAT_SOCKET_SEND_STALL_SECONDS, the server hangs up on it (daphne's
    own ping would take 50 s), while the person's reading tab on the conversation gets every
    answer."""
    lurker = raw_tab(server, "asker", receive_buffer=4096)
    poller = select.poll()
    poller.register(lurker, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    tab = open_tab(server, "asker")
    answers = ask_back_to_back(tab, lambda: bool(poller.poll(0)), 30)
    assert poller.poll(0), f"still connected after {answers} answers"
    assert "dropped: it has not read what it was sent for 1.0 s" in server.log.read_text()
    tab.send(PROBE)  # the reader is still connected and served
    while "Unknown action." not in str(tab.recv(timeout=10)):
        pass
    tab.close()
    lurker.close()
