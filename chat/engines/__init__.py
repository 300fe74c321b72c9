"""The engines that can answer a turn, and which one answers by default.

This package is the only place that imports `openai`.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chat.engines.base import Engine
from chat.engines.offline import OfflineEngine

ENGINE_LABELS = {
    "offline": OfflineEngine.label,
}


def default_engine_name() -> str:
    if settings.ASSISTANT_ENGINE:
        return settings.ASSISTANT_ENGINE
    return "responses" if settings.OPENAI_API_KEY else "offline"


def get_engine(name: str | None = None) -> Engine:
    name = name or default_engine_name()
    if name == "offline":
        return OfflineEngine()
    raise ImproperlyConfigured(
        f"Unknown ASSISTANT_ENGINE {name!r}; choose one of: {', '.join(ENGINE_LABELS)}."
    )
