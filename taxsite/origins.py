"""Which pages may open our WebSockets: the exact origin (scheme, host and port), as Django's CSRF.

A socket's Origin must be the origin of the site the socket was opened on (its Host header,
which must be in ALLOWED_HOSTS, with the scheme the page was served over) or one of
CSRF_TRUSTED_ORIGINS. Comparing host names alone (Channels' AllowedHostsOriginValidator) would let
a page on another port or scheme of the same host (http://127.0.0.1:9999) read a person's
transcript through their cookies. In production (DEBUG off) the site is served over HTTPS only,
so only https origins are accepted; in DEBUG the plain-http origin of runserver is the own origin.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import split_domain_port
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int


def origin_parse(value: str) -> Origin | None:
    """`scheme://host[:port]` with the default port filled in; None for anything else (`null`,
    paths, user info, unknown schemes)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {
        name.decode("latin1").lower(): value.decode("latin1")
        for name, value in scope.get("headers", [])
    }


def own_origin(scope: dict[str, Any]) -> Origin | None:
    """The origin the socket was opened on: Host (validated against ALLOWED_HOSTS, as Django does
    for a request, X-Forwarded-Host only with USE_X_FORWARDED_HOST) and the scheme."""
    headers = _headers(scope)
    if "host" not in headers:  # every browser sends one (HTTP/1.1 requires it)
        return None
    request = HttpRequest()
    for name, value in headers.items():
        request.META["HTTP_" + name.upper().replace("-", "_")] = value
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    if not settings.DEBUG:
        scheme = "https"  # production serves pages over HTTPS only (SECURE_SSL_REDIRECT, HSTS)
    elif scope.get("scheme") in ("wss", "https") or request.is_secure():
        scheme = "https"
    else:
        scheme = "http"
    domain, port = split_domain_port(host)
    if not domain:
        return None
    return Origin(scheme, domain, int(port) if port else DEFAULT_PORTS[scheme])


def _trusted(origin: Origin) -> bool:
    """CSRF_TRUSTED_ORIGINS, exact or with Django's `scheme://*.domain` wildcard."""
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        if "://*." in entry:
            scheme, _, netloc = entry.partition("://*")
            wildcard = origin_parse(f"{scheme}://x{netloc}")
            if (
                wildcard is not None
                and (wildcard.scheme, wildcard.port) == (origin.scheme, origin.port)
                and is_same_domain(origin.host, wildcard.host[1:])
            ):
                return True
        elif origin_parse(entry) == origin:
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    raw = _headers(scope).get("origin")
    origin = origin_parse(raw) if raw is not None else None
    if origin is None:  # missing, `null` (sandboxed frames, file: pages) or malformed
        return False
    if not settings.DEBUG and origin.scheme != "https":
        return False
    return origin == own_origin(scope) or _trusted(origin)


class ExactOriginValidator:
    """ASGI middleware: refuse a socket (before accept) unless its Origin is allowed."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier.as_asgi()(scope, receive, send)
        return await self.application(scope, receive, send)


async def close_unrouted(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A socket to a path we do not serve: refused quietly (4404), not a 500 with a traceback."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 4404})
