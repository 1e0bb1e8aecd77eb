"""``--atomic``: a whole run in one transaction, each migration a savepoint of it. A
failure anywhere leaves the database exactly as before the run; migrations that cannot
run inside a transaction are refused before anything runs; ``atomic = true`` in
``[tool.pgshift]`` makes it the default and ``--no-atomic`` overrides it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from pgshift import Migrator
from pgshift.errors import MigrationFailed, RollbackFailed, StateError
from pgtest import (
    Cli,
    Files,
    batches,
    catalog_snapshot,
    execute,
    fetch,
    run,
    table_exists,
)


def table(name: str) -> str:
    return f"-- UP\nCREATE TABLE {name} (id int PRIMARY KEY);\n\n-- DOWN\nDROP TABLE {name};\n"


FAILING = (
    "-- UP\nCREATE TABLE d (id int);\n"
    "INSERT INTO no_such_table VALUES (1);\n"
    "-- DOWN\nDROP TABLE d;\n"
)
FOUR = {"001_a.sql": table("a"), "002_b.sql": table("b"), "003_c.sql": table("c"),
        "004_d.sql": FAILING}


def tracking_tables(url: str) -> list[str]:
    found = fetch(url, "SELECT relname FROM pg_class WHERE relname LIKE '\\_migrations%'")
    return sorted(name for (name,) in found)


def write_pyproject(tmp_path: Path, body: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.pgshift]\n{body}\n", encoding="utf-8")


# --- migrate --atomic ------------------------------------------------------------------


def test_failure_of_the_last_migration_applies_nothing(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FOUR)
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "migrate", "--atomic", "--json")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert [t for t in "abcd" if table_exists(db_url, t)] == []
    assert tracking_tables(db_url) == []
    assert catalog_snapshot(db_url) == before
    assert "whole run was rolled back" in result.stderr
    assert "004_d.sql:3" in result.stderr
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["migration"], doc["applied"]) == (False, "004_d.sql", [])


def test_failure_keeps_earlier_batches_and_rows_unchanged(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"000_base.sql": table("base")})
    Migrator(db_url, directory).migrate()
    migrations(FOUR)
    before = catalog_snapshot(db_url)

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, atomic=True).migrate()

    error = caught.value
    assert error.applied == []
    assert any("whole run was rolled back" in note for note in error.notes)
    assert (error.migration, error.server.sqlstate) == ("004_d.sql", "42P01")
    assert error.statement is not None and error.statement.line == 3
    assert catalog_snapshot(db_url) == before
    assert batches(db_url) == [("000_base.sql", 1)]


def test_without_atomic_the_same_run_keeps_the_first_three(
    db_url: str, migrations: Files
) -> None:
    directory = migrations(FOUR)

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, atomic=True).migrate(atomic=False)

    assert caught.value.applied == ["001_a.sql", "002_b.sql", "003_c.sql"]
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 1)]
    assert [t for t in "abcd" if table_exists(db_url, t)] == ["a", "b", "c"]


def test_successful_atomic_run_commits_every_row_in_one_transaction(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({n: FOUR[n] for n in ("001_a.sql", "002_b.sql", "003_c.sql")})

    result = Migrator(db_url, directory).migrate(atomic=True)

    assert [a.name for a in result.applied] == ["001_a.sql", "002_b.sql", "003_c.sql"]
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 1)]
    # executed_at defaults to now(), the start time of the transaction: one for all rows
    assert fetch(db_url, "SELECT count(DISTINCT executed_at) FROM _migrations") == [(1,)]


NO_TRANSACTION = {
    "concurrently": "-- UP\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n"
                    "-- DOWN\nDROP INDEX a_id;\n",
    "directive": "-- pgshift: no-transaction\n-- UP\nCREATE TABLE x (id int);\n"
                 "-- DOWN\nDROP TABLE x;\n",
    "vacuum": "-- UP\nVACUUM a;\n-- DOWN\nSELECT 1;\n",
    "own-commit": "-- UP\nBEGIN;\nCREATE TABLE x (id int);\nCOMMIT;\n"
                  "-- DOWN\nDROP TABLE x;\n",
}


@pytest.mark.parametrize("kind", sorted(NO_TRANSACTION))
def test_a_pending_no_transaction_migration_is_refused_before_anything_runs(
    cli: Cli, db_url: str, migrations: Files, kind: str
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b"),
                            "003_outside.sql": NO_TRANSACTION[kind],
                            "004_c.sql": table("c")})
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "migrate", "--atomic")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "003_outside.sql" in result.stderr
    assert "nothing was applied" in result.stderr
    assert catalog_snapshot(db_url) == before
    assert tracking_tables(db_url) == []


def test_atomic_runs_around_a_no_transaction_migration(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b"),
                            "003_outside.sql": NO_TRANSACTION["concurrently"],
                            "004_c.sql": table("c")})

    first = Migrator(db_url, directory).migrate(to="002_b.sql", atomic=True)
    with pytest.raises(StateError):
        Migrator(db_url, directory).migrate(atomic=True)
    Migrator(db_url, directory).migrate(step=1)  # the index, on its own
    last = Migrator(db_url, directory).migrate(atomic=True)

    assert [a.name for a in first.applied] == ["001_a.sql", "002_b.sql"]
    assert [a.name for a in last.applied] == ["004_c.sql"]
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1), ("003_outside.sql", 2),
                            ("004_c.sql", 3)]
    assert fetch(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'a_id'::regclass"
                 ) == [(True,)]


# --- "already exists" inside an atomic run ---------------------------------------------


def test_already_exists_skips_only_that_statement_and_the_run_goes_on(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    execute(db_url, "CREATE TABLE by_hand (id int)")
    directory = migrations({
        "001_a.sql": table("a"),
        "002_again.sql": "-- UP\nCREATE TABLE a (id int PRIMARY KEY);\n"
                         "CREATE TABLE by_hand (id int);\n"
                         "CREATE TABLE b (id int);\nINSERT INTO b VALUES (7);\n"
                         "-- DOWN\nDROP TABLE b;\n",
        "003_c.sql": table("c"),
    })

    result = run(cli, db_url, directory, "migrate", "--atomic")

    assert result.exit_code == 0, result.stderr
    assert batches(db_url) == [("001_a.sql", 1), ("002_again.sql", 1), ("003_c.sql", 1)]
    assert fetch(db_url, "SELECT id FROM b") == [(7,)]
    assert table_exists(db_url, "c")
    assert '"a" already exists' in result.stderr
    assert '"by_hand" already exists' in result.stderr


def test_a_later_failure_still_undoes_a_run_with_skipped_statements(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_a.sql": table("a"),
        "002_again.sql": "-- UP\nCREATE TABLE a (id int PRIMARY KEY);\n"
                         "CREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n",
        "003_fail.sql": FAILING,
    })
    before = catalog_snapshot(db_url)

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate(atomic=True)

    assert caught.value.migration == "003_fail.sql"
    assert catalog_snapshot(db_url) == before
    assert tracking_tables(db_url) == []


def test_strict_turns_already_exists_into_a_failure_of_the_whole_run(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_a.sql": table("a"),
        "002_again.sql": "-- UP\nCREATE TABLE b (id int);\nCREATE TABLE a (id int);\n"
                         "-- DOWN\nDROP TABLE b;\n",
    })
    before = catalog_snapshot(db_url)

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, strict=True).migrate(atomic=True)

    assert caught.value.server.sqlstate == "42P07"
    assert catalog_snapshot(db_url) == before


# --- rollback / reset --atomic ---------------------------------------------------------


@pytest.fixture
def second_down_fails(db_url: str, migrations: Files) -> Path:
    """One batch of three; rolling it back runs 003's DOWN, then 002's, which fails."""
    directory = migrations({
        "001_a.sql": table("a"),
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n"
                     "-- DOWN\nDROP TABLE b;\nDROP TABLE no_such_table;\n",
        "003_c.sql": table("c"),
    })
    Migrator(db_url, directory).migrate()
    execute(db_url, "INSERT INTO c VALUES (42)")
    return directory


def test_rollback_atomic_undoes_nothing_when_the_second_down_fails(
    cli: Cli, db_url: str, second_down_fails: Path
) -> None:
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, second_down_fails, "rollback", "--atomic")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "whole run was rolled back" in result.stderr
    assert catalog_snapshot(db_url) == before
    assert fetch(db_url, "SELECT id FROM c") == [(42,)]
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 1)]


def test_rollback_without_atomic_keeps_the_first_down(
    db_url: str, second_down_fails: Path
) -> None:
    with pytest.raises(RollbackFailed) as caught:
        Migrator(db_url, second_down_fails).rollback()

    assert caught.value.applied == ["003_c.sql"]
    assert not table_exists(db_url, "c")


def test_rollback_atomic_raises_rollback_failed_with_nothing_rolled_back(
    db_url: str, second_down_fails: Path
) -> None:
    with pytest.raises(RollbackFailed) as caught:
        Migrator(db_url, second_down_fails).rollback(atomic=True)

    assert caught.value.migration == "002_b.sql"
    assert caught.value.applied == []
    assert table_exists(db_url, "c")


def test_reset_atomic_across_batches_undoes_nothing_when_the_oldest_down_fails(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a") + "DROP TABLE no_such_table;\n"})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": table("b")})
    Migrator(db_url, directory).migrate()
    migrations({"003_c.sql": table("c")})
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "reset", "--yes", "--atomic")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert catalog_snapshot(db_url) == before
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 2), ("003_c.sql", 3)]


def test_rollback_atomic_refuses_a_down_that_needs_no_transaction(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_a.sql": table("a"),
        "002_idx.sql": "-- UP\nCREATE INDEX a_idx ON a (id);\n"
                       "-- DOWN\nDROP INDEX CONCURRENTLY a_idx;\n",
        "003_c.sql": table("c"),
    })
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)

    with pytest.raises(StateError) as caught:
        Migrator(db_url, directory).rollback(atomic=True)

    assert "002_idx.sql" in caught.value.message
    assert catalog_snapshot(db_url) == before


# --- atomic = true in [tool.pgshift] ---------------------------------------------------


def test_pyproject_atomic_is_the_default_and_no_atomic_overrides_it(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path
) -> None:
    write_pyproject(tmp_path, "atomic = true")
    directory = migrations(FOUR)

    default = run(cli, db_url, directory, "migrate")

    assert default.exit_code == 1
    assert "whole run was rolled back" in default.stderr
    assert tracking_tables(db_url) == []

    overridden = run(cli, db_url, directory, "migrate", "--no-atomic")

    assert overridden.exit_code == 1
    assert "whole run was rolled back" not in overridden.stderr
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 1)]


def test_pyproject_atomic_applies_to_rollback(
    cli: Cli, db_url: str, second_down_fails: Path, tmp_path: Path
) -> None:
    write_pyproject(tmp_path, "atomic = true")
    before = catalog_snapshot(db_url)

    atomic = run(cli, db_url, second_down_fails, "rollback")

    assert atomic.exit_code == 1
    assert catalog_snapshot(db_url) == before

    plain = run(cli, db_url, second_down_fails, "rollback", "--no-atomic")

    assert plain.exit_code == 1
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_pyproject_atomic_false_and_atomic_flag(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path
) -> None:
    write_pyproject(tmp_path, "atomic = false")
    directory = migrations(FOUR)

    result = run(cli, db_url, directory, "migrate", "--atomic")

    assert result.exit_code == 1
    assert tracking_tables(db_url) == []


@pytest.mark.parametrize("value", ['"yes"', "1"])
def test_pyproject_atomic_must_be_a_boolean(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path, value: str
) -> None:
    write_pyproject(tmp_path, f"atomic = {value}")
    directory = migrations({"001_a.sql": table("a")})

    result = run(cli, db_url, directory, "migrate")

    assert result.exit_code == 2, result.stdout + result.stderr
    assert "atomic" in result.stderr
    assert tracking_tables(db_url) == []


# --- redo / refresh --atomic -----------------------------------------------------------


def test_redo_atomic_changes_nothing_when_the_reapply_fails(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b")})
    Migrator(db_url, directory).migrate()
    (directory / "002_b.sql").write_text(FAILING.replace("TABLE d", "TABLE b"),
                                         encoding="utf-8")
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "redo", "--atomic")

    assert result.exit_code == 1
    assert "whole run was rolled back" in result.stderr
    assert catalog_snapshot(db_url) == before


def test_refresh_atomic_changes_nothing_when_the_migrate_half_fails(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b")})
    Migrator(db_url, directory).migrate()
    migrations({"003_d.sql": FAILING})
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "refresh", "--yes", "--atomic")

    assert result.exit_code == 1
    assert "whole run was rolled back" in result.stderr
    assert catalog_snapshot(db_url) == before


def test_redo_atomic_of_a_batch_with_a_no_transaction_up_changes_nothing(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"),
                            "002_idx.sql": NO_TRANSACTION["concurrently"]})
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "redo", "--atomic")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "002_idx.sql" in result.stderr
    assert catalog_snapshot(db_url) == before


# --- lock_timeout inside an atomic run -------------------------------------------------


@pytest.mark.parametrize("atomic", [False, True])
def test_lock_timeout_names_the_blocking_session(
    db_url: str, migrations: Files, atomic: bool
) -> None:
    directory = migrations({"001_a.sql": table("a")})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": table("b"),
                "003_alter.sql": "-- UP\nALTER TABLE a ADD COLUMN x int;\n"
                                 "-- DOWN\nALTER TABLE a DROP COLUMN x;\n"})
    before = catalog_snapshot(db_url)

    with psycopg.connect(db_url) as blocker:
        blocker.execute("LOCK TABLE a IN ACCESS SHARE MODE")
        pid = blocker.info.backend_pid
        with pytest.raises(MigrationFailed) as caught:
            Migrator(db_url, directory, lock_timeout=0.2, lock_retries=0,
                     atomic=atomic).migrate()
        blocker.rollback()

    assert caught.value.server.sqlstate == "55P03"
    assert any(note.startswith(f"blocking: pid {pid} ") for note in caught.value.notes), (
        caught.value.notes)
    if atomic:
        assert catalog_snapshot(db_url) == before
    else:
        assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 2)]
