"""`python -m taxsite.serve` is daphne (its options, its application loading) on uvloop."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_daphne_started_through_serve_runs_on_uvloop() -> None:
    # What `main()` does before daphne's CLI runs: the loop daphne creates on import is uvloop's.
    probe = (
        "from taxsite.serve import use_uvloop; assert use_uvloop(); "
        "import daphne.server; print(type(daphne.server.twisted_loop).__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip().startswith("uvloop")


def test_serve_takes_daphnes_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "taxsite.serve", "--help"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "--ping-interval" in out.stdout
    assert "application" in out.stdout
