"""The server itself refuses to serve while an account has a published password (DEBUG off).

System checks run for manage.py commands but not when daphne serves taxsite.asgi directly, so
the ASGI application checks once per process at its first request and then again at most every
RECHECK_SECONDS while the problem lasts: 503 for pages, a refused socket."""

import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.unsafe import unsafe_usernames

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 10.0
REFUSAL = (
    b"This server refuses to serve: an account has a published password. "
    b"See `manage.py check` (accounts.E001)."
)


def refuse_while_unsafe(application: Any) -> Any:
    state = {"safe": False, "checked_at": -RECHECK_SECONDS}

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if settings.DEBUG or state["safe"] or scope["type"] not in ("http", "websocket"):
            return await application(scope, receive, send)
        now = time.monotonic()
        if now - state["checked_at"] >= RECHECK_SECONDS:
            state["checked_at"] = now
            names = await sync_to_async(unsafe_usernames)()
            state["safe"] = not names
            if names:
                logger.error("Refusing to serve: published password on %s", ", ".join(names))
        if state["safe"]:
            return await application(scope, receive, send)
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 4503})
            return None
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": REFUSAL})
        return None

    return guarded
