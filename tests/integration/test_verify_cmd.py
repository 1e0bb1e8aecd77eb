"""``pgshift verify``: each DOWN must undo its UP and each UP must run again, checked on a
scratch database that is dropped afterwards; the target database is never touched."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgshift import Migrator
from pgshift.embedded import server as embedded
from pgshift.review.verify import verify_migrations
from pgtest import Cli, CliResult, Files, catalog_snapshot, fetch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "migrations"
# The target: nothing listens on port 1, so any attempt to use it would fail loudly.
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/target"

USERS = ("-- UP\nCREATE TABLE users (id int PRIMARY KEY, email text, status text);\n"
         "CREATE TYPE mood AS ENUM ('happy', 'sad');\n"
         "-- DOWN\nDROP TYPE mood;\nDROP TABLE users;\n")
FORGETFUL = {
    "001_users.sql": USERS,
    "002_index_email.sql": "-- UP\nCREATE INDEX idx_users_email ON users (email);\n"
                           "ALTER TABLE users ADD COLUMN nickname text;\n"
                           "-- DOWN\nALTER TABLE users DROP COLUMN nickname;\n",
    "003_status_default.sql": "-- UP\nALTER TABLE users ALTER COLUMN status SET DEFAULT 'new';\n"
                              "-- DOWN\nSELECT 1;\n",
    "004_mood_value.sql": "-- UP\nALTER TYPE mood ADD VALUE IF NOT EXISTS 'angry';\n"
                          "-- DOWN\nSELECT 1;\n",
    "005_user_count.sql": "-- UP\nCREATE OR REPLACE FUNCTION user_count() RETURNS bigint\n"
                          "LANGUAGE sql AS $$ SELECT count(*) FROM users $$;\n"
                          "-- DOWN\nSELECT 1;\n",
}


def scratch_databases(url: str) -> list[str]:
    return [row[0] for row in fetch(
        url, "SELECT datname FROM pg_database WHERE datname LIKE 'pgshift\\_verify\\_%'")]


def scratch_of(result: CliResult) -> str:
    """The scratch database a verify run names (other tests' runs may have theirs)."""
    found = re.search(r"scratch database \S+/(pgshift_verify_\w+)", result.stdout)
    assert found, result.stdout
    return found.group(1)


def verify(cli: Cli, directory: Path, scratch: str, *args: str) -> CliResult:
    return cli("--database-url", UNREACHABLE, "--dir", str(directory), "verify",
               "--scratch-url", scratch, *args)


def test_verify_reports_a_forgotten_index_default_enum_value_and_function(
    cli: Cli, pg_url: str, migrations: Files
) -> None:
    directory = migrations(FORGETFUL)

    result = verify(cli, directory, pg_url)

    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("verify on the scratch database 127.0.0.1:")
    assert lines[0].endswith("(dropped afterwards)")
    assert "ok    001_users.sql" in result.stdout
    problems = [line.strip() for line in lines if line.startswith("      ")]
    assert problems == [
        "DOWN of 002_index_email.sql leaves index idx_users_email "
        "(CREATE INDEX idx_users_email ON public.users USING btree (email))",
        "DOWN of 003_status_default.sql changes column users.status: "
        "default: (none) → 'new'::text",
        "DOWN of 004_mood_value.sql changes enum mood: values: happy, sad → happy, sad, angry",
        "DOWN of 005_user_count.sql leaves function user_count()",
    ]
    assert "FAIL  002_index_email.sql" in result.stdout
    assert lines[-1].startswith("verified 5 migrations in ")
    assert lines[-1].endswith(" s: 1 ok, 4 with problems")
    assert scratch_of(result) not in scratch_databases(pg_url)


def test_verify_json_is_one_document_with_each_verdict(
    cli: Cli, pg_url: str, migrations: Files
) -> None:
    directory = migrations(FORGETFUL)

    result = cli("--json", "--database-url", UNREACHABLE, "--dir", str(directory), "verify",
                 "--scratch-url", pg_url)

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["seconds"] > 0
    assert [(m["name"], m["ok"]) for m in document["migrations"]] == [
        ("001_users.sql", True), ("002_index_email.sql", False),
        ("003_status_default.sql", False), ("004_mood_value.sql", False),
        ("005_user_count.sql", False)]
    assert document["scratch"].split("/")[-1].startswith("pgshift_verify_")


def test_verify_of_the_examples_passes_and_leaves_the_target_alone(
    cli: Cli, pg_url: str, db_url: str
) -> None:
    before = catalog_snapshot(db_url)

    result = cli("--database-url", db_url, "--dir", str(EXAMPLES), "verify",
                 "--scratch-url", pg_url)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert "ok    005_add_generations_model_index.sql" in result.stdout
    assert result.stdout.splitlines()[-1].endswith(": 7 ok, 0 with problems")
    assert catalog_snapshot(db_url) == before
    assert scratch_of(result) not in scratch_databases(pg_url)


def test_verify_names_applies_earlier_migrations_first(
    cli: Cli, pg_url: str, migrations: Files
) -> None:
    directory = migrations(FORGETFUL)

    result = verify(cli, directory, pg_url, "003_status_default", "005_user_count.sql")

    assert result.exit_code == 1
    assert ("applied first, not verified: 001_users.sql, 002_index_email.sql, "
            "004_mood_value.sql") in result.stdout
    assert "FAIL  003_status_default.sql" in result.stdout
    assert "FAIL  005_user_count.sql" in result.stdout
    assert "002_index_email.sql (" not in result.stdout
    assert result.stdout.splitlines()[-1].endswith(": 0 ok, 2 with problems")


def test_verify_of_a_correct_migration_exits_0(
    cli: Cli, pg_url: str, migrations: Files
) -> None:
    directory = migrations(FORGETFUL)

    result = verify(cli, directory, pg_url, "001_users.sql")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1].endswith(": 1 ok, 0 with problems")


def test_an_unknown_name_is_exit_2(cli: Cli, pg_url: str, migrations: Files) -> None:
    directory = migrations(FORGETFUL)

    result = verify(cli, directory, pg_url, "009_nope.sql")

    assert result.exit_code == 2
    assert "not a migration file: 009_nope.sql" in result.stderr


def test_a_failing_up_names_the_line_and_stops_verification(
    cli: Cli, pg_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n\nINSERT INTO missing VALUES (1);\n"
                     "-- DOWN\nDROP TABLE b;\n",
        "003_c.sql": "-- UP\nCREATE TABLE c (id int);\n-- DOWN\nDROP TABLE c;\n",
    })

    result = verify(cli, directory, pg_url)

    assert result.exit_code == 1
    assert ('UP of 002_b.sql failed: relation "missing" does not exist '
            "(line 4: INSERT INTO missing VALUES (1)) (SQLSTATE 42P01)") in result.stdout
    assert "not verified: verification stopped at 002_b.sql" in result.stdout
    assert scratch_of(result) not in scratch_databases(pg_url)


def test_a_no_transaction_down_runs_outside_a_transaction(
    pg_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_t.sql": "-- UP\nCREATE TABLE t (id int);\n-- DOWN\nDROP TABLE t;\n",
        "002_i.sql": "-- UP\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"
                     "-- DOWN\nDROP INDEX CONCURRENTLY t_id;\n",
    })

    run = verify_migrations(Migrator(UNREACHABLE, directory), scratch_url=pg_url)

    assert run.ok, run.report.verdicts
    assert [v.name for v in run.report.verdicts] == ["001_t.sql", "002_i.sql"]


@pytest.fixture
def project() -> Iterator[Path]:
    """A project directory outside pytest's private temporary tree (the embedded server's
    OS user must be able to enter it), with the embedded server stopped afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="pgshift-verify-test-"))
    try:
        yield parent
    finally:
        embedded.stop(parent / ".pgshift")
        shutil.rmtree(parent, ignore_errors=True)


def test_without_scratch_url_the_embedded_server_in_dot_pgshift_is_used(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = project / "migrations"
    directory.mkdir()
    (directory / "001_users.sql").write_text(USERS)
    monkeypatch.chdir(project)

    result = cli("--database-url", UNREACHABLE, "verify")

    assert result.exit_code == 0, result.stderr
    server = embedded.find_running(project / ".pgshift")
    assert server is not None
    assert f"{server.host}:{server.port}/pgshift_verify_" in result.stdout
    assert scratch_databases(server.url) == []
