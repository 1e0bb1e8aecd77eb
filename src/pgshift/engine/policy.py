"""Decisions shared by ``migrate``, ``plan``, ``refresh``, ``redo``, ``rollback`` and
``check``, written once.

The lint gate: which findings of the migrations a run is about to apply are shown, and
when ``--strict`` refuses the run because of them. Every command that applies (or plans
to apply) migrations asks :func:`strict_lint_refusal` and nothing else. DOWN sections
that cannot run: what ``migrate`` warns about (:func:`migrate_downs`) and why a rollback
refuses (:func:`rollback_refusal`). Pure: the migrations come parsed; nothing here raises,
prints or touches the database (the engine turns a refusal into a
:class:`~pgshift.errors.StateError`, ``plan`` shows it as the plan's refusal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pgshift.analysis.lint.linter import History, lint_migration
from pgshift.errors import PgshiftError
from pgshift.files import directory, sqlfile
from pgshift.results import Finding

__all__ = [
    "DOWN_HINT", "LINT_MAX_MIGRATIONS", "LINT_MAX_SECTION", "STRICT_LINT_HINT", "DownVerdict",
    "blocking", "down_problem", "earlier_files", "gate_findings", "lint_parsed", "lint_pending",
    "lint_skipped", "migrate_downs", "rollback_refusal", "strict_lint_refusal",
]

# Without --strict, a run lints what it applies unless it is a bulk build (a fresh
# database) or a file is huge: those are left to ``pgshift lint``. --strict lints all.
LINT_MAX_MIGRATIONS = 50
LINT_MAX_SECTION = 256 * 1024


def lint_parsed(migration: sqlfile.ParsedMigration, file: str | None = None,
                history: History | None = None) -> list[Finding]:
    """The lint findings of a parsed migration, its header's ``allow`` directives applied,
    named ``file`` (default: the migration's name). ``history``: what the migrations
    before it declared (it is updated with this one's declarations)."""
    down = migration.down
    problem = migration.down_problem
    return lint_migration(
        file or migration.name, migration.up.text, down.text if down is not None else None,
        up_first_line=migration.up.first_line,
        down_first_line=down.first_line if down is not None else 1,
        allowed=migration.allowed_rules,
        down_problem=None if problem is None else (problem.line, problem.message),
        no_transaction=migration.no_transaction_directive,
        history=history,
    )


# Findings that what earlier migrations declared may clear (a function's volatility, a
# validated CHECK (col IS NOT NULL)).
_HISTORY_RULES = frozenset({"add-column-default-may-rewrite", "add-column-volatile-default",
                            "set-not-null"})


def lint_pending(migrations: Sequence[sqlfile.ParsedMigration],
                 earlier: Sequence[directory.MigrationFile] = ()) -> list[Finding]:
    """Findings of ``migrations`` in order, each judged with what the ones before it
    declared. ``earlier`` are the directory's files before them (the applied ones): read
    only when a finding may depend on what they declared."""
    findings = _lint_in_order(migrations, History())
    if earlier and any(f.rule in _HISTORY_RULES for f in findings):
        history = History()
        for file in earlier:
            try:
                lint_parsed(sqlfile.parse(directory.read_text(file), file.name),
                            history=history)
            except PgshiftError:
                continue  # an unreadable earlier file declares nothing
        findings = _lint_in_order(migrations, history)
    return findings


def _lint_in_order(migrations: Sequence[sqlfile.ParsedMigration],
                   history: History) -> list[Finding]:
    return [finding for migration in migrations
            for finding in lint_parsed(migration, history=history)]


def lint_skipped(migrations: Sequence[sqlfile.ParsedMigration], *, strict: bool) -> bool:
    """Whether a run applying ``migrations`` leaves linting to ``pgshift lint``: never
    under ``strict``; otherwise for a bulk build of more than :data:`LINT_MAX_MIGRATIONS`."""
    small = [m for m in migrations if len(m.up.text) <= LINT_MAX_SECTION]
    return not strict and len(small) > LINT_MAX_MIGRATIONS


def gate_findings(migrations: Sequence[sqlfile.ParsedMigration], *, strict: bool,
                  earlier: Sequence[directory.MigrationFile] = ()) -> list[Finding]:
    """The findings a run applying ``migrations`` shows and that ``strict`` refuses on:
    those of warning or error severity that the files' headers do not ``allow``. Huge
    files are skipped unless ``strict``; the caller checks :func:`lint_skipped` first.
    ``earlier``: the files before them (see :func:`lint_pending`)."""
    linted = [m for m in migrations if strict or len(m.up.text) <= LINT_MAX_SECTION]
    return blocking(lint_pending(linted, earlier))


def earlier_files(discovery: directory.Discovery,
                  migrations: Sequence[sqlfile.ParsedMigration]) -> list[directory.MigrationFile]:
    """The directory's files that sort before the last of ``migrations`` and are not
    among them: what was applied before them."""
    names = {m.name for m in migrations}
    order = [f.name for f in discovery.files]
    last = max((order.index(name) for name in names if name in order), default=-1)
    return [f for f in discovery.files[:last] if f.name not in names]


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    """The ``findings`` a run shows and ``--strict`` refuses on: warnings and errors. A
    DOWN section that cannot run is left out: :func:`migrate_downs` decides about it."""
    return [f for f in findings if f.severity != "note"
            and not (f.rule == "parse-error" and f.section == "down")]


def strict_lint_refusal(findings: Sequence[Finding], *, strict: bool, verb: str) -> str | None:
    """Why a ``strict`` run refuses because of ``findings`` (see :func:`gate_findings`),
    worded with ``verb`` (``was applied`` / ``would be applied``); None when it may run."""
    if not strict or not findings:
        return None
    files = sorted({f.file for f in findings})
    shown = ", ".join(f"{f.file}:{f.line} {f.rule}" for f in findings[:5])
    more = f", and {len(findings) - 5} more" if len(findings) > 5 else ""
    return (f"--strict: {len(findings)} lint finding(s) of warning or error severity in "
            f"{len(files)} pending migration(s) ({shown}{more}); nothing {verb}")


STRICT_LINT_HINT = ("fix them, or silence a rule for its file with a header line "
                    "'-- pgshift: allow <rule-id>'")


# --- DOWN sections that cannot run ---------------------------------------------------

DOWN_HINT = ("fix the DOWN section of the file (pgshift lint shows the problem); the UP "
             "section is not affected")


@dataclass(frozen=True)
class DownVerdict:
    """What ``migrate`` does about pending migrations whose DOWN section cannot run:
    ``warnings`` to show (file and line each), or, under ``--strict``, a ``refusal``
    (the reason; the caller says what was not done)."""

    warnings: tuple[str, ...] = ()
    refusal: str | None = None


def down_problem(name: str, down: sqlfile.Section | None, *, stored: bool = False) -> str | None:
    """``file:line: problem`` when ``down`` cannot run (it does not parse, holds a psql
    meta-command, …), else None. ``stored``: the DOWN comes from the tracking table, and
    its line is counted within the stored text."""
    if down is None or down.problem is None:
        return None
    problem = down.problem
    if stored:
        return (f"{name}: the DOWN section stored when it was applied, line {problem.line}: "
                f"{problem.message}")
    return f"{name}:{problem.line}: {problem.message}"


def migrate_downs(migrations: Sequence[sqlfile.ParsedMigration], *, strict: bool) -> DownVerdict:
    """``migrate`` applies migrations whose DOWN section cannot run, with a warning for
    each; under ``strict`` it refuses them all (nothing is applied)."""
    found = [(m.name, text) for m in migrations if (text := down_problem(m.name, m.down))]
    if not found:
        return DownVerdict()
    if strict:
        names = ", ".join(name for name, _ in found)
        details = "; ".join(text for _, text in found)
        return DownVerdict(refusal=f"--strict: the DOWN section of {names} cannot run "
                           f"({details})")
    return DownVerdict(warnings=tuple(
        f"{text} (in its DOWN section: the UP section is applied, but rolling this "
        "migration back is refused until the DOWN section is fixed)" for _, text in found))


def rollback_refusal(problems: Sequence[str | None]) -> str | None:
    """Why a rollback (``rollback``, ``reset``, ``redo``, ``refresh``) must refuse before
    anything runs, given :func:`down_problem` of each DOWN section it would run; None
    when every one can run."""
    found = [problem for problem in problems if problem]
    if not found:
        return None
    return f"cannot roll back: a DOWN section cannot run: {'; '.join(found)}"
