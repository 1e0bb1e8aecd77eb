"""A Ctrl-C or SIGTERM that reaches pgshift after its command finished and reported does
not change the outcome: the exit code stays the command's (the program's own entry point,
:func:`pgshift.cli.app.run`). One that arrives while the command runs stops it as before:
``test_concurrency.py``, ``test_fault_soak.py`` and ``test_fleet_progress.py``."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import os, signal, sys
from pgshift.cli import app

command = app.main

def command_then_signal():
    try:
        command(sys.argv[1:])
    finally:  # the command has finished and reported; the process is on its way out
        os.kill(os.getpid(), {signum})

app.main = command_then_signal
app.run()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_after_the_command_finished_leaves_its_exit_code(
    tmp_path: Path, signum: int
) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(signum=int(signum)), "--dir", str(directory),
         "create", "add_users"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    assert [p.name for p in directory.iterdir()] == ["001_add_users.sql"]
    assert "interrupted" not in done.stderr and "Traceback" not in done.stderr

