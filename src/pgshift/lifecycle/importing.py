"""``import``: adopt the migrations of dbmate, goose, golang-migrate or Flyway.

Converting is pure (:func:`convert`: the other tool's files → pgshift files' text, in the
other tool's order). Adopting (:func:`import_migrations`) reads the other tool's history
table (never changes it), refuses dirty or failed rows and rows without a file, then writes
the converted files and records the applied ones in batch 0 with their checksums, in one
transaction of the tracking table (rows through :mod:`pgshift.db.store`). Never prints.

Flyway's repeatable migrations (``R__<description>.sql``) become pgshift repeatables
(``repeatable/<name>.sql``); one is recorded as applied when Flyway's latest successful
run of it (its history row with that description and no version) has the file's current
Flyway checksum (:func:`flyway_checksum`); otherwise pgshift's next ``migrate`` applies it.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pgshift.errors import MigrationFileError, StateError, UsageRefused

if TYPE_CHECKING:
    import psycopg

    from pgshift.engine.migrator import Migrator
    from pgshift.engine.session import Session
    from pgshift.files.sqlfile import ParsedMigration

Tool = Literal["dbmate", "goose", "golang-migrate", "flyway"]
TOOLS: tuple[Tool, ...] = ("dbmate", "goose", "golang-migrate", "flyway")
HISTORY_TABLES: dict[Tool, str] = {
    "dbmate": "schema_migrations", "goose": "goose_db_version",
    "golang-migrate": "schema_migrations", "flyway": "flyway_schema_history",
}
IMPORT_BATCH = 0
REPEATABLE_PREFIX = "repeatable/"


@dataclass(frozen=True)
class ConvertedFile:
    """One pgshift migration made from ``sources`` (file names in SOURCE_DIR): its
    ``version`` as the other tool's history table names it, its pgshift ``name``, ``text``."""

    version: str
    sources: tuple[str, ...]
    name: str
    text: str
    no_transaction: bool
    flyway_checksum: int | None = None  # set for a Flyway repeatable only

    @property
    def repeatable(self) -> bool:
        """A repeatable migration (``repeatable/<name>.sql``); ``version`` then holds the
        description Flyway records for it."""
        return self.name.startswith(REPEATABLE_PREFIX)


@dataclass(frozen=True)
class ImportedFile:
    """A converted file and whether the other tool's history lists it as applied
    (``note``: why an applied one is not recorded)."""

    name: str
    sources: tuple[str, ...]
    applied: bool
    no_transaction: bool
    checksum: str
    note: str = ""


@dataclass(frozen=True)
class ImportResult:
    """What ``import`` wrote into ``directory`` and recorded in batch 0 (``dry_run``:
    would write and record)."""

    tool: Tool
    source: str
    directory: str
    history_table: str
    files: tuple[ImportedFile, ...]
    dry_run: bool
    warnings: tuple[str, ...]
    seconds: float

    @property
    def recorded(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files if f.applied)


# --- conversion (pure) -------------------------------------------------------------------


def pgshift_name(number: str, description: str) -> str:
    """``<number>_<name>.sql`` with the name lowercased, other characters as ``_``."""
    name = re.sub(r"[^a-z0-9_]+", "_", description.lower()).strip("_") or "migration"
    return f"{number}_{name}.sql"


def render_file(name: str, tool: Tool, sources: Sequence[str], up: str, down: str | None,
                *, no_transaction: bool) -> str:
    """The text of a pgshift migration: a header naming its origin, ``-- UP``, ``-- DOWN``."""
    lines = [f"-- Migration: {name}",
             f"-- Description: imported from {tool} ({', '.join(sources)})"]
    if no_transaction:
        lines.append("-- pgshift: no-transaction")
    if "${" in up or (down is not None and "${" in down):
        lines.append("-- pgshift: no-placeholders")
    lines += ["", "-- UP", up.strip("\n"), ""]
    if down is not None and down.strip():
        lines += ["-- DOWN", down.strip("\n"), ""]
    return "\n".join(lines)


def _text(path: Path) -> str:
    from pgshift.files.directory import decode

    return decode(path.read_bytes(), path.name).replace("\r\n", "\n")


_DBMATE_FILE = re.compile(r"^(\d+)_?(.*)\.sql$")
_DBMATE_MARK = re.compile(r"^--\s*migrate:(up|down)\b(.*)$")


def _dbmate(path: Path) -> tuple[str, str | None, bool]:
    """(up, down, no-transaction) of a dbmate file: ``-- migrate:up``/``-- migrate:down``
    with an optional ``transaction:false``."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    no_tx = False
    for number, line in enumerate(_text(path).split("\n"), 1):
        mark = _DBMATE_MARK.match(line.strip())
        if mark:
            current = mark.group(1)
            if current in sections:
                raise MigrationFileError(path.name, f"a second '-- migrate:{current}'",
                                         line=number)
            sections[current] = []
            options = mark.group(2).split()
            no_tx = no_tx or "transaction:false" in options
            continue
        if current is not None:
            sections[current].append(line)
        elif line.strip() and not line.strip().startswith("--"):
            raise MigrationFileError(path.name, "SQL before '-- migrate:up'", line=number)
    if "up" not in sections:
        raise MigrationFileError(path.name, "no '-- migrate:up' line (dbmate's marker)")
    down = "\n".join(sections["down"]) if "down" in sections else None
    return "\n".join(sections["up"]), down, no_tx


_GOOSE_FILE = re.compile(r"^(\d+)_(.*)\.(sql|go)$")
_GOOSE = re.compile(r"^--\s*\+goose\s+(.*?)\s*$", re.IGNORECASE)


def _goose(path: Path) -> tuple[str, str | None, bool]:
    """(up, down, no-transaction) of a goose file: ``-- +goose Up``/``Down``,
    ``StatementBegin``/``StatementEnd`` (dropped: pgshift splits with PostgreSQL's parser)
    and ``NO TRANSACTION``."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    no_tx = False
    for number, line in enumerate(_text(path).split("\n"), 1):
        mark = _GOOSE.match(line.strip())
        if mark:
            word = mark.group(1).lower()
            if word in ("up", "down"):
                if word in sections:
                    raise MigrationFileError(path.name, f"a second '-- +goose {mark.group(1)}'",
                                             line=number)
                current = word
                sections[word] = []
            elif word == "no transaction":
                no_tx = True
            elif word in ("statementbegin", "statementend"):
                pass
            else:
                raise MigrationFileError(path.name, f"goose annotation '{line.strip()}' has "
                                         "no pgshift equivalent", line=number)
            continue
        if current is not None:
            sections[current].append(line)
        elif line.strip() and not line.strip().startswith("--"):
            raise MigrationFileError(path.name, "SQL before '-- +goose Up'", line=number)
    if "up" not in sections:
        raise MigrationFileError(path.name, "no '-- +goose Up' annotation")
    down = "\n".join(sections["down"]) if "down" in sections else None
    return "\n".join(sections["up"]), down, no_tx


_MIGRATE_FILE = re.compile(r"^(\d+)_(.*)\.(up|down)\.sql$")
_FLYWAY_FILE = re.compile(r"^([VUR])([0-9._]*)__(.+)\.(sql|java|class|kt|kts|groovy)$")


def flyway_version(text: str) -> tuple[int, ...]:
    """Flyway's version as numbers (``1_1`` = ``1.1`` = ``1.1.0``)."""
    parts = [int(p) for p in re.split(r"[._]", text) if p != ""]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _files(source: Path, recursive: bool) -> list[Path]:
    found = source.rglob("*") if recursive else source.iterdir()
    return sorted((p for p in found if p.is_file()), key=lambda p: p.name)


def convert(tool: Tool, source: Path) -> tuple[list[ConvertedFile], list[str]]:
    """Every migration of ``source`` as pgshift text, in the tool's order; and warnings.

    Raises:
        UsageRefused: a migration in code (Go, Java), two files of one version, two Flyway
        repeatables of one name, no migration. MigrationFileError: a file the tool would not accept.
    """
    if not source.is_dir():
        raise UsageRefused(f"import: {source} is not a directory")
    converters = {"dbmate": _convert_dbmate, "goose": _convert_goose,
                  "golang-migrate": _convert_migrate, "flyway": _convert_flyway}
    converted, warnings = converters[tool](source)
    if not converted:
        raise UsageRefused(f"import --from {tool}: no {tool} migration in {source}")
    names = [c.name for c in converted]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageRefused(f"import: two migrations would become {', '.join(twice)}")
    return converted, warnings


def _unmatched(path: Path, tool: str, warnings: list[str]) -> None:
    if path.suffix == ".sql":
        warnings.append(f"{path.name}: not a {tool} migration file name; not imported")


def _convert_dbmate(source: Path) -> tuple[list[ConvertedFile], list[str]]:
    out: list[tuple[int, ConvertedFile]] = []
    warnings: list[str] = []
    for path in _files(source, recursive=False):
        match = _DBMATE_FILE.match(path.name)
        if not match:
            _unmatched(path, "dbmate", warnings)
            continue
        up, down, no_tx = _dbmate(path)
        name = pgshift_name(match.group(1), match.group(2))
        out.append((int(match.group(1)), ConvertedFile(
            match.group(1), (path.name,), name,
            render_file(name, "dbmate", [path.name], up, down, no_transaction=no_tx), no_tx)))
    return [c for _, c in sorted(out, key=lambda pair: (pair[0], pair[1].name))], warnings


def _convert_goose(source: Path) -> tuple[list[ConvertedFile], list[str]]:
    out: list[tuple[int, ConvertedFile]] = []
    warnings: list[str] = []
    code = [p.name for p in _files(source, recursive=False)
            if p.suffix == ".go" and _GOOSE_FILE.match(p.name)]
    if code:
        raise UsageRefused(f"import --from goose: {', '.join(code)} is a Go migration "
                           "(code, not SQL); nothing was written",
                           hint="rewrite it as SQL, or apply it with goose first and "
                           "keep its effect in a pgshift migration")
    for path in _files(source, recursive=False):
        match = _GOOSE_FILE.match(path.name)
        if not match:
            _unmatched(path, "goose", warnings)
            continue
        up, down, no_tx = _goose(path)
        name = pgshift_name(match.group(1), match.group(2))
        out.append((int(match.group(1)), ConvertedFile(
            str(int(match.group(1))), (path.name,), name,
            render_file(name, "goose", [path.name], up, down, no_transaction=no_tx), no_tx)))
    return [c for _, c in sorted(out, key=lambda pair: (pair[0], pair[1].name))], warnings


def _convert_migrate(source: Path) -> tuple[list[ConvertedFile], list[str]]:
    pairs: dict[int, dict[str, Path]] = {}
    titles: dict[int, tuple[str, str]] = {}
    warnings: list[str] = []
    for path in _files(source, recursive=False):
        match = _MIGRATE_FILE.match(path.name)
        if not match:
            _unmatched(path, "golang-migrate", warnings)
            continue
        version = int(match.group(1))
        if match.group(3) in pairs.setdefault(version, {}):
            raise UsageRefused(f"import --from golang-migrate: two {match.group(3)} files of "
                               f"version {version}: {pairs[version][match.group(3)].name}, "
                               f"{path.name}")
        pairs[version][match.group(3)] = path
        titles.setdefault(version, (match.group(1), match.group(2)))
    out: list[ConvertedFile] = []
    for version in sorted(pairs):
        pair = pairs[version]
        if "up" not in pair:
            raise UsageRefused(f"import --from golang-migrate: {pair['down'].name} has no "
                               ".up.sql file")
        number, title = titles[version]
        name = pgshift_name(number, title)
        up = _text(pair["up"])
        down = _text(pair["down"]) if "down" in pair else None
        sources = [p.name for p in (pair.get("up"), pair.get("down")) if p is not None]
        out.append(ConvertedFile(str(version), tuple(sources), name,
                                 render_file(name, "golang-migrate", sources, up, down,
                                             no_transaction=False), False))
    return out, warnings


def _convert_flyway(source: Path) -> tuple[list[ConvertedFile], list[str]]:
    ups: dict[tuple[int, ...], tuple[str, Path]] = {}
    undos: dict[tuple[int, ...], Path] = {}
    warnings: list[str] = []
    refused: list[str] = []
    repeatables: list[Path] = []
    for path in _files(source, recursive=True):
        match = _FLYWAY_FILE.match(path.name)
        if not match:
            if path.suffix in (".java", ".class", ".kt"):
                refused.append(f"{path.name} (code, not SQL)")
            else:
                _unmatched(path, "Flyway", warnings)
            continue
        kind, version_text, description, ext = match.groups()
        if ext != "sql":
            refused.append(f"{path.name} (code, not SQL)")
            continue
        if kind == "R":
            repeatables.append(path)
            continue
        if not version_text.strip("._"):
            raise UsageRefused(f"import --from flyway: {path.name} has no version")
        version = flyway_version(version_text)
        table = ups if kind == "V" else undos
        if version in table:
            other = ups[version][1] if kind == "V" else undos[version]
            raise UsageRefused(f"import --from flyway: {other.name} and {path.name} have "
                               "the same version")
        if kind == "V":
            ups[version] = (description, path)
        else:
            undos[version] = path
    if refused:
        raise UsageRefused(f"import --from flyway: {'; '.join(refused)}: nothing was written",
                           hint="rewrite code migrations as SQL")
    orphans = sorted(p.name for v, p in undos.items() if v not in ups)
    if orphans:
        raise UsageRefused(f"import --from flyway: {', '.join(orphans)}: an undo file "
                           "without its V file")
    versions = sorted(ups)
    plain = all(len(v) == 1 for v in versions)
    width = max(3, len(str(len(versions))))
    out: list[ConvertedFile] = []
    for index, version in enumerate(versions, 1):
        description, path = ups[version]
        number = str(version[0]) if plain else str(index).zfill(width)
        label = description if plain else "v" + "_".join(map(str, version)) + "_" + description
        name = pgshift_name(number, label)
        undo = undos.get(version)
        sources = [path.name] + ([undo.name] if undo else [])
        out.append(ConvertedFile(".".join(map(str, version)), tuple(sources), name,
                                 render_file(name, "flyway", sources, _text(path),
                                             _text(undo) if undo else None,
                                             no_transaction=False), False))
    return out + _flyway_repeatables(source, repeatables), warnings


def flyway_checksum(text: str) -> int:
    """Flyway's checksum of a migration file's decoded text (BOM dropped): CRC32 over its
    lines, UTF-8, without their line breaks, as a signed 32-bit integer."""
    crc = zlib.crc32(text.replace("\r", "").replace("\n", "").encode("utf-8"))
    return crc - (1 << 32) if crc >= (1 << 31) else crc


def repeatable_name(description: str) -> str:
    """``repeatable/<name>.sql`` for Flyway's ``R__<description>.sql``: the description
    lowercased, other characters than ``[a-z0-9_]`` as ``_``."""
    name = re.sub(r"[^a-z0-9_]+", "_", description.lower()).strip("_") or "repeatable"
    return f"{REPEATABLE_PREFIX}{name}.sql"


def _flyway_repeatables(source: Path, paths: Sequence[Path]) -> list[ConvertedFile]:
    """The Flyway repeatables as pgshift repeatables, in name order; ``version`` is the
    description Flyway records (``_`` as spaces).

    Raises: UsageRefused — two files would get the same name (both named).
    """
    taken: dict[str, Path] = {}
    out: list[ConvertedFile] = []
    for path in paths:
        match = _FLYWAY_FILE.match(path.name)
        description = match.group(3) if match else path.stem
        name = repeatable_name(description)
        if name in taken:
            raise UsageRefused(f"import --from flyway: {taken[name].relative_to(source)} and "
                               f"{path.relative_to(source)} would both become {name}; "
                               "nothing was written",
                               hint="rename one of them (Flyway keys a repeatable by its "
                               "description)")
        taken[name] = path
        text = _text(path)
        out.append(ConvertedFile(description.replace("_", " "), (path.name,), name,
                                 render_file(name, "flyway", [path.name], text, None,
                                             no_transaction=False), False,
                                 flyway_checksum(text)))
    return sorted(out, key=lambda c: c.name)


# --- the other tool's history (read only) ------------------------------------------------


@dataclass(frozen=True)
class History:
    """The versions the other tool applied, and the rows that forbid an import;
    ``repeatables``: (description, checksum) of Flyway's latest successful run of each
    repeatable."""

    exists: bool
    applied: tuple[str, ...]
    bad: tuple[str, ...]
    repeatables: tuple[tuple[str, int | None], ...] = ()


def _fetch(conn: psycopg.Connection[Any], query: str, table: str) -> list[tuple[Any, ...]]:
    from psycopg import sql

    return conn.execute(sql.SQL(query).format(sql.Identifier(table))).fetchall()


def read_history(conn: psycopg.Connection[Any], tool: Tool,
                 converted: Sequence[ConvertedFile]) -> History:
    """Read the tool's history table (in the connection's search_path) as that tool does."""
    table = HISTORY_TABLES[tool]
    found = conn.execute("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    if not found or not found[0]:
        return History(False, (), ())
    bad: list[str] = []
    applied: list[str] = []
    if tool == "dbmate":
        applied = [str(r[0]) for r in _fetch(conn, "SELECT version FROM {} ORDER BY version",
                                             table)]
    elif tool == "goose":
        rows = _fetch(conn, "SELECT DISTINCT ON (version_id) version_id, is_applied FROM {} "
                      "ORDER BY version_id, id DESC", table)
        applied = [str(v) for v, is_applied in rows if is_applied and v != 0]
    elif tool == "golang-migrate":
        rows = _fetch(conn, "SELECT version, dirty FROM {}", table)
        for version, dirty in rows:
            if dirty:
                bad.append(f"version {version} is dirty (a migration failed part-way)")
            elif int(version) >= 0:
                current = int(version)
                if current not in {int(c.version) for c in converted}:
                    bad.append(f"version {version} has no file")
                applied = [c.version for c in converted if int(c.version) <= current]
    else:
        return _flyway_history(conn, table)
    return History(True, tuple(applied), tuple(bad))


def _flyway_history(conn: psycopg.Connection[Any], table: str) -> History:
    """flyway_schema_history read as Flyway does: per version the latest row (an undo
    cancels it); per repeatable (no version, type SQL) the latest run's checksum."""
    rows = _fetch(conn, "SELECT installed_rank, version, description, type, script, "
                  "success, checksum FROM {} ORDER BY installed_rank", table)
    bad: list[str] = []
    done: dict[tuple[int, ...], str] = {}
    repeatables: dict[str, int | None] = {}
    for rank, version, description, kind, script, success, checksum in rows:
        if not success:
            bad.append(f"installed_rank {rank}: {script or description} failed "
                       "(success = false)")
        elif version is None and kind == "SQL":
            repeatables[str(description)] = None if checksum is None else int(checksum)
        elif version is None and kind == "DELETE":
            repeatables.pop(str(description), None)
        elif version is not None and kind not in ("SCHEMA", "BASELINE", "DELETE"):
            key = flyway_version(str(version))
            if kind.startswith("UNDO"):
                done.pop(key, None)
            else:
                done[key] = str(version)
    applied = [".".join(map(str, k)) for k in sorted(done)]
    return History(True, tuple(applied), tuple(bad), tuple(sorted(repeatables.items())))


def _check_history(tool: Tool, history: History, converted: Sequence[ConvertedFile]) -> None:
    versions = {c.version for c in converted if not c.repeatable}
    without = [f"version {v} has no file" for v in history.applied if v not in versions]
    problems = list(history.bad) + without
    if problems:
        table = HISTORY_TABLES[tool]
        raise StateError(
            f"import --from {tool}: {table} holds rows pgshift cannot adopt: "
            + "; ".join(problems) + ". Nothing was written",
            hint=f"repair the history with {tool} first (or restore the missing files)")


# --- adopting ----------------------------------------------------------------------------


def _existing(directory: Path, converted: Sequence[ConvertedFile]) -> list[str]:
    return [c.name for c in converted if (directory / c.name).exists()]


def import_migrations(migrator: Migrator, tool: Tool, source: Path, *,
                      dry_run: bool = False) -> ImportResult:
    """Convert ``source``'s migrations into ``migrator.directory`` and record in batch 0
    those the tool's history lists as applied.

    Raises:
        UsageRefused, MigrationFileError: bad files or names taken (exit 2).
        StateError: dirty or failed history rows, applied rows without a file, names
        recorded already (exit 1). Nothing is written or recorded then.
    """
    from pgshift.engine.events import Emitter
    from pgshift.engine.session import open_session
    from pgshift.files import directory as files

    started = time.monotonic()
    converted, warnings = convert(tool, source)
    parsed = _parse_all(converted)
    taken = _existing(migrator.directory, converted)
    if taken:
        raise UsageRefused(f"import: {', '.join(taken)} already in {migrator.directory}; "
                           "nothing was written")
    discovery = files.discover(migrator.directory) if migrator.directory.is_dir() else None
    with open_session(migrator.database_url, migrator.table,
                      discovery or files.Discovery(migrator.directory, (), ()),
                      lock_wait=0.0 if not dry_run else migrator.lock_wait, emit=Emitter(),
                      schema=migrator.schema) as session:
        conn = session.conn
        history = read_history(conn, tool, converted)
        conn.rollback()
        _check_history(tool, history, converted)
        if not history.exists:
            warnings.append(f"no {HISTORY_TABLES[tool]} table: nothing is recorded as "
                            "executed")
        notes = _repeatable_notes(tool, history, converted, warnings)
        applied = {c.name for c in converted if _adopted(c, history)}
        recorded = {r.name for r in session.state.rows}
        again = sorted(applied & recorded)
        if again:
            raise StateError(f"import: {', '.join(again)} already recorded in "
                             f"{session.table.display}; nothing was written")
        files_out = tuple(ImportedFile(c.name, c.sources, c.name in applied,
                                       c.no_transaction, parsed[c.name].checksum,
                                       notes.get(c.name, ""))
                          for c in converted)
        if not dry_run:
            _record_and_write(session, migrator.directory, converted, applied, parsed)
    return ImportResult(tool, str(source), str(migrator.directory), HISTORY_TABLES[tool],
                        files_out, dry_run, tuple(warnings), time.monotonic() - started)


def _adopted(item: ConvertedFile, history: History) -> bool:
    """Whether ``item`` is recorded as applied: its version is in the history; for a
    repeatable, Flyway's latest run of it had the file's current checksum."""
    if not item.repeatable:
        return item.version in history.applied
    runs = dict(history.repeatables)
    return item.version in runs and runs[item.version] == item.flyway_checksum


def _repeatable_notes(tool: Tool, history: History, converted: Sequence[ConvertedFile],
                      warnings: list[str]) -> dict[str, str]:
    """Why a repeatable the history lists is not recorded (by name), with a warning for
    it and for each listed repeatable that has no file."""
    runs = dict(history.repeatables)
    notes: dict[str, str] = {}
    for item in converted:
        if item.repeatable and item.version in runs and not _adopted(item, history):
            notes[item.name] = "changed since Flyway applied it: migrate applies it"
            warnings.append(f"{item.sources[0]}: changed since Flyway last applied it "
                            f"(checksum {runs[item.version]}, the file's is "
                            f"{item.flyway_checksum}): {item.name} is not recorded, so "
                            "the next pgshift migrate applies it")
    described = {c.version for c in converted if c.repeatable}
    for description in sorted(set(runs) - described):
        warnings.append(f"{HISTORY_TABLES[tool]} lists the repeatable '{description}' as "
                        "applied, but no R__ file has that description: nothing recorded "
                        "for it")
    return notes


def _parse_all(converted: Sequence[ConvertedFile]) -> dict[str, ParsedMigration]:
    """Each converted text parsed as pgshift will read it (its checksum, its DOWN); a
    problem names the source file."""
    from pgshift.files import sqlfile

    parsed = {}
    for item in converted:
        try:
            parsed[item.name] = sqlfile.parse(item.text, item.name)
        except MigrationFileError as error:
            raise MigrationFileError(
                item.sources[0], f"converted to {item.name}: {error.message}",
                hint=error.hint) from error
    return parsed


def _record_and_write(session: Session, directory: Path, converted: Sequence[ConvertedFile],
                      applied: set[str], parsed: dict[str, ParsedMigration]) -> None:
    """In one transaction of the tracking table: the applied ones (by name) recorded in
    batch 0 (a repeatable as ``migrate`` records it: its row and its UP in the versions
    table), then every file written (a failure removes the files and rolls the rows
    back)."""
    from pgshift.db import store

    conn, state = session.conn, session.state
    with conn.transaction():
        if not state.exists or state.legacy or not state.has_progress_table:
            store.create_or_upgrade(conn, session.table, state)
        for item in converted:
            migration = parsed[item.name]
            if item.name not in applied:
                continue
            if item.repeatable:
                store.record_repeatable(conn, session.table, name=item.name,
                                        batch=IMPORT_BATCH, checksum=migration.checksum,
                                        duration_ms=0,
                                        up_sql=migration.up.text.strip("\n") + "\n",
                                        down_sql=migration.down_sql)
            else:
                store.insert(conn, session.table, name=item.name, batch=IMPORT_BATCH,
                             checksum=migration.checksum, duration_ms=0,
                             down_sql=migration.down_sql)
        _write_all(directory, converted)


def _write_all(directory: Path, converted: Sequence[ConvertedFile]) -> None:
    """Write every file (never over an existing one); on a failure remove those written,
    so the caller's transaction rolls back a record without files."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for item in converted:
            path = directory / item.name
            path.parent.mkdir(exist_ok=True)
            with path.open("x", encoding="utf-8", newline="\n") as handle:
                written.append(path)
                handle.write(item.text)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
