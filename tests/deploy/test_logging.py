"""In production a server error reaches the process's log (journald under systemd)."""

import subprocess
import sys

from tests.deploy.conftest import ROOT, production_env


def test_a_server_error_is_logged_with_its_traceback_in_production() -> None:
    script = (
        "import django, logging\n"
        "django.setup()\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    logging.getLogger('django.request').exception('Internal Server Error: /c/1/')\n"
        "logging.getLogger('django.request').info('not shown')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=production_env(DEBUG="0", SERVER_PROCESSES="1"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Internal Server Error: /c/1/" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert "not shown" not in result.stderr
