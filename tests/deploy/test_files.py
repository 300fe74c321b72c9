"""The files in deploy/ are what they claim: nginx accepts the site as shipped, the systemd units
run real commands with real flags, and every variable of the environment file is a setting."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from daphne.cli import CommandLineInterface
from django.core.management import get_commands

from tests.deploy.conftest import DEPLOY, ROOT, nginx_binary, require
from tests.deploy.test_e2e import make_certificate

SYSTEMD = DEPLOY / "systemd"


def unit(name: str) -> dict[str, list[str]]:
    """A unit file's `Key=value` lines (continuations joined), values by key."""
    values: dict[str, list[str]] = {}
    for line in (SYSTEMD / name).read_text().replace("\\\n", " ").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def manage_command(exec_line: str) -> list[str]:
    argv = shlex.split(exec_line)
    assert argv[0] == "/srv/taxsite/venv/bin/python", argv
    assert argv[1] == "manage.py", argv
    return argv[2:]


def test_nginx_accepts_the_site_as_shipped(tmp_path: Path) -> None:
    """`nginx -t` on deploy/nginx/taxsite.conf with only the certificate paths changed."""
    nginx = nginx_binary()
    require(nginx is not None, "nginx is not installed (make test installs Debian's nginx as root)")
    assert nginx is not None
    cert, key = make_certificate(tmp_path)
    conf = tmp_path / "conf"
    shutil.copytree(DEPLOY / "nginx" / "snippets", conf / "snippets")
    site = (DEPLOY / "nginx" / "taxsite.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/taxsite.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/taxsite.example.com/privkey.pem", str(key))
    (conf / "taxsite.conf").write_text(site)
    (conf / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\nhttp {{\n"
        f"    access_log off;\n    client_body_temp_path {tmp_path / 'body'};\n"
        f"    proxy_temp_path {tmp_path / 'proxy'};\n    include taxsite.conf;\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    # The disk alternative is valid too.
    disk = site.replace(
        "# include snippets/taxsite-static-disk.conf;", "include snippets/taxsite-static-disk.conf;"
    ).replace("    include snippets/taxsite-static-app.conf;\n", "")
    (conf / "taxsite.conf").write_text(disk)
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_process_the_target_starts_is_in_the_nginx_upstream() -> None:
    target = unit("taxsite.target")["Wants"][0].split()
    instances = sorted(
        int(m[1]) for name in target if (m := re.fullmatch(r"taxsite@(\d+)\.service", name))
    )
    upstream = re.search(
        r"upstream taxsite \{(.*?)\}", (DEPLOY / "nginx" / "taxsite.conf").read_text(), re.S
    )
    assert upstream
    assert (
        sorted(int(p) for p in re.findall(r"server 127\.0\.0\.1:(\d+)", upstream[1])) == instances
    )
    assert "taxsite-sweep.timer" in target
    env_processes = re.search(
        r"^SERVER_PROCESSES=(\d+)$", (DEPLOY / "taxsite.env.example").read_text(), re.M
    )
    assert env_processes
    assert int(env_processes[1]) == len(instances)


def test_the_daphne_unit_listens_on_loopback_after_the_deploy_check() -> None:
    service = unit("taxsite@.service")
    argv = shlex.split(service["ExecStart"][0].replace("%i", "8001"))
    # daphne's options, on uvloop (taxsite/serve.py)
    assert argv[:3] == ["/srv/taxsite/venv/bin/python", "-m", "taxsite.serve"]
    args = CommandLineInterface().parser.parse_args(argv[3:])
    # The app reads the client from the X-Forwarded-For entry nginx appends; daphne's
    # --proxy-headers would trust the leftmost one, which the client writes.
    assert not args.proxy_headers
    assert args.host == "127.0.0.1"
    assert args.port == 8001
    assert args.application == "taxsite.asgi:application"
    assert manage_command(service["ExecStartPre"][0]) == [
        "check",
        "--deploy",
        "--fail-level",
        "ERROR",
    ]
    assert service["EnvironmentFile"] == ["/etc/taxsite/taxsite.env"]
    assert service["User"] == ["taxsite"]


def test_the_sweep_timer_runs_a_real_management_command() -> None:
    command = manage_command(unit("taxsite-sweep.service")["ExecStart"][0])
    assert command == ["turn_sweep"]
    assert command[0] in get_commands()
    assert unit("taxsite-sweep.timer")["OnUnitActiveSec"] == ["1min"]
    # The Makefile's production-like run sweeps the same way.
    assert "manage.py turn_sweep" in (ROOT / "Makefile").read_text()


def test_every_variable_of_the_environment_file_is_read_by_the_settings() -> None:
    settings_source = (ROOT / "taxsite" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z0-9_]+)"', settings_source))
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "taxsite.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert names
    unknown = [name for name in names if name not in read and name != "DJANGO_SETTINGS_MODULE"]
    assert unknown == []
    readme = (ROOT / "README.md").read_text()
    assert [name for name in names if f"`{name}`" not in readme] == []
