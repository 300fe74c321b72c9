"""The engines that can answer a turn, and which one answers by default.

This package is the only place that imports `openai`.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chat.engines.base import Engine
from chat.engines.offline import OfflineEngine

ENGINE_LABELS = {
    "offline": OfflineEngine.label,
    "responses": "OpenAI Responses",
    "chat": "Chat Completions",
    "assistants": "Assistants (legacy: shut down by OpenAI on 2026-08-26)",
}


def default_engine_name() -> str:
    if settings.ASSISTANT_ENGINE:
        return str(settings.ASSISTANT_ENGINE)
    return "responses" if settings.OPENAI_API_KEY else "offline"


def get_engine(name: str | None = None) -> Engine:
    name = name or default_engine_name()
    # Imported here so that the offline default never loads the openai SDK.
    if name == "offline":
        return OfflineEngine()
    if name == "responses":
        from chat.engines.responses import ResponsesEngine

        return ResponsesEngine()
    if name == "chat":
        from chat.engines.chat_completions import ChatCompletionsEngine

        return ChatCompletionsEngine()
    if name == "assistants":
        from chat.engines.assistants import AssistantsEngine

        return AssistantsEngine()
    raise ImproperlyConfigured(
        f"Unknown ASSISTANT_ENGINE {name!r}; choose one of: {', '.join(ENGINE_LABELS)}."
    )
