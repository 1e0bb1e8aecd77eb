"""The lint gate of the commands that apply migrations: ``migrate``, ``plan``, ``refresh``
and ``redo``. Without ``--strict`` the warning and error findings of what a run applies
go to stderr (and into the JSON document); with ``--strict`` any of them refuses the run,
exit 1, with nothing applied, unless the file's header allows the rule."""

from __future__ import annotations

import json
from typing import Any

from pgshift import Migrator
from pgtest import (
    Cli,
    Files,
    catalog_snapshot,
    execute,
    run,
    table_exists,
    tracking_rows,
)

BASE = "-- UP\nCREATE TABLE users (id bigint PRIMARY KEY, email text);\n" \
       "-- DOWN\nDROP TABLE users;\n"
# warning require-concurrent-index, nothing else above a note
INDEX = "-- UP\nCREATE INDEX IF NOT EXISTS users_email ON users (email);\n" \
        "-- DOWN\nDROP INDEX CONCURRENTLY IF EXISTS users_email;\n"
ALLOWED_INDEX = "-- pgshift: allow require-concurrent-index\n" + INDEX
# notes only (require-if-not-exists, prefer-jsonb)
NOTES = "-- UP\nCREATE TABLE events (id bigint PRIMARY KEY, payload json);\n" \
        "-- DOWN\nDROP TABLE IF EXISTS events;\n"


def state(url: str) -> tuple[Any, Any]:
    return catalog_snapshot(url), tracking_rows(url)


def test_migrate_strict_refuses_a_warning_and_applies_nothing(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_users.sql": BASE})
    Migrator(db_url, directory).migrate()
    migrations({"002_email_index.sql": INDEX, "003_events.sql": NOTES})
    before = state(db_url)

    result = run(cli, db_url, directory, "migrate", "--strict")

    assert result.exit_code == 1, result.stderr
    assert "--strict: 1 lint finding(s) of warning or error severity in 1 pending " \
        "migration(s) (002_email_index.sql:2 require-concurrent-index); nothing was " \
        "applied" in result.stderr
    assert "002_email_index.sql:2: warning require-concurrent-index" in result.stderr
    assert "'-- pgshift: allow <rule-id>'" in result.stderr
    assert state(db_url) == before
    assert not table_exists(db_url, "events")


def test_migrate_strict_applies_when_the_header_allows_the_rule(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_users.sql": BASE})
    Migrator(db_url, directory).migrate()
    migrations({"002_email_index.sql": ALLOWED_INDEX, "003_events.sql": NOTES})

    result = run(cli, db_url, directory, "migrate", "--strict")

    assert result.exit_code == 0, result.stderr
    assert "lint:" not in result.stderr
    assert [r["name"] for r in tracking_rows(db_url)] == [
        "001_users.sql", "002_email_index.sql", "003_events.sql"]


def test_strict_refuses_an_error_too_and_notes_never(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_users.sql": BASE})
    Migrator(db_url, directory).migrate()
    migrations({"002_rename.sql": "-- UP\nALTER TABLE users RENAME COLUMN email TO mail;\n"
                "-- DOWN\nALTER TABLE users RENAME COLUMN mail TO email;\n"})
    before = state(db_url)

    refused = run(cli, db_url, directory, "migrate", "--strict")

    assert refused.exit_code == 1
    assert "002_rename.sql:2 rename-column" in refused.stderr
    assert state(db_url) == before

    (directory / "002_rename.sql").unlink()
    migrations({"002_events.sql": NOTES})
    applied = run(cli, db_url, directory, "migrate", "--strict")
    assert applied.exit_code == 0, applied.stderr
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_users.sql", "002_events.sql"]


def test_strict_lints_a_bulk_run_too(cli: Cli, db_url: str, migrations: Files) -> None:
    files = {f"{i:03d}_t{i}.sql": f"-- UP\nCREATE TABLE IF NOT EXISTS t{i} (id bigint);\n"
             f"-- DOWN\nDROP TABLE IF EXISTS t{i};\n" for i in range(1, 61)}
    files["061_index.sql"] = "-- UP\nCREATE INDEX IF NOT EXISTS t1_id ON t1 (id);\n" \
                             "-- DOWN\nDROP INDEX IF EXISTS t1_id;\n"
    directory = migrations(files)

    result = run(cli, db_url, directory, "migrate", "--strict")

    assert result.exit_code == 1
    assert "061_index.sql:2 require-concurrent-index" in result.stderr
    assert tracking_rows(db_url) == []
    assert not table_exists(db_url, "t1")


def test_without_strict_findings_go_to_stderr_and_into_the_json(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_users.sql": BASE, "002_email_index.sql": INDEX})
    Migrator(db_url, directory).migrate(to="001_users.sql")

    result = run(cli, db_url, directory, "--json", "migrate")

    assert result.exit_code == 0, result.stderr
    assert "lint: 002_email_index.sql:2: warning require-concurrent-index" in result.stderr
    document = json.loads(result.stdout)
    assert [a["name"] for a in document["applied"]] == ["002_email_index.sql"]
    assert document["findings"] == [{
        "rule": "require-concurrent-index", "severity": "warning",
        "file": "002_email_index.sql", "line": 2, "section": "up",
        "message": "CREATE INDEX users_email on existing table users without CONCURRENTLY"}]

    text = run(cli, db_url, directory, "rollback")
    assert text.exit_code == 0, text.stderr
    result = run(cli, db_url, directory, "migrate")
    assert result.exit_code == 0
    assert "require-concurrent-index" not in result.stdout
    assert "lint: 002_email_index.sql:2: warning require-concurrent-index" in result.stderr


def test_plan_strict_refuses_with_exit_1(cli: Cli, db_url: str, migrations: Files) -> None:
    directory = migrations({"001_users.sql": BASE, "002_email_index.sql": INDEX})
    Migrator(db_url, directory).migrate(to="001_users.sql")
    before = state(db_url)

    refused = run(cli, db_url, directory, "plan", "--strict")
    plain = run(cli, db_url, directory, "plan")

    assert refused.exit_code == 1
    assert "refused: --strict: 1 lint finding(s) of warning or error severity in 1 pending " \
        "migration(s) (002_email_index.sql:2 require-concurrent-index); nothing would be " \
        "applied" in refused.stdout
    assert plain.exit_code == 0, plain.stderr
    assert state(db_url) == before


def test_refresh_and_redo_strict_refuse_before_rolling_anything_back(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_users.sql": BASE, "002_email_index.sql": INDEX})
    Migrator(db_url, directory).migrate()  # without --strict the warning does not refuse
    execute(db_url, "INSERT INTO users VALUES (1, 'a@example.com')")
    before = state(db_url)

    refresh = run(cli, db_url, directory, "refresh", "--yes", "--strict")
    redo = run(cli, db_url, directory, "redo", "--strict")

    for result in (refresh, redo):
        assert result.exit_code == 1
        assert "002_email_index.sql:2 require-concurrent-index" in result.stderr
        assert "nothing was applied" in result.stderr
    assert state(db_url) == before



def test_strict_judges_pending_files_with_what_applied_ones_declared(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    """A STABLE function and a validated CHECK (email IS NOT NULL) from applied
    migrations clear the pending file's DEFAULT and SET NOT NULL; a volatile one does
    not."""
    directory = migrations({
        "001_users.sql": BASE,
        "002_helpers.sql": "-- UP\nCREATE OR REPLACE FUNCTION plan_code() RETURNS text "
        "LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN 'free'; END $$;\n"
        "CREATE OR REPLACE FUNCTION noise() RETURNS text LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN md5(random()::text); END $$;\n"
        "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n"
        "-- DOWN\nALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_nn;\n"
        "DROP FUNCTION IF EXISTS noise();\nDROP FUNCTION IF EXISTS plan_code();\n",
        "003_validate.sql": "-- UP\nALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n"
        "-- DOWN\nSELECT 1;\n",
    })
    Migrator(db_url, directory).migrate()
    execute(db_url, "INSERT INTO users VALUES (1, 'a@example.com')")
    migrations({"004_plan.sql": "-- UP\nALTER TABLE users ADD COLUMN IF NOT EXISTS plan text "
                "DEFAULT plan_code();\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
                "-- DOWN\nALTER TABLE users ALTER COLUMN email DROP NOT NULL;\n"
                "ALTER TABLE users DROP COLUMN IF EXISTS plan;\n"})

    applied = run(cli, db_url, directory, "migrate", "--strict")

    assert applied.exit_code == 0, applied.stderr
    assert "lint:" not in applied.stderr
    assert [r["name"] for r in tracking_rows(db_url)][-1] == "004_plan.sql"

    migrations({"005_noise.sql": "-- UP\nALTER TABLE users ADD COLUMN IF NOT EXISTS n text "
                "DEFAULT noise();\n-- DOWN\nALTER TABLE users DROP COLUMN IF EXISTS n;\n"})
    before = state(db_url)
    refused = run(cli, db_url, directory, "migrate", "--strict")
    assert refused.exit_code == 1
    assert "005_noise.sql:2 add-column-volatile-default" in refused.stderr
    assert state(db_url) == before
