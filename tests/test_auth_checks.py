"""No account with a published password outside development: demo_user, the check, the guard."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

import accounts.guard
from accounts.guard import refuse_while_unsafe
from accounts.unsafe import DEMO_PASSWORD, DEMO_USERNAME
from taxsite.asgi import application

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
HOST = [(b"host", b"testserver")]


@pytest.fixture
def demo(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_superuser(DEMO_USERNAME, password=DEMO_PASSWORD)


def test_the_demo_account_is_refused_when_debug_is_off(demo: User, settings: Any) -> None:
    settings.DEBUG = False
    with pytest.raises(SystemCheckError, match=r"accounts\.E001.*published password.*demo"):
        call_command("check")


def test_check_deploy_refuses_it_even_from_a_debug_shell(demo: User, settings: Any) -> None:
    settings.DEBUG = True
    call_command("check")  # development: expected
    with pytest.raises(SystemCheckError, match=r"accounts\.E001"):
        call_command("check", deploy=True)


def test_any_staff_account_with_the_published_password_is_refused(
    django_user_model: type[User], settings: Any
) -> None:
    settings.DEBUG = False
    django_user_model.objects.create_user("reviewer", password=DEMO_PASSWORD, is_staff=True)
    django_user_model.objects.create_user("someone", password="their own secret 42")
    with pytest.raises(SystemCheckError, match="reviewer") as raised:
        call_command("check")
    assert "someone" not in str(raised.value)


@pytest.mark.parametrize("fix", ["remove", "changepassword", "deactivate"])
def test_the_check_passes_once_the_account_is_fixed(demo: User, settings: Any, fix: str) -> None:
    settings.DEBUG = False
    if fix == "remove":
        call_command("demo_user", remove=True)  # allowed without DEBUG, despite the failing check
        assert not User.objects.filter(username=DEMO_USERNAME).exists()
    elif fix == "changepassword":
        demo.set_password("a new unpublished phrase")
        demo.save()
    else:
        demo.is_active = False
        demo.save()
    call_command("check")


def test_demo_user_refuses_without_debug(settings: Any) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("demo_user")
    assert not User.objects.filter(username=DEMO_USERNAME).exists()


def test_demo_user_creates_the_account_in_development(settings: Any) -> None:
    settings.DEBUG = True
    call_command("demo_user")
    assert User.objects.get(username=DEMO_USERNAME).check_password(DEMO_PASSWORD)


def test_development_and_production_have_different_default_databases() -> None:
    """`make run`'s database (and its demo account) is not what production serves by default."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"DJANGO_SETTINGS_MODULE": "taxsite.settings", "SECRET_KEY": "x" * 50}
    code = "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    names = {
        debug: subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "DEBUG": debug},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for debug in ("1", "0")
    }
    assert names["1"].endswith("db.dev.sqlite3")
    assert names["0"].endswith("db.sqlite3")
    assert names["1"] != names["0"]


def test_a_development_database_with_the_demo_account_cannot_be_deployed(
    tmp_path: Path, collected_static: Path
) -> None:
    """The reported path: `make run`, then the same database served with DEBUG off."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REDIS_"))},
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(collected_static),  # production refuses to start without it
        "ALLOWED_HOSTS": "taxsite.example.com",
    }
    manage = [sys.executable, "manage.py"]

    def run(*args: str, debug: str) -> subprocess.CompletedProcess[str]:
        production = {"SECRET_KEY": "p7#Vq2!zL9mRwX4@tN8sK1&bY6eH3jC5uF0aD7gQ2iO9rT4vW1xZ8"}
        return subprocess.run(
            [*manage, *args],
            env={**env, "DEBUG": debug, **(production if debug == "0" else {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    assert run("migrate", "--noinput", "-v0", debug="1").returncode == 0
    assert run("demo_user", debug="1").returncode == 0
    deploy = run("check", "--deploy", debug="0")
    assert deploy.returncode != 0
    assert "accounts.E001" in deploy.stderr
    assert run("demo_user", "--remove", debug="0").returncode == 0
    assert run("check", "--deploy", "--fail-level", "WARNING", debug="0").returncode == 0


@pytest.mark.django_db(transaction=True)
async def test_the_server_refuses_to_serve_while_the_demo_account_exists(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """daphne runs no system checks: the ASGI application itself answers 503 meanwhile."""
    settings.DEBUG = False
    monkeypatch.setattr(accounts.guard, "RECHECK_SECONDS", 0.0)
    await User.objects.acreate_superuser(DEMO_USERNAME, password=DEMO_PASSWORD)
    guarded = refuse_while_unsafe(application)
    page = await HttpCommunicator(guarded, "GET", "/accounts/login/", headers=HOST).get_response()
    assert page["status"] == 503
    assert b"published password" in page["body"]
    socket = WebsocketCommunicator(guarded, "/ws/conversations/1/")
    assert await socket.connect() == (False, 4503)
    await User.objects.filter(username=DEMO_USERNAME).adelete()
    page = await HttpCommunicator(guarded, "GET", "/accounts/login/", headers=HOST).get_response()
    assert page["status"] == 200


def test_check_deploy_warns_behind_a_proxy_without_a_trusted_proxy_count(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXY_COUNT = 0
    with pytest.raises(SystemCheckError, match=r"accounts\.W001"):
        call_command("check", deploy=True, fail_level="WARNING")
    settings.TRUSTED_PROXY_COUNT = 1
    call_command("check", deploy=True, fail_level="WARNING", tags=["accounts"])
