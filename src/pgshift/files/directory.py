"""The migrations directory: discovery, names, order, reading files, ``create``.

Nothing here touches the database or splits SQL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import date
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from pgshift.errors import ConfigError, MigrationFileError, UsageRefused

NAME_PATTERN = re.compile(r"^(?P<number>[0-9]+)_(?P<name>[a-z0-9_]+)\.sql$")
DEFAULT_WIDTH = 3
REPEATABLE_FOLDER = "repeatable"
REPEATABLE_PATTERN = re.compile(r"^[a-z0-9_]+\.sql$")
REPEATABLE_PREFIX = REPEATABLE_FOLDER + "/"


def is_repeatable(name: str) -> bool:
    """Whether a tracking-table name is a repeatable's (``repeatable/<name>.sql``)."""
    return name.startswith(REPEATABLE_PREFIX)
TEMPLATE_FILE = ".template.sql"
TEMPLATE_FIELDS = ("filename", "name", "description", "date", "number")
_TEMPLATE_FIELD = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
BUILTIN_TEMPLATE = (
    "-- Migration: {{filename}}\n-- Created: {{date}}\n-- Description: {{description}}\n"
    "\n-- UP\n\n\n-- DOWN\n"
)
_BOM = b"\xef\xbb\xbf"
# A folder ending like this (empty, a separator, a Windows drive) is joined to a name by
# os.path.join; any other with os.sep, which gives the same string for a migration's name
# without os.path.join's cost.
_JOINED_BY_OS = frozenset({"", "/", "\\", ":", os.sep})


class MigrationFile(NamedTuple):
    """A file whose name matches ``<number>_<name>.sql``, in directory ``folder``.

    A NamedTuple rather than a dataclass: a directory of 10,000 files makes 10,000 of
    these for every ``status``, and this is the cheapest immutable value to build."""

    name: str
    number: int
    folder: str

    @property
    def path(self) -> Path:
        return Path(self.folder, self.name)

    @property
    def location(self) -> str:
        """``os.path.join(folder, name)`` (``status`` asks it once per file, for the stat
        that checks the file is unchanged)."""
        folder = self.folder
        if folder[-1:] in _JOINED_BY_OS:
            return os.path.join(folder, self.name)
        return folder + os.sep + self.name

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.number, self.name)


class Discovery(NamedTuple):
    """The migration files of a directory, in order, and what was wrong around them.

    A NamedTuple rather than a dataclass: every command defines it at start-up, and a
    NamedTuple costs far less to define."""

    directory: Path
    files: tuple[MigrationFile, ...]
    warnings: tuple[str, ...]
    repeatables: tuple[MigrationFile, ...] = ()

    def by_name(self) -> dict[str, MigrationFile]:
        return {f.name: f for f in self.files}

    def latest_of(self, names: Iterable[str]) -> MigrationFile | None:
        """Of the files named ``names`` (e.g. the applied ones), the one sorting last;
        None when none of them has a file."""
        known = self.by_name()
        return max((known[name] for name in names if name in known),
                   key=lambda f: f.sort_key, default=None)


def discover(directory: Path) -> Discovery:
    """List the migrations of ``directory`` in order (number, then whole name).

    Raises:
        ConfigError: the directory does not exist or is not a directory.
    """
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise ConfigError(
            f"migrations directory {directory} {what}",
            hint="pass --dir DIR, set dir in [tool.pgshift] of pyproject.toml, "
            "or create ./migrations (pgshift create NAME does)",
        )
    files: list[MigrationFile] = []
    warnings: list[str] = []
    folder = str(directory)
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if not name.lower().endswith(".sql") or not entry.is_file() or name == TEMPLATE_FILE:
                continue
            match = NAME_PATTERN.match(name)
            if match is None:
                warnings.append(
                    f"{name} is not named <number>_<name>.sql "
                    "(digits, '_', then lowercase letters, digits and '_'): it is never run"
                )
                continue
            files.append(MigrationFile(name, int(match[1]), folder))
    # by sort_key, (number, name): by name, then stably by number (two cheap sorts)
    files.sort(key=_NAME)
    files.sort(key=_NUMBER)
    warnings += _shared_numbers(files)
    repeatables = _repeatables(directory, warnings)
    return Discovery(directory, tuple(files), tuple(sorted(warnings)), repeatables)


_NAME = attrgetter("name")
_NUMBER = attrgetter("number")


def _shared_numbers(files: list[MigrationFile]) -> list[str]:
    """A warning for each number that more than one of ``files`` (in order) uses."""
    numbers = [f.number for f in files]
    if len(set(numbers)) == len(numbers):
        return []
    return [f"migration number {number} is used by {len(shared)} files: "
            f"{', '.join(f.name for f in shared)} (they run in name order)"
            for number, shared in sorted(by_number(files).items()) if len(shared) > 1]


def _repeatables(directory: Path, warnings: list[str]) -> tuple[MigrationFile, ...]:
    """The files ``repeatable/<name>.sql`` (named ``repeatable/<name>.sql``), in name
    order; other ``.sql`` files there are warned about."""
    folder = directory / REPEATABLE_FOLDER
    if not folder.is_dir():
        return ()
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.lower().endswith(".sql") or not entry.is_file():
                continue
            if REPEATABLE_PATTERN.match(entry.name) is None:
                warnings.append(f"{REPEATABLE_FOLDER}/{entry.name} is not named "
                                "<name>.sql (lowercase letters, digits and '_'): it is never run")
                continue
            found.append(MigrationFile(f"{REPEATABLE_FOLDER}/{entry.name}", 0, str(directory)))
    return tuple(sorted(found, key=lambda f: f.name))


def by_number(files: Iterable[MigrationFile]) -> dict[int, list[MigrationFile]]:
    """``files`` grouped by migration number, each group in the order given."""
    groups: dict[int, list[MigrationFile]] = {}
    for file in files:
        groups.setdefault(file.number, []).append(file)
    return groups


def decode(data: bytes, filename: str) -> str:
    """Decode a migration file's bytes as UTF-8 (a leading BOM is dropped).

    Raises:
        MigrationFileError: names the byte offset (from 0, in the file) of the first invalid byte.
    """
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = skip + error.start
        line = data.count(b"\n", 0, offset) + 1
        raise MigrationFileError(
            filename,
            f"not valid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} (line {line})",
            byte_offset=offset,
            hint="save the file as UTF-8",
        ) from None


def read_text(file: MigrationFile) -> str:
    """The decoded text of a migration file (see :func:`decode`)."""
    try:
        with open(file.location, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise MigrationFileError(file.name, f"cannot be read: {error.strerror}") from None
    return decode(data, file.name)


def read_start(file: MigrationFile, size: int) -> str:
    """The first ``size`` bytes of a migration file as text, for a quick look at its
    header: a leading BOM is dropped, undecodable bytes (or a character cut at the end)
    are replaced. An unreadable file reads as empty."""
    try:
        fd = os.open(file.location, os.O_RDONLY)
        try:
            data = os.read(fd, size)
        finally:
            os.close(fd)
    except OSError:
        return ""
    skip = len(_BOM) if data.startswith(_BOM) else 0
    return data[skip:].decode("utf-8", errors="replace")


def normalize_name(raw: str) -> str:
    """The file-name part for ``create``: lowercased, spaces and '-' become '_'.

    Raises:
        UsageRefused: empty, a path separator, or characters outside [a-z0-9_].
    """
    allowed = "allowed: letters, digits, '_', '-' and spaces ([a-z0-9_] after lowercasing)"
    if "/" in raw or "\\" in raw or raw in {".", ".."}:
        raise UsageRefused(f"migration name {raw!r} contains a path separator; {allowed}")
    name = raw.strip().lower().replace(" ", "_").replace("-", "_")
    if not name:
        raise UsageRefused(f"migration name is empty; {allowed}")
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "_"))})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise UsageRefused(f"migration name {raw!r} contains {shown}; {allowed}")
    return name


def read_template(directory: Path, template: Path | None) -> tuple[str, str]:
    """(text, where it comes from) of the template ``create`` fills: ``template`` when
    given, else ``DIR/.template.sql`` when it exists, else the built-in one.

    Raises:
        ConfigError: the template cannot be read or holds an unknown ``{{field}}`` (named
            with its line).
    """
    path = template if template is not None else directory / TEMPLATE_FILE
    if template is None and not path.is_file():
        return BUILTIN_TEMPLATE, "the built-in template"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"template {path} cannot be read ({error})") from None
    for hit in _TEMPLATE_FIELD.finditer(text):
        if hit.group(1).strip() not in TEMPLATE_FIELDS:
            line = text.count("\n", 0, hit.start()) + 1
            raise ConfigError(
                f"{path}:{line}: unknown template field {hit.group(0)!r}; nothing was written",
                hint="fields: " + ", ".join("{{" + f + "}}" for f in TEMPLATE_FIELDS))
    return text, str(path)


def fill_template(text: str, fields: dict[str, str]) -> str:
    """``text`` with each ``{{field}}`` replaced (fields checked by :func:`read_template`)."""
    return _TEMPLATE_FIELD.sub(lambda hit: fields[hit.group(1).strip()], text)


def create(directory: Path, raw_name: str, *, today: date,
           template: Path | None = None) -> Path:
    """Write ``DIR/<next number>_<name>.sql`` from the template (``template``, else
    ``DIR/.template.sql``, else the built-in one) and return its path.

    The number is the highest existing number + 1, zero-padded to the width the directory
    already uses (3 for an empty one).

    Raises:
        UsageRefused: for a bad name. ConfigError: DIR exists and is not a directory; the
            template cannot be read or holds an unknown field (nothing is written).
    """
    name = normalize_name(raw_name)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"migrations directory {directory} is not a directory")
    text, _source = read_template(directory, template)
    directory.mkdir(parents=True, exist_ok=True)
    numbered = [
        (int(m.group("number")), len(m.group("number")))
        for m in (NAME_PATTERN.match(p.name) for p in directory.iterdir())
        if m is not None
    ]
    highest = max((n for n, _ in numbered), default=0)
    width = max((w for n, w in numbered if n == highest), default=DEFAULT_WIDTH)
    filename = f"{highest + 1:0{width}d}_{name}.sql"
    if len(filename.encode()) > 255:
        raise UsageRefused(f"migration name {raw_name[:40]!r}… is too long for a file name "
                           f"({len(filename.encode())} bytes; at most 255)")
    path = directory / filename
    fields = {"filename": filename, "name": name, "description": name.replace("_", " "),
              "date": today.isoformat(), "number": filename.split("_", 1)[0]}
    path.write_text(fill_template(text, fields), encoding="utf-8")
    return path
