"""The production settings mode, login throttling, and what a stranger sees on errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]


# `manage.py check --deploy` with the documented production environment: tests/deploy/test_checks.py.


def test_production_mode_refuses_to_start_without_a_secret_key() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DEBUG": "0",
        "SECRET_KEY": "",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_csp_that_allows_only_our_own_scripts(client: Client) -> None:
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy


@pytest.mark.django_db
def test_forms_are_csrf_protected(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/c/new/").status_code == 403
    assert (
        Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "a"}).status_code
        == 403
    )


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_that_username_from_that_address(alice: User) -> None:
    client = Client()
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    # Even the right password is refused while locked...
    locked = client.post("/accounts/login/", {"username": "alice", "password": "correct horse 1"})
    assert locked.status_code == 429
    # ...but only for that username from that address.
    other_address = Client(REMOTE_ADDR="10.0.0.9")
    assert (
        other_address.post(
            "/accounts/login/", {"username": "alice", "password": "correct horse 1"}
        ).status_code
        == 302
    )


@pytest.mark.django_db
def test_lockout_ends_after_the_cool_off(alice: User) -> None:
    from datetime import timedelta

    from axes.models import AccessAttempt
    from django.utils import timezone

    client = Client()
    for _ in range(5):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert (
        client.post(
            "/accounts/login/", {"username": "alice", "password": "correct horse 1"}
        ).status_code
        == 429
    )
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert (
        client.post(
            "/accounts/login/", {"username": "alice", "password": "correct horse 1"}
        ).status_code
        == 302
    )


@pytest.mark.django_db
def test_unknown_page_is_a_plain_404_not_a_debug_page(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing here" in html
    assert "URLconf" not in html
    assert "Traceback" not in html
