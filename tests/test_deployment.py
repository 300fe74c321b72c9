"""The production settings mode and what a stranger sees on errors (login throttling:
test_auth_throttle.py)."""

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
def test_unknown_page_is_a_plain_404_not_a_debug_page(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing here" in html
    assert "URLconf" not in html
    assert "Traceback" not in html
