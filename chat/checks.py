"""Configuration mistakes reported by `manage.py check` (and at startup), not mid-conversation."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from chat.engines import engine_names
from chat.engines.responses import STATE_MODES


@register()
def assistant_settings_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if settings.ASSISTANT_ENGINE and settings.ASSISTANT_ENGINE not in engine_names():
        errors.append(
            Error(
                f"ASSISTANT_ENGINE={settings.ASSISTANT_ENGINE!r} is not an engine.",
                hint=f"Use one of: {', '.join(engine_names())}.",
                id="chat.E001",
            )
        )
    if settings.ASSISTANT_ENGINE not in ("", "offline") and not settings.OPENAI_API_KEY:
        errors.append(
            Error(
                f"ASSISTANT_ENGINE={settings.ASSISTANT_ENGINE!r} needs OPENAI_API_KEY.",
                hint="Local servers accept any key: OPENAI_API_KEY=local.",
                id="chat.E002",
            )
        )
    if settings.OPENAI_STATE_MODE not in STATE_MODES:
        errors.append(
            Error(
                f"OPENAI_STATE_MODE={settings.OPENAI_STATE_MODE!r} is not a state mode.",
                hint=f"Use one of: {', '.join(STATE_MODES)}.",
                id="chat.E003",
            )
        )
    return errors
