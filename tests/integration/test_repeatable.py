"""Repeatable migrations (SPEC 9.1) on a real database: applied after the versioned
migrations of the run, in the same batch, ordered by what they reference; re-applied when
they change; status states; rollback restores the version before or runs DOWN."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pgshift import Migrator
from pgshift.errors import MigrationFileError
from pgtest import CliResult, fetch, table_exists, tracking_rows

Cli = Callable[..., CliResult]
Files = Callable[..., Path]

ITEMS = ("-- UP\nCREATE TABLE items (id int, qty int);\nINSERT INTO items VALUES (1, 5), (2, 7);\n"
         "-- DOWN\nDROP TABLE items;\n")


def states(db_url: str, folder: Path) -> dict[str, str]:
    return {e.name: e.state for e in Migrator(db_url, folder).status().entries}


def test_a_view_over_a_function_over_a_view_runs_in_reference_order(
        db_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_items.sql": ITEMS,
        # named so that name order (a, b, c) is the wrong order
        "repeatable/a_report.sql": (
            "-- UP\nCREATE OR REPLACE VIEW report AS SELECT total_qty() AS total;\n"
            "-- DOWN\nDROP VIEW report;\n"),
        "repeatable/b_total.sql": (
            "-- UP\nCREATE OR REPLACE FUNCTION total_qty() RETURNS bigint LANGUAGE sql\n"
            "AS $$ SELECT sum(qty) FROM base_items $$;\n"
            "-- DOWN\nDROP FUNCTION total_qty();\n"),
        "repeatable/c_base.sql": (
            "-- UP\nCREATE OR REPLACE VIEW base_items AS SELECT id, qty FROM items;\n"
            "-- DOWN\nDROP VIEW base_items;\n"),
    })
    result = Migrator(db_url, folder).migrate()
    assert [a.name for a in result.applied] == [
        "001_items.sql", "repeatable/c_base.sql", "repeatable/b_total.sql",
        "repeatable/a_report.sql"]
    assert fetch(db_url, "SELECT total FROM report") == [(12,)]
    rows = tracking_rows(db_url)
    assert [r["name"] for r in rows] == [a.name for a in result.applied]
    assert {r["batch"] for r in rows} == {1}
    assert set(states(db_url, folder).values()) == {"executed"}
    again = Migrator(db_url, folder).migrate()
    assert again.applied == () and again.batch is None

    Migrator(db_url, folder).rollback()
    assert tracking_rows(db_url) == []
    assert not table_exists(db_url, "items") and not table_exists(db_url, "report")


def view_file(value: int) -> str:
    return (f"-- UP\nCREATE OR REPLACE VIEW answer AS SELECT {value} AS v;\n"
            "-- DOWN\nDROP VIEW answer;\n")


def test_edited_twice_then_rolled_back_twice(db_url: str, migrations: Files) -> None:
    folder = migrations({"001_items.sql": ITEMS, "repeatable/answer.sql": view_file(1)})
    Migrator(db_url, folder).migrate()
    for value in (2, 3):
        (folder / "repeatable" / "answer.sql").write_text(view_file(value))
        assert states(db_url, folder)["repeatable/answer.sql"] == "outdated"
        result = Migrator(db_url, folder, strict=True).migrate()
        assert [a.name for a in result.applied] == ["repeatable/answer.sql"]
        assert fetch(db_url, "SELECT v FROM answer") == [(value,)]
    assert states(db_url, folder)["repeatable/answer.sql"] == "executed"
    assert [(r["name"], r["batch"]) for r in tracking_rows(db_url)] == [
        ("001_items.sql", 1), ("repeatable/answer.sql", 3)]

    Migrator(db_url, folder).rollback()
    assert fetch(db_url, "SELECT v FROM answer") == [(2,)]
    assert [(r["name"], r["batch"]) for r in tracking_rows(db_url)][-1] == (
        "repeatable/answer.sql", 2)
    assert states(db_url, folder)["repeatable/answer.sql"] == "outdated"

    Migrator(db_url, folder).rollback()
    assert fetch(db_url, "SELECT v FROM answer") == [(1,)]
    assert [(r["name"], r["batch"]) for r in tracking_rows(db_url)] == [
        ("001_items.sql", 1), ("repeatable/answer.sql", 1)]

    Migrator(db_url, folder).rollback()
    assert tracking_rows(db_url) == []
    assert not table_exists(db_url, "answer")
    assert fetch(db_url, "SELECT count(*) FROM _migrations_versions") == [(0,)]


def test_status_states_and_missing_file(cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations({"repeatable/one.sql": view_file(1)})
    assert states(db_url, folder) == {"repeatable/one.sql": "pending"}
    Migrator(db_url, folder).migrate()
    (folder / "repeatable" / "one.sql").unlink()
    (folder / "repeatable" / "two.sql").write_text(
        "-- UP\nCREATE OR REPLACE VIEW two AS SELECT 2 AS v;\n")
    assert states(db_url, folder) == {"repeatable/one.sql": "missing file",
                                      "repeatable/two.sql": "pending"}
    shown = cli("--database-url", db_url, "--dir", str(folder), "status")
    assert "repeatable/one.sql" in shown.stdout and "missing file" in shown.stdout


def test_a_cycle_is_exit_2_naming_the_files(cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_items.sql": ITEMS,
        "repeatable/x.sql": "-- UP\nCREATE OR REPLACE VIEW vx AS SELECT * FROM vy;\n",
        "repeatable/y.sql": "-- UP\nCREATE OR REPLACE VIEW vy AS SELECT * FROM vx;\n",
    })
    result = cli("--database-url", db_url, "--dir", str(folder), "migrate")
    assert result.exit_code == 2
    assert "repeatable/x.sql -> repeatable/y.sql -> repeatable/x.sql" in result.stderr
    assert not table_exists(db_url, "items")
    with pytest.raises(MigrationFileError, match="cycle"):
        Migrator(db_url, folder).migrate()


def test_plan_shows_the_repeatables(cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations({"001_items.sql": ITEMS, "repeatable/answer.sql": view_file(1)})
    plan = cli("--database-url", db_url, "--dir", str(folder), "plan")
    assert plan.exit_code == 0, plan.stderr
    assert "repeatable/answer.sql" in plan.stdout


def test_lint_and_verify_cover_the_repeatables(
        cli: Cli, pg_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_items.sql": ITEMS,
        "repeatable/good.sql": view_file(1),
        "repeatable/forgetful.sql": (
            "-- UP\nCREATE OR REPLACE VIEW forgetful AS SELECT 1 AS v;\n"
            "CREATE OR REPLACE VIEW kept AS SELECT 2 AS v;\n"
            "-- DOWN\nDROP VIEW forgetful;\n"),
        "repeatable/broken.sql": "-- UP\nCREATE OR REPLACE VIEW AS SELECT;\n",
    })
    linted = cli("--dir", str(folder), "--json", "lint")
    assert "repeatable/broken.sql" in linted.stdout
    (folder / "repeatable" / "broken.sql").unlink()
    verified = cli("--database-url", pg_url, "--dir", str(folder), "verify",
                   "--scratch-url", pg_url)
    assert verified.exit_code == 1, verified.stdout + verified.stderr
    assert "repeatable/forgetful.sql" in verified.stdout
    assert "kept" in verified.stdout
    assert ": 2 ok, 1 with problems" in verified.stdout.splitlines()[-1]


def test_reset_runs_down_and_redo_applies_the_repeatable_again(
        db_url: str, migrations: Files) -> None:
    folder = migrations({"001_items.sql": ITEMS, "repeatable/answer.sql": view_file(1)})
    Migrator(db_url, folder).migrate()
    (folder / "repeatable" / "answer.sql").write_text(view_file(2))
    Migrator(db_url, folder).migrate()
    redone = Migrator(db_url, folder).redo()
    assert [a.name for a in redone.rolled_back] == ["repeatable/answer.sql"]
    assert [a.name for a in redone.applied] == ["repeatable/answer.sql"]
    assert fetch(db_url, "SELECT v FROM answer") == [(2,)]
    Migrator(db_url, folder).reset()
    assert tracking_rows(db_url) == []
    assert not table_exists(db_url, "answer") and not table_exists(db_url, "items")
    assert fetch(db_url, "SELECT count(*) FROM _migrations_versions") == [(0,)]


def test_rolling_back_a_view_that_gained_a_column(db_url: str, migrations: Files) -> None:
    folder = migrations({"001_items.sql": ITEMS, "repeatable/per_item.sql": (
        "-- UP\nCREATE OR REPLACE VIEW per_item AS SELECT id FROM items;\n"
        "-- DOWN\nDROP VIEW per_item;\n")})
    Migrator(db_url, folder).migrate()
    (folder / "repeatable" / "per_item.sql").write_text(
        "-- UP\nCREATE OR REPLACE VIEW per_item AS SELECT id, qty FROM items;\n"
        "-- DOWN\nDROP VIEW per_item;\n")
    Migrator(db_url, folder).migrate()
    assert fetch(db_url, "SELECT count(*) FROM information_schema.columns "
                         "WHERE table_name = 'per_item'") == [(2,)]
    Migrator(db_url, folder).rollback()
    assert fetch(db_url, "SELECT count(*) FROM information_schema.columns "
                         "WHERE table_name = 'per_item'") == [(1,)]
    assert tracking_rows(db_url)[-1]["batch"] == 1


@pytest.mark.parametrize("down_end", ["", "  -- the last statement has no ';'"])
def test_restore_after_a_down_whose_last_statement_has_no_semicolon(
    db_url: str, migrations: Files, down_end: str
) -> None:
    folder = migrations({"001_items.sql": ITEMS, "repeatable/per_item.sql": (
        "-- UP\nCREATE OR REPLACE VIEW per_item AS SELECT id FROM items;\n"
        f"-- DOWN\nDROP VIEW per_item{down_end}\n")})
    Migrator(db_url, folder).migrate()
    (folder / "repeatable" / "per_item.sql").write_text(
        "-- UP\nCREATE OR REPLACE VIEW per_item AS SELECT id, qty FROM items;\n"
        f"-- DOWN\nDROP VIEW per_item{down_end}\n")
    Migrator(db_url, folder).migrate()
    Migrator(db_url, folder).rollback()
    assert fetch(db_url, "SELECT attname FROM pg_attribute WHERE attrelid = 'per_item'::regclass"
                         " AND attnum > 0") == [("id",)]
    assert [(r["name"], r["batch"]) for r in tracking_rows(db_url)] == [
        ("001_items.sql", 1), ("repeatable/per_item.sql", 1)]


def test_a_no_placeholders_repeatable_is_restored_as_written(
    db_url: str, migrations: Files
) -> None:
    def version(n: int) -> str:
        return ("-- pgshift: no-placeholders\n-- UP\nCREATE OR REPLACE FUNCTION greeting() "
                f"RETURNS text LANGUAGE sql AS $$ SELECT '${{name}} v{n}' $$;\n"
                "-- DOWN\nDROP FUNCTION greeting();\n")

    folder = migrations({"repeatable/greeting.sql": version(1)})
    Migrator(db_url, folder).migrate()
    (folder / "repeatable" / "greeting.sql").write_text(version(2))
    Migrator(db_url, folder).migrate()
    assert fetch(db_url, "SELECT greeting()") == [("${name} v2",)]
    Migrator(db_url, folder).rollback()
    assert fetch(db_url, "SELECT greeting()") == [("${name} v1",)]
    Migrator(db_url, folder).rollback()
    assert fetch(db_url, "SELECT count(*) FROM pg_proc WHERE proname = 'greeting'") == [(0,)]
