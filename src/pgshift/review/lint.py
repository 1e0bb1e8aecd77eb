"""Lint over migration files: what ``pgshift lint``, ``plan`` and ``check`` show. Reads
files but never the database; nothing here prints or exits. What a run applying
migrations shows and refuses on is decided in :mod:`pgshift.engine.policy`.
"""

from __future__ import annotations

from pathlib import Path

from pgshift.analysis.lint.linter import History
from pgshift.engine.policy import lint_parsed, lint_pending
from pgshift.errors import MigrationFileError
from pgshift.files import directory, sqlfile
from pgshift.results import Finding

__all__ = ["History", "lint_file", "lint_parsed", "lint_pending"]


def lint_file(path: Path, shown: str, history: History | None = None) -> list[Finding]:
    """Lint one file, named ``shown`` in the findings; ``history``: what the files linted
    before it declared (see :func:`pgshift.analysis.lint.linter.lint_migration`). A file
    that cannot be read, decoded or parsed gives one ``parse-error`` finding; nothing is
    raised."""
    try:
        parsed = sqlfile.parse(directory.decode(path.read_bytes(), path.name), path.name)
    except OSError as error:
        return [Finding("parse-error", "error", shown, 1, "up",
                        f"cannot be read: {error.strerror}")]
    except MigrationFileError as error:
        return [Finding("parse-error", "error", shown, error.line or 1, "up", error.problem)]
    return lint_parsed(parsed, shown, history)
