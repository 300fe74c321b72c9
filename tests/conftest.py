import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import settings as hypothesis_settings

from taxsite.asgi import application

# Sockets are opened on https://testserver (the tests run in production mode, DEBUG off, where
# only the exact https origin of the Host is accepted): socket_for adds the Host header.
ORIGIN = (b"origin", b"https://testserver")
HOST = (b"host", b"testserver")

# CI explores the same examples every run (a red CI is then reproducible); locally they vary.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    hypothesis_settings.load_profile("ci")


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """Each test gets its own in-memory layer: no group left over from another test."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(username="alice", password="correct horse 1")


@pytest.fixture
def bob(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(username="bob", password="correct horse 2")


def session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def socket_for(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    if not any(name == b"host" for name, _ in headers):
        headers = [HOST, *headers]
    return WebsocketCommunicator(application, path, headers=headers)


async def receive_until(
    communicator: WebsocketCommunicator,
    predicate: Any,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> list[str]:
    """Frames received until one satisfies `predicate` (included); fails on timeout."""
    frames: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no matching frame in {timeout}s; got {frames[-3:]}")
        frame = await communicator.receive_from(timeout=remaining)
        frames.append(frame)
        if predicate(frame):
            return frames


def is_appended(frame: str) -> bool:
    """The frame that appends a new question and its (empty) answer to the transcript."""
    return 'id="messages"' in frame


async def wait_for_answer(communicator: WebsocketCommunicator, conversation: Any) -> list[str]:
    """Frames until the conversation's newest answer is finished (after `is_appended`)."""
    from chat.models import Message

    answer = await Message.objects.filter(conversation=conversation, role="assistant").alatest("pk")
    return await receive_until(communicator, is_finished_bubble(answer.pk))


def is_finished_bubble(message_id: int) -> Any:
    def check(frame: str) -> bool:
        return f'id="message-{message_id}"' in frame and 'data-status="streaming"' not in frame

    return check


def frame(message: str, **extra: Any) -> str:
    return json.dumps({"message": message, "HEADERS": {"HX-Request": "true"}, **extra})


# --- The fake OpenAI server ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[Any]:
    from tests.fake_openai import FakeOpenAI

    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: Any, settings: Any) -> Any:
    """The fake server, reset, with the settings that point the real SDK at it."""
    fake_openai_server.reset()
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = fake_openai_server.base_url
    settings.OPENAI_TIMEOUT = 5.0
    settings.OPENAI_MAX_RETRIES = 2
    settings.OPENAI_STATE_MODE = "conversation"
    return fake_openai_server


# --- Debian's Chromium ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One Chromium per run for tests/browser and tests/deploy: Playwright's sync API allows one
    instance at a time in a process."""
    import shutil
    from pathlib import Path

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Debian's chromium is missing under CI=true: `make test` installs it.")
        pytest.skip("Debian's chromium is not installed (make test installs it as root).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Production's static files (`collectstatic`, hashed and compressed), once per run, in
    <tmp>/static: production settings refuse to start without them (tests/deploy)."""
    from tests.deploy.conftest import collect_static

    return collect_static(tmp_path_factory.mktemp("release") / "static")
