"""A DOWN section that cannot run (it does not parse, holds a psql meta-command, …) does
not stop ``migrate`` from applying the UP sections: it warns with file and line. Rolling
that migration back (``rollback``, ``reset``, ``redo``, ``refresh``) refuses before
anything runs; ``check``, ``lint`` and ``verify`` report it as an error; ``--strict``
makes ``migrate`` refuse."""

from __future__ import annotations

import json

import pytest

from pgshift import Migrator
from pgtest import Cli, Files, catalog_snapshot, fetch, run, table_exists, tracking_rows

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/target"

DOWNLOADS = """-- Migration: 001_downloads.sql
-- Description: per-day download counts

-- UP
CREATE TABLE version_downloads (
    id serial PRIMARY KEY,
    version_id int NOT NULL,
    date date NOT NULL DEFAULT current_date
);

-- DOWN
DROP TABLE version_downloads;
"""
# Like a real history's migration: the DOWN lacks a ';' between its first two statements.
NO_ID = """-- Migration: 002_downloads_need_no_id.sql

-- UP
ALTER TABLE version_downloads DROP CONSTRAINT version_downloads_pkey;
ALTER TABLE version_downloads ADD PRIMARY KEY (version_id, date);
ALTER TABLE version_downloads DROP COLUMN id;

-- DOWN
ALTER TABLE version_downloads ADD COLUMN id serial
ALTER TABLE version_downloads DROP CONSTRAINT version_downloads_pkey;
ALTER TABLE version_downloads ADD PRIMARY KEY (id);
"""
BROKEN_AT = "002_downloads_need_no_id.sql:10"
LATER = "-- UP\nCREATE TABLE later (id int);\n\n-- DOWN\nDROP TABLE later;\n"
FILES = {"001_downloads.sql": DOWNLOADS, "002_downloads_need_no_id.sql": NO_ID,
         "003_later.sql": LATER}


def columns(url: str, table: str) -> list[str]:
    return [row[0] for row in fetch(
        url, "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", [table])]


def primary_key(url: str, table: str) -> list[str]:
    return [row[0] for row in fetch(
        url, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
        "ORDER BY a.attnum", [table])]


# --- migrate ----------------------------------------------------------------------------


def test_migrate_applies_the_ups_and_warns_naming_file_and_line(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)

    result = run(cli, db_url, directory, "migrate")

    assert result.exit_code == 0, result.stderr
    assert f"warning: {BROKEN_AT}: SQL syntax error: syntax error at or near \"ALTER\"" in (
        result.stderr)
    assert "rolling this migration back is refused until the DOWN section is fixed" in (
        result.stderr)
    assert BROKEN_AT not in result.stdout
    rows = tracking_rows(db_url)
    assert [(r["name"], r["batch"]) for r in rows] == [
        ("001_downloads.sql", 1), ("002_downloads_need_no_id.sql", 1), ("003_later.sql", 1)]
    assert rows[1]["down_sql"] == NO_ID.split("-- DOWN\n", 1)[1]
    assert columns(db_url, "version_downloads") == ["version_id", "date"]
    assert primary_key(db_url, "version_downloads") == ["version_id", "date"]
    assert table_exists(db_url, "later")


def test_a_meta_command_in_the_down_section_does_not_stop_migrate(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n"
                                         "-- DOWN\n\\echo dropping a\nDROP TABLE a;\n"})

    result = run(cli, db_url, directory, "migrate")

    assert result.exit_code == 0, result.stderr
    assert "warning: 001_a.sql:4: psql meta-command is not SQL: '\\\\echo dropping a'" in (
        result.stderr)
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_a.sql"]
    assert table_exists(db_url, "a")


def test_the_library_returns_the_warning(db_url: str, migrations: Files) -> None:
    directory = migrations(FILES)

    result = Migrator(db_url, directory).migrate()

    assert [a.name for a in result.applied] == list(FILES)
    assert any(w.startswith(f"{BROKEN_AT}: SQL syntax error") for w in result.warnings)


def test_strict_migrate_and_plan_refuse_and_apply_nothing(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "migrate", "--strict")
    planned = run(cli, db_url, directory, "--json", "plan", "--strict")

    assert result.exit_code == 1
    assert ("--strict: the DOWN section of 002_downloads_need_no_id.sql cannot run "
            f"({BROKEN_AT}: SQL syntax error") in result.stderr
    assert "nothing was applied" in result.stderr
    assert catalog_snapshot(db_url) == before
    assert not table_exists(db_url, "_migrations")
    assert planned.exit_code == 1
    assert json.loads(planned.stdout)["refusal"].startswith(
        "--strict: the DOWN section of 002_downloads_need_no_id.sql cannot run")


# --- rolling back -----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["rollback"], ["reset", "--yes"], ["redo"],
                                     ["refresh", "--yes"], ["rollback", "--step", "2"]])
def test_rolling_it_back_refuses_before_anything_runs(
    cli: Cli, db_url: str, migrations: Files, command: list[str]
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, *command)

    assert result.exit_code == 1, result.stdout + result.stderr
    assert (f"cannot roll back: a DOWN section cannot run: {BROKEN_AT}: SQL syntax error"
            in result.stderr)
    assert "nothing was rolled back" in result.stderr
    assert catalog_snapshot(db_url) == before  # 003_later, newest, was not rolled back
    assert table_exists(db_url, "later")
    assert len(tracking_rows(db_url)) == 3


def test_rolling_back_only_the_migrations_after_it_works(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()

    result = run(cli, db_url, directory, "rollback", "--step", "1")

    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in tracking_rows(db_url)] == [
        "001_downloads.sql", "002_downloads_need_no_id.sql"]
    assert not table_exists(db_url, "later")


def test_rollback_dry_run_shows_the_refusal(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()

    result = run(cli, db_url, directory, "rollback", "--dry-run")

    assert result.exit_code == 1
    assert (f"002_downloads_need_no_id.sql (batch 1): its DOWN section cannot run: "
            f"{BROKEN_AT}: SQL syntax error") in result.stdout
    assert "refused: cannot roll back: a DOWN section cannot run:" in result.stdout
    assert len(tracking_rows(db_url)) == 3


def test_a_stored_down_that_does_not_parse_refuses_rollback(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate(to="002_downloads_need_no_id.sql")
    (directory / "002_downloads_need_no_id.sql").unlink()
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "rollback")

    assert result.exit_code == 1, result.stderr
    assert ("002_downloads_need_no_id.sql: the DOWN section stored when it was applied, "
            "line 2: SQL syntax error") in result.stderr
    assert catalog_snapshot(db_url) == before


# --- check, lint, verify ----------------------------------------------------------------


def test_check_reports_it_as_an_error_pending_or_applied(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)

    pending = run(cli, db_url, directory, "check")
    Migrator(db_url, directory).migrate()
    applied = run(cli, db_url, directory, "--json", "check")

    assert pending.exit_code == 1
    problem = [line for line in pending.stdout.splitlines()
               if line.startswith("problem ") and "002_downloads_need_no_id.sql:10" in line]
    assert problem == [f"problem parse-error: {BROKEN_AT}: SQL syntax error: syntax error at "
                       "or near \"ALTER\" (in the DOWN section: rolling it back would be "
                       "refused)"]
    assert applied.exit_code == 1
    assert [(p["kind"], p["name"]) for p in json.loads(applied.stdout)["problems"]
            if p["kind"] == "parse-error"] == [
        ("parse-error", "002_downloads_need_no_id.sql")]


def test_lint_reports_it_in_the_down_section_and_still_lints_the_up_section(
    cli: Cli, migrations: Files
) -> None:
    directory = migrations({"002_downloads_need_no_id.sql": NO_ID})

    text = run(cli, UNREACHABLE, directory, "lint")
    document = json.loads(run(cli, UNREACHABLE, directory, "--json", "lint").stdout)

    assert text.exit_code == 1
    assert (f"{directory.name}/{BROKEN_AT}: error parse-error: the DOWN section cannot run: "
            "SQL syntax error: syntax error at or near \"ALTER\"") in text.stdout
    findings = document["findings"]
    down = [f for f in findings if f["rule"] == "parse-error"]
    assert [(f["line"], f["section"]) for f in down] == [(10, "down")]
    up_rules = {f["rule"] for f in findings if f["section"] == "up"}
    assert "drop-column" in up_rules


def test_verify_reports_it_and_goes_on(
    cli: Cli, pg_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)

    result = cli("--database-url", UNREACHABLE, "--dir", str(directory), "--json", "verify",
                 "--scratch-url", pg_url)

    assert result.exit_code == 1, result.stderr
    verdicts = {v["name"]: v for v in json.loads(result.stdout)["migrations"]}
    assert verdicts["002_downloads_need_no_id.sql"]["problems"] == [
        f"DOWN section cannot run: {BROKEN_AT}: SQL syntax error: syntax error at or near "
        "\"ALTER\""]
    assert verdicts["001_downloads.sql"]["ok"] and verdicts["003_later.sql"]["ok"]
