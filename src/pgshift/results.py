"""The values :class:`pgshift.Migrator` returns and the events it reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

State = Literal["executed", "pending", "missing file", "modified", "partial", "outdated"]
Severity = Literal["error", "warning", "note"]
STATES: tuple[State, ...] = ("executed", "pending", "missing file", "modified", "partial",
                             "outdated")


@dataclass(frozen=True)
class Event:
    """Progress reported through ``on_event``.

    ``kind`` is one of: ``lock-wait``, ``batch-start`` (``total`` migrations follow),
    ``applying``, ``applied``, ``reverting``, ``reverted``, ``batch-end``, ``warning``,
    ``notice``, ``retry``, ``lint`` (a finding of a migration about to be applied).
    """

    kind: str
    message: str
    name: str | None = None
    duration_ms: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class Finding:
    """One lint problem: ``rule`` id, its ``severity``, the ``file``, the 1-based file
    ``line`` of the statement's first token, the ``section`` and a ``message`` naming the
    object."""

    rule: str
    severity: Severity
    file: str
    line: int
    section: Literal["up", "down"]
    message: str


@dataclass(frozen=True)
class AppliedMigration:
    """A migration applied (or rolled back) by a run."""

    name: str
    batch: int
    duration_ms: int
    no_transaction: bool = False
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    """What ``migrate``/``rollback``/``reset``/``refresh`` did.

    ``applied`` are the migrations applied in ``batch``; ``rolled_back`` those reverted,
    newest first. Nothing to do is a result with both empty, not an exception.
    ``findings`` are the lint findings (warning and error) of what the run applied.
    """

    action: str
    batch: int | None = None
    applied: tuple[AppliedMigration, ...] = ()
    rolled_back: tuple[AppliedMigration, ...] = ()
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class MigrationStatus:
    """One line of ``status``: a migration file, an applied row, or both."""

    name: str
    state: State
    batch: int | None = None
    executed_at: datetime | None = None
    checksum: str | None = None
    file_checksum: str | None = None
    duration_ms: int | None = None
    no_transaction: bool = False
    metadata: tuple[tuple[str, str], ...] = ()
    statements_done: int | None = None
    statements_total: int | None = None

    @property
    def label(self) -> str:
        """The state as ``status`` shows it, e.g. ``partial (2 of 3 statements)``."""
        if self.state == "partial":
            return f"partial ({self.statements_done} of {self.statements_total} statements)"
        return self.state + (" (no transaction)" if self.no_transaction else "")


@dataclass(frozen=True)
class StatusReport:
    """``entries`` in migration order, the ``warnings`` found, and whether a table exists.

    A ``partial`` entry is a migration run outside a transaction whose run stopped part-way
    (its completed statements stay applied; the next ``migrate`` resumes it)."""

    entries: tuple[MigrationStatus, ...]
    warnings: tuple[str, ...] = ()
    table: str = "_migrations"
    table_exists: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def count(entries: tuple[MigrationStatus, ...]) -> dict[str, int]:
        found = Counter(e.state for e in entries)
        return {state: found.get(state, 0) for state in STATES}

    @property
    def pending(self) -> tuple[MigrationStatus, ...]:
        return tuple(e for e in self.entries if e.state == "pending")
