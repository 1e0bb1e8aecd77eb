"""``Migrator``: pgshift's library API and the policy of every command.

It decides what is pending, what a batch is and what to roll back; it runs each migration
through one function that owns its transaction (:mod:`pgshift.runner`), keeps all
tracking-table SQL in :mod:`pgshift.store`, and reports progress through ``on_event``.
It never prints and never exits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pgshift import directory, sqlfile
from pgshift.errors import (
    MigrationFileError,
    ReadOnlyServer,
    StateError,
    TrackingTableError,
)
from pgshift.results import (
    Event,
    MigrationStatus,
    RunResult,
    StatusReport,
)

EventHandler = Callable[[Event], None]


@dataclass
class _Session:
    conn: Any
    held: Any
    table: Any
    state: Any
    discovery: directory.Discovery


class Migrator:
    """Apply, inspect and roll back the migrations of one directory on one database.

    ``database_url`` is a libpq URL or key=value string. ``table`` may be schema-qualified.
    ``lock_wait`` bounds the wait for the migration lock (None: no bound);
    ``lock_timeout`` is PostgreSQL's lock_timeout for transactional migrations in seconds
    (0: off), retried ``lock_retries`` times with backoff.
    """

    def __init__(
        self,
        database_url: str,
        directory: str | Path = "migrations",
        *,
        table: str = "_migrations",
        strict: bool = False,
        lock_wait: float | None = None,
        lock_timeout: float = 5.0,
        lock_retries: int = 3,
        on_event: EventHandler | None = None,
    ) -> None:
        from pgshift.config import parse_table_name
        from pgshift.store import TrackingTable

        self.database_url = database_url
        self.directory = Path(directory)
        schema, name = parse_table_name(table, "table")
        self.table = TrackingTable(schema, name)
        self.strict = strict
        self.lock_wait = lock_wait
        self.lock_timeout = lock_timeout
        self.lock_retries = lock_retries
        self._on_event = on_event

    # --- public API -------------------------------------------------------------------

    def status(self) -> StatusReport:
        """Every migration, file or applied, with its state. Read-only: one query.

        Raises:
            ConfigError, ConnectionFailed, TrackingTableError.
        """
        from pgshift import store
        from pgshift.connect import connect

        discovery = directory.discover(self.directory)
        with connect(self.database_url, autocommit=True) as conn:
            state = store.read(conn, self.table)
        entries, warnings = self._merge(discovery, state)
        return StatusReport(
            entries=entries,
            warnings=(*discovery.warnings, *warnings),
            table=self.table.display,
            table_exists=state.exists,
            counts=StatusReport.count(entries),
        )

    def migrate(self) -> RunResult:
        """Apply every pending migration, in order, as one new batch.

        Raises:
            MigrationFileError: a pending file is malformed (nothing was applied).
            MigrationFailed: ``.applied`` lists what this run applied before the failure.
            StateError: drift under ``strict``. LockTimeout, ConnectionFailed, ReadOnlyServer.
        """
        started = time.monotonic()
        with self._session() as session:
            result = self._migrate(session, started)
        return result

    def rollback(self) -> RunResult:
        """Roll back the last batch, newest migration first.

        Raises:
            StateError: a migration of the batch has no DOWN section (nothing rolled back).
            RollbackFailed: ``.applied`` lists what was rolled back before the failure.
        """
        started = time.monotonic()
        with self._session() as session:
            rows = session.state.rows
            last = session.state.max_batch
            targets = [r for r in rows if r.batch == last] if rows else []
            return self._revert(session, targets, "rollback", started)

    def reset(self) -> RunResult:
        """Roll back every batch, newest first (see :meth:`rollback`)."""
        started = time.monotonic()
        with self._session() as session:
            return self._revert(session, list(session.state.rows), "reset", started)

    def refresh(self) -> RunResult:
        """``reset`` then ``migrate`` under one hold of the lock; the new batch is 1."""
        from pgshift import store

        started = time.monotonic()
        with self._session() as session:
            undone = self._revert(session, list(session.state.rows), "reset", started)
            session.state = store.read(session.conn, session.table)
            done = self._migrate(session, started)
        return RunResult(
            action="refresh",
            batch=done.batch,
            applied=done.applied,
            rolled_back=undone.rolled_back,
            warnings=(*undone.warnings, *done.warnings),
            seconds=time.monotonic() - started,
        )

    def create(self, name: str, *, today: date | None = None) -> Path:
        """Write the next migration file from the template; return its path.

        Raises:
            UsageRefused: a bad name. Works without a database.
        """
        return create_migration(self.directory, name, today=today)

    # --- sessions -----------------------------------------------------------------------

    def _emit(self, kind: str, message: str, name: str | None = None, ms: int | None = None) -> (
        None
    ):
        if self._on_event is not None:
            self._on_event(Event(kind, message, name, ms))

    @contextmanager
    def _session(self) -> Iterator[_Session]:
        """Connect, refuse a standby, take the lock, read the tracking table under it."""
        from pgshift import lock, store
        from pgshift.connect import connect, describe_target

        discovery = directory.discover(self.directory)
        conn = connect(self.database_url, autocommit=False)
        lock_conn = None
        try:
            schema, in_recovery, _ = store.server_facts(conn)
            conn.rollback()
            if in_recovery:
                raise ReadOnlyServer(
                    f"{describe_target(self.database_url)} is in recovery (a read-only "
                    "standby): nothing was changed",
                    hint="point pgshift at the primary server",
                )
            if schema is None and self.table.schema is None:
                raise TrackingTableError(
                    "no current schema (search_path is empty): cannot place the tracking table",
                    hint="pass --table schema.name",
                )
            table = self.table.qualified(schema or "")
            lock_conn = connect(self.database_url, autocommit=False)

            def waiting(holder: lock.Holder | None, waited: float) -> None:
                who = holder.describe() if holder else "another session"
                self._emit("lock-wait", f"waiting for the migration lock, held by {who} "
                           f"({waited:.0f} s so far)")

            key = lock.lock_key(table.schema or "", table.name)
            with lock.hold(lock_conn, key, wait=self.lock_wait, on_wait=waiting,
                           watched=conn) as held:
                state = store.read(conn, table)
                conn.rollback()
                yield _Session(conn, held, table, state, discovery)
        finally:
            conn.close()
            if lock_conn is not None:
                lock_conn.close()

    # --- migrate ------------------------------------------------------------------------

    def _migrate(self, session: _Session, started: float) -> RunResult:
        from pgshift.apply import Applier

        state = session.state
        applied_names = {r.name for r in state.rows}
        pending = [f for f in session.discovery.files if f.name not in applied_names]
        missing_partial = [p.name for p in state.partial
                           if p.name not in session.discovery.by_name()]
        if missing_partial:
            raise StateError(
                f"{', '.join(missing_partial)}: partially applied by an earlier run, but the "
                "file is gone; nothing was applied",
                hint="restore the file so migrate can resume it",
            )
        parsed = [sqlfile.parse(directory.read_text(f), f.name) for f in pending]
        entries, warnings = self._merge(session.discovery, state)
        warnings = [*session.discovery.warnings, *warnings, *self._late(session, pending)]
        drift = [e for e in entries if e.state in ("modified", "missing file")]
        for warning in warnings:
            self._emit("warning", warning)
        if drift and self.strict:
            names = ", ".join(f"{e.name} ({e.state})" for e in drift)
            raise StateError(
                f"--strict: applied migrations changed since they were applied: {names}; "
                "nothing was applied",
                hint="restore the files as they were applied, or run without --strict",
            )
        if not parsed:
            return RunResult("migrate", None, warnings=tuple(warnings),
                             seconds=time.monotonic() - started)
        batch = state.max_batch + 1
        applier = Applier(self, session)
        done = applier.apply_all(parsed, batch)
        return RunResult("migrate", batch, tuple(done), warnings=tuple(warnings),
                         seconds=time.monotonic() - started)

    def _late(self, session: _Session, pending: list[directory.MigrationFile]) -> list[str]:
        """Warnings for pending files numbered below the latest applied migration."""
        known = session.discovery.by_name()
        applied = [known[r.name] for r in session.state.rows if r.name in known]
        if not applied or not pending:
            return []
        latest = max(applied, key=lambda f: f.sort_key)
        return [
            f"{f.name} is pending but sorts before {latest.name}, which is already applied "
            "(merged late?); it will be applied now"
            for f in pending
            if f.sort_key < latest.sort_key
        ]

    # --- rollback -----------------------------------------------------------------------

    def _revert(self, session: _Session, rows: list[Any], action: str, started: float) -> (
        RunResult
    ):
        from pgshift.apply import Applier

        rows = sorted(rows, key=lambda r: (r.batch, r.id), reverse=True)
        if not rows:
            return RunResult(action, None, seconds=time.monotonic() - started)
        applier = Applier(self, session)
        plans = applier.plan_reverts(rows)
        undone = applier.revert_all(plans)
        return RunResult(action, rows[0].batch, rolled_back=tuple(undone),
                         seconds=time.monotonic() - started)

    # --- status -------------------------------------------------------------------------

    def _merge(self, discovery: directory.Discovery, state: Any) -> (
        tuple[tuple[MigrationStatus, ...], list[str]]
    ):
        files = discovery.by_name()
        rows = {r.name: r for r in state.rows}
        partial = {p.name: p for p in state.partial}
        entries: list[MigrationStatus] = []
        warnings: list[str] = []
        for name in sorted(set(files) | set(rows) | set(partial), key=_order_key):
            row = rows.get(name)
            file = files.get(name)
            if row is None and name in partial:
                progress = partial[name]
                warnings.append(
                    f"{name} is partially applied: {progress.applied} of {progress.total} "
                    "statements ran outside a transaction; migrate resumes it"
                    + (f" (index {progress.pending_index} may be left INVALID)"
                       if progress.pending_index else ""))
                entries.append(MigrationStatus(
                    name, "partial", executed_at=progress.updated_at, no_transaction=True,
                    statements_done=progress.applied, statements_total=progress.total))
                continue
            if row is None:
                entries.append(MigrationStatus(name, "pending"))
                continue
            common = {"batch": row.batch, "executed_at": row.executed_at,
                      "checksum": row.checksum, "duration_ms": row.duration_ms}
            if file is None:
                warnings.append(f"{name} is applied (batch {row.batch}) but its file is missing")
                entries.append(MigrationStatus(name, "missing file", **common))
                continue
            parsed, problem = _parse_quietly(file)
            file_sum = parsed.checksum if parsed else None
            modified = problem is not None or (
                row.checksum is not None and file_sum is not None and row.checksum != file_sum
            )
            if modified:
                why = problem or f"checksum {row.checksum} when applied, now {file_sum}"
                warnings.append(f"{name} was modified after it was applied: {why}")
            entries.append(MigrationStatus(
                name, "modified" if modified else "executed", file_checksum=file_sum,
                no_transaction=bool(parsed and parsed.no_transaction),
                metadata=parsed.metadata if parsed else (), **common,
            ))
        return tuple(entries), warnings


def create_migration(dir_path: str | Path, name: str, *, today: date | None = None) -> Path:
    """Write ``DIR/<next number>_<name>.sql`` from the template (no database needed).

    Raises:
        UsageRefused: a bad name.
    """
    return directory.create(Path(dir_path), name, today=today or date.today())


def _order_key(name: str) -> tuple[int, str]:
    digits = name.split("_", 1)[0]
    return (int(digits) if digits.isdigit() else 1 << 62, name)


def _parse_quietly(
    file: directory.MigrationFile,
) -> tuple[sqlfile.ParsedMigration | None, str | None]:
    try:
        return sqlfile.parse(directory.read_text(file), file.name), None
    except MigrationFileError as error:
        return None, str(error)


__all__ = ["Migrator", "create_migration"]
