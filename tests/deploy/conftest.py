"""Shared by the deployment tests: what they need from the machine, and collected static files."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNDER_CI = os.environ.get("CI", "").lower() == "true"


def require(ok: bool, reason: str) -> None:
    """Skip with `reason` when the machine cannot run this test; fail instead under CI=true."""
    if ok:
        return
    if UNDER_CI:
        pytest.fail(f"{reason} (CI=true: `make test` must be able to run the deployment tests)")
    pytest.skip(reason)


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def production_env(**overrides: str) -> dict[str, str]:
    """The documented production environment (deploy/taxsite.env.example), run-specific values
    from `overrides`; nothing from the developer's own OPENAI_/REDIS_/DATABASE_ variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "REDIS_", "DATABASE_", "ASSISTANT_", "DJANGO_"))
    }
    for line in (DEPLOY / "taxsite.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def collect_static(static_root: Path) -> Path:
    """`manage.py collectstatic` with the production settings into `static_root`; the
    `collected_static` fixture (tests/conftest.py) runs it once per test run."""
    result = manage(production_env(STATIC_ROOT=str(static_root)), "collectstatic", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    return static_root
