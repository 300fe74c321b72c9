"""Production as it is deployed: Debian's nginx terminating TLS in front of two daphne processes
on PostgreSQL and Redis with the production settings, driven over HTTPS by Chromium.

What is real: the shipped deploy/nginx/taxsite.conf and its snippets (only ports, certificate
paths and the lines marked "test only" are changed), the daphne command line of
deploy/systemd/taxsite@.service, the variables of deploy/taxsite.env.example, a certificate the
test makes, a database and a Redis key prefix of its own, `collectstatic` and `migrate` as a
release runs them.

How a tab is pinned to one process: the test's upstream block gets `hash $cookie_taxsite_pin;`,
so a `taxsite_pin` cookie chooses the daphne process, and the HTTPS server adds an
`X-Taxsite-Upstream` header naming the process that answered. The test asks nginx which pin
value lands on which process, then gives each browser context its own pin.
"""

import contextlib
import datetime
import gzip
import http.client
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import (
    DEPLOY,
    ROOT,
    free_port,
    manage,
    nginx_binary,
    production_env,
    reachable,
    require,
)
from tests.helpers.servers import CHROMIUM

pytestmark = pytest.mark.browser

QUESTION = "What is the tax on 85,000 euros of revenue?"
LONG_QUESTION = "tax on 1000000 EUR"
PASSWORD = "a long passphrase 9"
TEN_YEARS = 315_360_000
WAIT = 20_000  # ms: a bound for what the page waits on (the machine is shared and noisy)


@dataclass
class Stack:
    base: str  # https://127.0.0.1:<port>: nginx, static files from the app
    disk_base: str  # the same site with static files from disk (taxsite-static-disk.conf)
    http_port: int  # nginx's plain HTTP server: redirects to HTTPS
    daphne_ports: tuple[int, int]
    pins: dict[int, str]  # daphne port -> cookie value that pins a client to it
    database_url: str
    static_root: Path
    cafile: Path
    logs: dict[str, Path] = field(default_factory=dict)

    def tls(self) -> ssl.SSLContext:
        """A client that verifies nginx's certificate (the test's own, trusted here)."""
        return ssl.create_default_context(cafile=str(self.cafile))

    def process_log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")


# --- Building the stack ------------------------------------------------------------------------


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "taxsite deployment test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def daphne_command(port: int) -> list[str]:
    """ExecStart of deploy/systemd/taxsite@.service for instance `port`, run from this venv."""
    unit = (DEPLOY / "systemd" / "taxsite@.service").read_text().replace("\\\n", " ")
    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart=").replace("%i", str(port)))
    assert argv[0].endswith("/python"), argv
    assert argv[1:3] == ["-m", "taxsite.serve"], argv
    return [sys.executable, *argv[1:]]


def substitute(text: str, replacements: list[tuple[str, str]]) -> str:
    for old, new in replacements:
        assert text.count(old) == 1, f"expected {old!r} once in the shipped nginx site file"
        text = text.replace(old, new)
    return text


def write_nginx_conf(
    prefix: Path,
    *,
    ports: dict[str, int],
    daphne: tuple[int, int],
    cert: Path,
    key: Path,
    static_parent: Path,
) -> Path:
    """The shipped site file and snippets, with this run's ports, certificate and paths."""
    conf = prefix / "conf"
    shutil.copytree(DEPLOY / "nginx" / "snippets", conf / "snippets")
    disk = conf / "snippets" / "taxsite-static-disk.conf"
    disk.write_text(
        substitute(disk.read_text(), [("root /srv/taxsite;", f"root {static_parent};")])
    )
    site = substitute(
        (DEPLOY / "nginx" / "taxsite.conf").read_text(),
        [
            (
                "upstream taxsite {",
                "upstream taxsite {\n    hash $cookie_taxsite_pin;  # test only",
            ),
            ("server 127.0.0.1:8001", f"server 127.0.0.1:{daphne[0]}"),
            ("server 127.0.0.1:8002", f"server 127.0.0.1:{daphne[1]}"),
            ("listen 80;", f"listen 127.0.0.1:{ports['http']};"),
            ("listen [::]:80;", ""),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports['https']} ssl http2;"),
            ("listen [::]:443 ssl http2;", ""),
            ("/etc/letsencrypt/live/taxsite.example.com/fullchain.pem", str(cert)),
            ("/etc/letsencrypt/live/taxsite.example.com/privkey.pem", str(key)),
            (
                "include snippets/taxsite-tls.conf;",
                "include snippets/taxsite-tls.conf;\n"
                "    add_header X-Taxsite-Upstream $upstream_addr always;  # test only",
            ),
        ],
    )
    # The same site with static files from disk, as the commented alternative in taxsite.conf.
    site += f"""
server {{
    listen 127.0.0.1:{ports["disk"]} ssl;
    server_name taxsite.example.com;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    include snippets/taxsite-tls.conf;
    include snippets/taxsite-proxy.conf;
    include snippets/taxsite-static-disk.conf;
}}
"""
    (conf / "sites").mkdir()
    (conf / "sites" / "taxsite.conf").write_text(site)
    mime = Path("/etc/nginx/mime.types")
    if mime.exists():
        shutil.copy(mime, conf / "mime.types")
    else:
        (conf / "mime.types").write_text(
            "types { text/html html; text/css css; application/javascript js; }\n"
        )
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (conf / "nginx.conf").write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 512; }}
http {{
    include mime.types;
    default_type application/octet-stream;
    log_format taxsite '$remote_addr "$request" $status upstream=$upstream_addr pin=$cookie_taxsite_pin';
    access_log {prefix / "access.log"} taxsite;
{temp}
    include sites/taxsite.conf;
}}
"""
    )
    return conf / "nginx.conf"


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"{process.args} exited: {log.read_text(errors='replace')[-2000:]}"
            )
        if reachable(port):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {timeout}s: {log.read_text()[-2000:]}")


def start(
    command: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def stop(*processes: subprocess.Popen[bytes]) -> None:
    """SIGTERM to all at once (as systemd stops units), then wait for each."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def sql(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        cursor = connection.execute(query, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def answered_by(base: str, context: ssl.SSLContext, pin: str) -> str:
    """The daphne process (host:port) nginx sends a client with this pin to."""
    port = urllib.parse.urlsplit(base).port
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    connection.request("GET", "/accounts/login/", headers={"Cookie": f"taxsite_pin={pin}"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return str(response.headers["X-Taxsite-Upstream"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, collected_static: Path) -> Iterator[Stack]:
    nginx = nginx_binary()
    require(nginx is not None, "nginx is not installed (make test installs Debian's nginx as root)")
    require(Path(CHROMIUM).exists(), "Debian's chromium is not installed (make test installs it)")
    require(reachable(5432), "PostgreSQL is not running on 127.0.0.1:5432")
    require(reachable(6379), "Redis is not running on 127.0.0.1:6379")
    assert nginx is not None
    prefix = tmp_path_factory.mktemp("nginx")
    run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
    server_url = "postgres://postgres@127.0.0.1:5432"
    database_url = f"{server_url}/taxsite_deploy_{run_id}"
    redis_prefix = f"taxsite-deploy-{run_id}"
    ports = {"https": free_port(), "http": free_port(), "disk": free_port()}
    daphne = (free_port(), free_port())
    cert, key = make_certificate(prefix)

    with contextlib.ExitStack() as cleanup:
        sql(f"{server_url}/postgres", f'CREATE DATABASE "taxsite_deploy_{run_id}"')
        cleanup.callback(
            sql, f"{server_url}/postgres", f'DROP DATABASE "taxsite_deploy_{run_id}" WITH (FORCE)'
        )
        cleanup.callback(forget_redis_keys, redis_prefix)
        origins = f"https://127.0.0.1:{ports['https']},https://127.0.0.1:{ports['disk']}"
        env = production_env(
            STATIC_ROOT=str(collected_static),
            DATABASE_URL=database_url,
            REDIS_URL="redis://127.0.0.1:6379/0",
            CHANNEL_LAYER_PREFIX=redis_prefix,
            ALLOWED_HOSTS="127.0.0.1",
            CSRF_TRUSTED_ORIGINS=origins,
            ASSISTANT_ENGINE="offline",
            OFFLINE_TOKEN_DELAY="0.04",
        )
        del env["OPENAI_API_KEY"]

        # A release (collectstatic is the session fixture; check --deploy: test_checks.py).
        migrated = manage(env, "migrate", "--noinput")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        logs = {"nginx": prefix / "error.log", "access": prefix / "access.log"}
        processes = []
        for name, port in zip(("daphne-a", "daphne-b"), daphne, strict=True):
            logs[name] = prefix / f"{name}.log"
            processes.append((port, start(daphne_command(port), logs[name], env), logs[name]))
        cleanup.callback(stop, *(process for _, process, _ in processes))

        conf = write_nginx_conf(
            prefix,
            ports=ports,
            daphne=daphne,
            cert=cert,
            key=key,
            static_parent=collected_static.parent,
        )
        nginx_args = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        tested = subprocess.run([*nginx_args, "-t"], capture_output=True, text=True, check=False)
        assert tested.returncode == 0, tested.stderr
        proxy = start([*nginx_args, "-g", "daemon off;"], prefix / "nginx.out")
        cleanup.callback(stop, proxy)
        wait_for_port(ports["https"], proxy, prefix / "nginx.out")
        for port, process, log in processes:
            wait_for_port(port, process, log)

        base = f"https://127.0.0.1:{ports['https']}"
        result = Stack(
            base=base,
            disk_base=f"https://127.0.0.1:{ports['disk']}",
            http_port=ports["http"],
            daphne_ports=daphne,
            pins={},
            database_url=database_url,
            static_root=collected_static,
            cafile=cert,
            logs=logs,
        )
        for candidate in (f"p{n}" for n in range(64)):
            port = int(answered_by(base, result.tls(), candidate).rsplit(":", 1)[1])
            result.pins.setdefault(port, candidate)
            if len(result.pins) == 2:
                break
        assert set(result.pins) == set(daphne), result.pins
        yield result


def forget_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


# --- The browser -------------------------------------------------------------------------------


def pinned_context(browser: Any, stack: Stack, port: int, cookies: list[dict[str, Any]]) -> Any:
    """A browser context (a tab) whose requests and socket all go to the daphne on `port`."""
    # The certificate is the test's own, not from a CA Chromium knows: accepted for the test.
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 860})
    context.add_cookies(
        [*cookies, {"name": "taxsite_pin", "value": stack.pins[port], "url": stack.base}]
    )
    context.set_default_timeout(20_000)
    return context


def sign_up(page: Any, base: str) -> str:
    from playwright.sync_api import expect

    username = f"d{secrets.token_hex(4)}"
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    return username


def test_two_tabs_on_two_processes_share_the_stream_and_stop_over_https(
    stack: Stack, browser: Any
) -> None:
    from playwright.sync_api import expect

    process_a, process_b = stack.daphne_ports
    tab_a = pinned_context(browser, stack, process_a, []).new_page()
    sockets: list[str] = []
    static: dict[str, dict[str, str]] = {}
    statuses: dict[str, int] = {}
    tab_a.on("websocket", lambda socket: sockets.append(socket.url))

    def record(response: Any) -> None:
        if "/static/" in response.url:
            statuses[response.url] = response.status
            static[response.url] = response.headers

    tab_a.on("response", record)
    sign_up(tab_a, stack.base)
    conversation_url = tab_a.url
    assert re.fullmatch(rf"{re.escape(stack.base)}/c/\d+/", conversation_url)

    # The page and all its static files over HTTPS, from the app, cached for years.
    document = tab_a.goto(conversation_url)
    assert document is not None
    headers = document.all_headers()
    assert headers["x-taxsite-upstream"] == f"127.0.0.1:{process_a}"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    expect(tab_a.locator("#connection")).to_have_text("Live", timeout=WAIT)
    assets = tab_a.eval_on_selector_all(
        "link[rel=stylesheet], script[src]", "elements => elements.map(e => e.href || e.src)"
    )
    names = {re.sub(r"\.[0-9a-f]{12}\.", ".", url.rsplit("/", 1)[1]) for url in assets}
    assert {"app.css", "htmx-2.min.js", "hx-ws-2.min.js", "chat.js"} <= names, assets
    for url in assets:
        assert statuses.get(url) == 200, (url, statuses)
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), url
        assert static[url]["cache-control"] == f"max-age={TEN_YEARS}, public, immutable"
        assert static[url]["content-encoding"] in ("br", "gzip"), (url, static[url])
    # The stylesheet applied: the layout is a grid, not the browser's default flow.
    assert tab_a.locator(".layout").evaluate("e => getComputedStyle(e).display") == "grid"

    # Secure cookies, a wss:// socket through nginx.
    cookies = {c["name"]: c for c in tab_a.context.cookies()}
    assert cookies["sessionid"]["secure"]
    assert cookies["sessionid"]["httpOnly"]
    assert cookies["csrftoken"]["secure"]
    assert sockets
    assert all(url.startswith("wss://127.0.0.1:") for url in sockets), sockets
    assert sockets[-1].startswith(stack.base.replace("https://", "wss://") + "/ws/conversations/")

    # Tab B: the same person (session cookie), pinned to the other process.
    session = [dict(cookies["sessionid"])]
    tab_b = pinned_context(browser, stack, process_b, session).new_page()
    second = tab_b.goto(conversation_url)
    assert second is not None
    assert second.all_headers()["x-taxsite-upstream"] == f"127.0.0.1:{process_b}"
    expect(tab_b.locator("#connection")).to_have_text("Live", timeout=WAIT)

    # Asked in tab A (process A): both tabs see it stream, with the receipt card.
    box = tab_a.get_by_role("textbox", name="Message")
    box.fill(QUESTION)
    box.press("Enter")
    for tab in (tab_a, tab_b):
        answer = tab.locator(".bubble--assistant").last
        expect(answer.locator(".streaming-text")).to_contain_text("€85,000.00", timeout=WAIT)
    for tab in (tab_a, tab_b):
        answer = tab.locator(".bubble--assistant").last
        expect(answer).to_have_attribute("data-status", "complete", timeout=WAIT)
        expect(answer.locator(".calc-tax dd")).to_have_text("€14,500.00", timeout=WAIT)
    text_a = tab_a.locator(".bubble--assistant .markdown").last.inner_text()
    assert tab_b.locator(".bubble--assistant .markdown").last.inner_text() == text_a
    assert "€14,500.00" in text_a

    # A long answer asked in tab A runs in process A; Stop pressed in tab B (process B) ends it.
    box.fill(LONG_QUESTION)
    box.press("Enter")
    answer_b = tab_b.locator(".bubble--assistant").last
    expect(answer_b.locator(".streaming-text")).to_contain_text("tax is", timeout=WAIT)
    tab_b.get_by_role("button", name=re.compile("Stop")).click()
    for tab in (tab_a, tab_b):
        answer = tab.locator(".bubble--assistant").last
        expect(answer).to_have_attribute("data-status", "interrupted", timeout=WAIT)
        expect(answer).to_contain_text("Stopped before the answer was finished", timeout=WAIT)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    tab_b.screenshot(path=str(ROOT / "test-artifacts" / "deploy-stopped-from-other-process.png"))
    stored = sql(
        stack.database_url,
        "SELECT m.status, m.text, (SELECT count(*) FROM chat_toolcall t WHERE t.message_id = m.id)"
        " FROM chat_message m WHERE m.role = 'assistant' ORDER BY m.id",
    )
    assert [(status, receipts) for status, _, receipts in stored] == [
        ("complete", 1),
        ("interrupted", 1),
    ]
    assert "€14,500.00" in stored[0][1]

    tab_a.context.close()
    tab_b.context.close()
    # Each tab's socket went to its own process (nginx logs a socket when it closes).
    expected = [
        re.compile(
            rf'"GET /ws/conversations/\d+/ HTTP/1.1" 101 upstream=127.0.0.1:{port} '
            rf"pin={stack.pins[port]}"
        )
        for port in stack.daphne_ports
    ]
    deadline = time.monotonic() + 10
    log = stack.process_log("access")
    while not all(pattern.search(log) for pattern in expected) and time.monotonic() < deadline:
        time.sleep(0.2)
        log = stack.process_log("access")
    assert all(pattern.search(log) for pattern in expected), log
    for name in ("daphne-a", "daphne-b"):
        assert "synchronous iterators" not in stack.process_log(name)
        assert "Traceback" not in stack.process_log(name), stack.process_log(name)


# --- What the proxy passes on, and the other ways in ------------------------------------------


def https(
    stack: Stack, base: str | None = None, source: str = "127.0.0.1"
) -> http.client.HTTPSConnection:
    port = int(urllib.parse.urlsplit(base or stack.base).port or 443)
    return http.client.HTTPSConnection(
        "127.0.0.1", port, context=stack.tls(), source_address=(source, 0), timeout=15
    )


def test_throttling_sees_the_real_client_address_not_a_forged_header(stack: Stack) -> None:
    """nginx appends the address it saw to X-Forwarded-For and the app (TRUSTED_PROXY_COUNT=1)
    takes that one: a client at 127.0.0.2 is counted as 127.0.0.2 whatever it claims, and its
    failed sign-ins count together across both processes (the counters are in PostgreSQL)."""
    username = f"victim{secrets.token_hex(3)}"
    statuses = []
    for attempt in range(6):
        pin = stack.pins[stack.daphne_ports[attempt % 2]]
        connection = https(stack, source="127.0.0.2")
        connection.request("GET", "/accounts/login/", headers={"Cookie": f"taxsite_pin={pin}"})
        page = connection.getresponse()
        html = page.read().decode()
        csrf_cookie = re.search(r"csrftoken=([^;]+)", page.headers["Set-Cookie"] or "")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert csrf_cookie, page.headers
        assert token, html[:500]
        body = urllib.parse.urlencode(
            {"username": username, "password": "wrong guess 1", "csrfmiddlewaretoken": token[1]}
        )
        connection.request(
            "POST",
            "/accounts/login/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf_cookie[1]}; taxsite_pin={pin}",
                "Origin": stack.base,
                "Referer": f"{stack.base}/accounts/login/",
                "X-Forwarded-For": f"203.0.113.{attempt}",  # forged: must not be the client
                "X-Real-IP": "203.0.113.99",
            },
        )
        response = connection.getresponse()
        response.read()
        statuses.append((response.status, response.headers["X-Taxsite-Upstream"]))
        connection.close()
    # Five free guesses at the account, then a wait, though they went to two processes.
    assert [status for status, _ in statuses] == [200, 200, 200, 200, 200, 429], statuses
    assert {upstream for _, upstream in statuses} == {
        f"127.0.0.1:{port}" for port in stack.daphne_ports
    }
    counted = sql(
        stack.database_url,
        "SELECT key, hits FROM accounts_auththrottle WHERE scope = 'login-address'",
    )
    assert counted, "no failed sign-in was counted by address"
    assert [key for key, _ in counted] == ["127.0.0.2"], counted
    assert counted[0][1] >= 5
    forged = sql(
        stack.database_url,
        "SELECT scope, key FROM accounts_auththrottle WHERE key LIKE %s",
        "203.%",
    )
    assert forged == []


def test_plain_http_is_redirected_to_https(stack: Stack) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
    connection.request("GET", "/accounts/login/?next=/c/1/")
    response = connection.getresponse()
    assert response.status == 301
    assert response.headers["Location"] == "https://127.0.0.1/accounts/login/?next=/c/1/"


def test_static_files_from_disk_are_gzip_and_cached_like_the_apps(stack: Stack) -> None:
    """The commented alternative of taxsite.conf: nginx reads STATIC_ROOT itself."""
    manifest = json.loads((stack.static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["chat/app.css"]
    connection = https(stack, stack.disk_base)
    connection.request("GET", f"/static/{hashed}", headers={"Accept-Encoding": "gzip"})
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"].startswith("text/css")
    assert response.headers["Cache-Control"] == f"max-age={TEN_YEARS}, public, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Taxsite-Upstream" not in response.headers  # not proxied: read from disk
    assert gzip.decompress(body) == (stack.static_root / hashed).read_bytes()

    connection.request("GET", "/static/chat/app.css")
    unhashed = connection.getresponse()
    unhashed.read()
    assert unhashed.status == 200
    assert unhashed.headers["Cache-Control"] == "max-age=60, public"

    connection.request("GET", "/static/no-such-file.css")
    missing = connection.getresponse()
    missing.read()
    assert missing.status == 404

    # Everything else still goes to the app.
    connection.request("GET", "/accounts/login/")
    page = connection.getresponse()
    assert page.status == 200
    assert f"/static/{hashed}" in page.read().decode()
    connection.close()


def test_a_storm_of_socket_opens_from_one_address_is_refused_by_nginx(stack: Stack) -> None:
    """Defence in depth before daphne: `limit_req` on /ws/ (taxsite-proxy.conf), per address,
    bursts of 40. From an address of its own, so that no other test shares the budget.

    Connected first (TLS), then the 50 opens sent back to back: one after another, each
    waiting for its answer, they took long enough on a slow machine for the rate (2 a second)
    to refill the burst, and none was refused."""
    connections = [https(stack, source="127.0.0.4") for _ in range(50)]
    for connection in connections:
        connection.connect()
    for connection in connections:
        connection.request(
            "GET",
            "/ws/conversations/1/",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            },
        )
    statuses = []
    for connection in connections:
        statuses.append(connection.getresponse().status)
        connection.close()
    assert 429 not in statuses[:40]  # daphne answered these (403: no Origin, no session)
    assert statuses[-1] == 429
