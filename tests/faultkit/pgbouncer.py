"""A throw-away PgBouncer in front of a test PostgreSQL server.

    reason = available()
    if reason is not None:
        pytest.skip(f"PgBouncer tests need pgbouncer: {reason}")
    with PgBouncer(tmp_path, "127.0.0.1", cluster.port, users={"postgres": pw}) as bouncer:
        psycopg.connect(bouncer.url("postgres"), prepare_threshold=None)

Contracts:
- The binary is Debian's ``pgbouncer`` (``scripts/install-test-services.sh`` installs it; on
  Debian 12 that is 1.18, which has no prepared-statement support in transaction mode, so
  psycopg clients need ``prepare_threshold=None``).
- PgBouncer refuses to run as root, so as root it runs as the same unprivileged OS user as the
  test clusters (see ``cluster.server_os_user``), in the foreground, with its ini, auth file,
  pid file and log in a fresh directory under ``tmpdir``.
- It listens on 127.0.0.1 on a free port, Unix socket disabled. Every database name is routed
  to ``target_host:target_port`` (``* =`` fallback entry). Clients authenticate with
  ``auth_type = trust``; each user in ``users`` must still be listed in the auth file, and its
  password there is what PgBouncer uses to log in to a server that demands one (SCRAM works
  with a plain-text password). ``admin_users = postgres``, so ``admin_url()`` reaches the
  console (``SHOW POOLS``, ``SHOW SERVERS``).
- ``ignore_startup_parameters`` is empty unless given: psycopg 3 sends no startup parameter
  that PgBouncer rejects (it sends none beyond user/database/libpq defaults), and keeping the
  list empty preserves PgBouncer's "unsupported startup parameter" error for ``options``.
- ``stop()`` sends SIGTERM (immediate shutdown: server connections are closed, so anything they
  held, advisory locks included, is released), then SIGKILL after 10 s. Idempotent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from .cluster import (
    ClusterError,
    as_test_user,
    free_port,
    give_to_test_user,
    owned_dir,
    server_os_user,
)

DEBIAN_BINARY = Path("/usr/sbin/pgbouncer")


def binary() -> Path | None:
    """Return the pgbouncer executable, or None when it is not installed."""
    found = shutil.which("pgbouncer")
    if found:
        return Path(found)
    return DEBIAN_BINARY if os.access(DEBIAN_BINARY, os.X_OK) else None


def available() -> str | None:
    """Return None when :class:`PgBouncer` can run here, else the reason (for pytest.skip)."""
    exe = binary()
    if exe is None:
        return "pgbouncer is not installed (run scripts/install-test-services.sh as root)"
    try:
        server_os_user()
    except ClusterError as exc:
        return str(exc)
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"{exe} --version failed: {done.stderr.strip()}"
    return None


def version() -> str:
    """Return ``pgbouncer --version``'s first line, e.g. ``PgBouncer 1.18.0``."""
    exe = binary()
    if exe is None:
        return "not installed"
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


def _quote_auth(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


class PgBouncer:
    """One PgBouncer process; see the module docstring for the contracts."""

    def __init__(
        self, tmpdir: Path | str, target_host: str, target_port: int, *,
        pool_mode: str = "transaction", default_pool_size: int = 2,
        users: Mapping[str, str] | None = None,
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        exe = binary()
        if exe is None:
            raise ClusterError(available() or "pgbouncer is not installed")
        self.exe = exe
        self.base = owned_dir(Path(tmpdir), "pgbouncer-")
        self.ini_path = self.base / "pgbouncer.ini"
        self.log_path = self.base / "pgbouncer.log"
        self.target = (target_host, target_port)
        self.pool_mode = pool_mode
        self.default_pool_size = default_pool_size
        self.users = dict(users) if users is not None else {"postgres": ""}
        self.settings = dict(settings or {})
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> PgBouncer:
        """Write the config, start pgbouncer and wait until it accepts TCP connections.

        Raises: ClusterError — it exited or did not listen within 30 s (with its log).
        """
        self.port = free_port()
        self._write_config()
        self._proc = as_test_user(
            [self.exe, self.ini_path], cwd=self.base, output=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=1
            ):
                return self
            time.sleep(0.05)
        self.stop()
        raise ClusterError(f"pgbouncer did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (immediate shutdown), SIGKILL after 10 s; no-op when not running."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    @property
    def pid(self) -> int | None:
        """The pgbouncer process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def url(self, dbname: str = "postgres", user: str = "postgres") -> str:
        """Return ``postgresql://user@127.0.0.1:<port>/dbname`` (client auth is trust)."""
        quoted = urllib.parse.quote(user, safe="")
        return f"postgresql://{quoted}@127.0.0.1:{self.port}/{urllib.parse.quote(dbname)}"

    def admin_url(self) -> str:
        """Return the URL of PgBouncer's admin console (database ``pgbouncer``)."""
        return self.url("pgbouncer")

    def log_tail(self, lines: int = 30) -> str:
        """Return the last ``lines`` lines of pgbouncer's log ('' when there is none)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _write_config(self) -> None:
        host, port = self.target
        options: dict[str, str | int] = {
            "listen_addr": "127.0.0.1", "listen_port": self.port, "unix_socket_dir": "",
            "auth_type": "trust", "auth_file": str(self.base / "userlist.txt"),
            "pool_mode": self.pool_mode, "default_pool_size": self.default_pool_size,
            "max_client_conn": 200, "admin_users": "postgres",
            "logfile": str(self.log_path), "pidfile": str(self.base / "pgbouncer.pid"),
            "ignore_startup_parameters": "",
        }
        options.update(self.settings)
        ini = ["[databases]", f"* = host={host} port={port}", "", "[pgbouncer]"]
        ini += [f"{key} = {value}" for key, value in options.items()]
        self.ini_path.write_text("\n".join(ini) + "\n")
        give_to_test_user(self.ini_path, 0o600)
        auth_file = self.base / "userlist.txt"
        auth_file.write_text(
            "".join(f"{_quote_auth(u)} {_quote_auth(p)}\n" for u, p in self.users.items())
        )
        give_to_test_user(auth_file, 0o600)
