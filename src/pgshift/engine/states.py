"""The state of every migration: files ⋈ tracking-table rows → :class:`MigrationStatus`.

Pure: it reads migration files (through ``facts``) but never the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol

from pgshift.errors import MigrationFileError
from pgshift.files import directory
from pgshift.files.directory import is_repeatable
from pgshift.results import MigrationStatus

if TYPE_CHECKING:
    from pgshift.db.store import AppliedRow, Progress, TableState
    from pgshift.files.sqlfile import ParsedMigration


class FileFacts(NamedTuple):
    """What status needs of a migration file: its UP checksum and how it runs.
    ``problem`` is set (and ``checksum`` None) when the file no longer parses.

    A NamedTuple rather than a dataclass: ``status`` builds one per file, and this is the
    cheapest immutable value to define and build."""

    checksum: str | None
    no_transaction: bool = False
    metadata: tuple[tuple[str, str], ...] = ()
    problem: str | None = None


# How much of a file is read for its header: most headers fit in the first read; one that
# does not (no '-- UP' line in it) is read again up to the larger size.
HEADER_PEEK = 4096
HEADER_BYTES = 64 * 1024


class FactsReader(Protocol):
    """Reads a file's :class:`FileFacts`; with ``header_only``, only its metadata is
    wanted (a pending file in ``status``) and may come without parsing the file."""

    def __call__(self, file: directory.MigrationFile, *,
                 header_only: bool = False) -> FileFacts: ...


class Parser(Protocol):
    """Reads and parses a migration file (:func:`parse_file`, or a cache of it).

    Raises: MigrationFileError — the file is malformed."""

    def __call__(self, file: directory.MigrationFile) -> ParsedMigration: ...


def parse_file(file: directory.MigrationFile) -> ParsedMigration:
    """``file`` read and parsed.

    Raises: MigrationFileError — the file is malformed.
    """
    from pgshift.files import sqlfile

    return sqlfile.parse(directory.read_text(file), file.name)


def read_facts(file: directory.MigrationFile, *, header_only: bool = False) -> FileFacts:
    """Parse ``file`` for its facts; a malformed file becomes a ``problem``, not an error.
    ``header_only``: only the metadata, read from the start of the file, not parsed
    (``checksum`` is then None)."""
    from pgshift.files import sqlfile

    if header_only:
        start = directory.read_start(file, HEADER_PEEK)
        if not sqlfile.has_up_line(start):
            start = directory.read_start(file, HEADER_BYTES)
        return FileFacts(None, metadata=sqlfile.header_metadata(start))
    try:
        parsed = parse_file(file)
    except MigrationFileError as error:
        return FileFacts(None, problem=str(error))
    return FileFacts(parsed.checksum, parsed.no_transaction, parsed.metadata)


def order_key(name: str) -> tuple[int, str]:
    digits = name.split("_", 1)[0]
    return (int(digits) if digits.isdigit() else 1 << 62, name)


SQUASHED_SUFFIX = "_squashed.sql"


def squash_files(discovery: directory.Discovery) -> dict[str, tuple[str, ...]]:
    """The squash files of the directory (``<number>_squashed.sql`` whose header says
    ``-- pgshift: squashes``), each with the names it replaces.

    Raises: MigrationFileError — a squash header is malformed.
    """
    found: dict[str, tuple[str, ...]] = {}
    for file in discovery.files:
        if file.name.endswith(SQUASHED_SUFFIX):
            from pgshift.files import header  # only a directory with a squash file needs it

            replaced = header.squashed(directory.read_text(file), file.name)
            if replaced:
                found[file.name] = replaced
    return found


def merge(
    discovery: directory.Discovery, state: TableState, facts: FactsReader = read_facts, *,
    pending_metadata: bool = True,
) -> tuple[tuple[MigrationStatus, ...], list[str]]:
    """Every migration, file or applied, in order, and the warnings about them. A
    recorded migration whose file a squash file replaces counts as executed. Without
    ``pending_metadata`` the files not applied are not read (a run decides nothing on
    their headers)."""
    files = discovery.by_name()
    replaced = {n for names in squash_files(discovery).values() for n in names}
    rows = {r.name: r for r in state.rows}
    partial = {p.name: p for p in state.partial}
    entries: list[MigrationStatus] = []
    warnings: list[str] = []
    for name in _in_order(files, rows, partial):
        row, file = rows.get(name), files.get(name)
        if row is None and name in partial:
            progress = partial[name]
            warnings.append(
                f"{name} is partially applied: {progress.applied} of {progress.total} "
                "statements ran outside a transaction; migrate resumes it"
                + (f" (index {progress.pending_index} may be left INVALID)"
                   if progress.pending_index else ""))
            entries.append(MigrationStatus(
                name, "partial", executed_at=progress.updated_at, no_transaction=True,
                statements_done=progress.applied, statements_total=progress.total,
                metadata=facts(file, header_only=True).metadata if file else ()))
            continue
        if row is None:
            metadata = facts(file, header_only=True).metadata if file and pending_metadata else ()
            entries.append(MigrationStatus(name, "pending", metadata=metadata))
            continue
        if file is None:
            squashed = name in replaced
            if not squashed:
                warnings.append(f"{name} is applied (batch {row.batch}) but its file is missing")
            entries.append(MigrationStatus(
                name, "executed" if squashed else "missing file", batch=row.batch,
                executed_at=row.executed_at, checksum=row.checksum,
                duration_ms=row.duration_ms))
            continue
        fact = facts(file)
        modified = fact.problem is not None or (
            row.checksum is not None and fact.checksum is not None
            and row.checksum != fact.checksum
        )
        if modified:
            why = fact.problem or f"checksum {row.checksum} when applied, now {fact.checksum}"
            warnings.append(f"{name} was modified after it was applied: {why}")
        # positional (one per applied file): name, state, batch, executed_at, checksum,
        # file_checksum, duration_ms, no_transaction, metadata
        entries.append(MigrationStatus(
            name, "modified" if modified else "executed", row.batch, row.executed_at,
            row.checksum, fact.checksum, row.duration_ms, fact.no_transaction, fact.metadata))
    _repeatable_entries(discovery, rows, facts, entries, warnings)
    return tuple(entries), warnings


def _in_order(files: dict[str, directory.MigrationFile], rows: dict[str, AppliedRow],
              partial: dict[str, Progress]) -> list[str]:
    """The names of ``files``, of ``rows`` but the repeatables' and of ``partial``, by
    :func:`order_key`. ``files`` come in that order (a Discovery's are), so they are
    sorted again only when a row or partial run has no file."""
    others = (rows.keys() | partial.keys()) - files.keys()
    if all(name in rows and is_repeatable(name) for name in others):
        return list(files)
    names = (set(files) | set(rows) | set(partial)) - {n for n in rows if is_repeatable(n)}
    return sorted(names, key=order_key)


def _repeatable_entries(discovery: directory.Discovery, rows: dict[str, AppliedRow],
                        facts: FactsReader, entries: list[MigrationStatus],
                        warnings: list[str]) -> None:
    """The repeatable migrations, in name order: ``executed`` (current), ``outdated``
    (changed since its last apply: migrate applies it again; not drift), ``pending``
    (never applied) or ``missing file``."""
    files = {f.name: f for f in discovery.repeatables}
    for name in sorted(set(files) | {n for n in rows if is_repeatable(n)}):
        row, file = rows.get(name), files.get(name)
        if row is None:
            entries.append(MigrationStatus(name, "pending"))
            continue
        if file is None:
            warnings.append(f"{name} is applied (batch {row.batch}) but its file is missing")
            entries.append(MigrationStatus(
                name, "missing file", batch=row.batch, executed_at=row.executed_at,
                checksum=row.checksum, duration_ms=row.duration_ms))
            continue
        fact = facts(file)
        current = fact.problem is None and row.checksum == fact.checksum
        entries.append(MigrationStatus(
            name, "executed" if current else "outdated", batch=row.batch,
            executed_at=row.executed_at, checksum=row.checksum, duration_ms=row.duration_ms,
            file_checksum=fact.checksum, metadata=fact.metadata))
