"""Which pages may open a socket: exactly our own origin (scheme, host, port) or a trusted one."""

import asyncio
import logging
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.models import Conversation
from tests.helpers.sockets import ORIGIN, session_cookie, socket_for

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "taxsite.example.com"


async def open_socket(
    user: User, headers: list[tuple[bytes, bytes]], path: str | None = None
) -> tuple[bool, Any]:
    conversation: Conversation = await asyncio.to_thread(
        services.conversation_get_or_create_empty, owner=user
    )
    cookie = await asyncio.to_thread(session_cookie, user)
    socket = socket_for(path or f"/ws/conversations/{conversation.pk}/", [*headers, cookie])
    connected, code = await socket.connect()
    if connected:
        transcript = await socket.receive_from()  # what a hijacking page would read
        assert 'id="messages"' in transcript
        await socket.disconnect()
    return connected, code


@pytest.fixture
def production(settings: Any) -> Any:
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [SITE]
    settings.CSRF_TRUSTED_ORIGINS = []
    return settings


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (b"https://taxsite.example.com", True),
        (b"https://taxsite.example.com:443", True),  # the same origin, port spelled out
        (b"https://TaxSite.Example.com", True),  # host names are case-insensitive
        (b"https://taxsite.example.com:8443", False),  # another port
        (b"http://taxsite.example.com", False),  # another scheme: plain http in production
        (b"null", False),  # sandboxed frames, file: pages
        (b"https://evil.example.com", False),  # a sibling subdomain
        (b"https://example.com", False),  # the parent domain
        (b"https://taxsite.example.com.evil.net", False),  # a look-alike host
        (b"https://user@taxsite.example.com", False),
        (b"https://taxsite.example.com/path", False),
        (b"wss://taxsite.example.com", False),
        (b"", False),
    ],
)
async def test_production_accepts_only_the_exact_https_origin_of_the_site(
    alice: User, production: Any, origin: bytes, accepted: bool
) -> None:
    connected, _ = await open_socket(alice, [(b"host", SITE.encode()), (b"origin", origin)])
    assert connected is accepted


async def test_missing_origin_is_refused(alice: User, production: Any) -> None:
    connected, _ = await open_socket(alice, [(b"host", SITE.encode())])
    assert not connected


async def test_an_origin_matching_a_host_we_do_not_serve_is_refused(
    alice: User, production: Any
) -> None:
    """A Host outside ALLOWED_HOSTS is no origin of ours, even if the Origin agrees with it."""
    connected, _ = await open_socket(
        alice, [(b"host", b"evil.example"), (b"origin", b"https://evil.example")]
    )
    assert not connected


@pytest.mark.parametrize(
    ("trusted", "origin", "accepted"),
    [
        ("https://app.example.org", b"https://app.example.org", True),
        ("https://app.example.org", b"https://app.example.org:444", False),
        ("https://*.example.org", b"https://chat.example.org", True),
        ("https://*.example.org", b"https://example.org", True),  # as Django's CSRF check
        ("https://*.example.org", b"https://chat.example.org.evil.net", False),
        ("https://*.example.org", b"http://chat.example.org", False),
        ("http://app.example.org", b"http://app.example.org", False),  # no plain http in production
    ],
)
async def test_csrf_trusted_origins_are_the_other_accepted_origins(
    alice: User, production: Any, trusted: str, origin: bytes, accepted: bool
) -> None:
    production.CSRF_TRUSTED_ORIGINS = [trusted]
    connected, _ = await open_socket(alice, [(b"host", SITE.encode()), (b"origin", origin)])
    assert connected is accepted


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (b"http://127.0.0.1:8000", True),  # the page runserver served
        (b"http://127.0.0.1:9999", False),  # another server on the same host: the reported attack
        (b"https://127.0.0.1:8000", False),  # another scheme
        (b"http://127.0.0.1", False),  # port 80
        (b"http://localhost:8000", False),  # another host name
        (b"null", False),
    ],
)
async def test_in_debug_only_the_local_origin_of_the_running_server_is_accepted(
    alice: User, settings: Any, origin: bytes, accepted: bool
) -> None:
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    connected, _ = await open_socket(alice, [(b"host", b"127.0.0.1:8000"), (b"origin", origin)])
    assert connected is accepted


@pytest.mark.parametrize("signed_in", [False, True])
async def test_a_socket_to_an_unrouted_path_is_closed_quietly(
    alice: User, signed_in: bool, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = [ORIGIN]
    if signed_in:
        headers.append(await asyncio.to_thread(session_cookie, alice))
    for path in ("/ws/nowhere/", "/", "/ws/conversations/abc/"):
        socket = socket_for(path, headers)
        connected, code = await socket.connect()
        assert (connected, code) == (False, 4404)
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
