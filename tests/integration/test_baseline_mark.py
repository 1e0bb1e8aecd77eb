"""Recording migrations without running them: ``baseline --to NAME`` (batch 0, which
rollback and reset never undo), ``mark NAME`` and ``unmark NAME``.

The "nothing ran" checks use migration files whose UP (or DOWN) would leave a trace in a
``witness`` table and then fail, so running any of their statements could not go unseen.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgshift import Migrator
from pgshift.db.lock import lock_key
from pgshift.errors import StateError, UsageRefused
from pgtest import (
    Cli,
    Files,
    batches,
    catalog_snapshot,
    execute,
    fetch,
    run,
    table_exists,
    tracking_rows,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "migrations"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.glob("*.sql"))
FIRST_THREE = EXAMPLE_NAMES[:3]
REST = EXAMPLE_NAMES[3:]
CHECKSUM = re.compile(r"^sha256v1:[0-9a-f]{64}$")


def sections(text: str) -> tuple[str, str]:
    """(UP, DOWN) of one of the example files, split on their marker lines."""
    lines = text.splitlines()
    up_at, down_at = lines.index("-- UP"), lines.index("-- DOWN")
    return "\n".join(lines[up_at + 1:down_at]), "\n".join(lines[down_at + 1:])


def witness(url: str) -> list[str]:
    return [text for (text,) in fetch(url, "SELECT what FROM witness ORDER BY what")]


def without_tracking(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A catalog snapshot without anything of the tracking tables."""
    kept: dict[str, Any] = {}
    for key, value in snapshot.items():
        if isinstance(value, dict):
            kept[key] = {k: v for k, v in value.items() if "_migrations" not in k}
        else:
            kept[key] = [item for item in value if "_migrations" not in repr(item)]
    return kept


@contextmanager
def holding_lock(url: str) -> Iterator[int]:
    """Hold pgshift's lock of public._migrations in an open transaction; yields the pid."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("public", "_migrations")])
        yield conn.info.backend_pid
        conn.rollback()


# A file whose UP leaves a trace and then fails; its DOWN does the same.
TRAP = (
    "-- UP\nINSERT INTO witness VALUES ('{name} UP ran');\nSELECT 1 / 0;\n"
    "-- DOWN\nINSERT INTO witness VALUES ('{name} DOWN ran');\nSELECT 1 / 0;\n"
)


def trap(name: str) -> str:
    return TRAP.format(name=name)


def table(name: str) -> str:
    return f"-- UP\nCREATE TABLE {name} (id int);\n-- DOWN\nDROP TABLE {name};\n"


@pytest.fixture
def examples(migrations: Files) -> Path:
    """A copy of examples/migrations."""
    directory = migrations({})
    for name in EXAMPLE_NAMES:
        shutil.copy(EXAMPLES / name, directory / name)
    return directory


@pytest.fixture
def by_hand(db_url: str, examples: Path) -> Path:
    """The examples' 001-003 UP sections applied with psycopg, as if by hand."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for name in FIRST_THREE:
            up, _ = sections((examples / name).read_text(encoding="utf-8"))
            conn.execute(up.encode())
    return examples


@pytest.fixture
def baselined(db_url: str, by_hand: Path) -> Path:
    Migrator(db_url, by_hand).baseline(FIRST_THREE[-1])
    return by_hand


@pytest.fixture
def trapped(db_url: str, migrations: Files) -> Path:
    """001 creates table a; 002 is a trap; 003 creates table c. witness exists."""
    execute(db_url, "CREATE TABLE witness (what text)")
    return migrations({"001_a.sql": table("a"), "002_trap.sql": trap("002"),
                       "003_c.sql": table("c")})


# --- baseline ----------------------------------------------------------------------------


def test_baseline_records_the_hand_made_schema_in_batch_0(
    cli: Cli, db_url: str, by_hand: Path
) -> None:
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, by_hand, "baseline", "--to", FIRST_THREE[-1], "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["batch"] == 0
    assert [a["name"] for a in doc["applied"]] == FIRST_THREE
    assert batches(db_url) == [(name, 0) for name in FIRST_THREE]
    for row in tracking_rows(db_url):
        _, down = sections((by_hand / row["name"]).read_text(encoding="utf-8"))
        assert CHECKSUM.match(row["checksum"]), row
        assert row["down_sql"].strip() == down.strip()
    assert without_tracking(catalog_snapshot(db_url)) == without_tracking(before)


def test_baselined_migrations_show_as_executed_not_modified(
    db_url: str, baselined: Path
) -> None:
    report = Migrator(db_url, baselined).status()

    states = {e.name: (e.state, e.batch) for e in report.entries}
    assert states == {**{n: ("executed", 0) for n in FIRST_THREE},
                      **{n: ("pending", None) for n in REST}}
    for entry in report.entries[:3]:
        assert entry.checksum == entry.file_checksum


def test_baseline_runs_no_statement(db_url: str, trapped: Path) -> None:
    execute(db_url, "CREATE TABLE a (id int)")

    result = Migrator(db_url, trapped).baseline("002_trap.sql")

    assert [a.name for a in result.applied] == ["001_a.sql", "002_trap.sql"]
    assert witness(db_url) == []
    assert batches(db_url) == [("001_a.sql", 0), ("002_trap.sql", 0)]

    after = Migrator(db_url, trapped).migrate()

    assert (after.batch, [a.name for a in after.applied]) == (1, ["003_c.sql"])
    assert witness(db_url) == []


def test_migrate_after_baseline_applies_the_rest_in_batch_1(
    cli: Cli, db_url: str, baselined: Path
) -> None:
    result = run(cli, db_url, baselined, "migrate")

    assert result.exit_code == 0, result.stderr
    assert batches(db_url) == [(n, 0) for n in FIRST_THREE] + [(n, 1) for n in REST]
    assert table_exists(db_url, "notifications")
    assert fetch(db_url, "SELECT indisvalid FROM pg_index"
                         " WHERE indexrelid = 'idx_generations_model'::regclass") == [(True,)]
    assert fetch(db_url, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                         " WHERE attrelid = 'users'::regclass AND attname = 'credits'"
                 ) == [("numeric(20,8)",)]


def test_rollback_never_undoes_batch_0(cli: Cli, db_url: str, baselined: Path) -> None:
    Migrator(db_url, baselined).migrate()

    first = run(cli, db_url, baselined, "rollback")
    baseline_schema = catalog_snapshot(db_url)
    second = run(cli, db_url, baselined, "rollback")

    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    assert "Nothing to roll back" in second.stdout
    assert batches(db_url) == [(n, 0) for n in FIRST_THREE]
    assert catalog_snapshot(db_url) == baseline_schema
    assert fetch(db_url, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass"
                         " AND attname IN ('avatar_url', 'phone')") == [(2,)]


@pytest.mark.parametrize("args", [
    ["reset", "--yes"],
    ["rollback", "--step", "50"],
    ["rollback", "--to", FIRST_THREE[0]],
    ["refresh", "--yes"],
])
def test_reset_refresh_and_rollback_options_keep_batch_0(
    cli: Cli, db_url: str, baselined: Path, args: list[str]
) -> None:
    Migrator(db_url, baselined).migrate()

    result = run(cli, db_url, baselined, *args)

    assert result.exit_code == 0, result.stdout + result.stderr
    recorded = batches(db_url)
    assert recorded[:3] == [(n, 0) for n in FIRST_THREE]
    expected_rest = [(n, 1) for n in REST] if args[0] == "refresh" else []
    assert recorded[3:] == expected_rest
    assert table_exists(db_url, "users") and table_exists(db_url, "generations")


def test_baseline_refuses_when_any_is_already_recorded(
    cli: Cli, db_url: str, examples: Path
) -> None:
    Migrator(db_url, examples).migrate(to=EXAMPLE_NAMES[1])
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, examples, "baseline", "--to", FIRST_THREE[-1])

    assert result.exit_code == 1, result.stdout + result.stderr
    assert EXAMPLE_NAMES[0] in result.stderr and EXAMPLE_NAMES[1] in result.stderr
    assert catalog_snapshot(db_url) == before


def test_baseline_dry_run_changes_nothing(cli: Cli, db_url: str, by_hand: Path) -> None:
    before = catalog_snapshot(db_url)

    text = run(cli, db_url, by_hand, "baseline", "--to", FIRST_THREE[-1], "--dry-run")
    as_json = run(cli, db_url, by_hand, "baseline", "--to", FIRST_THREE[-1], "--dry-run",
                  "--json")

    assert text.exit_code == 0 and as_json.exit_code == 0, text.stderr + as_json.stderr
    assert all(name in text.stdout for name in FIRST_THREE)
    assert [a["name"] for a in json.loads(as_json.stdout)["applied"]] == FIRST_THREE
    assert catalog_snapshot(db_url) == before
    assert not table_exists(db_url, "_migrations")


def test_baseline_upgrades_an_older_four_column_table(db_url: str, by_hand: Path) -> None:
    execute(db_url, "CREATE TABLE _migrations (id serial PRIMARY KEY, name text NOT NULL UNIQUE,"
                    " batch integer NOT NULL, executed_at timestamptz NOT NULL DEFAULT now())")

    Migrator(db_url, by_hand).baseline(FIRST_THREE[-1])

    assert batches(db_url) == [(name, 0) for name in FIRST_THREE]
    assert all(CHECKSUM.match(row["checksum"]) for row in tracking_rows(db_url))
    states = {e.name: e.state for e in Migrator(db_url, by_hand).status().entries}
    assert [states[name] for name in FIRST_THREE] == ["executed"] * 3


@pytest.mark.parametrize("target", ["099_nope.sql", "003_add_user_phone", ""])
def test_baseline_to_an_unknown_file_exits_2(
    cli: Cli, db_url: str, by_hand: Path, target: str
) -> None:
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, by_hand, "baseline", "--to", target)

    assert result.exit_code == 2, result.stdout + result.stderr
    assert catalog_snapshot(db_url) == before


def test_baseline_refuses_while_the_lock_is_held(
    cli: Cli, db_url: str, by_hand: Path
) -> None:
    before = catalog_snapshot(db_url)

    with holding_lock(db_url) as pid:
        result = run(cli, db_url, by_hand, "baseline", "--to", FIRST_THREE[-1])

    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"pid {pid}" in result.stderr
    assert catalog_snapshot(db_url) == before


# --- mark ------------------------------------------------------------------------------


def test_mark_records_without_running_in_a_new_batch(
    cli: Cli, db_url: str, trapped: Path
) -> None:
    Migrator(db_url, trapped).migrate(step=1)

    result = run(cli, db_url, trapped, "mark", "002_trap.sql", "--yes", "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert (doc["batch"], [a["name"] for a in doc["applied"]]) == (2, ["002_trap.sql"])
    assert batches(db_url) == [("001_a.sql", 1), ("002_trap.sql", 2)]
    assert witness(db_url) == []
    row = tracking_rows(db_url)[1]
    assert CHECKSUM.match(row["checksum"])
    assert "DOWN ran" in row["down_sql"]
    status = {e.name: e.state for e in Migrator(db_url, trapped).status().entries}
    assert status["002_trap.sql"] == "executed"

    rest = Migrator(db_url, trapped).migrate()

    assert [a.name for a in rest.applied] == ["003_c.sql"]
    assert witness(db_url) == []


def test_mark_on_an_empty_database_creates_the_tracking_table(
    db_url: str, trapped: Path
) -> None:
    result = Migrator(db_url, trapped).mark("002_trap.sql")

    assert result.batch == 1
    assert batches(db_url) == [("002_trap.sql", 1)]
    assert witness(db_url) == []


@pytest.mark.parametrize("command", ["mark", "unmark"])
def test_mark_and_unmark_refuse_without_yes_and_without_a_terminal(
    cli: Cli, db_url: str, trapped: Path, command: str
) -> None:
    Migrator(db_url, trapped).migrate(step=1)
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, trapped, command, "001_a.sql" if command == "unmark"
                 else "002_trap.sql")

    assert result.exit_code == 2, result.stdout + result.stderr
    assert "--yes" in result.stderr
    assert catalog_snapshot(db_url) == before


def test_mark_refuses_an_already_recorded_migration(
    cli: Cli, db_url: str, trapped: Path
) -> None:
    Migrator(db_url, trapped).migrate(step=1)
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, trapped, "mark", "001_a.sql", "--yes")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "001_a.sql" in result.stderr
    assert catalog_snapshot(db_url) == before


@pytest.mark.parametrize("name", ["099_nope.sql", "002_trap", "../002_trap.sql"])
def test_mark_unknown_name_exits_2(cli: Cli, db_url: str, trapped: Path, name: str) -> None:
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, trapped, "mark", name, "--yes")

    assert result.exit_code == 2, result.stdout + result.stderr
    assert catalog_snapshot(db_url) == before
    with pytest.raises(UsageRefused):
        Migrator(db_url, trapped).mark(name)


@pytest.mark.parametrize("command", ["mark", "unmark"])
def test_mark_and_unmark_refuse_while_another_session_holds_the_lock(
    cli: Cli, db_url: str, trapped: Path, command: str
) -> None:
    Migrator(db_url, trapped).migrate(step=1)
    before = catalog_snapshot(db_url)
    name = "002_trap.sql" if command == "mark" else "001_a.sql"

    with holding_lock(db_url) as pid:
        result = run(cli, db_url, trapped, command, name, "--yes")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"pid {pid}" in result.stderr
    assert catalog_snapshot(db_url) == before


# --- unmark ----------------------------------------------------------------------------


def test_unmark_forgets_without_running_down(cli: Cli, db_url: str, trapped: Path) -> None:
    Migrator(db_url, trapped).mark("002_trap.sql")
    Migrator(db_url, trapped).migrate(to="001_a.sql")

    result = run(cli, db_url, trapped, "unmark", "002_trap.sql", "--yes", "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert [a["name"] for a in doc["rolled_back"]] == ["002_trap.sql"]
    assert batches(db_url) == [("001_a.sql", 2)]
    assert witness(db_url) == []
    status = {e.name: e.state for e in Migrator(db_url, trapped).status().entries}
    assert status["002_trap.sql"] == "pending"


def test_unmark_keeps_the_schema(db_url: str, trapped: Path) -> None:
    Migrator(db_url, trapped).migrate(step=1)

    result = Migrator(db_url, trapped).unmark("001_a.sql")

    assert [a.name for a in result.rolled_back] == ["001_a.sql"]
    assert batches(db_url) == []
    assert table_exists(db_url, "a")


def test_unmark_a_migration_whose_file_is_gone(db_url: str, trapped: Path) -> None:
    Migrator(db_url, trapped).migrate(step=1)
    (trapped / "001_a.sql").unlink()

    Migrator(db_url, trapped).unmark("001_a.sql")

    assert batches(db_url) == []
    assert table_exists(db_url, "a")


def test_unmark_a_pending_migration_is_refused(db_url: str, trapped: Path) -> None:
    Migrator(db_url, trapped).migrate(step=1)
    before = catalog_snapshot(db_url)

    with pytest.raises(StateError) as caught:
        Migrator(db_url, trapped).unmark("003_c.sql")

    assert "not recorded" in caught.value.message
    assert catalog_snapshot(db_url) == before


def test_unmark_unknown_name_exits_2(cli: Cli, db_url: str, trapped: Path) -> None:
    Migrator(db_url, trapped).migrate(step=1)
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, trapped, "unmark", "099_nope.sql", "--yes")

    assert catalog_snapshot(db_url) == before
    assert result.exit_code == 2, result.stdout + result.stderr
