"""``pgshift renumber``: after a late merge, move the pending files that collide with
another file's number, or sort before the latest applied migration, to follow it.

Files are renamed in their current order, keeping the directory's number width, and their
``-- Migration:`` header line is rewritten to the new name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pgshift.errors import MigrationFileError, StateError, UsageRefused
from pgshift.files import directory, sqlfile

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
    below the latest applied migration, so they follow every other file, in their current
    order and with the directory's number width; rewrite their ``-- Migration:`` line.

    ``target`` is a Migrator, or a directory (then ``offline`` is required). Offline
    (no database), only shared numbers are fixed and, in each group, the first file by
    name keeps its number. ``dry_run`` changes nothing. Returns the renames, in order.

    Raises:
        UsageRefused: a directory without ``offline``. StateError: a new name is taken.
        ConfigError, ConnectionFailed, TrackingTableError.
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
    moves = _moves(discovery, keep)
    if not moves:
        return []
    moved = {f.name for f, _ in moves}
    highest = max(f.number for f in discovery.files if f.name not in moved)
    width = _number_width(discovery.files)
    renames = []
    for offset, (file, reason) in enumerate(moves, start=1):
        new = f"{highest + offset:0{width}d}_{file.name.split('_', 1)[1]}"
        renames.append(_rename(file, new, reason, dry_run=dry_run))
    return renames


def _moves(discovery: directory.Discovery, keep: set[str]) -> list[tuple[
        directory.MigrationFile, str]]:
    """The files to move, in their current order, with the reason: pending files that
    sort before the latest applied one, and pending files sharing a number."""
    known = discovery.by_name()
    latest = max((known[name] for name in keep if name in known), key=lambda f: f.sort_key,
                 default=None)
    reasons = {f.name: f"it sorts before {latest.name}, which is already applied"
               for f in discovery.files
               if latest and f.name not in keep and f.sort_key < latest.sort_key}
    groups: dict[int, list[directory.MigrationFile]] = {}
    for file in discovery.files:
        if file.name not in reasons:
            groups.setdefault(file.number, []).append(file)
    for members in groups.values():
        keeper = next((f for f in members if f.name in keep), members[0])
        for file in members:
            if file is not keeper and file.name not in keep:
                reasons[file.name] = f"number {file.number} is also used by {keeper.name}"
    return [(f, reasons[f.name]) for f in discovery.files if f.name in reasons]


def _number_width(files: Sequence[directory.MigrationFile]) -> int:
    highest = max(f.number for f in files)
    return max(len(f.name.split("_", 1)[0]) for f in files if f.number == highest)


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
