"""Check that each migration's DOWN section undoes its UP section, and that UP is repeatable.

:func:`verify` runs on a scratch database: for each migration, in order, it takes a
catalog snapshot, runs UP, runs DOWN, and compares the schema with the one before UP;
then it runs UP again and compares with the schema after the first UP. The migration is
left applied, so each one is verified on top of all earlier ones. The caller supplies the
function that runs a section, so the sections run exactly as ``migrate`` runs them:
:func:`verify_migrations` does so with pgshift's runner on a scratch database.

:func:`verify_migrations` then checks the restore of each repeatable migration verified:
with everything applied, the section that rolling back its re-apply runs
(:func:`pgshift.engine.policy.restore_section`: its DOWN, then the UP of the version
before it, here its own) must leave the schema as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pglast
import psycopg

from pgshift.db import runner
from pgshift.engine import failures, policy
from pgshift.engine.apply import placeholder_values
from pgshift.errors import (
    ConnectionFailed,
    MigrationFailed,
    PgshiftError,
    RollbackFailed,
    ServerError,
    StatementFailed,
    UsageRefused,
)
from pgshift.files import directory, placeholders, repeatable, sqlfile
from pgshift.review import snapshot
from pgshift.review.scratch import scratch_database, scratch_server

if TYPE_CHECKING:
    from pathlib import Path

    from pgshift.engine.migrator import Migrator

RunSection = Callable[[psycopg.Connection[Any], str, bool], None]
"""``run_section(conn, sql, no_transaction)`` runs one section; it raises on failure."""

# How a difference between the schema before a section and after it is worded.
VERBS = {"added": "leaves", "removed": "removes", "changed": "changes"}


@dataclass(frozen=True)
class VerifyInput:
    """One migration to verify: its file name, sections and transaction mode, and why its
    DOWN section cannot run (``file:line: problem``), if it cannot."""

    name: str
    up_sql: str
    down_sql: str | None
    no_transaction: bool
    down_problem: str | None = None


@dataclass(frozen=True)
class MigrationVerdict:
    """The outcome for one migration: ``ok`` when ``problems`` is empty."""

    name: str
    ok: bool
    problems: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class VerifyReport:
    """One verdict per migration given to :func:`verify`, in the same order."""

    verdicts: tuple[MigrationVerdict, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether every migration was verified without a problem."""
        return all(verdict.ok for verdict in self.verdicts)


class _SectionFailed(Exception):
    """A section raised; carries the problem text. Verification stops there."""


def verify(
    conn: psycopg.Connection[Any],
    migrations: Sequence[VerifyInput],
    *,
    run_section: RunSection,
    exclude: Collection[tuple[str, str]] = (),
    on_progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Verify ``migrations`` in order on the scratch database ``conn`` (autocommit).

    Per migration, the problems found are: ``has no DOWN section`` or ``DOWN section
    cannot run: file:line: …`` (its UP stays applied and verification goes on);
    ``DOWN of X leaves/removes/changes …`` for each difference between the schema before
    UP and after DOWN; ``UP of X is not repeatable: …`` for each
    difference between the first and the second run of UP; ``UP of X failed: …`` /
    ``DOWN of X failed: …`` with PostgreSQL's message when a section raises, after which
    verification stops and the later migrations get the verdict "not verified".
    ``exclude`` names ``(schema, table)`` pairs (the tracking tables) left out of the
    comparison. ``on_progress`` receives one line per step.

    Raises: psycopg.Error — a catalog snapshot could not be taken (the connection failed).
    """
    started = time.perf_counter()
    verdicts: list[MigrationVerdict] = []
    stopped_at: str | None = None
    for migration in migrations:
        if stopped_at is not None:
            problem = f"not verified: verification stopped at {stopped_at}"
            verdicts.append(MigrationVerdict(migration.name, False, (problem,), 0.0))
            continue
        step_started = time.perf_counter()
        checker = _Checker(conn, migration, run_section, exclude, on_progress)
        try:
            problems = checker.check()
        except _SectionFailed as failure:
            problems = [*checker.problems, str(failure)]
            stopped_at = migration.name
        seconds = time.perf_counter() - step_started
        verdicts.append(MigrationVerdict(migration.name, not problems, tuple(problems), seconds))
    return VerifyReport(tuple(verdicts), time.perf_counter() - started)


class _Checker:
    """The steps for one migration; collects problems in ``self.problems``."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        migration: VerifyInput,
        run_section: RunSection,
        exclude: Collection[tuple[str, str]],
        on_progress: Callable[[str], None] | None,
    ) -> None:
        self.conn = conn
        self.migration = migration
        self.run_section = run_section
        self.exclude = exclude
        self.on_progress = on_progress
        self.problems: list[str] = []

    def check(self) -> list[str]:
        """Run UP, DOWN, UP again; return the problems. Raises _SectionFailed."""
        name, down_sql = self.migration.name, self.migration.down_sql
        before_up = self._snapshot()
        self._run("UP", self.migration.up_sql)
        after_up = self._snapshot()
        if self.migration.down_problem is not None:
            self.problems.append(f"DOWN section cannot run: {self.migration.down_problem}")
            return self.problems
        if down_sql is None or not _has_statements(down_sql):
            self.problems.append("has no DOWN section")
            return self.problems
        self._run("DOWN", down_sql)
        not_undone = snapshot.diff(before_up, self._snapshot())
        for difference in not_undone:
            self.problems.append(f"DOWN of {name} {VERBS[difference.kind]} {difference}")
        self._run("UP", self.migration.up_sql, again=True)
        lead = f"UP of {name} is not repeatable:"
        # An object DOWN did not restore differs after the second UP for that reason alone.
        explained = {(d.object_type, d.name) for d in not_undone}
        for difference in snapshot.diff(after_up, self._snapshot()):
            if (difference.object_type, difference.name) in explained:
                continue
            if difference.kind == "added":
                self.problems.append(f"{lead} the second run also creates {difference}")
            elif difference.kind == "removed":
                self.problems.append(f"{lead} the second run does not create {difference}")
            else:
                self.problems.append(f"{lead} {difference}")
        return self.problems

    def _snapshot(self) -> snapshot.Snapshot:
        return snapshot.take(self.conn, exclude=self.exclude)

    def _run(self, section: str, sql: str, *, again: bool = False) -> None:
        label = f"{section} again" if again else section
        if self.on_progress is not None:
            self.on_progress(f"{self.migration.name}: {label}")
        try:
            self.run_section(self.conn, sql, self.migration.no_transaction)
        except (psycopg.Error, PgshiftError) as error:
            failed = f"{section} of {self.migration.name} failed"
            if again:
                failed += " when run again after DOWN"
            raise _SectionFailed(f"{failed}: {_message(error)}") from error


def _message(error: psycopg.Error | PgshiftError) -> str:
    """PostgreSQL's message (with the failing statement's line and first line) and its
    SQLSTATE, or the pgshift error's text."""
    if isinstance(error, StatementFailed):
        message, sqlstate = error.server.message, error.server.sqlstate
        if error.statement is not None:
            message += f" (line {error.statement.line}: {error.statement.head})"
    elif isinstance(error, psycopg.Error):
        message = error.diag.message_primary or str(error).strip()
        sqlstate = error.sqlstate
    else:
        return str(error)
    return f"{message} (SQLSTATE {sqlstate})" if sqlstate else message


def _has_statements(sql: str) -> bool:
    """Whether ``sql`` holds at least one statement (not only comments and white space)."""
    try:
        return bool(pglast.parser.split(sql))
    except pglast.parser.ParseError:
        # Not empty; running it reports the syntax error with PostgreSQL's message.
        return True


# --- verify with pgshift's runner on a scratch database ------------------------------


@dataclass(frozen=True)
class VerifyRun:
    """The engine's ``report`` (one verdict per migration verified; its ``seconds`` cover
    the whole run), the migrations ``applied_first`` (UP only, not verified) so the named
    ones run on top of them, and the scratch database used (``host:port/dbname``, dropped)."""

    report: VerifyReport
    applied_first: tuple[str, ...]
    scratch: str

    @property
    def ok(self) -> bool:
        return self.report.ok


def verify_migrations(migrator: Migrator, names: Sequence[str] = (), *,
                      scratch_url: str | None = None, embedded_dir: Path | None = None,
                      on_progress: Callable[[str], None] | None = None) -> VerifyRun:
    """Verify every migration of ``migrator.directory`` in order (or only ``names``, file
    names, with the earlier ones applied first) on a new scratch database: DOWN must undo
    UP and UP must be repeatable; then, with everything applied, the restore of each
    repeatable verified, in the order a rollback runs them, must leave the schema as it
    was (:func:`check_restores`). Sections run through :mod:`pgshift.db.runner` as in
    ``migrate`` ("already exists" skipped unless ``migrator.strict``). The target
    database is never touched.

    Raises:
        UsageRefused: a name is not a migration file. MigrationFileError: a file is
        malformed (nothing ran). ConnectionFailed: the scratch database could not be made.
    """
    from pgshift.db.connect import connect, describe_target

    started = time.perf_counter()
    discovery = directory.discover(migrator.directory)
    files = list(discovery.files)
    wanted = _resolve_names([*files, *discovery.repeatables], names)
    last = max((i for i, f in enumerate(files) if f.name in wanted), default=-1)
    with_repeatables = any(f.name in wanted for f in discovery.repeatables)
    if with_repeatables:
        last = len(files) - 1  # repeatables run after every versioned migration
    parsed = [sqlfile.parse(directory.read_text(f), f.name) for f in files[: last + 1]]
    if with_repeatables:
        parsed += repeatable.order([sqlfile.parse(directory.read_text(f), f.name)
                                    for f in discovery.repeatables])
    server = scratch_server(scratch_url, embedded_dir)
    with scratch_database(server, "pgshift_verify") as url, connect(url, autocommit=True) as conn:
        verdicts, first = _verify_on(conn, parsed, wanted, migrator.strict, on_progress,
                                     migrator.variables)
        scratch = describe_target(url)
    report = VerifyReport(tuple(verdicts), time.perf_counter() - started)
    return VerifyRun(report, tuple(first), scratch)


def _verify_on(conn: Any, parsed: Sequence[sqlfile.ParsedMigration], wanted: set[str],
               strict: bool, on_progress: Callable[[str], None] | None,
               variables: Mapping[str, str]) -> tuple[list[MigrationVerdict], list[str]]:
    """The verdicts of the ``wanted`` migrations, and the others applied first; after a
    section fails, the state is unknown and the rest are "not verified"."""
    verdicts: list[MigrationVerdict] = []
    first: list[str] = []
    stopped: str | None = None
    for migration in parsed:
        if stopped is not None:
            if migration.name in wanted:
                verdicts.append(MigrationVerdict(migration.name, False, (
                    f"not verified: verification stopped at {stopped}",), 0.0))
            continue
        run, failed = _executor(migration, strict=strict, variables=variables)
        if migration.name in wanted:
            source = VerifyInput(migration.name, migration.up.text,
                                 migration.down.text if migration.down else None,
                                 migration.no_transaction,
                                 policy.down_problem(migration.name, migration.down))
            verdicts += verify(conn, [source], run_section=run,
                               on_progress=on_progress).verdicts
        else:
            verdicts += _apply_first(conn, migration, run, on_progress)
            first.append(migration.name)
        stopped = migration.name if failed else None
    restored = [m for m in parsed if m.name in wanted and directory.is_repeatable(m.name)]
    return check_restores(conn, restored, verdicts, stopped=stopped, variables=variables,
                          on_progress=on_progress), first


def apply_up(conn: Any, migration: sqlfile.ParsedMigration, *, strict: bool = False,
             variables: Mapping[str, str] | None = None) -> None:
    """Run the UP section of ``migration`` on ``conn`` as ``migrate`` runs it (in or
    outside a transaction, "already exists" skipped unless ``strict``), recording nothing:
    for replaying migrations on a scratch database.

    Raises:
        MigrationFailed: names the file, the line and the server's message.
    """
    run, _failed = _executor(migration, strict=strict, variables=variables or {})
    run(conn, migration.up.text, migration.no_transaction)


def _resolve_names(files: Sequence[directory.MigrationFile], names: Sequence[str]) -> set[str]:
    """The file names meant by ``names`` (a file name, with or without ``.sql``); all
    files when ``names`` is empty."""
    if not names:
        return {f.name for f in files}
    known = {f.name for f in files}
    chosen = {n if n in known else n + ".sql" for n in names}
    unknown = [n for n in names if n not in known and n + ".sql" not in known]
    if unknown:
        raise UsageRefused(f"not a migration file: {', '.join(unknown)}",
                           hint="give file names as pgshift status lists them")
    return chosen


def _apply_first(conn: Any, migration: sqlfile.ParsedMigration, run: Any,
                 on_progress: Callable[[str], None] | None) -> list[MigrationVerdict]:
    """Apply UP of a migration that is not verified; a verdict only when it fails."""
    if on_progress is not None:
        on_progress(f"{migration.name}: UP (applied first, not verified)")
    try:
        run(conn, migration.up.text, migration.no_transaction)
    except MigrationFailed as error:
        state = f" (SQLSTATE {error.server.sqlstate})" if error.server.sqlstate else ""
        problem = (f"UP of {migration.name} (applied first, not verified) failed: "
                   f"{error.server.message}{state}")
        return [MigrationVerdict(migration.name, False, (problem,), 0.0)]
    return []


def _executor(migration: sqlfile.ParsedMigration, *, strict: bool,
              variables: Mapping[str, str]) -> tuple[
        Callable[[Any, str, bool], None], list[str]]:
    """``run_section`` for the verify engine: pgshift's runner on the migration's parsed
    sections (each in its own mode, placeholders replaced by ``variables`` and the
    built-ins), and a list that records a failure."""
    failed: list[str] = []
    sections = {migration.up.text: migration.up}
    if migration.down is not None:
        sections.setdefault(migration.down.text, migration.down)

    def run(conn: Any, text: str, _no_transaction: bool) -> None:
        written = sections[text]
        up = written is migration.up
        outside = migration.no_transaction_directive or written.needs_no_transaction
        try:
            run_written(conn, migration.name, written, outside=outside,
                        strict=strict or not up, up=up, variables=variables)
        except (StatementFailed, ConnectionFailed):
            failed.append(migration.name)
            raise

    return run, failed


def run_written(conn: Any, name: str, written: sqlfile.Section, *, outside: bool,
                strict: bool, up: bool, variables: Mapping[str, str]) -> None:
    """Run section ``written`` of file ``name`` with pgshift's runner, in or ``outside`` a
    transaction, its placeholders replaced by ``variables`` and the built-ins.

    Raises:
        MigrationFailed | RollbackFailed (``up`` or not): a statement failed, or left an
        INVALID index. ConnectionFailed: the connection was lost. MigrationFileError: a
        placeholder has no value.
    """
    section = written
    if written.placeholders:
        section = written.with_values(placeholder_values(conn, variables, name), name)
    kind = MigrationFailed if up else RollbackFailed
    try:
        if outside:
            runner.run_outside_transaction(conn, section, strict=strict)
        else:
            runner.run_in_transaction(conn, section, strict=strict)
    except runner.StatementError as error:
        raise failures.failure(kind, name, section, error, done=[], creating_table=None,
                               blocking=[], masking=placeholders.masker(variables)) from None
    except runner.InvalidIndex as error:
        raise kind(name, server=ServerError(
            f"index {', '.join(error.names)} is INVALID"), statement=None) from None


# --- the restore of a repeatable migration ----------------------------------------------


def check_restores(conn: Any, repeatables: Sequence[sqlfile.ParsedMigration],
                   verdicts: Sequence[MigrationVerdict], *, stopped: str | None,
                   variables: Mapping[str, str],
                   on_progress: Callable[[str], None] | None) -> list[MigrationVerdict]:
    """``verdicts`` with the problems of restoring each of ``repeatables`` (verified, all
    applied) added to its verdict: the last one first, as rolling back a batch runs them.
    When verification ``stopped`` at a failed section, or a restore outside a transaction
    failed, the state is unknown: the restores left are "not checked"."""
    found = {v.name: v for v in verdicts}
    for migration in reversed(repeatables):
        name, verdict = migration.name, found[migration.name]
        started = time.perf_counter()
        if stopped is None:
            problems, unknown = restore_problems(conn, migration, variables, on_progress)
            stopped = name if unknown else None
        elif name == stopped or any(p.startswith("not verified:") for p in verdict.problems):
            continue
        else:
            problems = [f"restore not checked: verification stopped at {stopped}"]
        merged = (*verdict.problems, *problems)
        seconds = verdict.seconds + time.perf_counter() - started
        found[name] = MigrationVerdict(name, not merged, merged, seconds)
    return list(found.values())


def restore_problems(conn: Any, migration: sqlfile.ParsedMigration,
                     variables: Mapping[str, str],
                     on_progress: Callable[[str], None] | None) -> tuple[list[str], bool]:
    """Run on ``conn`` the restore of repeatable ``migration`` exactly as rollback runs it,
    with the file's own version as the previous one (:func:`policy.restore_section`), and
    compare the schema with the one before it. Returns the problems (``restore of X
    leaves/removes/changes …``, ``… failed: …``, ``… cannot run: …``) and whether the state
    is unknown afterwards (the restore failed outside a transaction)."""
    name = migration.name
    if migration.down_problem is not None:  # reported as the DOWN section's problem
        return [f"restore of {name} not checked: its DOWN section cannot run"], False
    restore = policy.restore_section(name, migration.up_sql, migration.down_sql,
                                     placeholders=migration.placeholders)
    if restore.section.problem is not None:
        where = "its DOWN section followed by its UP section"
        problem = restore.section.problem
        return [f"restore of {name} cannot run: line {problem.line} of {where}: "
                f"{problem.message}"], False
    if on_progress is not None:
        on_progress(f"{name}: restore of the version before (its own)")
    before = snapshot.take(conn)
    try:
        run_written(conn, name, restore.section, outside=restore.no_transaction,
                    strict=True, up=False, variables=variables)
    except (psycopg.Error, PgshiftError) as error:
        return [f"restore of {name} failed: {_restore_message(error)}"], restore.no_transaction
    return [f"restore of {name} {VERBS[d.kind]} {d}"
            for d in snapshot.diff(before, snapshot.take(conn))], False


def _restore_message(error: psycopg.Error | PgshiftError) -> str:
    """PostgreSQL's message, with the failing statement's number in the restore (its DOWN,
    then its UP) and first line, and its SQLSTATE; or the pgshift error's text."""
    if not isinstance(error, StatementFailed) or error.statement is None:
        return _message(error)
    statement = error.statement
    message = (f"{error.server.message} (statement {statement.index} of {statement.total}: "
               f"{statement.head})")
    state = error.server.sqlstate
    return f"{message} (SQLSTATE {state})" if state else message
