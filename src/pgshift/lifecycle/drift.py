"""``drift``: does the database still hold the schema its recorded migrations produce?

The migrations recorded in the target's tracking table are replayed, in the order they
were applied, on a scratch database (:mod:`pgshift.review.dump`), and the two catalogs are
compared with verify's snapshot machinery (:mod:`pgshift.review.snapshot`). The target is
only read, in read-only transactions; the tracking table and its progress table are left
out of the comparison. Never prints."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pgshift.errors import MigrationFailed, StateError

if TYPE_CHECKING:
    from pgshift.db.store import TableState
    from pgshift.engine.migrator import Migrator
    from pgshift.files.sqlfile import ParsedMigration
    from pgshift.review.snapshot import Snapshot

DriftKind = Literal["missing", "extra", "different"]
# snapshot.diff(expected, actual) kinds, in drift's words.
KINDS: dict[str, DriftKind] = {"removed": "missing", "added": "extra", "changed": "different"}


@dataclass(frozen=True)
class DriftDifference:
    """One object that differs: ``missing`` (the migrations create it, the database lacks
    it), ``extra`` (the database has it, no migration creates it) or ``different`` (both
    have it; ``detail`` says what differs, as ``migrations → database``)."""

    kind: DriftKind
    object_type: str
    name: str
    detail: str

    def describe(self) -> str:
        """``missing index idx_x (…)``, ``different column users.bio: type: text → …``."""
        if self.kind == "different":
            return f"different {self.object_type} {self.name}: {self.detail}"
        shown = f" ({self.detail})" if self.detail else ""
        return f"{self.kind} {self.object_type} {self.name}{shown}"


@dataclass(frozen=True)
class DriftReport:
    """The comparison of ``target`` with its ``replayed`` migrations (in order) rebuilt on
    the ``scratch`` database (dropped afterwards). ``warnings`` say what makes the
    comparison less exact (a file changed since it was applied, a partial run)."""

    target: str
    table: str
    scratch: str
    replayed: tuple[str, ...]
    differences: tuple[DriftDifference, ...]
    warnings: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.differences


def drift(migrator: Migrator, *, scratch_url: str | None = None,
          embedded_dir: Path | None = None) -> DriftReport:
    """Compare the schema of ``migrator``'s database with the one its recorded migrations
    build on a scratch database (on the server of ``scratch_url``, default the embedded
    server in ``embedded_dir``). Read-only on the target.

    Raises:
        StateError: a recorded migration's file is gone, or one fails to replay (exit 1).
        MigrationFileError: a recorded file is malformed. ConnectionFailed,
        TrackingTableError.
    """
    from pgshift.db.connect import describe_target

    started = time.perf_counter()
    state, actual, table = _read_target(migrator)
    migrations, warnings = _recorded_migrations(migrator, state)
    scratch, expected = _replay(migrations, scratch_url, embedded_dir, migrator.variables)
    from pgshift.review import snapshot

    differences = tuple(
        DriftDifference(KINDS[d.kind], d.object_type, d.name, d.detail)
        for d in snapshot.diff(expected, actual))
    return DriftReport(describe_target(migrator.database_url), table, scratch,
                       tuple(m.name for m in migrations), differences, tuple(warnings),
                       time.perf_counter() - started)


def _read_target(migrator: Migrator) -> tuple[TableState, Snapshot, str]:
    """The tracking table's state and the catalog of the target, read in read-only
    transactions; the tracking and progress tables are left out of the catalog."""
    from pgshift.db import catalog, store
    from pgshift.db.connect import connect
    from pgshift.review import snapshot

    with connect(migrator.database_url, autocommit=True) as conn:
        conn.read_only = True
        schema, _in_recovery, _version = catalog.server_facts(conn)
        state = store.read(conn, migrator.table)
        table = migrator.table.qualified(schema or "")
        left_out = [(str(t.schema), t.name) for t in (table, table.progress)]
        actual = snapshot.take(conn, exclude=left_out)
    return state, actual, table.display


def _recorded_migrations(migrator: Migrator, state: TableState) -> tuple[
        list[ParsedMigration], list[str]]:
    """The recorded migrations' files, parsed, in the order they were applied; warnings
    about files changed since and about partial runs.

    Raises: StateError — a recorded migration's file is gone.
    """
    from pgshift.engine import states
    from pgshift.files import directory, sqlfile

    discovery = directory.discover(migrator.directory)
    files = discovery.by_name()
    gone = [row.name for row in state.rows if row.name not in files]
    if gone:
        raise StateError(f"cannot replay the recorded migrations: the file of {', '.join(gone)} "
                         f"is gone from {migrator.directory}",
                         hint="restore the file(s) from version control, then run drift again")
    entries, _warnings = states.merge(discovery, state)
    warnings = [f"{e.name} changed since it was applied: replayed as the file is now"
                for e in entries if e.state == "modified"]
    warnings += [f"{p.name} was applied part-way ({p.applied} of {p.total} statements) and "
                 "is not recorded: what it created shows as extra" for p in state.partial]
    parsed = [sqlfile.parse(directory.read_text(files[row.name]), row.name)
              for row in state.rows]
    return parsed, warnings


def _replay(migrations: list[ParsedMigration], scratch_url: str | None,
            embedded_dir: Path | None, variables: Mapping[str, str]) -> tuple[str, Snapshot]:
    """Replay the migrations' UP sections (placeholders replaced by ``variables``) on a
    new scratch database; its place and catalog.

    Raises: StateError — a migration failed on the scratch database.
    """
    from pgshift.db.connect import connect, describe_target
    from pgshift.review import scratch, snapshot

    server = scratch.scratch_server(scratch_url, embedded_dir)
    with scratch.scratch_database(server, "pgshift_drift") as url:
        with connect(url, autocommit=True) as conn:
            for migration in migrations:
                replay_one(conn, migration, variables)
            expected = snapshot.take(conn)
        return describe_target(url), expected


def replay_one(conn: Any, migration: ParsedMigration,
               variables: Mapping[str, str]) -> None:
    """Run the UP section of ``migration`` on a scratch database, recording nothing.

    Raises: StateError — it failed there.
    """
    from pgshift.review.verify import apply_up

    try:
        apply_up(conn, migration, variables=variables)
    except MigrationFailed as error:
        raise StateError(
            f"cannot replay {migration.name} on the scratch database: {error.server.message}",
            hint="a migration that needs roles, extensions or settings of the target's "
            "server replays there: pass --scratch-url with a URL of that server (a role "
            "that may create databases)") from None
