"""``pgshift renumber``: after a late merge, move the pending files that collide with
another file's number, or sort before the latest applied migration, to follow it.

Which files move and their new names are decided in :mod:`pgshift.review.numbering`;
this module renames them, in their current order, and rewrites their ``-- Migration:``
header line to the new name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pgshift.errors import MigrationFileError, StateError, UsageRefused
from pgshift.files import directory, sqlfile
from pgshift.review.numbering import plan_renames

if TYPE_CHECKING:
    from pgshift.engine.migrator import Migrator


@dataclass(frozen=True)
class Rename:
    """``old`` file name → ``new``, why, and whether its ``-- Migration:`` header line
    was (or would be) rewritten."""

    old: str
    new: str
    reason: str
    header_rewritten: bool


def renumber(target: Migrator | Path, *, dry_run: bool = False,
             offline: bool = False) -> list[Rename]:
    """Rename the pending files that share their number with another file, or that sort
    below the latest applied migration, so they follow every other file; the pending
    files after the first of them move too, so every pending file keeps its place
    relative to the others (see :mod:`pgshift.review.numbering`). The directory's number
    width is kept and each file's ``-- Migration:`` line is rewritten.

    ``target`` is a Migrator, or a directory (then ``offline`` is required). Offline
    (no database), only shared numbers are fixed and, in each group, the first file by
    name keeps its number; a rename that would move a file past another is refused.
    ``dry_run`` changes nothing. Returns the renames, in order.

    Raises:
        UsageRefused: a directory without ``offline``. StateError: a new name is taken,
        or offline, the order could not be kept (nothing renamed). ConfigError,
        ConnectionFailed, TrackingTableError.
    """
    if not offline and isinstance(target, Path):
        raise UsageRefused("renumbering without a database needs offline=True")
    folder = target if isinstance(target, Path) else target.directory
    discovery = directory.discover(folder)
    keep: set[str] = set()
    if not isinstance(target, Path) and not offline:
        from pgshift.review.plan import read_state

        with read_state(target) as (_conn, state, _in_recovery):
            keep = {r.name for r in state.rows} | {p.name for p in state.partial}
    plan = plan_renames(discovery, keep, offline=offline)
    if plan.refusal is not None:
        raise StateError(f"renumber --offline: {plan.refusal}; nothing was renamed",
                         hint="run pgshift renumber with the database (without --offline)")
    files = discovery.by_name()
    moved = {r.old for r in plan.renames}
    taken = [r.new for r in plan.renames
             if r.new in moved or files[r.old].path.with_name(r.new).exists()]
    if taken:
        raise StateError(f"cannot renumber: the new name(s) {', '.join(taken)} are taken; "
                         "nothing was renamed")
    return [_rename(files[r.old], r.new, r.reason, dry_run=dry_run) for r in plan.renames]


def _rename(file: directory.MigrationFile, new: str, reason: str, *, dry_run: bool) -> Rename:
    import shutil

    target = file.path.with_name(new)
    if target.exists():
        raise StateError(f"cannot rename {file.name} to {new}: {new} exists; nothing more "
                         "was renamed")
    data = file.path.read_bytes()
    rewritten = _rewrite_header(data, file.name, new)
    if not dry_run:
        with target.open("xb") as out:
            out.write(rewritten if rewritten is not None else data)
        shutil.copymode(file.path, target)
        file.path.unlink()
    return Rename(file.name, new, reason, rewritten is not None)


def _rewrite_header(data: bytes, old: str, new: str) -> bytes | None:
    """``data`` with the value of its ``-- Migration:`` header line set to ``new`` (line
    endings and BOM kept), or None when the file has no such line or does not parse."""
    try:
        text = directory.decode(data, old)
        header_lines = sqlfile.parse(text, old).up.first_line - 2
    except MigrationFileError:
        return None
    field = re.compile(r"^([ \t]*--[ \t]*migration[ \t]*:[ \t]?)([^\r\n]*?)([ \t]*)$", re.I)
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)
    for number, line in enumerate(lines[:header_lines]):
        body = line.rstrip("\r\n")
        match = field.match(body)
        if match:
            lines[number] = match.group(1) + new + match.group(3) + line[len(body):]
            bom = data[:3] if data.startswith(b"\xef\xbb\xbf") else b""
            return bom + "".join(lines).encode("utf-8")
    return None
