"""Which migration files ``renumber`` moves after a late merge, and their new names.

The one place that decides it, for ``pgshift renumber`` and for what ``pgshift check``
suggests. A pending file moves when it shares its number with another file or sorts
before the latest applied migration; every pending file after the first one that moves
moves too, so the pending files keep their relative order (a branch's later file may
depend on its earlier one). The moved files get the numbers after every file that stays,
in their current order, with the directory's number width. Pure: no file or database
access.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pgshift.files.directory import Discovery, MigrationFile, by_number

__all__ = ["PlannedRename", "RenumberPlan", "plan_renames"]


@dataclass(frozen=True)
class PlannedRename:
    """``old`` file name → ``new``, and why it moves."""

    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class RenumberPlan:
    """The renames, in order; or, when they cannot be decided (offline, where what is
    applied is unknown), ``refusal`` says why and ``renames`` is empty."""

    renames: tuple[PlannedRename, ...] = ()
    refusal: str | None = None


def plan_renames(discovery: Discovery, keep: Collection[str], *,
                 offline: bool = False) -> RenumberPlan:
    """The renames that put every pending file after the applied ones with unique
    numbers, keeping the pending files' order. ``keep`` names the files that must keep
    their names (applied or partially applied). ``offline``: nothing is known to be
    applied; in each group of files sharing a number the first by name stays, and a
    plan that would move a file past one that stays is refused (that one may be applied,
    or may have to move with it: only the database can tell).
    """
    files = discovery.files
    reasons = _reasons(discovery, set(keep))
    if not reasons:
        return RenumberPlan()
    first = next(i for i, f in enumerate(files) if f.name in reasons)
    moved = [f for f in files[first:] if f.name not in keep]
    if offline:
        passed = [f.name for f in moved if f.name not in reasons]
        if passed:
            return RenumberPlan(refusal=(
                f"moving {files[first].name} after the other files would change its order "
                f"with {', '.join(passed)}, which sort{'s' if len(passed) == 1 else ''} "
                "after it now; without the database pgshift cannot tell whether "
                f"{'that file is' if len(passed) == 1 else 'those files are'} applied "
                "(then they keep their numbers) or pending (then they move too)"))
    names = {f.name for f in moved}
    highest = max((f.number for f in files if f.name not in names), default=0)
    width = _number_width(files)
    renames = []
    for offset, file in enumerate(moved, start=1):
        new = f"{highest + offset:0{width}d}_{file.name.split('_', 1)[1]}"
        if new == file.name:
            continue  # already where it belongs
        reason = reasons.get(file.name) or (
            f"it runs after {moved[offset - 2].name} (pending), which moves: they keep "
            "their order")
        renames.append(PlannedRename(file.name, new, reason))
    return RenumberPlan(tuple(renames))


def _reasons(discovery: Discovery, keep: set[str]) -> dict[str, str]:
    """Why each file must move: pending files that sort before the latest applied one,
    and pending files sharing a number with another file."""
    latest = discovery.latest_of(keep)
    reasons = {f.name: f"it sorts before {latest.name}, which is already applied"
               for f in discovery.files
               if latest and f.name not in keep and f.sort_key < latest.sort_key}
    groups = by_number(f for f in discovery.files if f.name not in reasons)
    for members in groups.values():
        keeper = next((f for f in members if f.name in keep), members[0])
        for file in members:
            if file is not keeper and file.name not in keep:
                reasons[file.name] = f"number {file.number} is also used by {keeper.name}"
    return reasons


def _number_width(files: Sequence[MigrationFile]) -> int:
    highest = max(f.number for f in files)
    return max(len(f.name.split("_", 1)[0]) for f in files if f.number == highest)
