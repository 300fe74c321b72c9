"""Provider failures turned into words for the person; details go to the log, not the page.

The words are stored on the answer in English and shown in the reader's language: each is a
gettext msgid (gettext_noop), and those with a value are read back by chat.notices.
"""

import json
import logging
import math
from typing import TYPE_CHECKING

from django.utils.translation import gettext_noop

from chat.engines.base import TurnFailed
from chat.engines.wire import UNREADABLE, WireError, provider_error

if TYPE_CHECKING:
    import httpx2

logger = logging.getLogger(__name__)

STREAM_ENDED_EARLY = gettext_noop(
    "The connection to the AI provider ended before the answer was finished."
)
NO_ANSWER = gettext_noop("The AI provider could not produce an answer.")
CUT_SHORT = gettext_noop("The answer was cut short by the AI provider ({reason}).")
FILTERED = gettext_noop("The AI provider's content filter stopped this answer.")
WAIT_A_MINUTE = gettext_noop("Try again in a minute.")
WAIT_LATER = gettext_noop("Try again later.")
WAIT_SECONDS = gettext_noop("Try again in {seconds} s.")
WAIT_MINUTES = gettext_noop("Try again in {minutes} min.")
BAD_KEY = gettext_noop(
    "The AI provider rejected our API key (401). An administrator needs to check OPENAI_API_KEY."
)
FORBIDDEN = gettext_noop(
    "The AI provider refused access (403). An administrator needs to check the account."
)
NOT_FOUND_MODEL = gettext_noop(
    "The AI provider does not know the model '{model}' (404). "
    "An administrator needs to check OPENAI_MODEL."
)
RATE_LIMITED = gettext_noop("The AI provider is busy and asked us to slow down (429). {wait}")
BAD_REQUEST = gettext_noop(
    "The AI provider refused the request (400). Try rephrasing, or start a new conversation."
)
SERVER_ERROR = gettext_noop(
    "The AI provider had an error and did not recover after retries. Try again shortly."
)
TIMED_OUT = gettext_noop("The AI provider took too long to answer. Try again.")
BROKE_MID_ANSWER = gettext_noop("The connection to the AI provider broke mid-answer.")
UNREACHABLE = gettext_noop("Could not reach the AI provider. Try again shortly.")


# Past this, a number of minutes means nothing to a person (a misconfigured or hostile header).
LONGEST_WAIT_SHOWN = 24 * 3600


def _wait_phrase(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return WAIT_A_MINUTE
    if seconds > LONGEST_WAIT_SHOWN:
        return WAIT_LATER
    if seconds < 90:
        return WAIT_SECONDS.format(seconds=math.ceil(seconds))
    return WAIT_MINUTES.format(minutes=math.ceil(seconds / 60))


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


def _refused(exc: BaseException) -> bool:
    """A connection refused or a name not found, whatever the SDK calls it: its aiohttp
    transport reports every connection error as a connect timeout."""
    import aiohttp

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorError | ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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
        return TurnFailed(BAD_KEY, detail)
    if isinstance(exc, openai.PermissionDeniedError):
        return TurnFailed(FORBIDDEN, detail)
    if isinstance(exc, openai.NotFoundError):
        return TurnFailed(NOT_FOUND_MODEL.format(model=model), detail)
    if isinstance(exc, openai.RateLimitError):
        wait = _wait_phrase(_retry_after(exc.response))
        return TurnFailed(RATE_LIMITED.format(wait=wait), detail)
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return TurnFailed(BAD_REQUEST, detail)
    if isinstance(exc, openai.InternalServerError | openai.APIStatusError):
        return TurnFailed(SERVER_ERROR, detail, interrupted=partial)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException) and not _refused(exc):
        return TurnFailed(TIMED_OUT, detail, interrupted=partial)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        if partial:
            return TurnFailed(BROKE_MID_ANSWER, detail, interrupted=True)
        return TurnFailed(UNREACHABLE, detail)
    if isinstance(exc, openai.APIError):
        # An error event inside the stream (Assistants runs, read by the SDK).
        shown = provider_error({"error": {"message": exc.message}})
        return TurnFailed(shown.message, detail, interrupted=partial)
    raise exc
