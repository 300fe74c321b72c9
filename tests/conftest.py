"""Fixtures only (the people, a fresh channel layer, the fake OpenAI server, Chromium); helpers
live in tests/helpers and are imported from there."""

import gc
import inspect
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from channels.layers import channel_layers
from django.contrib.auth.models import User
from django.db import connections
from hypothesis import settings as hypothesis_settings

from chat.db import close_apart_connections
from chat.engines.client import close_openai_client

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every async test closes the provider client its event loop opened, as `manage.py ask`
    does when its answer ends; left open, its connections were reported unclosed when the suite
    ended."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.function):
            item.fixturenames.append("provider_client_closed")


@pytest.fixture
async def provider_client_closed() -> AsyncIterator[None]:
    yield
    await close_openai_client()


@pytest.fixture(scope="session", autouse=True)
def test_database_left_unused(django_db_setup: None) -> Iterator[None]:
    """Before the test database is dropped (PostgreSQL refuses while sessions use it): the
    connections of finished event loops' threads are closed by collecting them, those of the
    socket re-check threads and of asgiref's database thread (async tests outside any sync
    context run their ORM calls there) explicitly."""
    yield
    gc.collect()
    close_apart_connections()
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=15)


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(username="alice", password="correct horse 1")


@pytest.fixture
def bob(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(username="bob", password="correct horse 2")


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

    from tests.helpers.servers import CHROMIUM, CHROMIUM_ARGS

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
