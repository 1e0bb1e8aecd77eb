"""``rollback``, ``reset`` and ``refresh`` on a real database (SPEC 4, 5.1; RELIABILITY
S06, S23, S24, S26): each DOWN section in its own transaction with the deletion of its
row, newest first, and nothing rolled back when one migration of the batch has no DOWN."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgshift import Migrator
from pgshift.errors import RollbackFailed, StateError
from pgshift.results import Event
from pgtest import (
    Cli,
    Files,
    advisory_locks,
    batches,
    catalog_snapshot,
    run,
    table_exists,
    tracking_rows,
)


def table(name: str, extra: str = "") -> str:
    return (
        f"-- UP\nCREATE TABLE {name} (id int PRIMARY KEY{extra});\n\n"
        f"-- DOWN\nDROP TABLE {name};\n"
    )


# Each references the previous one: a rollback or reset in the wrong order fails.
CHAIN = {
    "001_a.sql": table("a"),
    "002_b.sql": table("b", ", a_id int REFERENCES a"),
    "003_c.sql": table("c", ", b_id int REFERENCES b"),
    "004_d.sql": table("d", ", c_id int REFERENCES c"),
}


@pytest.fixture
def three_batches(db_url: str, migrations: Files) -> Path:
    """001 in batch 1; 002 and 003 in batch 2; 004 in batch 3."""
    directory = migrations({"001_a.sql": CHAIN["001_a.sql"]})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": CHAIN["002_b.sql"], "003_c.sql": CHAIN["003_c.sql"]})
    Migrator(db_url, directory).migrate()
    migrations({"004_d.sql": CHAIN["004_d.sql"]})
    Migrator(db_url, directory).migrate()
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 2), ("003_c.sql", 2),
                               ("004_d.sql", 3)]
    return directory


def test_rollback_undoes_the_last_batch_only(db_url: str, three_batches: Path) -> None:
    first = Migrator(db_url, three_batches).rollback()

    assert first.action == "rollback" and first.batch == 3
    assert [r.name for r in first.rolled_back] == ["004_d.sql"]
    assert not table_exists(db_url, "d")

    second = Migrator(db_url, three_batches).rollback()

    assert second.batch == 2
    assert [r.name for r in second.rolled_back] == ["003_c.sql", "002_b.sql"]
    assert batches(db_url) == [("001_a.sql", 1)]
    assert [table_exists(db_url, t) for t in "abcd"] == [True, False, False, False]
    assert advisory_locks(db_url) == []


def test_rollback_then_migrate_reapplies_as_a_new_batch(
    db_url: str, three_batches: Path
) -> None:
    Migrator(db_url, three_batches).rollback()
    Migrator(db_url, three_batches).rollback()

    again = Migrator(db_url, three_batches).migrate()

    assert again.batch == 2
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 2), ("003_c.sql", 2),
                               ("004_d.sql", 2)]


def test_rollback_with_nothing_applied(db_url: str, migrations: Files, cli: Cli) -> None:
    directory = migrations({"001_a.sql": table("a")})

    result = run(cli, db_url, directory, "rollback")

    assert result.exit_code == 0, result.stderr
    assert "Nothing to roll back" in result.stdout
    assert not table_exists(db_url, "_migrations")
    assert Migrator(db_url, directory).rollback().rolled_back == ()


def test_each_down_runs_in_its_own_transaction_with_its_row(
    db_url: str, migrations: Files
) -> None:
    """002's DOWN fails after 003's committed: 003 stays rolled back, 002 untouched."""
    directory = migrations({
        "001_a.sql": table("a"),
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n"
        "DROP TABLE no_such_table;\n",
        "003_c.sql": table("c"),
    })
    Migrator(db_url, directory).migrate()

    with pytest.raises(RollbackFailed) as caught:
        Migrator(db_url, directory).rollback()

    assert caught.value.applied == ["003_c.sql"]
    assert caught.value.server.sqlstate == "42P01"
    assert caught.value.statement is not None
    assert (caught.value.statement.line, caught.value.statement.index) == (5, 2)
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert table_exists(db_url, "b")
    assert not table_exists(db_url, "c")


# --- S23: a DOWN failing midway ---------------------------------------------------------


def test_down_failing_midway_keeps_the_rest_recorded(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations({"001_base.sql": table("base"), "002_x.sql": table("x"),
                            "003_y.sql": table("y")})
    Migrator(db_url, directory).migrate()
    migrations({
        "004_four.sql": table("four"),
        "005_five.sql": "-- UP\nCREATE TABLE five (id int);\n\n-- DOWN\n"
        "DROP TABLE five;\n-- wrong name below\nALTER TABLE nope_five ADD COLUMN z int;\n",
        "006_six.sql": table("six"),
    })
    Migrator(db_url, directory).migrate()

    result = run(cli, db_url, directory, "rollback")

    assert result.exit_code == 1
    assert "005_five.sql:7" in result.stderr
    assert "ALTER TABLE nope_five" in result.stderr
    assert "42P01" in result.stderr
    assert "006_six.sql" in result.stderr
    assert "Traceback" not in result.stderr
    assert batches(db_url) == [("001_base.sql", 1), ("002_x.sql", 1), ("003_y.sql", 1),
                               ("004_four.sql", 2), ("005_five.sql", 2)]
    assert not table_exists(db_url, "six")
    assert table_exists(db_url, "five") and table_exists(db_url, "four")
    assert advisory_locks(db_url) == []


# --- S24: a migration of the batch without DOWN -----------------------------------------


@pytest.mark.parametrize("down", ["", "-- DOWN\n", "-- DOWN\n-- nothing to undo\n\n"])
def test_batch_with_a_migration_lacking_down_rolls_back_nothing(
    db_url: str, migrations: Files, cli: Cli, down: str
) -> None:
    directory = migrations({"001_a.sql": table("a")})
    Migrator(db_url, directory).migrate()
    migrations({
        "002_b.sql": table("b"),
        "003_nodown.sql": "-- UP\nCREATE TABLE nodown (id int);\n" + down,
        "004_d.sql": table("d"),
    })
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)

    with pytest.raises(StateError) as caught:
        Migrator(db_url, directory).rollback()
    assert "003_nodown.sql" in str(caught.value)

    result = run(cli, db_url, directory, "rollback")
    assert result.exit_code == 1
    assert "003_nodown.sql" in result.stderr
    assert catalog_snapshot(db_url) == before
    assert advisory_locks(db_url) == []


def test_reset_refuses_when_any_batch_lacks_down(db_url: str, migrations: Files) -> None:
    directory = migrations({"001_nodown.sql": "-- UP\nCREATE TABLE n (id int);\n"})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": table("b")})
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)

    with pytest.raises(StateError, match=r"001_nodown\.sql"):
        Migrator(db_url, directory).reset()

    assert catalog_snapshot(db_url) == before


# --- S26: stored down_sql when the file is gone -----------------------------------------


def test_stored_down_is_used_when_the_file_is_gone(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations({
        "001_a.sql": table("a"),
        "002_gone.sql": "-- UP\nCREATE TABLE gone (id int);\nCREATE INDEX gone_i ON gone (id);\n"
        "-- DOWN\nDROP INDEX gone_i;\nDROP TABLE gone;\n",
    })
    Migrator(db_url, directory).migrate()
    (directory / "002_gone.sql").unlink()

    result = run(cli, db_url, directory, "rollback")

    assert result.exit_code == 0, result.stderr
    assert "002_gone.sql" in result.stderr and "notice" in result.stderr
    assert tracking_rows(db_url) == []
    assert not table_exists(db_url, "gone") and not table_exists(db_url, "a")


def test_stored_down_notice_reaches_library_callers(db_url: str, migrations: Files) -> None:
    directory = migrations({"001_gone.sql": table("gone")})
    Migrator(db_url, directory).migrate()
    (directory / "001_gone.sql").unlink()
    events: list[Event] = []

    result = Migrator(db_url, directory, on_event=events.append).rollback()

    assert [r.name for r in result.rolled_back] == ["001_gone.sql"]
    assert any(e.kind == "notice" and e.name == "001_gone.sql" for e in events)
    assert not table_exists(db_url, "gone")


def test_file_down_wins_over_stored_down(db_url: str, migrations: Files) -> None:
    """The file's DOWN is used when the file is there (an edited DOWN is not drift)."""
    directory = migrations({"001_a.sql": table("a")})
    Migrator(db_url, directory).migrate()
    (directory / "001_a.sql").write_text(
        "-- UP\nCREATE TABLE a (id int PRIMARY KEY);\n\n-- DOWN\n"
        "CREATE TABLE down_ran_from_file (id int);\nDROP TABLE a;\n"
    )

    Migrator(db_url, directory).rollback()

    assert table_exists(db_url, "down_ran_from_file")
    assert not table_exists(db_url, "a")


def test_missing_file_without_stored_down_refuses(db_url: str, migrations: Files) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n"})
    Migrator(db_url, directory).migrate()
    (directory / "001_a.sql").unlink()

    with pytest.raises(StateError, match=r"001_a\.sql"):
        Migrator(db_url, directory).rollback()
    assert batches(db_url) == [("001_a.sql", 1)]


# --- reset and refresh ------------------------------------------------------------------


def test_reset_rolls_back_every_batch_newest_first(
    db_url: str, three_batches: Path, cli: Cli
) -> None:
    result = run(cli, db_url, three_batches, "reset", "--yes")

    assert result.exit_code == 0, result.stderr
    order = [result.stdout.index(name) for name in
             ("004_d.sql", "003_c.sql", "002_b.sql", "001_a.sql")]
    assert order == sorted(order)
    assert tracking_rows(db_url) == []
    assert not any(table_exists(db_url, t) for t in "abcd")
    assert table_exists(db_url, "_migrations")
    assert advisory_locks(db_url) == []


def test_reset_library_order(db_url: str, three_batches: Path) -> None:
    result = Migrator(db_url, three_batches).reset()

    assert [r.name for r in result.rolled_back] == [
        "004_d.sql", "003_c.sql", "002_b.sql", "001_a.sql"
    ]
    assert [r.batch for r in result.rolled_back] == [3, 2, 2, 1]


def test_refresh_leaves_everything_in_batch_one(
    db_url: str, three_batches: Path, cli: Cli
) -> None:
    before = {r["name"]: r["id"] for r in tracking_rows(db_url)}

    result = run(cli, db_url, three_batches, "refresh", "--yes")

    assert result.exit_code == 0, result.stderr
    assert batches(db_url) == [(name, 1) for name in CHAIN]
    after = {r["name"]: r["id"] for r in tracking_rows(db_url)}
    assert set(after) == set(before) and not set(after.values()) & set(before.values())
    assert all(table_exists(db_url, t) for t in "abcd")
    assert advisory_locks(db_url) == []


def test_refresh_result(db_url: str, three_batches: Path) -> None:
    result = Migrator(db_url, three_batches).refresh()

    assert result.action == "refresh"
    assert result.batch == 1
    assert [r.name for r in result.rolled_back] == [
        "004_d.sql", "003_c.sql", "002_b.sql", "001_a.sql"
    ]
    assert [a.name for a in result.applied] == list(CHAIN)


def test_refresh_on_an_empty_database_is_migrate(db_url: str, migrations: Files) -> None:
    directory = migrations(dict(CHAIN))

    result = Migrator(db_url, directory).refresh()

    assert result.rolled_back == ()
    assert batches(db_url) == [(name, 1) for name in CHAIN]


def test_stored_down_is_used_when_the_file_lost_its_down(
    db_url: str, migrations: Files
) -> None:
    """SPEC 5.1: the DOWN comes "from the file, else the stored down_sql"."""
    directory = migrations({"001_a.sql": table("a")})
    Migrator(db_url, directory).migrate()
    (directory / "001_a.sql").write_text("-- UP\nCREATE TABLE a (id int PRIMARY KEY);\n")

    result = Migrator(db_url, directory).rollback()

    assert [r.name for r in result.rolled_back] == ["001_a.sql"]
    assert not table_exists(db_url, "a")
    assert tracking_rows(db_url) == []
