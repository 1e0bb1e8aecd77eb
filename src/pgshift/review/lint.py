"""Lint over migration files: what ``pgshift lint``, ``plan``, ``check`` and ``migrate``
show. Reads files but never the database; nothing here prints or exits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pgshift.analysis.lint.linter import Finding, lint_migration
from pgshift.errors import MigrationFileError, StateError
from pgshift.files import directory, sqlfile

__all__ = ["lint_file", "lint_parsed", "lint_pending"]


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
    """Findings of ``migrations`` in order: for ``migrate`` to show before it applies them."""
    return [finding for migration in migrations for finding in lint_parsed(migration)]


def lint_file(path: Path, shown: str) -> list[Finding]:
    """Lint one file, named ``shown`` in the findings. A file that cannot be read, decoded
    or parsed gives one ``parse-error`` finding; nothing is raised."""
    try:
        parsed = sqlfile.parse(directory.decode(path.read_bytes(), path.name), path.name)
    except OSError as error:
        return [Finding("parse-error", "error", shown, 1, "up",
                        f"cannot be read: {error.strerror}")]
    except MigrationFileError as error:
        return [Finding("parse-error", "error", shown, error.line or 1, "up", error.problem)]
    return lint_parsed(parsed, shown)


# migrate lints what it applies unless the run is a bulk build or a file is huge
LINT_MAX_MIGRATIONS = 50
LINT_MAX_SECTION = 256 * 1024


def lint_before_migrate(parsed: Sequence[sqlfile.ParsedMigration],
                        emit: Callable[..., None], *, strict: bool) -> None:
    """Show (``emit("lint", …)``) the error and warning findings of what migrate is about
    to apply; under ``strict`` an error finding refuses the run. Large runs (a fresh
    database being built) and huge files are left to ``pgshift lint``.

    Raises:
        StateError: ``strict`` and an error-severity finding.
    """

    small = [p for p in parsed if len(p.up.text) <= LINT_MAX_SECTION]
    if len(small) > LINT_MAX_MIGRATIONS:
        emit("notice", f"{len(parsed)} migrations pending: not linted here (run pgshift lint)")
        return
    findings = [f for f in lint_pending(small) if f.severity != "note"]
    for f in findings:
        emit("lint", f"{f.file}:{f.line}: {f.severity} {f.rule}: {f.message}", f.file)
    errors = [f for f in findings if f.severity == "error"]
    if errors and strict:
        raise StateError(
            f"--strict: {len(errors)} lint error(s) in pending migrations; nothing was applied",
            hint="fix them, or silence a rule in the file's header with "
            "'-- pgshift: allow <rule-id>'",
        )
