"""Exit codes and error messages of the ``pgshift`` command, on a real database.

SPEC §4: ``0`` success or nothing to do; ``1`` a migration, rollback or the database
failed, or the state forbids the command; ``2`` bad usage or bad input. Malformed files
(RELIABILITY S29-S36) exit 2, name the file and line (or byte offset) and leave the
database exactly as it was, even when good pending files come before the bad one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgshift.files import sqlfile
from pgtest import (
    Cli,
    CliResult,
    Files,
    batches,
    catalog_snapshot,
    execute,
    fetch,
    ok,
    run,
    table_exists,
    tracking_rows,
)

GOOD_1 = "-- UP\nCREATE TABLE good_one (id int);\n-- DOWN\nDROP TABLE good_one;\n"
GOOD_2 = "-- UP\nCREATE TABLE good_two (id int);\n-- DOWN\nDROP TABLE good_two;\n"
USERS = (
    "-- UP\nCREATE TABLE users (id int);\nINSERT INTO users VALUES (1);\n"
    "-- DOWN\nDROP TABLE users;\n"
)


def latin1_at(offset: int, *, bom: bool = False) -> bytes:
    start = (b"\xef\xbb\xbf" if bom else b"") + b"-- UP\nCREATE TABLE bad (v text);\nSELECT '"
    data = start + b"x" * (offset - len(start)) + b"\xe9';\n"
    assert data.index(b"\xe9") == offset
    return data


# name → (file content, text the message must contain besides the file name)
MALFORMED: dict[str, tuple[str | bytes, str]] = {
    "no_up_marker": ("CREATE TABLE bad (id int);\n-- DOWN\nDROP TABLE bad;\n", "UP"),
    "near_marker_only": ("-- migrate:up\nCREATE TABLE bad (id int);\n", "line 1"),
    "duplicate_up": ("-- UP\nCREATE TABLE bad (id int);\n\n-- UP\nSELECT 1;\n", ":4"),
    "duplicate_down": ("-- UP\nCREATE TABLE bad (id int);\n-- DOWN\nSELECT 1;\n-- DOWN\n", ":5"),
    "down_before_up": ("-- DOWN\nDROP TABLE bad;\n-- UP\nCREATE TABLE bad (id int);\n", ":1"),
    "empty_up": ("-- Description: nothing\n-- UP\n\n-- TODO\n\n-- DOWN\nSELECT 1;\n", ":2"),
    "not_utf8": (latin1_at(1234), "1234"),
    "not_utf8_with_bom": (latin1_at(1234, bom=True), "1234"),
    "meta_command": (
        "-- Migration: x\n-- Created: y\n\n-- UP\nCREATE TABLE bad (id int);\n\n\\i other.sql\n",
        ":7",
    ),
    "sql_in_header": ("CREATE TABLE bad (id int);\n-- UP\nSELECT 1;\n", ":1"),
    "unknown_directive": ("-- pgshift: no-transactoin\n-- UP\nCREATE TABLE bad (id int);\n",
                          ":1"),
    "syntax_error": ("-- UP\nCREATE TABLE bad (id int);\n\nCREATE TABEL worse (id int);\n", ":4"),
    "unterminated_string": ("-- UP\nCREATE TABLE bad (id int);\nSELECT 'oops;\n", ":3"),
}
# A problem only in a DOWN section does not stop migrate: tests/cli/test_broken_down.py.


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_after_good_ones_exits_2_and_changes_nothing(
    cli: Cli, db_url: str, migrations: Files, case: str
) -> None:
    content, where = MALFORMED[case]
    folder = migrations({"001_good_one.sql": GOOD_1, "002_good_two.sql": GOOD_2,
                         "003_bad.sql": content})
    before = catalog_snapshot(db_url)
    result = run(cli, db_url, folder, "migrate")
    assert result.exit_code == 2, result
    assert "003_bad.sql" in result.stderr
    assert where in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not table_exists(db_url, "_migrations")
    assert not table_exists(db_url, "good_one")
    assert catalog_snapshot(db_url) == before


@pytest.mark.parametrize("case", ["duplicate_up", "not_utf8", "meta_command", "empty_up"])
def test_malformed_file_after_applied_and_pending_ones_changes_nothing(
    cli: Cli, db_url: str, migrations: Files, case: str
) -> None:
    folder = migrations({"001_good_one.sql": GOOD_1})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_good_two.sql": GOOD_2, "003_bad.sql": MALFORMED[case][0]})
    before = catalog_snapshot(db_url)
    result = run(cli, db_url, folder, "migrate")
    assert result.exit_code == 2
    assert "003_bad.sql" in result.stderr
    assert batches(db_url) == [("001_good_one.sql", 1)]
    assert catalog_snapshot(db_url) == before


def test_malformed_file_in_a_subprocess_exits_2_and_changes_nothing(
    run_pgshift: Callable[..., CliResult], db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_good_one.sql": GOOD_1, "002_bad.sql": MALFORMED["meta_command"][0]})
    before = catalog_snapshot(db_url)
    result = run_pgshift("migrate", "--dir", str(folder), env={"DATABASE_URL": db_url},
                         input="")
    assert result.exit_code == 2
    assert "002_bad.sql:7" in result.stderr
    assert catalog_snapshot(db_url) == before


def test_missing_up_marker_names_the_near_marker_line(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_x.sql": "-- Migration: x\n\n-- migrate:up\nSELECT 1;\n"})
    result = run(cli, db_url, folder, "migrate")
    assert result.exit_code == 2
    assert "line 3" in result.stderr


# --- marker look-alikes, duplicates and strays apply normally (S33-S35) -------------------

NOT_MARKERS = """-- Update users
-- UP
-- Update users
CREATE TABLE users (id int, name text);
INSERT INTO users (name) VALUES ('Download');
CREATE FUNCTION f_dollar() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
-- DOWN
  RETURN 'a';
END
$$;
CREATE FUNCTION f_named() RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
-- DOWN
  RETURN 'b';
END
$fn$;
/* a comment
-- DOWN
   /* nested
-- DOWN
   */
*/
INSERT INTO users (name) VALUES ('multi
-- DOWN
line');
-- DOWN
DROP FUNCTION f_named();
DROP FUNCTION f_dollar();
DROP TABLE users;
"""


def test_marker_look_alikes_are_sql_and_apply(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_x.sql": NOT_MARKERS})
    ok(run(cli, db_url, folder, "migrate"))
    sources = dict(fetch(db_url, "SELECT proname, prosrc FROM pg_proc "
                                 "WHERE proname IN ('f_dollar', 'f_named')"))
    assert "\n-- DOWN\n  RETURN 'a';" in sources["f_dollar"]
    assert "\n-- DOWN\n  RETURN 'b';" in sources["f_named"]
    assert fetch(db_url, "SELECT name FROM users ORDER BY name") == [
        ("Download",), ("multi\n-- DOWN\nline",)
    ]
    (down_sql,) = fetch(db_url, "SELECT down_sql FROM _migrations")[0]
    assert down_sql.strip().splitlines() == ["DROP FUNCTION f_named();",
                                             "DROP FUNCTION f_dollar();", "DROP TABLE users;"]
    ok(run(cli, db_url, folder, "rollback"))
    assert not table_exists(db_url, "users")
    assert fetch(db_url, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'f\\_%'") == [(0,)]


def test_marker_spellings_apply_and_roll_back(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({
        "001_a.sql": "  -- up  \nCREATE TABLE a (id int);\n-- Down\nDROP TABLE a;\n",
        "002_b.sql": "--UP\nCREATE TABLE b (id int);\n-- UP now\n--   DOWN\nDROP TABLE b;\n",
    })
    ok(run(cli, db_url, folder, "migrate"))
    assert table_exists(db_url, "a")
    assert table_exists(db_url, "b")
    ok(run(cli, db_url, folder, "rollback"))
    assert not table_exists(db_url, "a")
    assert not table_exists(db_url, "b")


def test_duplicate_numbers_and_stray_files_warn_and_apply_in_name_order(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n",
        "002_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "notes.sql": "-- UP\nCREATE TABLE never_run (id int);\n",
        "README.md": "# notes\n",
    })
    result = ok(run(cli, db_url, folder, "migrate"))
    assert [row["name"] for row in tracking_rows(db_url)] == ["002_a.sql", "002_b.sql"]
    assert "notes.sql" in result.stderr
    assert "002_a.sql" in result.stderr
    assert "002_b.sql" in result.stderr
    assert "README.md" not in result.stderr
    assert not table_exists(db_url, "never_run")


def test_bom_and_crlf_file_applies_with_the_lf_checksum(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    lf = ("-- Description: windows\n-- UP\nCREATE TABLE w (id int);\n\n"
          "INSERT INTO w VALUES (1);\n-- DOWN\nDROP TABLE w;\n")
    folder = migrations({"001_w.sql": b"\xef\xbb\xbf" + lf.replace("\n", "\r\n").encode()})
    ok(run(cli, db_url, folder, "migrate"))
    assert fetch(db_url, "SELECT count(*) FROM w") == [(1,)]
    assert tracking_rows(db_url)[0]["checksum"] == sqlfile.parse(lf, "001_w.sql").checksum
    result = ok(run(cli, db_url, folder, "status"))
    assert "executed" in result.stdout.splitlines()[1]
    ok(run(cli, db_url, folder, "rollback"))
    assert not table_exists(db_url, "w")


def test_empty_down_applies_and_rollback_is_refused_with_exit_1(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_a.sql": GOOD_1,
                         "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\n\n"})
    ok(run(cli, db_url, folder, "migrate"))
    before = catalog_snapshot(db_url)
    result = run(cli, db_url, folder, "rollback")
    assert result.exit_code == 1
    assert "002_b.sql" in result.stderr
    assert catalog_snapshot(db_url) == before


def test_missing_down_applies_and_reset_is_refused_with_exit_1(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n", "002_b.sql": GOOD_2})
    ok(run(cli, db_url, folder, "migrate"))
    before = catalog_snapshot(db_url)
    result = run(cli, db_url, folder, "reset", "--yes")
    assert result.exit_code == 1
    assert "001_a.sql" in result.stderr
    assert catalog_snapshot(db_url) == before


# --- exit 1: failures and forbidding states -----------------------------------------------


def test_failing_migration_exits_1_with_a_psql_like_message(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    bad = ("-- Description: bad\n-- UP\nCREATE TABLE t (id int);\n\n-- the failing one\n"
           "ALTER TABLE nope\n  ADD COLUMN c int;\n")
    folder = migrations({"001_good_one.sql": GOOD_1, "002_bad.sql": bad})
    result = run(cli, db_url, folder, "migrate")
    assert result.exit_code == 1
    assert "002_bad.sql:6" in result.stderr
    assert 'relation "nope" does not exist' in result.stderr
    assert "ALTER TABLE nope" in result.stderr
    assert "ADD COLUMN c int" not in result.stderr
    assert "42P01" in result.stderr
    assert "Traceback" not in result.stderr
    assert batches(db_url) == [("001_good_one.sql", 1)]
    assert not table_exists(db_url, "t")


def test_failing_migration_shows_detail_and_hint(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    bad = ("-- UP\nCREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE ch (p int REFERENCES p);\n"
           "INSERT INTO ch VALUES (7);\n")
    result = run(cli, db_url, migrations({"001_bad.sql": bad}), "migrate")
    assert result.exit_code == 1
    assert "001_bad.sql:4" in result.stderr
    assert "DETAIL:" in result.stderr
    assert "(p)=(7)" in result.stderr
    assert "23503" in result.stderr
    hinted = run(cli, db_url, migrations({"001_bad.sql": "-- UP\nSELECT lenght('x');\n"}),
                 "migrate")
    assert "HINT:" in hinted.stderr
    assert "42883" in hinted.stderr


def test_verbose_adds_a_traceback_to_a_failure(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_bad.sql": "-- UP\nSELECT * FROM nope;\n"})
    quiet = run(cli, db_url, folder, "migrate")
    loud = run(cli, db_url, folder, "migrate", "--verbose")
    assert quiet.exit_code == loud.exit_code == 1
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr


def test_drift_under_strict_exits_1_and_applies_nothing(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_good_one.sql": GOOD_1})
    ok(run(cli, db_url, folder, "migrate"))
    (folder / "001_good_one.sql").write_text(GOOD_1.replace("(id int)", "(id bigint)"),
                                             encoding="utf-8")
    migrations({"002_good_two.sql": GOOD_2})
    before = catalog_snapshot(db_url)
    result = run(cli, db_url, folder, "migrate", "--strict")
    assert result.exit_code == 1
    assert "001_good_one.sql" in result.stderr
    assert catalog_snapshot(db_url) == before
    relaxed = ok(run(cli, db_url, folder, "migrate"))
    assert "001_good_one.sql" in relaxed.stderr
    assert batches(db_url) == [("001_good_one.sql", 1), ("002_good_two.sql", 2)]


def test_failing_rollback_exits_1_and_keeps_the_row(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    bad_down = "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE nope;\n"
    folder = migrations({"001_a.sql": bad_down})
    ok(run(cli, db_url, folder, "migrate"))
    result = run(cli, db_url, folder, "rollback")
    assert result.exit_code == 1
    assert "001_a.sql:4" in result.stderr
    assert batches(db_url) == [("001_a.sql", 1)]
    assert table_exists(db_url, "a")


# --- exit 2: bad usage and bad configuration ----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["bogus"],
        ["migrate", "--bogus"],
        ["--bogus", "status"],
        ["status", "extra"],
        ["create"],
        ["migrate", "--lock-wait", "-1"],
        ["migrate", "--lock-wait", "soon"],
    ],
    ids=lambda a: " ".join(a),
)
def test_bad_usage_exits_2(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize("table", ["x; DROP TABLE users; --", "a.b.c", "users--", "1st"])
def test_bad_table_option_exits_2_and_changes_nothing(
    cli: Cli, db_url: str, migrations: Files, table: str, position: str
) -> None:
    folder = migrations({"001_users.sql": USERS})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_good_two.sql": GOOD_2})
    before = catalog_snapshot(db_url)
    args = ["--table", table, "migrate"] if position == "before" else ["migrate", "--table", table]
    result = run(cli, db_url, folder, *args)
    assert result.exit_code == 2
    assert "--table" in result.stderr
    assert catalog_snapshot(db_url) == before
    assert fetch(db_url, "SELECT count(*) FROM users") == [(1,)]


def test_quoted_schema_qualified_table_is_used_as_an_identifier(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    execute(db_url, "CREATE SCHEMA a")
    folder = migrations({"001_users.sql": USERS})
    ok(run(cli, db_url, folder, "--table", '"a"."b"', "migrate"))
    assert [row["name"] for row in tracking_rows(db_url, "a.b")] == ["001_users.sql"]
    assert not table_exists(db_url, "_migrations")
    result = ok(run(cli, db_url, folder, "--table", '"a"."b"', "status"))
    assert "executed" in result.stdout


def test_quoted_injection_table_name_is_only_an_identifier(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    weird = "x; DROP TABLE users; --"
    folder = migrations({"001_users.sql": USERS, "002_good_two.sql": GOOD_2})
    ok(run(cli, db_url, folder, "migrate", "--table", f'"{weird}"'))
    assert fetch(db_url, "SELECT count(*) FROM users") == [(1,)]
    with psycopg.connect(db_url, autocommit=True) as conn:
        query = sql.SQL("SELECT name FROM {} ORDER BY id").format(sql.Identifier(weird))
        assert conn.execute(query).fetchall() == [("001_users.sql",), ("002_good_two.sql",)]
    assert not table_exists(db_url, "_migrations")
    ok(run(cli, db_url, folder, "rollback", "--table", f'"{weird}"'))
    assert not table_exists(db_url, "users")


def test_injection_in_a_header_description_is_only_data(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_users.sql": USERS})
    ok(run(cli, db_url, folder, "migrate"))
    evil = "-- Description: '); DROP TABLE users; --\n-- UP\nCREATE TABLE x (id int);\n"
    migrations({"007_x.sql": evil})
    ok(run(cli, db_url, folder, "migrate"))
    assert fetch(db_url, "SELECT count(*) FROM users") == [(1,)]
    doc = json.loads(ok(run(cli, db_url, folder, "status", "--json")).stdout)
    described = {m["name"]: m["metadata"].get("description") for m in doc["migrations"]}
    assert described["007_x.sql"] == "'); DROP TABLE users; --"


@pytest.mark.parametrize("value", ["maybe", "on", "2"])
def test_bad_database_ssl_exits_2(
    cli: Cli, db_url: str, migrations: Files, value: str
) -> None:
    result = run(cli, db_url, migrations({"001_a.sql": GOOD_1}), "migrate",
                 env={"DATABASE_SSL": value})
    assert result.exit_code == 2
    assert "DATABASE_SSL" in result.stderr
    assert not table_exists(db_url, "_migrations")


def test_database_ssl_false_connects_normally(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    ok(run(cli, db_url, migrations({"001_a.sql": GOOD_1}), "migrate",
           env={"DATABASE_SSL": "false"}))
    assert batches(db_url) == [("001_a.sql", 1)]


def test_url_sslmode_disable_beats_database_ssl(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    separator = "&" if "?" in db_url else "?"
    url = f"{db_url}{separator}sslmode=disable"
    result = cli("--database-url", url, "--dir", str(migrations({"001_a.sql": GOOD_1})),
                 "migrate", env={"DATABASE_SSL": "true"})
    ok(result)
    assert batches(db_url) == [("001_a.sql", 1)]


def test_missing_env_file_exits_2(cli: Cli, db_url: str, migrations: Files) -> None:
    result = run(cli, db_url, migrations({}), "status", "--env-file", "missing.env")
    assert result.exit_code == 2
    assert "missing.env" in result.stderr


def test_missing_migrations_directory_exits_2(cli: Cli, db_url: str, tmp_path: Path) -> None:
    result = run(cli, db_url, tmp_path / "nowhere", "migrate")
    assert result.exit_code == 2
    assert "nowhere" in result.stderr
    assert not table_exists(db_url, "_migrations")


def test_unknown_pyproject_key_exits_2(cli: Cli, db_url: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pgshift]\ndirectory = 'x'\n",
                                             encoding="utf-8")
    result = cli("--database-url", db_url, "status")
    assert result.exit_code == 2
    assert "directory" in result.stderr


@pytest.mark.parametrize(
    "name", ["../../tmp/x", "a/b", "..\\x", "/abs", "", "café", "x;y", ".."]
)
def test_create_refuses_bad_names_with_exit_2_and_creates_nothing(
    cli: Cli, tmp_path: Path, name: str
) -> None:
    before = {str(p) for p in tmp_path.rglob("*")}
    result = cli("create", name)
    assert result.exit_code == 2
    assert "a-z0-9_" in result.stderr
    assert result.stdout == ""
    assert {str(p) for p in tmp_path.rglob("*")} == before


def test_create_refuses_a_name_too_long_for_the_file_system(
    run_pgshift: Callable[..., CliResult], tmp_path: Path
) -> None:
    result = run_pgshift("create", "a" * 300, input="")
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_json_stays_valid_when_the_failing_statement_holds_a_password_parameter(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    bad = "-- UP\nSELECT dblink_connect('host=x password=Zr5tQw9');\n"
    result = run(cli, db_url, migrations({"001_bad.sql": bad}), "migrate", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert "Zr5tQw9" not in result.stdout + result.stderr


def test_status_json_stays_valid_with_password_text_in_a_description(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    text = "-- Description: set the dblink password=hunter2\n-- UP\nCREATE TABLE a (id int);\n"
    folder = migrations({"001_a.sql": text})
    ok(run(cli, db_url, folder, "migrate"))
    doc = json.loads(ok(run(cli, db_url, folder, "status", "--json")).stdout)
    assert doc["migrations"][0]["state"] == "executed"

