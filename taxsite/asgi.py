"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import gc
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taxsite.settings")
# Initialise Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from accounts.guard import refuse_while_unsafe  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.socket_limits import OpenRateLimit  # noqa: E402
from taxsite.origins import ExactOriginValidator, close_unrouted  # noqa: E402


def websocket_application() -> object:
    """Sockets: the Origin must be exactly our own (scheme, host, port) or a trusted origin (a
    missing or `null` Origin is refused); then a storm of opens from one session is refused
    before the database is asked who it is (after the Origin check, so that another site cannot
    spend someone's budget); then the session's user is attached (consumers refuse anonymous
    users themselves); a path we do not serve is closed quietly."""
    routes = [*websocket_urlpatterns, re_path(r"", close_unrouted)]  # type: ignore[arg-type]
    return ExactOriginValidator(OpenRateLimit(AuthMiddlewareStack(URLRouter(routes))))


application = refuse_while_unsafe(
    ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application()})
)

if "daphne.server" in sys.modules:  # daphne may serve this (it is an installed app)
    from django.conf import settings

    from chat.engines import prepare_default_engine
    from chat.socket_gate import install

    install()  # sockets are read within their frame budget
    prepare_default_engine()  # not at the first question, while every socket waits
    # Work in threads (the database, rendering finished answers) yields to the loop sooner.
    sys.setswitchinterval(settings.SERVER_GIL_SWITCH_SECONDS)
    # Fewer collector passes: each stalls every stream of the process (settings.py says why).
    gc.set_threshold(settings.SERVER_GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])
