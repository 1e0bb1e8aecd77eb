""""Already exists" errors (SPEC 5.3): the one statement is undone (a savepoint, or
nothing to undo outside a transaction), a warning names the object, the rest of the
migration applies and it is recorded; ``--strict`` makes each of them a failure."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pgshift import Migrator
from pgshift.errors import MigrationFailed
from pgshift.results import Event
from pgtest import (
    Cli,
    Files,
    catalog_snapshot,
    columns,
    execute,
    fetch,
    run,
    table_exists,
    tracking_rows,
)


@dataclass(frozen=True)
class Case:
    """``setup`` makes the object; ``statement`` then fails with ``sqlstate``; the
    warning must contain ``object_name``."""

    sqlstate: str
    setup: str
    statement: str
    object_name: str


CASES = {
    "42P07": Case("42P07", "CREATE TABLE t (id int)", "CREATE TABLE t (id int, x text);", "t"),
    "42701": Case("42701", "CREATE TABLE t (id int, c int)",
                  "ALTER TABLE t ADD COLUMN c int;", "c"),
    "42710": Case("42710", "CREATE TYPE mood AS ENUM ('sad')",
                  "CREATE TYPE mood AS ENUM ('sad', 'ok');", "mood"),
    "42P06": Case("42P06", "CREATE SCHEMA app", "CREATE SCHEMA app;", "app"),
    "42723": Case("42723", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                  "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 2';", "f"),
    "42P07-index": Case("42P07", "CREATE TABLE t (id int); CREATE INDEX t_id ON t (id)",
                        "CREATE INDEX t_id ON t (id);", "t_id"),
    "42710-constraint": Case(
        "42710", "CREATE TABLE t (id int CONSTRAINT t_pos CHECK (id > 0))",
        "ALTER TABLE t ADD CONSTRAINT t_pos CHECK (id > 0);", "t_pos"),
}


def body(statement: str) -> str:
    return (
        "-- UP\nCREATE TABLE before_it (id int);\n\n"
        f"{statement}\n\nCREATE TABLE after_it (id int);\n\n"
        "-- DOWN\nDROP TABLE after_it;\nDROP TABLE before_it;\n"
    )


# --strict also refuses lint warnings; these tests are about "already exists"
STRICT_HEADER = ("-- pgshift: allow require-concurrent-index constraint-missing-not-valid "
                 "require-if-not-exists mixed-non-transactional\n")


@pytest.mark.parametrize("case", sorted(CASES))
def test_already_exists_is_a_warning_and_the_rest_applies(
    db_url: str, migrations: Files, case: str
) -> None:
    c = CASES[case]
    execute(db_url, c.setup)
    directory = migrations({"001_x.sql": body(c.statement)})
    events: list[Event] = []

    result = Migrator(db_url, directory, on_event=events.append).migrate()

    assert [a.name for a in result.applied] == ["001_x.sql"]
    warnings = result.applied[0].warnings
    assert len(warnings) == 1 and c.object_name in warnings[0], warnings
    assert "line 4" in warnings[0]
    assert any(e.kind == "warning" and c.object_name in e.message for e in events)
    assert table_exists(db_url, "before_it") and table_exists(db_url, "after_it")
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_x.sql"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_strict_turns_already_exists_into_a_failure(
    db_url: str, migrations: Files, cli: Cli, case: str
) -> None:
    c = CASES[case]
    execute(db_url, c.setup)
    directory = migrations({"001_x.sql": STRICT_HEADER + body(c.statement)})
    before = catalog_snapshot(db_url)

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, strict=True).migrate()
    result = run(cli, db_url, directory, "migrate", "--strict")

    assert caught.value.server.sqlstate == c.sqlstate
    assert caught.value.statement is not None and caught.value.statement.line == 5
    assert result.exit_code == 1
    assert c.sqlstate in result.stderr
    assert catalog_snapshot(db_url) == before


def test_cli_warning_names_the_object(db_url: str, migrations: Files, cli: Cli) -> None:
    execute(db_url, "CREATE TABLE users_existing (id int)")
    directory = migrations({"001_x.sql": body("CREATE TABLE users_existing (id int);")})

    result = run(cli, db_url, directory, "migrate")

    assert result.exit_code == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if "warning" in line)
    assert "users_existing" in warning and "001_x.sql" in warning


def test_skipped_statement_is_undone_as_a_whole(db_url: str, migrations: Files) -> None:
    """A statement that fails part-way (its first column added, its second "already
    exists") is undone entirely by its savepoint; the other statements still apply."""
    execute(db_url, "CREATE TABLE t (id int, c int)")
    directory = migrations({"001_x.sql": body(
        "ALTER TABLE t ADD COLUMN fresh int, ADD COLUMN c int;"
    )})

    result = Migrator(db_url, directory).migrate()

    assert len(result.applied[0].warnings) == 1
    assert list(columns(db_url, "t")) == ["id", "c"]
    assert table_exists(db_url, "before_it") and table_exists(db_url, "after_it")


def test_data_written_before_the_skipped_statement_survives(
    db_url: str, migrations: Files
) -> None:
    execute(db_url, "CREATE TABLE t (id int)")
    directory = migrations({"001_x.sql": (
        "-- UP\nCREATE TABLE log (n int);\nINSERT INTO log VALUES (1);\n"
        "CREATE TABLE t (id int);\nINSERT INTO log VALUES (2);\n"
        "CREATE TABLE t (id int);\nINSERT INTO log VALUES (3);\n"
    )})

    result = Migrator(db_url, directory).migrate()

    assert len(result.applied[0].warnings) == 2
    assert fetch(db_url, "SELECT n FROM log ORDER BY n") == [(1,), (2,), (3,)]


def test_other_failure_after_a_skipped_statement_undoes_everything(
    db_url: str, migrations: Files
) -> None:
    execute(db_url, "CREATE TABLE t (id int)")
    directory = migrations({"001_x.sql": (
        "-- UP\nCREATE TABLE log (n int);\nCREATE TABLE t (id int);\n"
        "INSERT INTO log VALUES ('not a number');\n"
    )})
    before = catalog_snapshot(db_url)

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()

    assert caught.value.server.sqlstate == "22P02"
    assert caught.value.statement is not None and caught.value.statement.line == 4
    assert catalog_snapshot(db_url) == before


def test_many_skipped_statements_release_their_savepoints(
    db_url: str, migrations: Files
) -> None:
    """Hundreds of skipped "already exists" plus writes in one transaction (RELIABILITY 2:
    savepoints that are never released exhaust the lock table)."""
    execute(db_url, "CREATE TABLE t (id int)")
    statements = "".join(
        f"CREATE TABLE t (id int);\nINSERT INTO log VALUES ({n});\n" for n in range(300)
    )
    directory = migrations({"001_x.sql": f"-- UP\nCREATE TABLE log (n int);\n{statements}"})

    result = Migrator(db_url, directory).migrate()

    assert len(result.applied[0].warnings) == 300
    assert fetch(db_url, "SELECT count(*) FROM log") == [(300,)]


# --- 42P04: CREATE DATABASE runs outside a transaction ----------------------------------


@pytest.fixture
def existing_database(pg_url: str) -> Iterator[str]:
    """A database that exists before the migration; dropped afterwards."""
    name = f"pgshift_dup_{secrets.token_hex(4)}"
    execute(pg_url, f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        execute(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_existing_database_is_a_warning(
    db_url: str, migrations: Files, existing_database: str
) -> None:
    directory = migrations({"001_db.sql": body(f"CREATE DATABASE {existing_database};")})

    result = Migrator(db_url, directory).migrate()

    assert [(a.name, a.no_transaction) for a in result.applied] == [("001_db.sql", True)]
    assert any(existing_database in w for w in result.applied[0].warnings)
    assert table_exists(db_url, "before_it") and table_exists(db_url, "after_it")
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_db.sql"]


def test_existing_database_under_strict_fails(
    db_url: str, migrations: Files, cli: Cli, existing_database: str
) -> None:
    directory = migrations({"001_db.sql": STRICT_HEADER + body(
        f"CREATE DATABASE {existing_database};")})

    result = run(cli, db_url, directory, "migrate", "--strict")

    assert result.exit_code == 1
    assert "42P04" in result.stderr
    assert "001_db.sql:5" in result.stderr
    # outside a transaction, the statement before it ran and stays
    assert table_exists(db_url, "before_it") and not table_exists(db_url, "after_it")
    assert tracking_rows(db_url) == []


def test_new_database_is_created_outside_a_transaction(
    db_url: str, pg_url: str, migrations: Files
) -> None:
    name = f"pgshift_new_{secrets.token_hex(4)}"
    directory = migrations({"001_db.sql": f"-- UP\nCREATE DATABASE {name};\n"
                            f"-- DOWN\nDROP DATABASE {name};\n"})
    try:
        Migrator(db_url, directory).migrate()
        assert fetch(pg_url, "SELECT count(*) FROM pg_database WHERE datname = %s",
                     [name]) == [(1,)]
        Migrator(db_url, directory).rollback()
        assert fetch(pg_url, "SELECT count(*) FROM pg_database WHERE datname = %s",
                     [name]) == [(0,)]
    finally:
        execute(pg_url, f"DROP DATABASE IF EXISTS {name}")
