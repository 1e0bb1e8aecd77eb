"""The migration lock.

A transaction-level advisory lock, taken with ``pg_try_advisory_xact_lock`` on a
connection of its own and held by leaving that READ COMMITTED transaction idle:

- the server releases it the moment the holder's backend ends (killed client, lost
  network once keepalives give up), so a crash never leaves it behind;
- behind a transaction-mode pooler the open transaction pins one server connection, so the
  lock cannot leak to another client the way a session advisory lock does;
- an idle READ COMMITTED transaction holds no snapshot (its ``backend_xmin`` is NULL), so it
  never stalls ``CREATE INDEX CONCURRENTLY``; waiters poll with a try-lock and never block
  inside a transaction.

Nothing but snapshot-free commands (``SHOW``) is ever sent inside the held transaction;
a heartbeat thread sends one every few seconds to prove the connection (and so the
lock) is alive.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from pgshift.db.connect import TRANSACTION_BOUNDS, backend_words
from pgshift.errors import ConnectionFailed, LockTimeout

# Namespace string hashed with the table name: distinct from keys other tools derive.
LOCK_NAMESPACE = "pgshift migration lock"
POLL_SECONDS = 0.5
REPORT_EVERY_SECONDS = 10.0
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_DEADLINE_SECONDS = 15.0


COMMIT_GUARD_NAMESPACE = "pgshift commit guard"


def lock_key(schema: str, table: str, *, namespace: str = LOCK_NAMESPACE) -> int:
    """The signed 64-bit advisory lock key of a tracking table (of its migration lock, or
    with ``namespace`` :data:`COMMIT_GUARD_NAMESPACE` of its commit guard)."""
    digest = hashlib.sha256(f"{namespace}\x00{schema}\x00{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def commit_guard(key: int) -> str:
    """The statement that opens a migration transaction sent with its own ``COMMIT`` (see
    :mod:`pgshift.db.runner`): ``key`` (:func:`lock_key` in the commit-guard namespace)
    taken as a transaction-level advisory lock, so that the transaction holds it on the
    server until it ends, whether or not its client is still there. Only the holder of
    the migration lock sends it, so it never waits."""
    return f"SELECT pg_advisory_xact_lock({int(key)})"


def await_commits(conn: psycopg.Connection[Any], key: int, *, wait: float | None,
                  on_wait: WaitReporter | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until no transaction holds the commit guard ``key``: a migration that an
    earlier run (killed, or cut off from the server) sent with its ``COMMIT`` may still
    be running on the server, and may still commit. Polls with a try-lock like
    :func:`hold` (``conn`` is not in autocommit mode; its transaction is rolled back
    before this returns). Only the holder of the migration lock starts such migrations,
    so once the guard was free, a transaction that reads the tracking table afterwards
    sees the outcome of every one of them. ``on_wait`` as for :func:`hold`.

    Raises:
        LockTimeout: still held after ``wait`` seconds (None: no limit); names the backend.
    """
    query = sql.SQL("SELECT pg_try_advisory_xact_lock_shared({})").format(sql.Literal(key))

    def timed_out(holder: Holder | None) -> LockTimeout:
        who = holder.describe() if holder else "another session"
        return LockTimeout(
            f"a migration an earlier run sent with its COMMIT is still running on the "
            f"server after {wait:g} s ({who}): it may still commit, so nothing was "
            "read or changed",
            hint=(f"wait for it to end, or end it with SELECT pg_terminate_backend("
                  f"{holder.pid}); (it then rolls back)" if holder else "run again later"),
        )

    _poll(conn, query, key, wait=wait, on_wait=on_wait, sleep=sleep, timed_out=timed_out)
    conn.rollback()


@dataclass(frozen=True)
class Holder:
    """The session holding the lock, as pg_stat_activity shows it."""

    pid: int
    application_name: str | None
    client: str | None
    since: datetime | None
    state: str | None

    def describe(self) -> str:
        parts = backend_words(self.pid, self.application_name, self.client)
        if self.since:
            parts.append(f"since {self.since:%Y-%m-%d %H:%M:%S %Z}".strip())
        return ", ".join(parts)


WaitReporter = Callable[[Holder | None, float], None]


def _settings_sql(server_version: int) -> str:
    # Each set_config(..., true) is SET LOCAL (see TRANSACTION_BOUNDS); the heartbeat
    # keeps the live lock transaction well inside the idle bound.
    settings = [f"set_config('{name}', '{value}', true)" for name, value in TRANSACTION_BOUNDS]
    if server_version >= 170000:
        settings.append("set_config('transaction_timeout', '0', true)")
    return "SELECT " + ", ".join(settings) + ", pg_try_advisory_xact_lock({})"


def find_holder(conn: psycopg.Connection[Any], key: int) -> Holder | None:
    """Who holds ``key`` in the current database, if anyone."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(
        "SELECT l.pid, a.application_name, "
        "  CASE WHEN a.client_addr IS NULL THEN 'local socket' "
        "       ELSE host(a.client_addr) || ':' || a.client_port END, "
        "  a.xact_start, a.state "
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "  AND l.classid::bigint = %s AND l.objid::bigint = %s "
        "LIMIT 1",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    ).fetchone()
    if row is None:
        return None
    return Holder(pid=row[0], application_name=row[1], client=row[2], since=row[3], state=row[4])


class HeldLock:
    """A held lock, watched by a heartbeat thread.

    Every :data:`HEARTBEAT_SECONDS` the thread sends ``SHOW server_version`` (which takes
    no snapshot) on the lock's connection. When no answer comes within
    :data:`HEARTBEAT_DEADLINE_SECONDS` the lock must be presumed lost: the thread shuts
    down the socket of ``watched`` (the migration connection) so that a statement
    waiting on a dead network fails at once instead of hanging, and :meth:`check` raises.
    The heartbeat also keeps the lock's transaction from reaching the server-side
    ``idle_in_transaction_session_timeout`` that frees the lock of a vanished client.
    """

    def __init__(self, conn: psycopg.Connection[Any], key: int,
                 watched: psycopg.Connection[Any] | None = None) -> None:
        self.conn = conn
        self.key = key
        self.watched = watched
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="pgshift-lock-heartbeat",
                                        daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise ConnectionFailed when the lock's connection (and so the lock) is gone."""
        if self.lost is None and (self.conn.closed or self.conn.broken):
            self.lost = "its connection is closed"
        if self.lost is not None:
            raise ConnectionFailed(
                f"the migration lock was lost ({self.lost}); no further migration of this "
                "run was started",
                hint="check the network and the server, then run the command again",
            )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_DEADLINE_SECONDS + 1)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            if not _ping(self.conn, HEARTBEAT_DEADLINE_SECONDS):
                if self._stop.is_set():
                    return
                self.lost = (f"its connection did not answer for {HEARTBEAT_DEADLINE_SECONDS:g} s"
                             if not self.conn.broken else "its connection broke")
                _shutdown(self.watched)
                return


def _ping(conn: psycopg.Connection[Any], deadline: float) -> bool:
    """Send one snapshot-free command and wait at most ``deadline`` seconds for its end."""
    pgconn = conn.pgconn
    ends = time.monotonic() + deadline
    with conn.lock:
        try:
            if conn.closed or conn.broken:
                return False
            pgconn.send_query(b"SHOW server_version")
            while True:
                while not pgconn.is_busy():
                    if pgconn.get_result() is None:
                        return True
                remaining = ends - time.monotonic()
                if remaining <= 0:
                    return False
                readable, _, _ = select.select([pgconn.socket], [], [], remaining)
                if readable:
                    pgconn.consume_input()
        except (psycopg.Error, OSError):
            return False


def _shutdown(conn: psycopg.Connection[Any] | None) -> None:
    if conn is None or conn.closed:
        return
    try:
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    except (OSError, psycopg.Error):
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _poll(conn: psycopg.Connection[Any], query: sql.Composed, key: int, *,
          wait: float | None, on_wait: WaitReporter | None,
          sleep: Callable[[float], None],
          timed_out: Callable[[Holder | None], LockTimeout]) -> None:
    """Run the try-lock ``query`` (its last column true: taken) until it takes ``key``,
    rolling back between attempts, reporting the holder through ``on_wait`` at the first
    failed attempt and then every :data:`REPORT_EVERY_SECONDS`; returns inside the
    transaction that took it.

    Raises:
        LockTimeout: ``timed_out(holder)``, once ``wait`` seconds passed (None: no limit).
    """
    started = time.monotonic()
    next_report = started
    while True:
        row = conn.execute(query).fetchone()
        if row is not None and row[-1]:
            return
        holder = find_holder(conn, key)
        conn.rollback()
        waited = time.monotonic() - started
        if wait is not None and waited >= wait:
            raise timed_out(holder)
        if on_wait and time.monotonic() >= next_report:
            on_wait(holder, waited)
            next_report = time.monotonic() + REPORT_EVERY_SECONDS
        sleep(POLL_SECONDS if wait is None else min(POLL_SECONDS, max(0.0, wait - waited)))


@contextmanager
def hold(
    conn: psycopg.Connection[Any],
    key: int,
    *,
    wait: float | None,
    on_wait: WaitReporter | None = None,
    watched: psycopg.Connection[Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[HeldLock]:
    """Take the lock on ``conn`` (non-autocommit, used for nothing else) and hold it.

    ``wait`` is the most seconds to wait (None: no limit). ``on_wait`` is called at the
    first failed attempt and then about every 10 s with the holder and the seconds waited.
    ``watched`` is the connection the migrations run on (see :class:`HeldLock`).

    Raises:
        LockTimeout: not obtained within ``wait`` seconds; names the holder.
    """
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    # The key is inlined (it is an int) so the query goes by the simple protocol: an
    # extended-protocol portal would stay open with its snapshot, and the idle lock
    # transaction would then hold back xmin and stall CREATE INDEX CONCURRENTLY.
    query = sql.SQL(_settings_sql(conn.info.server_version)).format(sql.Literal(key))

    def timed_out(holder: Holder | None) -> LockTimeout:
        who = holder.describe() if holder else "another session"
        return LockTimeout(
            f"the migration lock was not obtained within {wait:g} s: held by {who}",
            hint=(
                f"wait for it, or end it with SELECT pg_terminate_backend({holder.pid});"
                if holder else "run again later"
            ),
        )

    _poll(conn, query, key, wait=wait, on_wait=on_wait, sleep=sleep, timed_out=timed_out)
    held = HeldLock(conn, key, watched)
    try:
        yield held
    finally:
        held.stop()
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg.Error:
                conn.close()
