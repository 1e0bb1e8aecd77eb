"""Recording migrations without running them: ``baseline``, ``mark`` and ``unmark``.

For a database whose schema already exists, or to repair the record by hand. Each runs
under the migration lock, taken without waiting, so it never races a running migrate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pgshift.db import store
from pgshift.engine import policy
from pgshift.engine.events import Emitter
from pgshift.engine.selection import BASELINE_BATCH
from pgshift.engine.session import Session
from pgshift.errors import StateError, UsageRefused
from pgshift.files import directory, sqlfile
from pgshift.results import AppliedMigration, RunResult


def _record(session: Session, emit: Emitter, files: list[directory.MigrationFile],
            batch: int) -> list[AppliedMigration]:
    """Insert a row for each file (checksum and DOWN from the file) in one transaction."""
    parsed = [sqlfile.parse(directory.read_text(f), f.name) for f in files]
    conn, state = session.conn, session.state
    with conn.transaction():
        if not state.exists or state.legacy or not state.has_progress_table:
            store.create_or_upgrade(conn, session.table, state)
        for migration in parsed:
            store.insert(conn, session.table, name=migration.name, batch=batch,
                         checksum=migration.checksum, duration_ms=0,
                         down_sql=migration.down_sql)
            store.progress_delete(conn, session.table, migration.name)
    for migration in parsed:
        emit("notice", f"recorded {migration.name} as executed without running it",
             migration.name)
    return [AppliedMigration(p.name, batch, 0, p.no_transaction) for p in parsed]


def adopt(session: Session, emit: Emitter,
          files: Sequence[directory.MigrationFile]) -> list[AppliedMigration]:
    """Record squash files whose replaced migrations are all recorded, in batch 0,
    without running them (:func:`pgshift.engine.policy.squash_verdict` chose them)."""
    return _record(session, emit, list(files), BASELINE_BATCH)


def baseline(session: Session, emit: Emitter, to: str, *, dry_run: bool) -> RunResult:
    """Record every migration file up to and including ``to`` in batch 0.

    Raises:
        UsageRefused: ``to`` is not a migration file. StateError: some are recorded already.
    """
    started = time.monotonic()
    files = list(session.discovery.files)
    names = [f.name for f in files]
    if to not in names:
        raise UsageRefused(f"baseline --to {to}: no such migration file in "
                           f"{session.discovery.directory}")
    chosen = files[: names.index(to) + 1]
    recorded = {r.name for r in session.state.rows}
    already = [f.name for f in chosen if f.name in recorded]
    if already:
        raise StateError(
            f"baseline: {', '.join(already)} already recorded; nothing was recorded",
            hint="baseline is for a database that has no record of these migrations yet",
        )
    if dry_run:
        planned = tuple(AppliedMigration(f.name, BASELINE_BATCH, 0) for f in chosen)
        return RunResult("baseline (dry run)", BASELINE_BATCH, planned,
                         seconds=time.monotonic() - started)
    done = _record(session, emit, chosen, BASELINE_BATCH)
    return RunResult("baseline", BASELINE_BATCH, tuple(done), seconds=time.monotonic() - started)


def mark(session: Session, emit: Emitter, name: str) -> RunResult:
    """Record one pending migration as executed, in a new batch, without running it."""
    started = time.monotonic()
    file = session.discovery.by_name().get(name)
    if file is None:
        raise UsageRefused(f"mark {name}: no such migration file in "
                           f"{session.discovery.directory}")
    if name in {r.name for r in session.state.rows}:
        raise StateError(f"mark {name}: already recorded as executed; nothing changed")
    batch = policy.next_batch(session.state)
    done = _record(session, emit, [file], batch)
    return RunResult("mark", batch, tuple(done), seconds=time.monotonic() - started)


def unmark(session: Session, emit: Emitter, name: str) -> RunResult:
    """Delete the record of ``name`` (and any partial progress) without running DOWN."""
    started = time.monotonic()
    row = next((r for r in session.state.rows if r.name == name), None)
    partial = any(p.name == name for p in session.state.partial)
    if row is None and not partial:
        if name not in session.discovery.by_name():
            raise UsageRefused(f"unmark {name}: no such migration, applied or in "
                               f"{session.discovery.directory}")
        raise StateError(f"unmark {name}: it is not recorded; nothing changed")
    conn = session.conn
    with conn.transaction():
        store.delete(conn, session.table, name)
        if session.state.has_progress_table:
            store.progress_delete(conn, session.table, name)
    emit("notice", f"forgot the record of {name}; its DOWN section was not run", name)
    batch = row.batch if row else 0
    undone = (AppliedMigration(name, batch, 0),)
    return RunResult("unmark", batch, rolled_back=undone, seconds=time.monotonic() - started)
