"""The values a fleet run returns and the events it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pgshift.errors import PgshiftError
    from pgshift.results import Event, RunResult, StatusReport
    from pgshift.review.plan import Plan

Outcome = Literal["migrated", "up-to-date", "rolled-back", "pending", "failed", "unreachable",
                  "skipped"]
# In the order the summary line names them. ``pending`` is what ``fleet status`` and
# ``fleet plan`` report for a target that has something to apply.
OUTCOMES: tuple[Outcome, ...] = ("migrated", "rolled-back", "up-to-date", "pending", "failed",
                                 "unreachable", "skipped")
FAILED: frozenset[str] = frozenset({"failed", "unreachable"})


@dataclass(frozen=True)
class TargetResult:
    """What happened on one target.

    ``applied``/``rolled_back`` name the migrations this run applied or rolled back (also
    after a failure, for those done before it); ``error`` is the exception when the
    outcome is ``failed`` or ``unreachable``; ``run``, ``report`` and ``plan`` hold the
    single-target result of ``migrate``/``rollback``, ``status`` and ``plan``.
    """

    name: str
    outcome: Outcome
    batch: int | None = None
    applied: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()
    error: PgshiftError | None = None
    duration_ms: int = 0
    run: RunResult | None = None
    report: StatusReport | None = None
    plan: Plan | None = None

    @property
    def ok(self) -> bool:
        return self.outcome not in FAILED

    @property
    def pending(self) -> tuple[str, ...]:
        """Migrations still to apply (``status`` and ``plan`` only)."""
        if self.report is not None:
            return tuple(e.name for e in self.report.entries
                         if e.state in ("pending", "partial"))
        if self.plan is not None:
            return tuple(m.name for m in self.plan.migrations)
        return ()


@dataclass(frozen=True)
class FleetResult:
    """Every selected target's :class:`TargetResult`, in name order."""

    action: str
    targets: tuple[TargetResult, ...]
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def count(targets: tuple[TargetResult, ...]) -> dict[str, int]:
        return {o: sum(1 for t in targets if t.outcome == o) for o in OUTCOMES}

    @property
    def ok(self) -> bool:
        """No target failed or was unreachable."""
        return all(t.ok for t in self.targets)

    @property
    def any_pending(self) -> bool:
        return any(t.outcome == "pending" for t in self.targets)


@dataclass(frozen=True)
class FleetEvent:
    """Progress of a fleet run, for ``on_event``.

    ``kind`` is ``start`` (the target's run begins), ``done`` (``result`` is its
    :class:`TargetResult`) or ``event`` (``event`` is an engine :class:`Event` of that
    target's run, e.g. ``applied``).
    """

    kind: Literal["start", "done", "event"]
    target: str
    result: TargetResult | None = None
    event: Event | None = None
