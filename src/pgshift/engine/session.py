"""A locked session on the target database, and the options of one run.

:func:`open_session` connects, refuses a read-only standby, takes the migration lock and
reads the tracking table under it; the :class:`Session` it yields is what
:mod:`pgshift.engine.apply` and :mod:`pgshift.engine.bookkeeping` work on.
:class:`RunOptions` carries the settings a run obeys (``--strict``, ``--atomic``, the
lock bounds), passed in rather than read off the :class:`~pgshift.Migrator`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from pgshift.db.connect import READING_FACTS, READING_TABLE, WAITING_FOR_LOCK, setting_up
from pgshift.engine.events import Emitter
from pgshift.errors import ReadOnlyServer, StateError, TrackingTableError
from pgshift.files.directory import Discovery

if TYPE_CHECKING:
    import psycopg

    from pgshift.db.lock import HeldLock, Holder, WaitReporter
    from pgshift.db.store import TableState, TrackingTable


class RunOptions(NamedTuple):
    """What a run obeys. ``strict``: drift (and lint errors) refuse the run; ``lock_wait``:
    the most seconds to wait for the migration lock (None: no bound); ``lock_timeout``:
    PostgreSQL's lock_timeout for transactional migrations in seconds (0: off), retried
    ``lock_retries`` times; ``atomic``: the whole run is one transaction; ``variables``:
    the values of placeholders (name, value); ``schema``: a schema target's schema, set as
    ``search_path`` in each transaction. A NamedTuple rather than a dataclass: a no-op
    ``migrate`` defines it at start-up, and a NamedTuple costs far less to define."""

    strict: bool = False
    lock_wait: float | None = None
    lock_timeout: float = 5.0
    lock_retries: int = 3
    atomic: bool = False
    variables: tuple[tuple[str, str], ...] = ()
    schema: str | None = None

    @property
    def values(self) -> dict[str, str]:
        """The placeholder values by name."""
        return dict(self.variables)


@dataclass
class Session:
    """One locked session: the migration connection (not autocommit), the held migration
    lock, the schema-qualified tracking table, its state as read under the lock, the
    migration files found, the connection string (to ask the server again after the
    migration connection was lost) and the key of the table's commit guard."""

    conn: psycopg.Connection[Any]
    held: HeldLock
    table: TrackingTable
    state: TableState
    discovery: Discovery
    database_url: str
    guard_key: int

    def reread(self, *, end_transaction: bool = True) -> None:
        """Read the tracking table again (after a half of refresh or redo)."""
        from pgshift.db import store

        self.state = store.read(self.conn, self.table)
        if end_transaction:
            self.conn.rollback()


@contextmanager
def open_session(database_url: str, table: TrackingTable, discovery: Discovery, *,
                 lock_wait: float | None, emit: Emitter,
                 schema: str | None = None,
                 conn: psycopg.Connection[Any] | None = None) -> Iterator[Session]:
    """Connect (or take ``conn``, an idle connection to ``database_url`` that the
    session then owns and closes), refuse a standby, take the lock (waiting at most
    ``lock_wait`` seconds), read the tracking table under it. With ``schema`` (a schema
    target), refuse unless the connection's current schema is that schema.

    Raises:
        ReadOnlyServer, TrackingTableError, LockTimeout, ConnectionFailed, StateError.
    """
    from pgshift.db import lock, store
    from pgshift.db.connect import connect

    if conn is None:
        conn = connect(database_url, autocommit=False)
    lock_conn = None
    try:
        conn.autocommit = False
        qualified = _placed_table(conn, database_url, table, schema)
        lock_conn = connect(database_url, autocommit=False)

        waiting = _wait_reporter(emit, "waiting for the migration lock, held by {who} "
                                 "({waited:.0f} s so far)")
        finishing = _wait_reporter(emit, "waiting for a migration an earlier run sent with "
                                   "its COMMIT to end on the server ({who}; {waited:.0f} s "
                                   "so far)")
        key = lock.lock_key(qualified.schema or "", qualified.name)
        with ExitStack() as stack:
            # a server that ends the session before anything changed (pg_terminate_backend
            # of a waiting runner, a restart) is pgshift's own error, not a traceback
            with setting_up(WAITING_FOR_LOCK, database_url):
                held = stack.enter_context(lock.hold(
                    lock_conn, key, wait=lock_wait, on_wait=waiting, watched=conn))
            with setting_up(READING_TABLE, database_url):
                guard = lock.lock_key(qualified.schema or "", qualified.name,
                                      namespace=lock.COMMIT_GUARD_NAMESPACE)
                lock.await_commits(conn, guard, wait=lock_wait, on_wait=finishing)
                state = store.read(conn, qualified)
                conn.rollback()
            yield Session(conn, held, qualified, state, discovery, database_url, guard)
    finally:
        conn.close()
        if lock_conn is not None:
            lock_conn.close()


def _placed_table(conn: psycopg.Connection[Any], database_url: str, table: TrackingTable,
                  schema: str | None) -> TrackingTable:
    """The tracking table, schema-qualified by the connection's current schema, once
    the server proves to be a primary (and, for a schema target, to use ``schema``).

    Raises:
        ReadOnlyServer, StateError, TrackingTableError, ConnectionFailed.
    """
    from pgshift.db import catalog
    from pgshift.db.connect import describe_target

    with setting_up(READING_FACTS, database_url):
        current, in_recovery, _ = catalog.server_facts(conn)
        conn.rollback()
    if in_recovery:
        raise ReadOnlyServer(
            f"{describe_target(database_url)} is in recovery (a read-only "
            "standby): nothing was changed",
            hint="point pgshift at the primary server",
        )
    if schema is not None and current != schema:
        raise _schema_problem(conn, schema)
    if current is None and table.schema is None:
        raise TrackingTableError(
            "no current schema (search_path is empty): cannot place the tracking table",
            hint="pass --table schema.name",
        )
    return table.qualified(current or "")


def _wait_reporter(emit: Emitter, text: str) -> WaitReporter:
    """A ``lock-wait`` event reporter: ``text`` with ``{who}`` and ``{waited}`` filled."""

    def report(holder: Holder | None, waited: float) -> None:
        who = holder.describe() if holder else "another session"
        emit("lock-wait", text.format(who=who, waited=waited))

    return report


def _schema_problem(conn: psycopg.Connection[Any], schema: str) -> StateError:
    """Why a schema target's connection does not have ``schema`` as its current schema."""
    from pgshift.db import catalog

    if not catalog.schema_exists(conn, schema):
        return StateError(f"schema {schema!r} does not exist: nothing was applied",
                          hint=f"create it first (CREATE SCHEMA ...), or leave {schema!r} out "
                          "of the targets")
    return StateError(
        f"the connection for schema {schema!r} does not use it as its search_path (a "
        "connection pooler that drops the startup option 'options'?): nothing was applied",
        hint="connect to the server directly, or let the pooler pass 'options' through",
    )
