"""Static files served by the ASGI app itself (ServeStatic), as daphne serves them in production:
hashed names in the page, compressed bodies, far-future caching, no sync-iterator warnings."""

import asyncio
import json
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler

HASHED = re.compile(r"\.[0-9a-f]{12}\.[a-z0-9]+$")
TEN_YEARS = 315_360_000


@pytest.fixture
def production_static(settings: Any, collected_static: Path) -> Path:
    """The production static settings (tests/settings.py turns them off for the other tests)."""
    settings.DEBUG = False
    settings.STATIC_ROOT = collected_static
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
    }
    del settings.SERVESTATIC_USE_STATIC_ROOT
    return collected_static


def get(path: str, **headers: str) -> dict[str, Any]:
    """One GET through a fresh Django ASGI handler (the middleware chain daphne runs), on an
    event loop of its own thread: a session's Playwright keeps its loop marked as running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, aget(path, **headers)).result(timeout=30)


async def aget(path: str, **headers: str) -> dict[str, Any]:
    headers = {"host": "127.0.0.1", **headers}
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 443),
    }
    # channels' HttpCommunicator wants a "body" key in every body message; ASGI makes it optional.
    communicator = ApplicationCommunicator(ASGIHandler(), scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=10)
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await communicator.wait(timeout=10)
    return {
        "status": start["status"],
        "headers": {k.decode().lower(): v.decode() for k, v in start["headers"]},
        "body": body,
    }


def page_assets(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_pages_link_hashed_names_served_compressed_and_cached_for_years(
    production_static: Path,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = get("/accounts/login/")
        assert page["status"] == 200
        assets = page_assets(page["body"].decode())
        names = {Path(url).name.split(".")[0] for url in assets}
        assert {"app", "htmx-2", "hx-ws-2", "chat"} <= names, assets
        for url in assets:
            assert HASHED.search(url), f"{url} is not a hashed name"
            response = get(url, accept_encoding="gzip, deflate, br")
            headers = response["headers"]
            assert response["status"] == 200, url
            assert headers["cache-control"] == f"max-age={TEN_YEARS}, public, immutable"
            assert headers["content-encoding"] == "br", url
            assert "accept-encoding" in headers["vary"].lower()
            compressed = production_static / (url.removeprefix("/static/") + ".br")
            assert response["body"] == compressed.read_bytes()
    assert [str(w.message) for w in caught if "iterator" in str(w.message)] == []


def test_clients_without_brotli_get_gzip_and_the_rest_plain(production_static: Path) -> None:
    manifest = json.loads((production_static / "staticfiles.json").read_text())["paths"]
    css = f"/static/{manifest['chat/app.css']}"
    gzip = get(css, accept_encoding="gzip")
    assert gzip["headers"]["content-encoding"] == "gzip"
    plain = get(css)
    assert "content-encoding" not in plain["headers"]
    assert plain["body"] == (production_static / manifest["chat/app.css"]).read_bytes()
    assert plain["headers"]["content-type"].startswith("text/css")


def test_the_admin_is_styled_and_unknown_files_are_404(production_static: Path) -> None:
    login = get("/admin/login/")
    assert login["status"] == 200
    admin_assets = page_assets(login["body"].decode())
    assert any(re.search(r"/admin/css/base\.[0-9a-f]{12}\.css$", url) for url in admin_assets)
    for url in admin_assets:
        assert (get(url))["status"] == 200, url
    manifest = json.loads((production_static / "staticfiles.json").read_text())["paths"]
    admin_css = get(f"/static/{manifest['admin/css/base.css']}", accept_encoding="gzip")
    assert admin_css["status"] == 200
    assert "immutable" in admin_css["headers"]["cache-control"]
    # An unhashed name still answers (a CSS @import may use it) but only for a short while.
    unhashed = get("/static/admin/css/base.css")
    assert unhashed["status"] == 200
    assert unhashed["headers"]["cache-control"] == "max-age=60, public"
    assert (get("/static/chat/no-such-file.css"))["status"] == 404
    assert (get("/static/../taxsite/settings.py"))["status"] == 404
