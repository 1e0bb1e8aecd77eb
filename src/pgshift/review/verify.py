"""Check that each migration's DOWN section undoes its UP section, and that UP is repeatable.

:func:`verify` runs on a scratch database: for each migration, in order, it takes a
catalog snapshot, runs UP, runs DOWN, and compares the schema with the one before UP;
then it runs UP again and compares with the schema after the first UP. The migration is
left applied, so each one is verified on top of all earlier ones. The caller supplies the
function that runs a section, so the sections run exactly as ``migrate`` runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import pglast
import psycopg

from pgshift.errors import PgshiftError, StatementFailed
from pgshift.review import snapshot

RunSection = Callable[[psycopg.Connection[Any], str, bool], None]
"""``run_section(conn, sql, no_transaction)`` runs one section; it raises on failure."""


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
        verbs = {"added": "leaves", "removed": "removes", "changed": "changes"}
        not_undone = snapshot.diff(before_up, self._snapshot())
        for difference in not_undone:
            self.problems.append(f"DOWN of {name} {verbs[difference.kind]} {difference}")
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
    """PostgreSQL's message with its SQLSTATE, or the pgshift error's text."""
    if isinstance(error, StatementFailed):
        message, sqlstate = error.server.message, error.server.sqlstate
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
