"""``pgshift verify`` of repeatable migrations (SPEC 9.1): besides UP, DOWN and UP again,
the restore that rolling back a re-apply runs (its DOWN, then the UP of the version before
it, in one transaction) is checked with the file's own version as the one before, with
every migration applied; the target database is never touched."""

from __future__ import annotations

import json
from pathlib import Path

from pgshift import Migrator
from pgshift.review.verify import verify_migrations
from pgtest import Cli, CliResult, Files, catalog_snapshot, fetch

ITEMS = ("-- UP\nCREATE TABLE items (id int PRIMARY KEY, qty int);\n"
         "-- DOWN\nDROP TABLE items;\n")
TOTALS = ("-- UP\nCREATE OR REPLACE VIEW totals AS SELECT sum(qty) AS total FROM items;\n"
          "CREATE OR REPLACE FUNCTION total_qty() RETURNS bigint LANGUAGE sql\n"
          "AS $$ SELECT sum(qty) FROM items $$;\n"
          "-- DOWN\nDROP FUNCTION total_qty();\nDROP VIEW totals;\n")


def base_view(columns: str = "id, qty") -> str:
    """A view other repeatables build on, whose DOWN drops what depends on it too."""
    return (f"-- UP\nCREATE OR REPLACE VIEW base_items AS SELECT {columns} FROM items;\n"
            "-- DOWN\nDROP VIEW base_items CASCADE;\n")


REPORT = ("-- UP\nCREATE OR REPLACE VIEW report AS SELECT sum(qty) AS total FROM base_items;\n"
          "-- DOWN\nDROP VIEW report;\n")


def verify_json(cli: Cli, target: str, directory: Path, scratch: str,
                *args: str) -> tuple[CliResult, dict[str, list[str]]]:
    """Run ``verify --json``; the result and each migration's problems by name. The
    scratch database it used is gone afterwards."""
    result = cli("--json", "--database-url", target, "--dir", str(directory), *args,
                 "verify", "--scratch-url", scratch)
    document = json.loads(result.stdout)
    used = document["scratch"].split("/")[-1]
    assert used.startswith("pgshift_verify_")
    assert fetch(scratch, "SELECT 1 FROM pg_database WHERE datname = %s", (used,)) == []
    return result, {m["name"]: m["problems"] for m in document["migrations"]}


def test_a_good_repeatable_passes_every_check_and_the_target_is_untouched(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({"001_items.sql": ITEMS, "repeatable/totals.sql": TOTALS})
    before = catalog_snapshot(db_url)
    steps: list[str] = []

    result, problems = verify_json(cli, db_url, directory, pg_url)
    run = verify_migrations(Migrator(db_url, directory), scratch_url=pg_url,
                            on_progress=steps.append)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert problems == {"001_items.sql": [], "repeatable/totals.sql": []}
    assert run.ok
    assert steps[-1] == "repeatable/totals.sql: restore of the version before (its own)"
    assert catalog_snapshot(db_url) == before


def test_a_down_that_drops_a_view_of_a_later_repeatable_is_a_restore_problem(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({"001_items.sql": ITEMS, "repeatable/base.sql": base_view(),
                            "repeatable/report.sql": REPORT})
    before = catalog_snapshot(db_url)

    result, problems = verify_json(cli, db_url, directory, pg_url)

    assert result.exit_code == 1
    assert problems == {
        "001_items.sql": [], "repeatable/report.sql": [],
        # DOWN then UP of base drops report (CASCADE) and does not create it again
        "repeatable/base.sql": ["restore of repeatable/base.sql removes view report"]}
    assert catalog_snapshot(db_url) == before

    # What verify found is what rollback does: base changed and re-applied alone, then
    # rolled back, restores base's version before and loses report.
    Migrator(db_url, directory).migrate()
    (directory / "repeatable" / "base.sql").write_text(base_view("id, qty, qty * 2 AS twice"))
    assert [a.name for a in Migrator(db_url, directory).migrate().applied] == [
        "repeatable/base.sql"]
    Migrator(db_url, directory).rollback()
    assert fetch(db_url, "SELECT to_regclass('base_items') IS NOT NULL, "
                         "to_regclass('report') IS NULL") == [(True, True)]


def test_a_grant_lost_by_the_restore_is_a_restore_problem(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_items.sql": ITEMS,
        "repeatable/names.sql": "-- UP\nCREATE OR REPLACE VIEW item_ids AS SELECT id FROM items;"
                                "\n-- DOWN\nDROP VIEW item_ids;\n",
        "repeatable/names_grant.sql": "-- UP\nGRANT SELECT ON item_ids TO PUBLIC;\n"
                                      "-- DOWN\nREVOKE SELECT ON item_ids FROM PUBLIC;\n",
    })

    result, problems = verify_json(cli, db_url, directory, pg_url)

    assert result.exit_code == 1
    assert problems["repeatable/names_grant.sql"] == []
    assert problems["repeatable/names.sql"] == [
        "restore of repeatable/names.sql removes privilege SELECT on view item_ids to PUBLIC"]


def test_a_restore_that_fails_in_one_transaction_is_reported_with_its_sqlstate(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    # Each section alone commits and so drops its staging table; DOWN then UP in one
    # transaction, as rollback runs them, create it twice.
    stage = "CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT 1 AS n;\n"
    directory = migrations({
        "001_items.sql": ITEMS,
        "repeatable/counted.sql": f"-- UP\n{stage}CREATE OR REPLACE VIEW counted AS "
                                  "SELECT count(*) AS n FROM items;\n"
                                  f"-- DOWN\n{stage}DROP VIEW counted;\n",
        "repeatable/totals.sql": TOTALS,
    })
    before = catalog_snapshot(db_url)

    result, problems = verify_json(cli, db_url, directory, pg_url)

    assert result.exit_code == 1
    assert problems == {
        "001_items.sql": [], "repeatable/totals.sql": [],
        "repeatable/counted.sql": [
            'restore of repeatable/counted.sql failed: relation "staging" already exists '
            "(statement 3 of 4: CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT 1 AS n) "
            "(SQLSTATE 42P07)"]}
    assert catalog_snapshot(db_url) == before

    # rollback of a re-apply fails the same way
    Migrator(db_url, directory).migrate()
    (directory / "repeatable" / "counted.sql").write_text(
        f"-- UP\n{stage}CREATE OR REPLACE VIEW counted AS SELECT count(id) AS n FROM items;\n"
        f"-- DOWN\n{stage}DROP VIEW counted;\n")
    Migrator(db_url, directory).migrate()
    text = cli("--database-url", db_url, "--dir", str(directory), "rollback")
    assert text.exit_code == 1
    assert 'relation "staging" already exists' in text.stderr


def test_a_failed_restore_in_a_transaction_does_not_stop_the_other_checks(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    stage = "CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT 1 AS n;\n"
    directory = migrations({
        "001_items.sql": ITEMS, "repeatable/base.sql": base_view(),
        "repeatable/report.sql": f"-- UP\n{stage}" + REPORT.removeprefix("-- UP\n")
                                 .replace("-- DOWN\n", f"-- DOWN\n{stage}"),
    })

    result, problems = verify_json(cli, db_url, directory, pg_url)

    assert result.exit_code == 1
    assert problems["repeatable/report.sql"][0].startswith(
        'restore of repeatable/report.sql failed: relation "staging" already exists')
    # checked after report's failed restore was rolled back: report is still there
    assert problems["repeatable/base.sql"] == [
        "restore of repeatable/base.sql removes view report"]


def test_a_down_without_its_last_semicolon_still_restores(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_items.sql": ITEMS,
        "repeatable/totals.sql": "-- UP\nCREATE OR REPLACE VIEW totals AS SELECT 1 AS one;\n"
                                 "-- DOWN\nDROP VIEW totals\n",
    })

    result, problems = verify_json(cli, db_url, directory, pg_url)

    assert result.exit_code == 0, problems
    assert problems["repeatable/totals.sql"] == []


def test_without_a_down_the_restore_is_the_up_over_itself(
        pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_items.sql": ITEMS,
        "repeatable/totals.sql": TOTALS.split("-- DOWN")[0],
    })
    steps: list[str] = []

    run = verify_migrations(Migrator(db_url, directory), scratch_url=pg_url,
                            on_progress=steps.append)

    verdicts = {v.name: v.problems for v in run.report.verdicts}
    # rolling back its first apply is refused; restoring it over itself changes nothing
    assert verdicts == {"001_items.sql": (), "repeatable/totals.sql": ("has no DOWN section",)}
    assert steps[-1] == "repeatable/totals.sql: restore of the version before (its own)"


def test_the_restore_runs_strict_as_rollback_does(
        pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_items.sql": ITEMS,
        # migrate skips "already exists" in an UP; a rollback, and so the restore, does not
        "repeatable/by_qty.sql": "-- UP\nCREATE OR REPLACE VIEW by_qty AS SELECT * FROM items;\n"
                                 "CREATE INDEX items_qty ON items (qty);\n",
    })

    run = verify_migrations(Migrator(db_url, directory), scratch_url=pg_url)

    assert {v.name: v.problems for v in run.report.verdicts}["repeatable/by_qty.sql"] == (
        "has no DOWN section",
        'restore of repeatable/by_qty.sql failed: relation "items_qty" already exists '
        "(statement 2 of 2: CREATE INDEX items_qty ON items (qty)) (SQLSTATE 42P07)")


def test_placeholders_are_substituted_in_the_restore(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_items.sql": "-- UP\nCREATE SCHEMA ${app:ident};\n"
                         "CREATE TABLE ${app:ident}.items (id int, qty int);\n"
                         "-- DOWN\nDROP SCHEMA ${app:ident} CASCADE;\n",
        "repeatable/totals.sql": (
            "-- UP\nCREATE OR REPLACE VIEW ${app:ident}.totals AS\n"
            "SELECT sum(qty) * ${factor:literal}::int AS total FROM ${app:ident}.items;\n"
            "-- DOWN\nDROP VIEW ${app:ident}.totals;\n"),
    })
    before = catalog_snapshot(db_url)
    steps: list[str] = []

    result, problems = verify_json(cli, db_url, directory, pg_url, "--var", "app=shop",
                                   "--var", "factor=3")
    run = verify_migrations(Migrator(db_url, directory, variables={"app": "shop",
                                                                   "factor": "3"}),
                            scratch_url=pg_url, on_progress=steps.append)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert problems == {"001_items.sql": [], "repeatable/totals.sql": []}
    assert run.ok and steps[-1].startswith("repeatable/totals.sql: restore")
    assert catalog_snapshot(db_url) == before


def test_a_failed_restore_does_not_print_a_placeholder_value(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    stage = "CREATE TEMP TABLE ${stage:ident} ON COMMIT DROP AS SELECT 1 AS n;\n"
    directory = migrations({
        "repeatable/counted.sql": f"-- UP\n{stage}CREATE OR REPLACE VIEW counted AS "
                                  "SELECT 1 AS n;\n"
                                  f"-- DOWN\n{stage}DROP VIEW counted;\n",
    })

    result, problems = verify_json(cli, db_url, directory, pg_url, "--var",
                                   "stage=secret_stage")

    assert result.exit_code == 1
    assert problems["repeatable/counted.sql"] == [
        "restore of repeatable/counted.sql failed: relation \"${stage}\" already "
        "exists (statement 3 of 4: CREATE TEMP TABLE ${stage:ident} ON COMMIT DROP AS "
        "SELECT 1 AS n) (SQLSTATE 42P07)"]
    assert "secret_stage" not in result.stdout + result.stderr


def test_restore_problems_are_in_every_output_format(
        cli: Cli, pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({"001_items.sql": ITEMS, "repeatable/base.sql": base_view(),
                            "repeatable/report.sql": REPORT})
    problem = "restore of repeatable/base.sql removes view report"

    def shown(*args: str) -> str:
        result = cli("--database-url", db_url, "--dir", str(directory), "verify",
                     "--scratch-url", pg_url, *args)
        assert result.exit_code == 1, result.stderr
        return result.stdout

    text = shown()
    assert "FAIL  repeatable/base.sql (" in text and f"      {problem}\n" in text
    github = shown("--format", "github").splitlines()
    errors = [line for line in github if line.startswith("::error")]
    assert len(errors) == 1
    assert errors[0].startswith("::error file=")
    assert errors[0].endswith(f"repeatable/base.sql,title=pgshift verify::{problem}")
    sarif = json.loads(shown("--format", "sarif"))
    results = sarif["runs"][0]["results"]
    assert [(r["message"]["text"], r["locations"][0]["physicalLocation"]["artifactLocation"]
             ["uri"].endswith("repeatable/base.sql")) for r in results] == [(problem, True)]
    assert "| `repeatable/base.sql` | FAIL |" in shown("--format", "markdown")


def test_a_down_that_cannot_run_leaves_the_restore_not_checked(
        pg_url: str, db_url: str, migrations: Files) -> None:
    directory = migrations({
        "repeatable/one.sql": "-- UP\nCREATE OR REPLACE VIEW one AS SELECT 1 AS n;\n"
                              "-- DOWN\n\\i drop_one.sql\n",
    })

    run = verify_migrations(Migrator(db_url, directory), scratch_url=pg_url)

    (verdict,) = run.report.verdicts
    assert verdict.problems[0].startswith("DOWN section cannot run: repeatable/one.sql:4: ")
    assert verdict.problems[1:] == (
        "restore of repeatable/one.sql not checked: its DOWN section cannot run",)
