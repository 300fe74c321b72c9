"""The per-engine adapter fixture: each engine test runs once per OpenAI engine."""

from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI
from tests.helpers.adapters import ADAPTERS, ENGINES, Adapter


@pytest.fixture(params=ENGINES)
def adapter(request: pytest.FixtureRequest, settings: Any, fake_openai: FakeOpenAI) -> Adapter:
    settings.ASSISTANT_ENGINE = request.param
    return ADAPTERS[request.param]()
