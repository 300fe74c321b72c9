"""Sign-in safety in Chromium: a page on another port cannot use a person's socket; throttled
logins and the password-change page read well on desktop and phone."""

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_chat_flow import sign_up

pytestmark = pytest.mark.browser

HIJACK = """<!doctype html><title>waiting</title><script>
const ws = new WebSocket("{socket_url}");
ws.onmessage = (event) => {{ document.title = "read " + event.data.length; }};
ws.onclose = () => {{ if (!document.title.startsWith("read")) document.title = "refused"; }};
</script>"""


@pytest.fixture
def other_port_page() -> Iterator[Any]:
    """Serves one HTML page from 127.0.0.1 on another port; `set(html)` sets it."""
    content = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = content["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.set = lambda html: content.update(html=html)  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def test_a_page_on_another_port_of_the_same_host_cannot_read_the_transcript(
    page: Page, live_server_url: str, other_port_page: Any
) -> None:
    sign_up(page, live_server_url)  # our own page's socket is Live (same origin)
    page.get_by_role("textbox", name="Message").fill("My revenue is 85,000 euros, secret")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".bubble--user")).to_contain_text("secret")
    conversation_path = urlparse(page.url).path.replace("/c/", "/ws/conversations/")
    host = urlparse(live_server_url).netloc
    other_port_page.set(HIJACK.format(socket_url=f"ws://{host}{conversation_path}"))
    page.goto(other_port_page.url)  # same browser, so the session cookie goes along
    expect(page).to_have_title("refused", timeout=10_000)


def test_throttled_login_says_how_long_to_wait(
    page: Page, live_server_url: str, artifacts: Path, browser: Any
) -> None:
    username = sign_up(page, live_server_url)
    stranger = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    for _ in range(6):
        stranger.goto(f"{live_server_url}/accounts/login/")
        stranger.get_by_label("Username").fill(username)
        stranger.get_by_label("Password").fill("a wrong guess")
        stranger.get_by_role("button", name="Log in").click()
    expect(stranger.get_by_role("alert")).to_have_text(
        re.compile(r"Too many attempts\. Try again in (1 minute|\d\d? seconds)\.")
    )
    stranger.screenshot(path=str(artifacts / "auth-throttled-login-mobile.png"), full_page=True)
    stranger.context.close()


@pytest.mark.parametrize(("width", "height"), [(1280, 860), (390, 844)])
def test_password_change_page(
    page: Page, live_server_url: str, artifacts: Path, width: int, height: int
) -> None:
    sign_up(page, live_server_url)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server_url}/accounts/password_change/")
    page.get_by_label("Old password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("a brand new phrase 5")
    page.get_by_label("New password confirmation").fill("a brand new phrase 5")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("incorrect")
    page.screenshot(path=str(artifacts / f"auth-password-change-{width}.png"), full_page=True)
    page.get_by_label("Old password").fill("a long passphrase 9")
    page.get_by_label("New password", exact=True).fill("a brand new phrase 5")
    page.get_by_label("New password confirmation").fill("a brand new phrase 5")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
