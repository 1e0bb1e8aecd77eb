"""Helpers shared by the fault-injection tests: running the real program in subprocesses,
waiting for conditions with a bound, and checking what a run left behind (advisory locks,
pgshift backends, passwords in its output)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from pgtest import CliResult, advisory_locks, clean_environ, fetch


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` as its (percent-encoded) password; trust auth ignores it,
    so it only shows whether pgshift ever prints it."""
    parts = urlsplit(url)
    user = quote(parts.username or "postgres", safe="")
    netloc = f"{user}:{quote(password, safe='')}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


def migration(up: str, down: str = "", header: str = "") -> str:
    return f"{header}-- UP\n{up}\n-- DOWN\n{down}\n"


def write_files(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


class Run:
    """One ``python -m pgshift`` process."""

    def __init__(self, url: str, directory: Path, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgshift", "--database-url", url, "--dir", str(directory),
             *args],
            cwd=cwd, env=clean_environ(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
        )

    def result(self, timeout: float) -> CliResult:
        """Wait at most ``timeout`` seconds for the exit; a hang fails the test."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"pgshift did not exit within {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
        return CliResult(self.proc.returncode, out, err)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)

    def wait_for(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        """:func:`wait_for` that fails at once, with the output, if pgshift has exited."""

        def alive_check() -> Any:
            if self.proc.poll() is not None:
                done = self.result(5)
                pytest.fail(f"pgshift exited ({done.exit_code}) before {what}:\n"
                            f"{done.stdout}\n{done.stderr}")
            return check()

        return wait_for(alive_check, timeout, what)


class Procs:
    """Starts pgshift processes and kills any still running when the test ends."""

    def __init__(self) -> None:
        self.runs: list[Run] = []

    def start(self, url: str, directory: Path, cwd: Path, *args: str) -> Run:
        run = Run(url, directory, cwd, *args)
        self.runs.append(run)
        return run

    def run(self, url: str, directory: Path, cwd: Path, *args: str,
            timeout: float = 120) -> CliResult:
        return self.start(url, directory, cwd, *args).result(timeout)

    def kill_all(self) -> None:
        for run in self.runs:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.communicate()




def fleet_files(pause: float = 0.0) -> dict[str, str]:
    """Three migrations; each logs itself in the schema's ``log`` table (so a migration
    applied twice would show twice) and may sleep."""
    sleep = f"SELECT pg_sleep({pause});\n" if pause else ""
    return {
        "001_log.sql": "-- UP\nCREATE TABLE log (name text);\nINSERT INTO log VALUES ('001');\n"
                       f"{sleep}-- DOWN\nDROP TABLE log;\n",
        "002_items.sql": "-- UP\nCREATE TABLE items (id int);\nINSERT INTO items VALUES (1);\n"
                         "INSERT INTO log VALUES ('002');\n"
                         f"{sleep}-- DOWN\nDROP TABLE items;\n",
        "003_more.sql": "-- UP\nALTER TABLE items ADD COLUMN note text;\n"
                        f"INSERT INTO log VALUES ('003');\n{sleep}-- DOWN\n"
                        "ALTER TABLE items DROP COLUMN note;\n",
    }


def recorded(url: str, schema: str) -> list[str]:
    """The names in ``schema``'s tracking table, in the order they ran (none: no table)."""
    if not fetch(url, "SELECT to_regclass(%s) IS NOT NULL", [f"{schema}._migrations"])[0][0]:
        return []
    return [r[0] for r in fetch(url, f"SELECT name FROM {schema}._migrations ORDER BY id")]


def logged(url: str, schema: str) -> list[str]:
    """The names the fleet tests' migrations wrote into ``schema``.log as they ran."""
    if not fetch(url, "SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.log"])[0][0]:
        return []
    return [r[0] for r in fetch(url, f"SELECT name FROM {schema}.log ORDER BY name")]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` every 0.1 s until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


@dataclass(frozen=True)
class Backend:
    pid: int
    state: str | None
    query: str
    has_snapshot: bool
    wait_event_type: str | None


def pgshift_backends(url: str) -> list[Backend]:
    """pgshift's sessions (application_name 'pgshift') in ``url``'s database."""
    rows = fetch(url, "SELECT pid, state, query, backend_xmin IS NOT NULL, wait_event_type "
                      "FROM pg_stat_activity WHERE datname = current_database() "
                      "AND application_name = 'pgshift'")
    return [Backend(*row) for row in rows]


def assert_released(url: str, timeout: float = 15) -> None:
    """After pgshift exited: no advisory lock and no pgshift backend idle in transaction."""

    def clean() -> bool:
        idle = [b for b in pgshift_backends(url) if (b.state or "").startswith("idle in trans")]
        return not advisory_locks(url) and not idle

    wait_for(clean, timeout, f"advisory locks {advisory_locks(url)} and pgshift backends "
                             f"{pgshift_backends(url)} gone")


def assert_no_leak(result: CliResult, secret: str) -> None:
    """No 4-character piece of ``secret`` appears in the run's output."""
    shown = result.stdout + result.stderr
    pieces = {secret[i:i + 4] for i in range(len(secret) - 3)}
    assert not [p for p in pieces if p in shown], shown
