"""Lint over migration files: what ``pgshift lint``, ``plan`` and ``check`` show. Reads
files but never the database; nothing here prints or exits. What a run applying
migrations shows and refuses on is decided in :mod:`pgshift.engine.policy`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pgshift.analysis.lint.linter import History
from pgshift.engine.policy import lint_parsed, lint_pending
from pgshift.errors import MigrationFileError
from pgshift.files import directory, sqlfile
from pgshift.results import Finding

__all__ = ["PARALLEL_FROM", "History", "lint_file", "lint_files", "lint_parsed", "lint_pending"]

# From this many files on, and with two CPUs to use, the second half of the files is
# linted in a forked process while this one lints the first half.
PARALLEL_FROM = 100


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


def lint_files(targets: Sequence[tuple[Path, str]]) -> list[Finding]:
    """Lint files in order (each judged with what the files before it declared), as
    ``(path, shown name)`` pairs; findings file by file. Large sets are linted in two
    processes when two CPUs are there to run them (see :data:`PARALLEL_FROM`): the second
    half without the first half's declarations, then each of its files whose lookups the
    first half could answer is linted again with them, so the findings are the same as
    one process would give."""
    if len(targets) < PARALLEL_FROM or not _two_cpus():
        history = History()
        return [f for path, shown in targets for f in lint_file(path, shown, history)]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    half = len(targets) // 2
    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
        later = pool.submit(_lint_alone, targets[half:])
        history = History()
        findings = [f for path, shown in targets[:half]
                    for f in lint_file(path, shown, history)]
        results = later.result()
    known = history.keys()
    for (path, shown), (found, before, missed) in zip(targets[half:], results, strict=True):
        if missed & known:
            found = lint_file(path, shown, history.merged(before))
        findings += found
    return findings


def _lint_alone(targets: Sequence[tuple[Path, str]]
                ) -> list[tuple[list[Finding], History, set[tuple[str, object]]]]:
    """Each file's findings with only the files before it in ``targets`` known, the
    history it was linted with, and the keys it looked up in vain."""
    history = History()
    results = []
    for path, shown in targets:
        before = history.copy()
        history.missed = set()
        found = lint_file(path, shown, history)
        results.append((found, before, history.missed))
    return results


def _two_cpus() -> bool:
    if not sys.platform.startswith("linux"):
        return False  # fork is the cheap way to start the second process
    return len(os.sched_getaffinity(0)) >= 2
