"""Choosing what a run acts on: ``migrate --step/--to``, ``rollback --step/--batch/--to``
and ``redo``, through the library and the command line, asserted on the database (the
catalog and the rows of ``_migrations``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pgshift import Migrator
from pgshift.errors import StateError, UsageRefused
from pgshift.results import Event
from pgtest import (
    Cli,
    Files,
    batches,
    catalog_snapshot,
    execute,
    fetch,
    one_json,
    run,
    table_exists,
    tracking_rows,
)


def chained(number: int) -> str:
    """Table t<number>, referencing t<number - 1>: DOWNs in the wrong order fail."""
    ref = f", prev int REFERENCES t{number - 1}" if number > 1 else ""
    return (f"-- UP\nCREATE TABLE t{number} (id int PRIMARY KEY{ref});\n\n"
            f"-- DOWN\nDROP TABLE t{number};\n")


NAMES = [f"00{n}_t{n}.sql" for n in range(1, 6)]
FILES = {name: chained(n) for n, name in enumerate(NAMES, start=1)}


def present(url: str) -> list[str]:
    return [f"t{n}" for n in range(1, 6) if table_exists(url, f"t{n}")]


def names(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["name"] for entry in entries]


@pytest.fixture
def mixed(db_url: str, migrations: Files) -> Path:
    """Batches 1: {001, 002}; 2: {003}; 3: {004, 005} — built with ``migrate(step=)``."""
    directory = migrations(FILES)
    assert [a.name for a in Migrator(db_url, directory).migrate(step=2).applied] == NAMES[:2]
    assert [a.name for a in Migrator(db_url, directory).migrate(step=1).applied] == NAMES[2:3]
    assert [a.name for a in Migrator(db_url, directory).migrate().applied] == NAMES[3:]
    assert batches(db_url) == [(NAMES[0], 1), (NAMES[1], 1), (NAMES[2], 2), (NAMES[3], 3),
                            (NAMES[4], 3)]
    return directory


# --- rollback --step -------------------------------------------------------------------


def test_rollback_step_crosses_batches_newest_first(
    cli: Cli, db_url: str, mixed: Path
) -> None:
    result = run(cli, db_url, mixed, "rollback", "--step", "3", "--json")

    assert result.exit_code == 0, result.stderr
    doc = one_json(result)
    assert names(doc["rolled_back"]) == [NAMES[4], NAMES[3], NAMES[2]]
    assert [e["batch"] for e in doc["rolled_back"]] == [3, 3, 2]
    assert doc["applied"] == []
    assert batches(db_url) == [(NAMES[0], 1), (NAMES[1], 1)]
    assert present(db_url) == ["t1", "t2"]


def test_rollback_step_may_split_a_batch(db_url: str, mixed: Path) -> None:
    first = Migrator(db_url, mixed).rollback(step=1)

    assert [r.name for r in first.rolled_back] == [NAMES[4]]
    assert batches(db_url)[-1] == (NAMES[3], 3)
    assert present(db_url) == ["t1", "t2", "t3", "t4"]

    rest_of_batch = Migrator(db_url, mixed).rollback()

    assert [r.name for r in rest_of_batch.rolled_back] == [NAMES[3]]
    assert batches(db_url) == [(NAMES[0], 1), (NAMES[1], 1), (NAMES[2], 2)]


def test_rollback_step_beyond_what_is_applied_rolls_back_everything(
    db_url: str, mixed: Path
) -> None:
    result = Migrator(db_url, mixed).rollback(step=50)

    assert [r.name for r in result.rolled_back] == NAMES[::-1]
    assert batches(db_url) == []
    assert present(db_url) == []


@pytest.mark.parametrize("step", ["0", "-1", "two"])
def test_rollback_step_must_be_a_positive_integer(
    cli: Cli, db_url: str, mixed: Path, step: str
) -> None:
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, mixed, "rollback", "--step", step)

    assert result.exit_code == 2
    assert catalog_snapshot(db_url) == before


# --- rollback --batch ------------------------------------------------------------------


def test_rollback_batch_of_the_latest_batch(cli: Cli, db_url: str, mixed: Path) -> None:
    result = run(cli, db_url, mixed, "rollback", "--batch", "3", "--json")

    assert result.exit_code == 0, result.stderr
    assert names(one_json(result)["rolled_back"]) == [NAMES[4], NAMES[3]]
    assert batches(db_url) == [(NAMES[0], 1), (NAMES[1], 1), (NAMES[2], 2)]
    assert present(db_url) == ["t1", "t2", "t3"]


@pytest.mark.parametrize("batch", ["1", "2", "4", "0"])
def test_rollback_batch_other_than_the_latest_exits_1_and_changes_nothing(
    cli: Cli, db_url: str, mixed: Path, batch: str
) -> None:
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, mixed, "rollback", "--batch", batch)

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "latest batch (3)" in result.stderr
    assert catalog_snapshot(db_url) == before


def test_rollback_batch_not_latest_raises_state_error(db_url: str, mixed: Path) -> None:
    with pytest.raises(StateError) as caught:
        Migrator(db_url, mixed).rollback(batch=2)

    assert caught.value.exit_code == 1
    assert len(batches(db_url)) == 5


# --- rollback --to ---------------------------------------------------------------------


def test_rollback_to_keeps_name_and_removes_everything_after(
    cli: Cli, db_url: str, mixed: Path
) -> None:
    result = run(cli, db_url, mixed, "rollback", "--to", NAMES[1], "--json")

    assert result.exit_code == 0, result.stderr
    assert names(one_json(result)["rolled_back"]) == [NAMES[4], NAMES[3], NAMES[2]]
    assert batches(db_url) == [(NAMES[0], 1), (NAMES[1], 1)]
    assert present(db_url) == ["t1", "t2"]


def test_rollback_to_inside_a_batch_keeps_the_rest_of_that_batch(
    db_url: str, mixed: Path
) -> None:
    result = Migrator(db_url, mixed).rollback(to=NAMES[3])

    assert [r.name for r in result.rolled_back] == [NAMES[4]]
    assert batches(db_url)[-1] == (NAMES[3], 3)
    assert present(db_url) == ["t1", "t2", "t3", "t4"]


def test_rollback_to_the_newest_migration_rolls_back_nothing(
    cli: Cli, db_url: str, mixed: Path
) -> None:
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, mixed, "rollback", "--to", NAMES[4])

    assert result.exit_code == 0, result.stderr
    assert "Nothing to roll back" in result.stdout
    assert catalog_snapshot(db_url) == before


@pytest.mark.parametrize("target", ["009_unknown.sql", "t3", "006_t6.sql"])
def test_rollback_to_a_name_that_is_not_applied_exits_2(
    cli: Cli, db_url: str, mixed: Path, migrations: Files, target: str
) -> None:
    migrations({"006_t6.sql": chained(6)})  # a pending file
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, mixed, "rollback", "--to", target)

    assert result.exit_code == 2, result.stdout + result.stderr
    assert target in result.stderr
    assert catalog_snapshot(db_url) == before


@pytest.mark.parametrize("args", [["--step", "2"], ["--batch", "1"], ["--batch", "3"]])
def test_rollback_options_on_an_empty_database_change_nothing(
    cli: Cli, db_url: str, migrations: Files, args: list[str]
) -> None:
    directory = migrations(FILES)

    result = run(cli, db_url, directory, "rollback", *args, "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert one_json(result)["rolled_back"] == []
    assert not table_exists(db_url, "_migrations")


def test_rollback_to_a_pending_name_on_an_empty_database_exits_2(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    """Nothing applied yet: a --to naming a migration that is not applied is still bad input."""
    directory = migrations(FILES)

    result = run(cli, db_url, directory, "rollback", "--to", NAMES[1])

    assert result.exit_code == 2, result.stdout + result.stderr
    assert not table_exists(db_url, "_migrations")


@pytest.mark.parametrize("options", [
    {"step": 1, "batch": 3},
    {"step": 1, "to": NAMES[1]},
    {"batch": 3, "to": NAMES[1]},
    {"step": 1, "batch": 3, "to": NAMES[1]},
])
def test_conflicting_rollback_options_raise_usage_refused(
    db_url: str, mixed: Path, options: dict[str, Any]
) -> None:
    before = catalog_snapshot(db_url)

    with pytest.raises(UsageRefused) as caught:
        Migrator(db_url, mixed).rollback(**options)

    assert caught.value.exit_code == 2
    assert "cannot be combined" in caught.value.message
    assert catalog_snapshot(db_url) == before


# --- migrate --step / --to -------------------------------------------------------------


def test_migrate_step_applies_the_next_n_as_one_batch(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)

    first = run(cli, db_url, directory, "migrate", "--step", "2", "--json")
    second = run(cli, db_url, directory, "migrate", "--step", "2", "--json")

    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    assert names(one_json(first)["applied"]) == NAMES[:2]
    assert (one_json(second)["batch"], names(one_json(second)["applied"])) == (2, NAMES[2:4])
    assert batches(db_url) == [(NAMES[0], 1), (NAMES[1], 1), (NAMES[2], 2), (NAMES[3], 2)]
    assert present(db_url) == ["t1", "t2", "t3", "t4"]


def test_migrate_step_beyond_pending_applies_what_there_is(
    db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)

    result = Migrator(db_url, directory).migrate(step=99)

    assert [a.name for a in result.applied] == NAMES
    assert {batch for _, batch in batches(db_url)} == {1}


def test_migrate_to_applies_up_to_and_including_name(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)

    result = run(cli, db_url, directory, "migrate", "--to", NAMES[2], "--json")

    assert result.exit_code == 0, result.stderr
    assert names(one_json(result)["applied"]) == NAMES[:3]
    assert batches(db_url) == [(NAMES[0], 1), (NAMES[1], 1), (NAMES[2], 1)]
    assert present(db_url) == ["t1", "t2", "t3"]

    rest = Migrator(db_url, directory).migrate(to=NAMES[4])

    assert (rest.batch, [a.name for a in rest.applied]) == (2, NAMES[3:])


@pytest.mark.parametrize("target", [NAMES[0], NAMES[2], "009_unknown.sql"])
def test_migrate_to_a_name_that_is_not_pending_exits_2_and_changes_nothing(
    cli: Cli, db_url: str, mixed: Path, migrations: Files, target: str
) -> None:
    Migrator(db_url, mixed).rollback()  # 004 and 005 pending again
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, mixed, "migrate", "--to", target, "--json")

    assert result.exit_code == 2, result.stdout + result.stderr
    doc = one_json(result)
    assert doc["ok"] is False and doc["exit_code"] == 2
    assert target in doc["message"]
    assert catalog_snapshot(db_url) == before


def test_migrate_to_an_applied_name_says_so(db_url: str, mixed: Path) -> None:
    with pytest.raises(UsageRefused) as caught:
        Migrator(db_url, mixed).migrate(to=NAMES[1])

    assert "already applied" in caught.value.message


def test_migrate_step_and_to_together_stop_at_the_nearer(
    db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)

    result = Migrator(db_url, directory).migrate(step=2, to=NAMES[3])

    assert [a.name for a in result.applied] == NAMES[:2]
    assert present(db_url) == ["t1", "t2"]


# --- redo ------------------------------------------------------------------------------


def test_redo_reapplies_the_last_batch_as_a_new_batch(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({n: FILES[n] for n in NAMES[:4]})
    Migrator(db_url, directory).migrate(step=2)
    Migrator(db_url, directory).migrate()
    migrations({NAMES[4]: FILES[NAMES[4]]})  # pending: redo must not apply it
    execute(db_url, "INSERT INTO t3 VALUES (1); INSERT INTO t4 VALUES (1)")
    old_ids = {row["name"]: row["id"] for row in tracking_rows(db_url)}

    result = run(cli, db_url, directory, "redo", "--json")

    assert result.exit_code == 0, result.stderr
    doc = one_json(result)
    assert names(doc["rolled_back"]) == [NAMES[3], NAMES[2]]
    assert names(doc["applied"]) == [NAMES[2], NAMES[3]]
    assert batches(db_url) == [(NAMES[0], 1), (NAMES[1], 1), (NAMES[2], 2), (NAMES[3], 2)]
    new_ids = {row["name"]: row["id"] for row in tracking_rows(db_url)}
    assert new_ids[NAMES[0]] == old_ids[NAMES[0]]
    assert new_ids[NAMES[2]] > old_ids[NAMES[3]]
    # the DOWN really ran: the recreated tables are empty
    assert fetch(db_url, "SELECT (SELECT count(*) FROM t3), (SELECT count(*) FROM t4)") == [
        (0, 0)]
    assert not table_exists(db_url, "t5")


def test_redo_with_nothing_applied_applies_nothing(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)

    result = run(cli, db_url, directory, "redo")

    assert result.exit_code == 0, result.stderr
    assert batches(db_url) == []
    assert present(db_url) == []


def test_redo_events_roll_back_then_apply(db_url: str, mixed: Path) -> None:
    events: list[Event] = []

    Migrator(db_url, mixed, on_event=events.append).redo()

    batch_events = [(e.kind, e.name, e.total) for e in events
                    if e.kind not in ("warning", "notice")]
    assert batch_events == [
        ("batch-start", None, 2),
        ("reverting", NAMES[4], None), ("reverted", NAMES[4], None),
        ("reverting", NAMES[3], None), ("reverted", NAMES[3], None),
        ("batch-end", None, None),
        ("batch-start", None, 2),
        ("applying", NAMES[3], None), ("applied", NAMES[3], None),
        ("applying", NAMES[4], None), ("applied", NAMES[4], None),
        ("batch-end", None, None),
    ]
    assert batches(db_url)[-2:] == [(NAMES[3], 3), (NAMES[4], 3)]


def test_redo_refuses_when_a_migration_of_the_batch_cannot_be_applied_again(
    db_url: str, mixed: Path
) -> None:
    """005's file is gone: its stored DOWN could undo it, but nothing could re-apply it,
    so redo must not roll the batch back (it would silently lose 005)."""
    (mixed / NAMES[4]).unlink()
    before = catalog_snapshot(db_url)

    with pytest.raises(StateError) as caught:
        Migrator(db_url, mixed).redo()

    assert NAMES[4] in caught.value.message
    assert catalog_snapshot(db_url) == before
