"""S37: a huge migration (tens of thousands of statements) whose last statement fails.

The error must point at the right line and nothing may be recorded. Memory and speed are
measured by the benchmark (W6), never asserted here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgtest import fetch, table_exists, tracking_rows

ROWS = 120_000  # about 10 MB: more than a socket buffer takes at once


def huge_file(rows: int) -> str:
    inserts = "".join(
        f"INSERT INTO bulk (id, v) VALUES ({i}, 'row {i} of a long data migration');\n"
        for i in range(rows)
    )
    return (
        "-- UP\nCREATE TABLE bulk (id int PRIMARY KEY, v text NOT NULL);\n"
        + inserts
        + "INSERT INTO bulk (id, v) VALUES (0, 'a duplicate key at the very end');\n"
        + "-- DOWN\nDROP TABLE bulk;\n"
    )


def test_failure_at_the_end_of_a_huge_migration_names_its_line_and_records_nothing(
    db_url: str, migrations: Any, cli: Any
) -> None:
    directory: Path = migrations({"001_bulk.sql": huge_file(ROWS)})

    result = cli("--database-url", db_url, "--dir", str(directory), "migrate")

    failing_line = 2 + ROWS + 1  # "-- UP", CREATE TABLE, the inserts, then the duplicate
    assert result.exit_code == 1
    assert f"001_bulk.sql:{failing_line}:" in result.stderr
    assert "23505" in result.stderr
    assert f"(statement {ROWS + 2} of {ROWS + 2})" in result.stderr
    assert not table_exists(db_url, "bulk")
    assert tracking_rows(db_url) == []


def test_a_huge_migration_applies_in_one_transaction(
    db_url: str, migrations: Any, cli: Any
) -> None:
    text = huge_file(ROWS).replace(
        "INSERT INTO bulk (id, v) VALUES (0, 'a duplicate key at the very end');\n", "")
    directory: Path = migrations({"001_bulk.sql": text})

    result = cli("--database-url", db_url, "--dir", str(directory), "migrate")

    assert result.exit_code == 0, result.stderr
    assert fetch(db_url, "SELECT count(*) FROM bulk") == [(ROWS,)]
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_bulk.sql"]
