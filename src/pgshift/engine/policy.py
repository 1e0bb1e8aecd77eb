"""Decisions shared by ``migrate``, ``plan``, ``refresh`` and ``redo``.

The lint gate: which findings of the migrations a run is about to apply are shown, and
when ``--strict`` refuses the run because of them. Every command that applies (or plans
to apply) migrations asks :func:`strict_lint_refusal` and nothing else. Pure apart from
reading nothing: the migrations come parsed.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgshift.analysis.lint.linter import lint_migration
from pgshift.files import sqlfile
from pgshift.results import Finding

__all__ = [
    "LINT_MAX_MIGRATIONS", "LINT_MAX_SECTION", "STRICT_LINT_HINT", "blocking", "gate_findings",
    "lint_parsed", "lint_pending", "lint_skipped", "strict_lint_refusal",
]

# Without --strict, a run lints what it applies unless it is a bulk build (a fresh
# database) or a file is huge: those are left to ``pgshift lint``. --strict lints all.
LINT_MAX_MIGRATIONS = 50
LINT_MAX_SECTION = 256 * 1024


def lint_parsed(migration: sqlfile.ParsedMigration, file: str | None = None) -> list[Finding]:
    """The lint findings of a parsed migration, its header's ``allow`` directives applied,
    named ``file`` (default: the migration's name)."""
    down = migration.down
    return lint_migration(
        file or migration.name, migration.up.text, down.text if down is not None else None,
        up_first_line=migration.up.first_line,
        down_first_line=down.first_line if down is not None else 1,
        allowed=migration.allowed_rules,
    )


def lint_pending(migrations: Sequence[sqlfile.ParsedMigration]) -> list[Finding]:
    """Findings of ``migrations`` in order."""
    return [finding for migration in migrations for finding in lint_parsed(migration)]


def lint_skipped(migrations: Sequence[sqlfile.ParsedMigration], *, strict: bool) -> bool:
    """Whether a run applying ``migrations`` leaves linting to ``pgshift lint``: never
    under ``strict``; otherwise for a bulk build of more than :data:`LINT_MAX_MIGRATIONS`."""
    small = [m for m in migrations if len(m.up.text) <= LINT_MAX_SECTION]
    return not strict and len(small) > LINT_MAX_MIGRATIONS


def gate_findings(migrations: Sequence[sqlfile.ParsedMigration], *,
                  strict: bool) -> list[Finding]:
    """The findings a run applying ``migrations`` shows and that ``strict`` refuses on:
    those of warning or error severity that the files' headers do not ``allow``. Huge
    files are skipped unless ``strict``; the caller checks :func:`lint_skipped` first."""
    linted = [m for m in migrations if strict or len(m.up.text) <= LINT_MAX_SECTION]
    return blocking(lint_pending(linted))


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    """The ``findings`` a run shows and ``--strict`` refuses on: warnings and errors."""
    return [f for f in findings if f.severity != "note"]


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
