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


def test_check_deploy_reports_nothing_in_production_mode(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REDIS_"))},
        # A fresh database: a developer's own db.sqlite3 may hold accounts (see test_auth_checks).
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DEBUG": "0",
        "SECRET_KEY": "p7#Vq2!zL9mRwX4@tN8sK1&bY6eH3jC5uF0aD7gQ2iO9rT4vW1xZ8",
        "ALLOWED_HOSTS": "taxsite.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


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
