"""The engines that can answer a turn, and which one answers by default.

Engines are registered by dotted path in settings.ASSISTANT_ENGINES, like Django's session
backends; each class owns its name and label. This package is the only place that imports
`openai`, and only when an OpenAI engine actually runs: importing an engine class (for its label)
does not load the SDK, so the offline default never does.
"""

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from chat.engines.base import Engine


def engine_names() -> list[str]:
    return list(settings.ASSISTANT_ENGINES)


def default_engine_name() -> str:
    if settings.ASSISTANT_ENGINE:
        return str(settings.ASSISTANT_ENGINE)
    return "responses" if settings.OPENAI_API_KEY else "offline"


@cache
def _engine_class(path: str) -> type[Engine]:
    engine_class: type[Engine] = import_string(path)
    return engine_class


def engine_class(name: str) -> type[Engine]:
    try:
        path = settings.ASSISTANT_ENGINES[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"Unknown ASSISTANT_ENGINE {name!r}; choose one of: {', '.join(engine_names())}."
        ) from None
    return _engine_class(path)


def get_engine(name: str | None = None) -> Engine:
    return engine_class(name or default_engine_name())()


def prepare_default_engine() -> None:
    """Load what the default engine needs to run (an OpenAI engine: the SDK), before a server
    serves its first question; the offline engine needs nothing. An unknown engine is left to
    `manage.py check` and to the questions, as before: the server still starts."""
    name = default_engine_name()
    prepare = getattr(engine_class(name), "prepare", None) if name in engine_names() else None
    if prepare is not None:
        prepare()


def engine_label(name: str) -> str:
    """The label people see for an engine name stored on a message (the name if unknown)."""
    if name not in settings.ASSISTANT_ENGINES:
        return name
    return engine_class(name).label
