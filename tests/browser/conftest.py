"""Fixtures for the browser tests: a live taxsite, the fake OpenAI server it talks to, a page."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.servers import ARTIFACTS, serve_taxsite


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
