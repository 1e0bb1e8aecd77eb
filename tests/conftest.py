"""Fixtures shared by pgshift's tests.

``pg_url`` is the one PostgreSQL server of a test run: the one named by
``PGSHIFT_TEST_DATABASE_URL`` when that is set, else an embedded server started in a
temporary directory the first time a test asks for it. When neither works the tests
that need it error; they never skip. ``db_url`` gives each test a fresh database on it.

``cli`` runs the click command in-process and ``run_pgshift`` runs ``python -m pgshift``
in a subprocess; both start from an environment without ``DATABASE_URL``,
``DATABASE_SSL`` and ``PG*`` variables, so a developer's settings never leak into a test.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pgtest import Cli, CliResult, Env, Files, clean_environ, is_database_variable, url_for_database

TEST_URL_VARIABLE = "PGSHIFT_TEST_DATABASE_URL"

# A test run started in the background of a non-interactive shell (as CI does) inherits
# SIGINT ignored, and so would every pgshift it starts; the signal tests need the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# Durability is worthless for throw-away test data; many concurrent pgshift processes
# (lock and crash tests) need more than the default 100 connections.
EMBEDDED_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
_SERVER_KEY = pytest.StashKey[str]()


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(TEST_URL_VARIABLE)
    if url:
        return f"pgshift test server: {_describe(url)} (from {TEST_URL_VARIABLE})"
    return "pgshift test server: embedded PostgreSQL, started when a test first needs it"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    server = terminalreporter.config.stash.get(_SERVER_KEY, None)
    if server is not None:
        terminalreporter.write_line(f"pgshift tests ran against {server}")


@pytest.fixture(scope="session")
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The superuser URL of the test server (see the module docstring)."""
    url = os.environ.get(TEST_URL_VARIABLE)
    if url:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                version = conn.execute("SHOW server_version").fetchone()
        except psycopg.Error as error:
            pytest.fail(f"{TEST_URL_VARIABLE} is set but its server does not answer: {error}")
        request.config.stash[_SERVER_KEY] = (
            f"PostgreSQL {version[0] if version else '?'} at {_describe(url)}"
        )
        yield url
        return
    from pgshift.embedded import server as embedded

    # Not under pytest's basetemp: pytest makes that private (0700) again on each run,
    # which would lock the server's OS user out while another run's server starts.
    # In memory when there is room: each test creates a database (hundreds of files), several
    # times faster on tmpfs than on disk.
    from pgshift.testing.plugin import embedded_parent

    base_dir = Path(tempfile.mkdtemp(prefix="pgshift-test-server-", dir=embedded_parent()))
    try:
        server, _ = embedded.ensure_running(base_dir, settings=EMBEDDED_SETTINGS)
        request.config.stash[_SERVER_KEY] = (
            f"embedded PostgreSQL {server.version} at {server.host}:{server.port}"
        )
        yield server.url
    finally:
        embedded.stop(base_dir)
        shutil.rmtree(base_dir, ignore_errors=True)


class DatabasePool:
    """Creates the empty test databases ahead of time, in a background thread, so that a
    test seldom waits for CREATE DATABASE (on a durable server it costs a few hundred
    milliseconds). Used databases are dropped at once."""

    AHEAD = 2

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.ready: queue.Queue[str] = queue.Queue()
        self.work: queue.Queue[str | None] = queue.Queue()
        self.created = 0
        self.thread = threading.Thread(target=self._run, name="test-db-pool", daemon=True)
        self.thread.start()
        for _ in range(self.AHEAD):
            self.work.put("")

    def take(self) -> str:
        self.work.put("")  # one more ahead for the next test
        return self.ready.get(timeout=120)

    def give_back(self, name: str) -> None:
        # Dropped before the next test starts: a role granted rights in this database
        # cannot be dropped elsewhere while the database exists.
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            self._drop(conn, name)

    def close(self) -> None:
        self.work.put(None)
        self.thread.join(timeout=120)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self.ready.empty():
                self._drop(conn, self.ready.get())

    def _run(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while (item := self.work.get()) is not None:
                if item:
                    self._drop(conn, item)
                    continue
                name = f"pgshift_t_{secrets.token_hex(6)}"
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                    sql.Identifier(name)))
                self.ready.put(name)

    @staticmethod
    def _drop(conn: psycopg.Connection[Any], name: str) -> None:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture(scope="session")
def database_pool(pg_url: str) -> Iterator[DatabasePool]:
    pool = DatabasePool(pg_url)
    try:
        yield pool
    finally:
        pool.close()


def _pooled(pg_url: str, database_pool: DatabasePool) -> Iterator[str]:
    name = database_pool.take()
    try:
        yield url_for_database(pg_url, name)
    finally:
        database_pool.give_back(name)


@pytest.fixture
def db_url(pg_url: str, database_pool: DatabasePool) -> Iterator[str]:
    """The URL of a new, empty database ``pgshift_t_<hex>``, dropped after the test."""
    yield from _pooled(pg_url, database_pool)


@pytest.fixture
def second_db(pg_url: str, database_pool: DatabasePool) -> Iterator[str]:
    """Another new, empty database on the same server, dropped after the test."""
    yield from _pooled(pg_url, database_pool)


@pytest.fixture
def migrations(tmp_path: Path) -> Files:
    """A factory ``migrations(files, subdir="migrations") -> Path`` writing ``files``
    (name → text, or bytes written as they are) into ``tmp_path / subdir``; calling it
    again adds files to the same directory."""

    def write(files: Mapping[str, str | bytes], subdir: str = "migrations") -> Path:
        directory = tmp_path / subdir
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return directory

    return write


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli(*args, input=None, env=None) -> CliResult``: the click command run in-process
    from ``tmp_path``; ``env`` adds variables (a ``None`` value removes one)."""
    from click.testing import CliRunner

    from pgshift.cli.app import main

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, input: str | None = None, env: Env | None = None) -> CliResult:
        overrides: dict[str, str | None] = {
            name: None for name in os.environ if is_database_variable(name)
        }
        overrides.update(env or {})
        result = CliRunner().invoke(
            main, list(args), input=input, env=overrides, catch_exceptions=False
        )
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def run_pgshift(tmp_path: Path) -> Callable[..., CliResult]:
    """``run_pgshift(*args, env=None, input=None, timeout=120, cwd=None) -> CliResult``:
    ``python -m pgshift`` in a subprocess, from ``cwd`` (default ``tmp_path``)."""

    def run(
        *args: str,
        env: Env | None = None,
        input: str | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> CliResult:
        completed = subprocess.run(
            [sys.executable, "-m", "pgshift", *args],
            input=input,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            cwd=cwd or tmp_path,
            env=clean_environ(env),
            check=False,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    return run


def _describe(url: str) -> str:
    """``user@host:port/dbname`` of a connection string, without its password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(unparsable connection string)"
    user, host = params.get("user", ""), params.get("host", "")
    return f"{user}@{host}:{params.get('port', '5432')}/{params.get('dbname', '')}"
