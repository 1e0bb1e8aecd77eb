"""A fleet run as text (one line per target, then the summary) or as one JSON document.
Everything shown passes through :func:`pgshift.config.redact`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgshift.config import redact
from pgshift.errors import PgshiftError, StatementFailed
from pgshift.fleet.results import FleetResult, TargetResult
from pgshift.render.results import error_json

# The summary names these outcomes, per command, in this order (SPEC §8 for migrate).
_SUMMARY = {
    "migrate": ("migrated", "up-to-date", "failed", "unreachable", "skipped"),
    "rollback": ("rolled-back", "up-to-date", "failed", "unreachable", "skipped"),
    "status": ("up-to-date", "pending", "failed", "unreachable", "skipped"),
    "plan": ("up-to-date", "pending", "failed", "unreachable", "skipped"),
}
_SHOWN_NAMES = 3
STATUS_COUNTS = (("executed", "executed"), ("pending", "pending"), ("modified", "modified"),
                 ("missing file", "missing"), ("partial", "partial"))


def first_line(error: PgshiftError) -> str:
    """The one line that says what went wrong on a target."""
    if isinstance(error, StatementFailed):
        statement = error.statement
        where = f"{statement.file}:{statement.line}" if statement else error.migration
        return f"{where}: {error.server.message}"
    return error.message.splitlines()[0] if error.message else type(error).__name__


def _names(names: Sequence[str]) -> str:
    if len(names) <= _SHOWN_NAMES:
        return ", ".join(names)
    return f"{len(names)} migrations, {names[0]} … {names[-1]}"


def status_counts(target: TargetResult) -> dict[str, int]:
    """executed, pending, modified, missing, partial of a ``status`` target."""
    counts = target.report.counts if target.report is not None else {}
    return {key: counts.get(state, 0) for state, key in STATUS_COUNTS}


def _detail(action: str, target: TargetResult) -> str:
    if target.error is not None:
        return first_line(target.error)
    if target.outcome == "skipped":
        return "not started"
    if action == "status":
        return ", ".join(f"{n} {k}" for k, n in status_counts(target).items())
    if action == "plan":
        pending = target.pending
        return f"would apply {_names(pending)}" if pending else "nothing to apply"
    if target.applied:
        return f"batch {target.batch}: {_names(target.applied)}"
    if target.rolled_back:
        return f"batch {target.batch}: {_names(target.rolled_back)}"
    return "nothing to roll back" if action == "rollback" else "nothing to migrate"


def summary_line(result: FleetResult) -> str:
    shown = _SUMMARY.get(result.action, _SUMMARY["migrate"])
    parts = [f"{result.counts.get(o, 0)} {o.replace('-', ' ')}" for o in shown]
    total = len(result.targets)
    return f"{total} target{'s' if total != 1 else ''}: {', '.join(parts)}"


def progress_line(done: int, total: int, *, failed: int, in_flight: int,
                  skipped: int = 0) -> str:
    """The live display's text: ``targets 7/20 done, 1 failed, 3 in flight`` (then
    ``, 2 skipped`` when targets were not started). ``done`` counts every target that
    finished, failed or was skipped."""
    line = f"targets {done}/{total} done, {failed} failed, {in_flight} in flight"
    return f"{line}, {skipped} skipped" if skipped else line


def target_line(action: str, target: TargetResult, width: int = 0) -> str:
    seconds = target.duration_ms / 1000
    return (f"{target.name:<{width}}  {target.outcome:<11}  {_detail(action, target)}  "
            f"({seconds:.2f} s)")


def fleet_text(result: FleetResult, secrets: Sequence[str] = ()) -> str:
    """One line per target (name, outcome, what was done or the error, time), then the
    summary line."""
    width = max((len(t.name) for t in result.targets), default=0)
    lines = [target_line(result.action, t, width) for t in result.targets]
    lines.append(summary_line(result))
    return redact("\n".join(lines), tuple(secrets))


def fleet_json(result: FleetResult) -> dict[str, Any]:
    """``{"ok", "targets": [...], "counts"}`` as SPEC §8 gives it; ``status`` targets also
    carry ``status`` (their counts) and ``pending``, ``plan`` targets ``pending``."""
    targets = []
    for target in result.targets:
        entry: dict[str, Any] = {
            "name": target.name, "outcome": target.outcome, "batch": target.batch,
            "applied": list(target.applied), "rolled_back": list(target.rolled_back),
            "error": error_json(target.error) if target.error is not None else None,
            "duration_ms": target.duration_ms,
        }
        if result.action == "status":
            entry["status"] = status_counts(target)
        if result.action in ("status", "plan"):
            entry["pending"] = list(target.pending)
        targets.append(entry)
    return {"ok": result.ok, "targets": targets, "counts": dict(result.counts)}
