"""Device cookies (OWASP): a browser that has signed in to an account before keeps its own
attempt counter for it, so strangers guessing that account's password cannot lock its owner out.
"""

import secrets

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from accounts.usernames import username_skeleton

_SALT = "accounts.device"


def device_id(*, request: HttpRequest, username: str) -> str | None:
    """The device id if this browser has signed in as `username` before (a valid signed cookie)."""
    value = request.COOKIES.get(settings.AUTH_DEVICE_COOKIE_NAME)
    if not value:
        return None
    try:
        data = signing.loads(value, salt=_SALT, max_age=settings.AUTH_DEVICE_COOKIE_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != username_skeleton(username):
        return None
    device = data.get("d")
    return device if isinstance(device, str) else None


def device_remember(*, response: HttpResponse, username: str) -> None:
    """Mark this browser as one `username` has signed in from."""
    value = signing.dumps(
        {"u": username_skeleton(username), "d": secrets.token_urlsafe(16)}, salt=_SALT
    )
    response.set_cookie(
        settings.AUTH_DEVICE_COOKIE_NAME,
        value,
        max_age=settings.AUTH_DEVICE_COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
