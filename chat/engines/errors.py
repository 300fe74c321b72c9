"""Provider failures turned into words for the person; details go to the log, not the page."""

import json
import logging
import math
from typing import TYPE_CHECKING

from chat.engines.base import TurnFailed
from chat.engines.wire import UNREADABLE, WireError, provider_error

if TYPE_CHECKING:
    import httpx2

logger = logging.getLogger(__name__)

STREAM_ENDED_EARLY = "The connection to the AI provider ended before the answer was finished."


# Past this, a number of minutes means nothing to a person (a misconfigured or hostile header).
LONGEST_WAIT_SHOWN = 24 * 3600


def _wait_phrase(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return "Try again in a minute."
    if seconds > LONGEST_WAIT_SHOWN:
        return "Try again later."
    if seconds < 90:
        return f"Try again in {math.ceil(seconds)} s."
    return f"Try again in {math.ceil(seconds / 60)} min."


def _retry_after(response: "httpx2.Response") -> float | None:
    for header, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            continue
    return None


def failure_from(exc: Exception, *, model: str, partial: bool) -> TurnFailed:
    """The TurnFailed for an exception raised by the SDK or the HTTP layer under it."""
    import httpx2
    import openai

    if isinstance(exc, json.JSONDecodeError):  # garbage in a stream the SDK read (Assistants)
        exc = WireError(UNREADABLE, f"not JSON: {exc.doc[:200]!r}")
    if isinstance(exc, WireError):
        logger.warning("Provider reply unusable: %s (%s)", exc.message, exc.detail[:500])
        return TurnFailed(exc.message, exc.detail[:500], interrupted=partial)
    detail = f"{type(exc).__name__}: {exc}"[:500]
    logger.warning("Provider call failed: %s", detail)
    if isinstance(exc, openai.AuthenticationError):
        return TurnFailed(
            "The AI provider rejected our API key (401). "
            "An administrator needs to check OPENAI_API_KEY.",
            detail,
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return TurnFailed(
            "The AI provider refused access (403). An administrator needs to check the account.",
            detail,
        )
    if isinstance(exc, openai.NotFoundError):
        return TurnFailed(
            f"The AI provider does not know the model {model!r} (404). "
            "An administrator needs to check OPENAI_MODEL.",
            detail,
        )
    if isinstance(exc, openai.RateLimitError):
        wait = _wait_phrase(_retry_after(exc.response))
        return TurnFailed(
            f"The AI provider is busy and asked us to slow down (429). {wait}", detail
        )
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return TurnFailed(
            "The AI provider refused the request (400). "
            "Try rephrasing, or start a new conversation.",
            detail,
        )
    if isinstance(exc, openai.InternalServerError | openai.APIStatusError):
        return TurnFailed(
            "The AI provider had an error and did not recover after retries. Try again shortly.",
            detail,
            interrupted=partial,
        )
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return TurnFailed(
            "The AI provider took too long to answer. Try again.", detail, interrupted=partial
        )
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        if partial:
            return TurnFailed(
                "The connection to the AI provider broke mid-answer.", detail, interrupted=True
            )
        return TurnFailed("Could not reach the AI provider. Try again shortly.", detail)
    if isinstance(exc, openai.APIError):
        # An error event inside the stream (Assistants runs, read by the SDK).
        shown = provider_error({"error": {"message": exc.message}})
        return TurnFailed(shown.message, detail, interrupted=partial)
    raise exc
