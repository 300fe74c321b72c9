"""A live taxsite (daphne via runserver, its own SQLite file) and Debian's Chromium to drive it."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
SERVERS: dict[str, subprocess.Popen[bytes]] = {}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start in time")


@contextlib.contextmanager
def serve_taxsite(workdir: Path, port: int = 0, **env_overrides: str) -> Iterator[str]:
    """Serve as `make run` does (migrate, turn_sweep, runserver with daphne) on a free port
    with its own SQLite file in `workdir`; yields the URL. The process is `SERVERS[url]`."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REDIS_"))},
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "OFFLINE_TOKEN_DELAY": "0.04",
        "ASSISTANT_ENGINE": "offline",
        "PYTHONUNBUFFERED": "1",
        # Every test signs up a new person from 127.0.0.1 (3 per address by default).
        "AUTH_SIGNUPS_PER_ADDRESS": "1000",
        **env_overrides,
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "turn_sweep"], env=env, check=True, cwd=ROOT, capture_output=True)
    port = port or _free_port()
    with (workdir / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        SERVERS[url] = server
        try:
            _wait_for_port(port, server)
            yield url
        finally:
            SERVERS.pop(url, None)
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_taxsite(tmp_path_factory.mktemp("live")) as url:
        yield url


@pytest.fixture(scope="session")
def browser_fake_openai() -> Iterator[Any]:
    from tests.fake_openai import FakeOpenAI

    server = FakeOpenAI(token_delay=0.04).start()
    yield server
    server.stop()


# `browser` (Debian's Chromium, one per run) is in tests/conftest.py: tests/deploy uses it too.


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh page; the test fails if the page broke our Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert violations == [], violations


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
