"""`manage.py check`: clean with the documented production environment, and an error for each
production setting that is missing or wrong."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.deploy.conftest import manage, production_env

MANIFEST_STORAGE = {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"}


def test_check_deploy_is_clean_with_the_documented_production_environment(
    collected_static: Path,
) -> None:
    """deploy/taxsite.env.example as is (two processes, PostgreSQL, Redis), static collected."""
    env = production_env(STATIC_ROOT=str(collected_static))
    assert env["SERVER_PROCESSES"] == "2"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_without_redis_for_two_processes_refuses_to_start(
    collected_static: Path,
) -> None:
    env = production_env(STATIC_ROOT=str(collected_static))
    del env["REDIS_URL"]
    result = manage(env, "check")
    assert result.returncode != 0
    assert "deploy.E001" in result.stderr
    assert "Set REDIS_URL" in result.stderr


def test_production_without_collectstatic_refuses_to_start(tmp_path: Path) -> None:
    result = manage(production_env(STATIC_ROOT=str(tmp_path)), "check")
    assert result.returncode != 0
    assert "deploy.E003" in result.stderr
    assert "collectstatic" in result.stderr


@pytest.fixture
def production_mode(settings: Any) -> Any:
    settings.DEBUG = False
    settings.SERVER_PROCESSES = 1
    return settings


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (
            {
                "SERVER_PROCESSES": 2,
                "CHANNEL_LAYERS": {
                    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
                },
            },
            "deploy.E001",
        ),
        (
            {
                "SERVER_PROCESSES": 3,
                "CHANNEL_LAYERS": {
                    "default": {
                        "BACKEND": "channels_redis.core.RedisChannelLayer",
                        "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"]},
                    }
                },
            },
            "deploy.E002",
        ),
        ({"ALLOWED_HOSTS": ["taxsite.example.com", "*"]}, "deploy.E005"),
    ],
)
def test_production_settings_that_cannot_work_fail_the_check(
    production_mode: Any, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any], error: str
) -> None:
    for name, value in overrides.items():
        setattr(production_mode, name, value)
    # The check reads the engine only; the suite's own connection stays as it is.
    monkeypatch.setitem(
        production_mode.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3"
    )
    with pytest.raises(SystemCheckError, match=error):
        call_command("check", tags=["deploy"])


def test_one_process_on_sqlite_with_the_memory_layer_is_fine(production_mode: Any) -> None:
    call_command("check", tags=["deploy"])


def test_a_manifest_from_an_older_release_fails_the_check(
    production_mode: Any, collected_static: Path, tmp_path: Path
) -> None:
    """A release that added a static file but skipped collectstatic: its pages would fail."""
    stale = tmp_path / "static"
    shutil.copytree(collected_static, stale)
    manifest = json.loads((stale / "staticfiles.json").read_text())
    del manifest["paths"]["chat/chat.js"]
    (stale / "staticfiles.json").write_text(json.dumps(manifest))
    production_mode.STATIC_ROOT = stale
    production_mode.STORAGES = {**production_mode.STORAGES, "staticfiles": MANIFEST_STORAGE}
    with pytest.raises(SystemCheckError, match=r"deploy\.E004(.|\n)*chat/chat\.js"):
        call_command("check", tags=["deploy"])

    production_mode.STATIC_ROOT = collected_static
    call_command("check", tags=["deploy"])


def test_debug_mode_needs_no_collectstatic(settings: Any, tmp_path: Path) -> None:
    settings.DEBUG = True
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": MANIFEST_STORAGE}
    call_command("check", tags=["deploy"])
