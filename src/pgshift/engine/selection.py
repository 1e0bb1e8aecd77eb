"""Which migrations a command acts on: ``--step``, ``--to``, ``--batch``. Pure functions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from pgshift.errors import StateError, UsageRefused

if TYPE_CHECKING:  # annotations only: choosing migrations never loads the database driver
    from pgshift.db.store import AppliedRow
    from pgshift.files.directory import MigrationFile

BASELINE_BATCH = 0


def newest_first(rows: Sequence[AppliedRow]) -> list[AppliedRow]:
    return sorted(rows, key=lambda r: (r.batch, r.id), reverse=True)


def pending_to_apply(
    pending: Sequence[MigrationFile], *, step: int | None = None, to: str | None = None,
    applied: Collection[str] = (),
) -> list[MigrationFile]:
    """The pending files ``migrate`` applies: all, the next ``step``, or up to ``to``
    (``applied``: the names recorded, to say why a ``to`` is not pending).

    Raises:
        UsageRefused: ``to`` names no pending file (or a bad ``step``).
    """
    if step is not None and step < 1:
        raise UsageRefused(f"--step must be at least 1 (got {step})")
    chosen = list(pending)
    if to is not None:
        names = [f.name for f in chosen]
        if to not in names:
            where = "is already applied" if to in applied else "is not a pending migration"
            raise UsageRefused(f"--to {to}: {where}",
                               hint="give the file name of a pending migration, e.g. "
                               f"{names[-1] if names else '002_add_x.sql'}")
        chosen = chosen[: names.index(to) + 1]
    if step is not None:
        chosen = chosen[:step]
    return chosen


def rows_to_revert(
    rows: Sequence[AppliedRow], *, step: int | None = None, batch: int | None = None,
    to: str | None = None, everything: bool = False,
) -> list[AppliedRow]:
    """The applied rows a rollback undoes, newest first. Baseline rows (batch 0) are never
    rolled back: they stand for a schema pgshift did not create.

    Default: the last batch. ``step``: the last N migrations whatever their batches.
    ``batch``: that batch, only if it is the latest. ``to``: everything applied after NAME.
    ``everything``: every batch (reset).

    Raises:
        UsageRefused: bad or conflicting options, or NAME is not applied.
        StateError: ``batch`` is not the latest batch.
    """
    given = [o for o, v in (("--step", step), ("--batch", batch), ("--to", to)) if v is not None]
    if len(given) > 1:
        raise UsageRefused(f"{' and '.join(given)} cannot be combined")
    if step is not None and step < 1:
        raise UsageRefused(f"--step must be at least 1 (got {step})")
    ordered = [r for r in newest_first(rows) if r.batch != BASELINE_BATCH]
    if to is not None and to not in {r.name for r in rows}:
        raise UsageRefused(f"--to {to}: is not an applied migration")
    if not ordered or everything:
        return ordered
    if step is not None:
        return ordered[:step]
    latest = ordered[0].batch
    if batch is not None:
        if batch != latest:
            raise StateError(
                f"--batch {batch}: only the latest batch ({latest}) can be rolled back",
                hint=f"roll back batch {latest} first, or use --to NAME",
            )
        return [r for r in ordered if r.batch == batch]
    if to is not None:
        names = [r.name for r in ordered]
        if to not in names:
            return ordered
        position = next(i for i, r in enumerate(ordered) if r.name == to)
        return ordered[:position]
    return [r for r in ordered if r.batch == latest]
