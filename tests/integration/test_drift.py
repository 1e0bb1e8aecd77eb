"""``pgshift drift``: the recorded migrations replayed on a scratch database, compared with
the live database read-only; hand-made hotfixes reported per object, exit 1."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pgshift import Migrator
from pgshift.lifecycle.drift import drift
from pgtest import Cli, CliResult, Files, catalog_snapshot, execute, fetch

FILES = {
    "001_users.sql": "-- UP\nCREATE TABLE users (id int PRIMARY KEY, email text NOT NULL,\n"
                     "  name text);\nCREATE TYPE mood AS ENUM ('happy', 'sad');\n"
                     "-- DOWN\nDROP TYPE mood;\nDROP TABLE users;\n",
    "002_functions.sql": "-- UP\nCREATE FUNCTION user_count() RETURNS bigint LANGUAGE sql\n"
                         "AS $$ SELECT count(*) FROM users $$;\n"
                         "INSERT INTO users VALUES (1, 'ada@example.com', 'Ada');\n"
                         "-- DOWN\nDROP FUNCTION user_count();\n",
    "003_index.sql": "-- UP\nCREATE INDEX CONCURRENTLY idx_users_email ON users (email);\n"
                     "-- DOWN\nDROP INDEX CONCURRENTLY idx_users_email;\n",
}


def scratch_is_gone(url: str, output: str) -> bool:
    """The scratch database named in drift's first line no longer exists."""
    name = re.search(r"replayed on [^ ]+/(pgshift_drift_[0-9a-f]+)", output)
    assert name, output
    return not fetch(url, "SELECT 1 FROM pg_database WHERE datname = %s", [name.group(1)])


@pytest.fixture
def migrated(cli: Cli, migrations: Files, db_url: str) -> Path:
    directory = migrations(FILES)
    result = cli("--database-url", db_url, "migrate")
    assert result.exit_code == 0, result.stderr
    return directory


def run_drift(cli: Cli, db_url: str, pg_url: str, *args: str) -> CliResult:
    return cli("--database-url", db_url, "drift", "--scratch-url", pg_url, *args)


def test_no_drift_right_after_migrate(cli: Cli, migrated: Path, db_url: str,
                                      pg_url: str) -> None:
    result = run_drift(cli, db_url, pg_url)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "against its 3 recorded migrations" in result.stdout
    assert "no drift" in result.stdout
    assert scratch_is_gone(pg_url, result.stdout)


def test_hand_made_hotfixes_are_reported_per_object(cli: Cli, migrated: Path, db_url: str,
                                                    pg_url: str) -> None:
    execute(db_url, "CREATE INDEX hotfix_users_name ON users (name)")
    execute(db_url, "ALTER TABLE users ALTER COLUMN name TYPE varchar(200)")
    execute(db_url, "CREATE OR REPLACE FUNCTION user_count() RETURNS bigint LANGUAGE sql "
                    "AS $$ SELECT count(*) FROM users WHERE email IS NOT NULL $$")
    before = catalog_snapshot(db_url)

    result = run_drift(cli, db_url, pg_url)

    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert ("  extra index hotfix_users_name (CREATE INDEX hotfix_users_name ON public.users "
            "USING btree (name))") in lines
    assert "  different column users.name: type: text → character varying(200)" in lines
    function = [line for line in lines if "function user_count()" in line]
    assert len(function) == 1 and function[0].startswith("  different function user_count()")
    assert "WHERE email IS NOT NULL" in function[0]
    assert lines[-1] == "drift found: 3 differences"
    # read-only on the target; the scratch database is gone
    assert catalog_snapshot(db_url) == before
    assert scratch_is_gone(pg_url, result.stdout)


def test_missing_objects_and_enum_values(cli: Cli, migrated: Path, db_url: str,
                                         pg_url: str) -> None:
    execute(db_url, "DROP INDEX idx_users_email")
    execute(db_url, "ALTER TYPE mood ADD VALUE 'angry'")
    result = run_drift(cli, db_url, pg_url, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert document["replayed"] == list(FILES)
    found = {(d["kind"], d["object_type"], d["name"]) for d in document["differences"]}
    assert found == {("missing", "index", "idx_users_email"), ("different", "enum", "mood")}


def test_tracking_table_and_data_are_left_out(cli: Cli, migrated: Path, db_url: str,
                                              pg_url: str) -> None:
    execute(db_url, "INSERT INTO users VALUES (2, 'bob@example.com', 'Bob')")
    execute(db_url, "UPDATE _migrations SET executed_at = now() - interval '1 day'")
    assert run_drift(cli, db_url, pg_url).exit_code == 0


def test_an_empty_database_without_tracking_table(cli: Cli, migrations: Files, db_url: str,
                                                  pg_url: str) -> None:
    migrations(FILES)
    assert run_drift(cli, db_url, pg_url).exit_code == 0
    execute(db_url, "CREATE TABLE stray (id int)")
    result = run_drift(cli, db_url, pg_url)
    assert result.exit_code == 1
    assert "  extra table stray (id integer)" in result.stdout.splitlines()


def test_a_recorded_migration_without_its_file_is_refused(cli: Cli, migrated: Path,
                                                          db_url: str, pg_url: str) -> None:
    (migrated / "002_functions.sql").unlink()
    result = run_drift(cli, db_url, pg_url)
    assert result.exit_code == 1
    assert "the file of 002_functions.sql is gone" in result.stderr


def test_a_file_changed_since_it_was_applied_is_a_warning(cli: Cli, migrated: Path,
                                                          db_url: str, pg_url: str) -> None:
    path = migrated / "001_users.sql"
    path.write_text(FILES["001_users.sql"].replace("name text", "name varchar(50)"))
    result = run_drift(cli, db_url, pg_url)
    assert result.exit_code == 1
    assert "warning: 001_users.sql changed since it was applied" in result.stderr
    assert "  different column users.name: type: character varying(50) → text" in \
        result.stdout.splitlines()


def test_library_drift(migrated: Path, db_url: str,
                                               pg_url: str) -> None:
    execute(db_url, "ALTER TABLE users ADD COLUMN hotfix boolean")
    report = drift(Migrator(db_url, migrated), scratch_url=pg_url)
    assert not report.ok
    assert [d.describe() for d in report.differences] == ["extra column users.hotfix (boolean)"]

