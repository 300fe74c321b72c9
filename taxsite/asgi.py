"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taxsite.settings")
# Initialise Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from accounts.guard import refuse_while_unsafe  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from taxsite.origins import ExactOriginValidator, close_unrouted  # noqa: E402


def websocket_application() -> object:
    """Sockets: the Origin must be exactly our own (scheme, host, port) or a trusted origin (a
    missing or `null` Origin is refused); then the session's user is attached (consumers refuse
    anonymous users themselves); a path we do not serve is closed quietly."""
    routes = [*websocket_urlpatterns, re_path(r"", close_unrouted)]  # type: ignore[arg-type]
    return ExactOriginValidator(AuthMiddlewareStack(URLRouter(routes)))


application = refuse_while_unsafe(
    ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application()})
)
