"""Review before production: plans, lint over files, and the CI gate.

:func:`plan_migrate` / :func:`plan_rollback` say what ``migrate`` / ``rollback`` /
``reset`` would do — statements, transaction mode, lint findings and the lock each
statement takes — reading the database but never changing it (no lock, no tracking
table created). :func:`check` is the CI gate. The lint over files lives in
:mod:`pgshift.review.lint` and is re-exported here. Nothing here prints or exits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from pgshift.analysis.locks.statement import Lock, statement_locks
from pgshift.engine import policy
from pgshift.errors import MigrationFileError
from pgshift.files import directory, sqlfile
from pgshift.results import Finding
from pgshift.review.lint import lint_file, lint_parsed, lint_pending
from pgshift.review.numbering import RenumberPlan, plan_renames

if TYPE_CHECKING:
    from pgshift.db.store import TableState
    from pgshift.engine.migrator import Migrator

__all__ = [
    "CheckProblem", "CheckReport", "Plan", "PlannedHook", "PlannedMigration", "PlannedStatement",
    "check",
    "lint_file", "lint_parsed", "lint_pending", "plan_migrate", "plan_rollback", "read_state",
]


@dataclass(frozen=True)
class PlannedStatement:
    """One statement a run would send: its 1-based ``number`` in the section, file
    ``line``, text, the locks it takes (strongest first), notes on other locks, the
    reason it forces its section outside a transaction (None when it does not) and the
    ``(index, table)`` it creates, if any."""

    number: int
    line: int
    sql: str
    locks: tuple[Lock, ...]
    notes: tuple[str, ...] = ()
    outside_transaction: str | None = None
    creates_index: tuple[str, str] | None = None


@dataclass(frozen=True)
class PlannedMigration:
    """One migration a run would apply (``section="up"``) or roll back (``"down"``).

    ``reasons`` say why it would run outside a transaction; ``source`` is ``stored`` when
    a rollback would use the DOWN stored in the tracking table (the file is gone);
    ``resume_at`` is the statement an interrupted non-transactional run resumes at.
    ``statements`` is empty when a rollback finds no DOWN section, or one that cannot
    run: then ``problem`` says why, naming the file and line.
    """

    name: str
    section: Literal["up", "down"]
    no_transaction: bool
    reasons: tuple[str, ...]
    statements: tuple[PlannedStatement, ...]
    findings: tuple[Finding, ...] = ()
    source: Literal["file", "stored"] = "file"
    batch: int | None = None
    resume_at: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class PlannedHook:
    """A hook that the run would execute: its ``file``, when it ``runs`` and how many
    ``statements`` it has."""

    file: str
    runs: str
    statements: int


HOOK_TIMES = {
    "before-migrate": "once, in its own transaction, before the first migration",
    "before-each": "in the transaction of each transactional migration, before its UP",
    "after-each": "in the transaction of each transactional migration, after its UP",
    "after-migrate": "once, in its own transaction, after the last migration",
}


@dataclass(frozen=True)
class Plan:
    """What ``action`` (``migrate``, ``rollback`` or ``reset``) would do, in order.

    ``batch`` is the batch migrate would record, or the newest batch a rollback would
    undo; ``atomic``: the whole run in one transaction. ``refusal`` says why the command
    would refuse and change nothing (None: it would run). ``target`` is
    ``host:port/dbname``; nothing in a plan holds a password.
    """

    action: Literal["migrate", "rollback", "reset"]
    batch: int | None
    migrations: tuple[PlannedMigration, ...]
    warnings: tuple[str, ...] = ()
    refusal: str | None = None
    target: str = ""
    table: str = "_migrations"
    atomic: bool = False
    hooks: tuple[PlannedHook, ...] = ()


@contextmanager
def read_state(migrator: Migrator) -> Iterator[tuple[Any, TableState, bool]]:
    """An autocommit connection, the tracking table's state and whether the server is a
    standby. Nothing is created: a missing tracking table reads as empty."""
    from pgshift.db import catalog, store
    from pgshift.db.connect import connect

    with connect(migrator.database_url, autocommit=True) as conn:
        _schema, in_recovery, _version = catalog.server_facts(conn)
        yield conn, store.read(conn, migrator.table), in_recovery


def _plan(migrator: Migrator, action: Any, batch: int | None,
          planned: Sequence[PlannedMigration], warnings: Sequence[str],
          refusal: str | None) -> Plan:
    from pgshift.db.connect import describe_target

    return Plan(action, batch, tuple(planned), tuple(warnings), refusal,
                describe_target(migrator.database_url), migrator.table.display,
                migrator.atomic)


def plan_migrate(migrator: Migrator, *, step: int | None = None,
                 to: str | None = None) -> Plan:
    """What ``migrator.migrate(step=step, to=to)`` would do now: the decision migrate
    takes (:func:`pgshift.engine.policy.decide_migrate`) on the same state. Read-only.

    Raises:
        MigrationFileError: a pending file is malformed (migrate would refuse the same way).
        UsageRefused: ``to`` names no pending file. ConfigError, ConnectionFailed,
        TrackingTableError.
    """
    discovery = directory.discover(migrator.directory)
    with read_state(migrator) as (conn, state, in_recovery):
        decision = policy.decide_migrate(discovery, state, migrator.run_options(),
                                         step=step, to=to)
        resume = {p.name: p.applied + 1 for p in state.partial if p.applied}
        parsed = list(decision.parsed)
        findings = lint_pending([*parsed, *decision.repeatables],
                                policy.earlier_files(discovery, parsed))
        planned = _resolve_index_tables(conn, [
            _planned(p.name, "up", p.up, p.no_transaction, tuple(p.no_transaction_reasons()),
                     findings=tuple(f for f in findings if f.file == p.name),
                     resume_at=resume.get(p.name))
            for p in (*decision.parsed, *decision.repeatables)])
    refusal = _standby_refusal(in_recovery, planned, "apply") or (
        decision.refusal.planned() if decision.refusal else None) or (
        policy.strict_lint_refusal(policy.blocking([f for p in planned for f in p.findings]),
                                   strict=migrator.strict, verb="would be applied"))
    hooks = tuple(PlannedHook(h.file, HOOK_TIMES[h.name], len(h.section))
                  for h in (decision.hooks.listed() if decision.hooks else ()))
    return replace(_plan(migrator, "migrate", decision.batch, planned, decision.warnings,
                         refusal), hooks=hooks)


def _standby_refusal(in_recovery: bool, planned: Sequence[PlannedMigration],
                     verb: str) -> str | None:
    if in_recovery and planned:
        return f"the server is in recovery (a read-only standby): it would {verb} nothing"
    return None


def plan_rollback(migrator: Migrator, *, all_batches: bool = False, step: int | None = None,
                  batch: int | None = None, to: str | None = None) -> Plan:
    """What ``rollback(step=…, batch=…, to=…)`` or, with ``all_batches``, ``reset()``
    would do: each migration newest first, with the DOWN section it would run (the
    file's, else the one stored when it was applied: :func:`policy.resolve_down`, as
    rollback). Read-only.

    Raises:
        MigrationFileError: a file does not parse. UsageRefused, StateError: bad
        ``step``/``batch``/``to`` (as rollback). ConnectionFailed, TrackingTableError.
    """
    from pgshift.db import store
    from pgshift.engine import selection

    files = directory.discover(migrator.directory).by_name()
    with read_state(migrator) as (conn, state, in_recovery):
        rows = selection.rows_to_revert(state.rows, step=step, batch=batch, to=to,
                                        everything=all_batches)
        stored: dict[str, str | None] = {}
        if rows and not state.legacy:
            stored = store.stored_down_sql(conn, migrator.table, [r.name for r in rows])
        downs = [policy.resolve_down(r, files.get(r.name), stored.get(r.name)) for r in rows]
        planned = _resolve_index_tables(conn, [_planned_revert(d) for d in downs])
    warnings = [f"{d.row.name}: {d.stored_because}; the DOWN section stored when it was "
                "applied would be used" for d in downs if d.stored_because is not None]
    refused = policy.revert_refusal(downs, migrator.run_options())
    refusal = _standby_refusal(in_recovery, planned, "roll back") or (
        refused.planned() if refused else None)
    return _plan(migrator, "reset" if all_batches else "rollback",
                 rows[0].batch if rows else None, planned, warnings, refusal)


def _planned_revert(down: policy.Down) -> PlannedMigration:
    section = down.section or sqlfile.Section("", 1, (), ())
    return _planned(down.row.name, "down", section, down.no_transaction, down.reasons,
                    source=down.source, batch=down.row.batch, problem=down.problem)


def _planned(name: str, section_name: Literal["up", "down"], section: sqlfile.Section,
             no_transaction: bool, reasons: tuple[str, ...], **extra: Any) -> PlannedMigration:
    outside = dict(section.outside_transaction)
    statements = []
    created: set[str] = set()  # invisible to other sessions until the transaction commits
    for statement in section.statements():
        found = statement_locks(statement.sql)
        locks = tuple(lock for lock in found.locks if lock.relation not in created
                      or lock.kind not in ("table", "table of index"))
        if not no_transaction and found.creates_table:
            created.add(found.creates_table)
        statements.append(PlannedStatement(
            statement.index + 1, statement.line, statement.sql, locks, found.notes,
            outside.get(statement.index), found.creates_index))
    return PlannedMigration(name, section_name, no_transaction, reasons, tuple(statements),
                            **extra)


def _resolve_index_tables(conn: Any, planned: list[PlannedMigration]) -> list[PlannedMigration]:
    """Replace each ``table of index`` lock by a lock on the index's table, known from a
    CREATE INDEX earlier in the plan or from the catalog (unknown ones stay as they are)."""
    from psycopg import sql

    tables: dict[str, str] = {}
    for statement in (s for m in planned for s in m.statements):
        if statement.creates_index is not None:
            tables.setdefault(*statement.creates_index)
    wanted = sorted({lock.relation for m in planned for s in m.statements for lock in s.locks
                     if lock.kind == "table of index" and lock.relation not in tables})
    if wanted:
        quoted = [sql.Identifier(*name.split(".")).as_string(conn) for name in wanted]
        rows = conn.execute(
            "SELECT n.name, i.indrelid::regclass::text FROM unnest(%s::text[], %s::text[]) "
            "AS n(name, quoted) JOIN pg_index i ON i.indexrelid = to_regclass(n.quoted)",
            (wanted, quoted)).fetchall()
        tables.update(dict(rows))

    def resolved(lock: Lock) -> Lock:
        table = tables.get(lock.relation) if lock.kind == "table of index" else None
        if table is None:
            return lock
        return Lock(lock.mode, table, "table", f"{lock.reason} {lock.relation}")

    return [dataclasses.replace(m, statements=tuple(
        dataclasses.replace(s, locks=tuple(resolved(lock) for lock in s.locks))
        for s in m.statements)) for m in planned]


# --- check: the CI gate -----------------------------------------------------------------


@dataclass(frozen=True)
class CheckProblem:
    """One reason the gate fails: ``kind`` is ``duplicate-number``, ``parse-error``,
    ``lint-error``, ``late``, ``modified``, ``missing-file``, ``partial`` or ``pending``."""

    kind: str
    name: str
    message: str


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check` found over ``files`` migration files. ``applied``/``pending``
    are None when ``offline``. ``findings``: every lint finding of the files linted.
    ``renumber`` is what ``pgshift renumber`` would do about shared numbers and late
    files (its renames, or why it would refuse), the fix check suggests."""

    problems: tuple[CheckProblem, ...]
    findings: tuple[Finding, ...]
    warnings: tuple[str, ...]
    files: int
    offline: bool
    applied: int | None = None
    pending: tuple[str, ...] | None = None
    renumber: RenumberPlan = field(default_factory=RenumberPlan)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(migrator: Migrator, *, offline: bool, no_pending: bool = False) -> CheckReport:
    """The CI gate: shared numbers, files that do not parse and lint errors; unless
    ``offline``, also pending files numbered below the latest applied one, applied
    migrations modified or missing, partial runs and (``no_pending``) anything pending.

    Online, only pending migrations are linted and only numbers shared with a pending file
    count (applied ones are history); offline, every file counts. Read-only.

    Raises:
        UsageRefused: ``offline`` with ``no_pending``. ConfigError, ConnectionFailed,
        TrackingTableError.
    """
    from pgshift.errors import UsageRefused

    if offline and no_pending:
        raise UsageRefused("--no-pending needs the database: it cannot be combined with "
                           "--offline")
    discovery = directory.discover(migrator.directory)
    parsed: dict[str, sqlfile.ParsedMigration] = {}
    problems: list[CheckProblem] = []
    for file in discovery.files:
        try:
            parsed[file.name] = sqlfile.parse(directory.read_text(file), file.name)
        except MigrationFileError as error:
            problems.append(CheckProblem("parse-error", file.name, str(error)))
            continue
        down = policy.down_problem(file.name, parsed[file.name].down)
        if down is not None:
            problems.append(CheckProblem("parse-error", file.name, f"{down} (in the DOWN "
                                         "section: rolling it back would be refused)"))
    applied: set[str] = set()
    keep: set[str] = set()
    if not offline:
        with read_state(migrator) as (_conn, state, _in_recovery):
            problems += _state_problems(discovery, state, set(parsed), no_pending)
        applied = {r.name for r in state.rows}
        keep = applied | {p.name for p in state.partial}
    problems[:0] = _shared_numbers(discovery, applied)
    renumber = RenumberPlan()
    if any(p.kind in ("duplicate-number", "late") for p in problems):
        renumber = plan_renames(discovery, keep, offline=offline)
    to_lint = [p for name, p in parsed.items() if name not in applied]
    findings = lint_pending(to_lint, policy.earlier_files(discovery, to_lint))
    problems += [CheckProblem("lint-error", f.file, f"{f.file}:{f.line}: {f.rule}: {f.message}")
                 for f in findings if f.severity == "error" and f.rule != "parse-error"]
    pending = tuple(f.name for f in discovery.files if f.name not in applied)
    return CheckReport(tuple(problems), tuple(findings), discovery.warnings,
                       len(discovery.files), offline, None if offline else len(applied),
                       None if offline else pending, renumber)


def _shared_numbers(discovery: directory.Discovery, applied: set[str]) -> list[CheckProblem]:
    groups = {number: [f.name for f in files]
              for number, files in directory.by_number(discovery.files).items()}
    return [CheckProblem("duplicate-number", names[-1],
                         f"migration number {number} is used by {len(names)} files: "
                         f"{', '.join(names)} (pgshift renumber moves the pending ones)")
            for number, names in sorted(groups.items())
            if len(names) > 1 and not set(names) <= applied]


def _state_problems(discovery: directory.Discovery, state: TableState, parseable: set[str],
                    no_pending: bool) -> list[CheckProblem]:
    from pgshift.engine import states

    latest, early = policy.late(discovery, policy.recorded(state), discovery.files)
    late = {f.name for f in early}
    entries, _warnings = states.merge(discovery, state)
    problems = []
    for entry in entries:
        if entry.state == "pending" and latest is not None and entry.name in late:
            problems.append(CheckProblem("late", entry.name, f"{entry.name} is pending but "
                                         f"sorts before {latest.name}, which is already "
                                         "applied (merged late?): pgshift renumber moves it"))
        if entry.state == "missing file":
            problems.append(CheckProblem("missing-file", entry.name, f"{entry.name} is "
                                         f"applied (batch {entry.batch}) but its file is gone"))
        elif entry.state == "modified" and entry.name in parseable:
            problems.append(CheckProblem("modified", entry.name, f"{entry.name} changed "
                                         f"after it was applied (checksum {entry.checksum} "
                                         f"when applied, now {entry.file_checksum})"))
        elif entry.state == "partial":
            problems.append(CheckProblem("partial", entry.name, f"{entry.name} is "
                                         f"{entry.label}: run pgshift migrate to finish it"))
        elif entry.state == "pending" and no_pending:
            problems.append(CheckProblem("pending", entry.name, f"{entry.name} is pending"))
    return problems
