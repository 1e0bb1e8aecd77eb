"""Migration directories for the workloads, in pgshift's and dbmate's file formats.

Both formats carry the same SQL under the same file names (``00001_t_1.sql``): only the
section markers differ (``-- UP``/``-- DOWN`` against ``-- migrate:up``/``-- migrate:down``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MARKERS = {
    "pgshift": ("-- UP\n", "-- DOWN\n"),
    "dbmate": ("-- migrate:up\n", "-- migrate:down\n"),
}
BULK_TABLE = "w6_rows"
# Pads each INSERT line to about 100 bytes, so 100,000 rows make a file of about 10 MB.
BULK_PAD = "x" * 48


@dataclass(frozen=True)
class MigrationSet:
    """One workload's migrations, written once per file format."""

    pgshift_dir: Path
    dbmate_dir: Path
    names: tuple[str, ...]


def trivial_migrations(n: int) -> Iterator[tuple[str, str, str]]:
    """Yield (file name, up SQL, down SQL) of the N trivial CREATE TABLE / DROP TABLE migrations."""
    width = max(5, len(str(n)))
    for i in range(1, n + 1):
        yield (
            f"{i:0{width}d}_t_{i}.sql",
            f"CREATE TABLE t_{i} (id int primary key, v text);\n",
            f"DROP TABLE t_{i};\n",
        )


def write_file(directory: Path, name: str, up: str, down: str, *, dialect: str) -> None:
    """Write one migration file of ``dialect`` (``pgshift`` or ``dbmate``)."""
    up_marker, down_marker = MARKERS[dialect]
    (directory / name).write_text(f"{up_marker}{up}{down_marker}{down}", encoding="utf-8")


def write_set(root: Path, migrations: list[tuple[str, str, str]]) -> MigrationSet:
    """Write ``migrations`` under ``root/pgshift`` and ``root/dbmate``; return where."""
    result = MigrationSet(root / "pgshift", root / "dbmate", tuple(m[0] for m in migrations))
    for dialect, directory in (("pgshift", result.pgshift_dir), ("dbmate", result.dbmate_dir)):
        directory.mkdir(parents=True, exist_ok=True)
        for name, up, down in migrations:
            write_file(directory, name, up, down, dialect=dialect)
    return result


def write_trivial(root: Path, n: int) -> MigrationSet:
    """Write the N trivial migrations (workloads W1-W4, W7) under ``root``."""
    return write_set(root, list(trivial_migrations(n)))


def bulk_insert_sql(rows: int) -> str:
    """The UP SQL of W6: CREATE TABLE then ``rows`` single-row INSERTs."""
    lines = [f"CREATE TABLE {BULK_TABLE} (id int primary key, v text);\n"]
    lines.extend(
        f"INSERT INTO {BULK_TABLE} (id, v) VALUES ({i}, 'row {i:07d} {BULK_PAD}');\n"
        for i in range(1, rows + 1)
    )
    return "".join(lines)


def write_bulk(root: Path, rows: int) -> tuple[MigrationSet, Path]:
    """Write W6's one-migration set and the same UP SQL alone for ``psql -1 -f``.

    Returns the set and the path of the UP-only file (psql would run a DOWN section too).
    """
    up = bulk_insert_sql(rows)
    migration_set = write_set(root, [("00001_bulk_insert.sql", up, f"DROP TABLE {BULK_TABLE};\n")])
    up_only = root / "bulk_up.sql"
    up_only.write_text(up, encoding="utf-8")
    return migration_set, up_only


def edit_one(migration_set: MigrationSet) -> str:
    """Change the UP SQL of the middle migration in both formats; return its file name."""
    name = migration_set.names[len(migration_set.names) // 2]
    for directory in (migration_set.pgshift_dir, migration_set.dbmate_dir):
        path = directory / name
        path.write_text(
            path.read_text(encoding="utf-8").replace("v text)", "v varchar(200))"),
            encoding="utf-8",
        )
    return name
