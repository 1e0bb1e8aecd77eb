"""The servers of the pytest plugin: the one given by URL, or an embedded one started for
the session (in RAM when there is room); cloning and dropping test databases on them.
Imported by :mod:`pgshift.testing.plugin` only when a fixture needs a server."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

URL_VARIABLE = "PGSHIFT_TEST_URL"
# The name of the pytest11 entry point; see pytest_plugin_registered.
ENTRY_POINT = "pgshift"
# Durability is worthless for databases thrown away at the end of the session; the WAL
# bound keeps a server in RAM_DIR small.
EMBEDDED_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "128MB",
}
# A copy creates some 300 files; on a RAM filesystem that is several times faster than on
# a disk one (see bench/plugin_clone_time.py), so the embedded server lives there when it
# has room.
RAM_DIR = Path("/dev/shm")
RAM_DIR_MIN_FREE = 1 << 30
TEMPLATE_PREFIX = "pgshift_tpl_"
CLONE_PREFIX = "pgshift_t_"
EMBEDDED_PREFIX = "pgshift-pytest-"
# In each embedded server's directory: the pid of the pytest process it belongs to.
OWNER_FILE = "owner.pid"
STRATEGIES = frozenset({"FILE_COPY", "WAL_LOG"})
# How long to wait for the sessions on a database to end before dropping it anyway.
UNUSED_WAIT = 10.0


def choose_strategy(version_num: int, fsync: bool) -> str | None:
    """The ``CREATE DATABASE`` strategy that copies a small template fastest.

    ``FILE_COPY`` (PostgreSQL 15+) copies the files and takes two checkpoints, which cost
    little without ``fsync``; with ``fsync`` the checkpoints dominate and the server's
    default (``WAL_LOG``) is faster. None: no ``STRATEGY`` clause (before 15, or default).
    """
    return "FILE_COPY" if version_num >= 150000 and not fsync else None


class Server:
    """A PostgreSQL server the plugin creates and drops databases on, through one
    autocommit connection to ``url`` that it does not own (the caller closes it)."""

    def __init__(self, url: str, conn: psycopg.Connection[Any], description: str) -> None:
        self.url = url
        self.description = description
        self._conn = conn
        row = conn.execute(
            "SELECT current_setting('server_version_num')::int, current_setting('fsync')"
        ).fetchone()
        self.version_num: int = row[0] if row else 0
        self.strategy = choose_strategy(self.version_num, row is not None and row[1] == "on")

    def url_for(self, dbname: str) -> str:
        """``url`` pointing at database ``dbname`` instead (a URL stays a URL)."""
        return url_for_database(self.url, dbname)

    def create_database(self, name: str, template: str, *, strategy: str | None = None) -> float:
        """``CREATE DATABASE name TEMPLATE template`` with ``strategy`` (default: the one
        :func:`choose_strategy` picked for this server); return the milliseconds it took.

        Raises: psycopg.Error — e.g. the template is in use by another session.
        """
        from psycopg import sql

        chosen = strategy or self.strategy
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
        if chosen is not None:
            if chosen not in STRATEGIES:
                raise ValueError(f"unknown CREATE DATABASE strategy {chosen!r}")
            query += sql.SQL(" STRATEGY {}").format(sql.SQL(chosen))
        started = time.perf_counter()
        self._conn.execute(query)
        return (time.perf_counter() - started) * 1000

    def drop_database(self, name: str) -> float:
        """Drop database ``name`` if it exists, ending its sessions first; return the
        milliseconds it took."""
        from psycopg import sql

        started = time.perf_counter()
        self._end_sessions(name)
        force = sql.SQL(" WITH (FORCE)") if self.version_num >= 130000 else sql.SQL("")
        self._conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force)
        )
        return (time.perf_counter() - started) * 1000

    def seal(self, name: str) -> None:
        """Refuse new connections to ``name`` and end the sessions on it, so that it can
        serve as a template (one session on it makes every copy fail)."""
        from psycopg import sql

        self._conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
        self._end_sessions(name)

    def _end_sessions(self, name: str) -> None:
        """Terminate the sessions on ``name`` and wait until they are gone.

        A session whose client has just disconnected lingers for a moment; CREATE and DROP
        DATABASE wait for such a one in steps of 100 ms, more than a whole copy takes.
        """
        query = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + UNUSED_WAIT
        while self._conn.execute(query, [name]).fetchall() and time.monotonic() < deadline:
            time.sleep(0.002)


def url_for_database(url: str, dbname: str) -> str:
    """``url`` (a ``postgresql://`` URL or a key=value string) naming ``dbname`` instead."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    if "://" not in url:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(url, dbname=dbname)
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "dbname"])
    return urlunsplit(parts._replace(path="/" + quote(dbname, safe=""), query=query))


@contextmanager
def open_server(
    url: str | None,
    *,
    settings: Mapping[str, str] = EMBEDDED_SETTINGS,
    parent: Path | None = None,
) -> Iterator[Server]:
    """The server at ``url``; with None, an embedded server started with ``settings`` in a
    new directory in ``parent`` (default: :func:`embedded_parent`), stopped and removed on
    exit, after removing abandoned ones (:func:`remove_abandoned`).

    Raises: PgshiftError — the server cannot be reached or started.
    """
    from pgshift.db.connect import connect, describe_target

    if url is not None:
        with connect(url, autocommit=True) as conn:
            yield Server(url, conn, f"PostgreSQL at {describe_target(url)}")
        return
    from pgshift.embedded import server as embedded

    for candidate in {RAM_DIR, Path(tempfile.gettempdir())}:
        remove_abandoned(candidate)
    base_dir = Path(tempfile.mkdtemp(prefix=EMBEDDED_PREFIX, dir=parent or embedded_parent()))
    try:
        (base_dir / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
        running, _ = embedded.ensure_running(base_dir, settings=settings)
        with connect(running.url, autocommit=True) as conn:
            description = f"embedded PostgreSQL {running.version} in {base_dir}"
            yield Server(running.url, conn, description)
    finally:
        try:
            embedded.stop(base_dir)
        finally:
            shutil.rmtree(base_dir, ignore_errors=True)


def embedded_parent() -> Path:
    """:data:`RAM_DIR` if it is usable and has :data:`RAM_DIR_MIN_FREE` bytes free, else
    the temporary directory. Never under pytest's basetemp: pytest makes that private
    again on each run, locking out the account the server runs as when pytest runs as
    root."""
    with suppress(OSError):
        usable = os.access(RAM_DIR, os.W_OK | os.X_OK)
        if usable and shutil.disk_usage(RAM_DIR).free >= RAM_DIR_MIN_FREE:
            return RAM_DIR
    return Path(tempfile.gettempdir())


def remove_abandoned(parent: Path) -> None:
    """Stop and remove the embedded servers in ``parent`` whose pytest process is gone
    (killed before its teardown ran). Those of live or unknown owners are left alone."""
    from pgshift.embedded import server as embedded

    for base_dir in parent.glob(f"{EMBEDDED_PREFIX}*"):
        try:
            os.kill(int((base_dir / OWNER_FILE).read_text(encoding="utf-8")), 0)
        except ProcessLookupError:
            with suppress(embedded.EmbeddedError):
                embedded.stop(base_dir)
            shutil.rmtree(base_dir, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not written yet, not ours to read, or the owner lives as another user


