"""Placeholders (SPEC 9.2) on a real database: ``${name}``, ``:ident``, ``:literal`` and
the built-ins substituted outside comments (also in ``$$`` bodies); values from
``--var``, ``PGSHIFT_VAR_<NAME>`` and ``[tool.pgshift.vars]`` in that order; an unset
variable refused before anything runs; checksums and stored DOWN of the text as written;
a value never printed or stored."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgshift import Migrator
from pgshift.config import resolve_variables
from pgshift.errors import ConfigError, MigrationFailed, MigrationFileError
from pgtest import Cli, Files, execute, fetch, run, table_exists, tracking_rows


def test_dollar_body_is_substituted_and_comments_are_left_alone(
        db_url: str, migrations: Files) -> None:
    folder = migrations({"001_f.sql": (
        "-- UP\n"
        "-- a comment may mention ${nowhere} without a value\n"
        "CREATE FUNCTION greet() RETURNS text LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  RETURN '${greeting}, ' || ${who:literal};\n"
        "END $$; /* neither ${here} */\n"
        "CREATE TABLE ${tab:ident} (note text DEFAULT '${greeting}');\n"
        "-- DOWN\n"
        "DROP TABLE ${tab:ident};\n"
        "DROP FUNCTION greet();\n"
    )})
    values = {"greeting": "hello", "who": "O'Brien", "tab": "Odd Table"}
    Migrator(db_url, folder, variables=values).migrate()
    assert fetch(db_url, "SELECT greet()") == [("hello, O'Brien",)]
    assert table_exists(db_url, '"Odd Table"')
    row = tracking_rows(db_url)[0]
    assert row["down_sql"] == "DROP TABLE ${tab:ident};\nDROP FUNCTION greet();\n"
    Migrator(db_url, folder, variables=values).rollback()
    assert not table_exists(db_url, '"Odd Table"')
    assert fetch(db_url, "SELECT count(*) FROM pg_proc WHERE proname = 'greet'") == [(0,)]


def test_builtins(db_url: str, migrations: Files) -> None:
    folder = migrations({"001_b.sql": (
        "-- UP\nCREATE TABLE seen AS SELECT ${pgshift:host}::text AS x;\n"
    )})
    with pytest.raises(MigrationFileError, match="unknown built-in"):
        Migrator(db_url, folder).migrate()
    (folder / "001_b.sql").write_text(
        "-- UP\nCREATE TABLE seen (db text, usr text, sch text, file text);\n"
        "INSERT INTO seen VALUES ('${pgshift:database}', '${pgshift:user}', "
        "'${pgshift:schema}', '${pgshift:filename}');\n")
    Migrator(db_url, folder).migrate()
    db, usr, sch, file = fetch(db_url, "SELECT * FROM seen")[0]
    assert (db, usr, sch, file) == (
        fetch(db_url, "SELECT current_database()")[0][0],
        fetch(db_url, "SELECT current_user")[0][0], "public", "001_b.sql")


def test_unset_variable_refuses_before_anything_runs(
        cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n",
        "002_b.sql": "-- Migration: b\n\n-- UP\nCREATE TABLE b (id int);\n"
                     "GRANT SELECT ON b TO ${reader:ident};\n",
    })
    result = run(cli, db_url, folder, "migrate")
    assert result.exit_code == 2, result.stderr
    assert "002_b.sql:5" in result.stderr
    assert "reader" in result.stderr and "--var reader=" in result.stderr
    assert not table_exists(db_url, "a")
    assert not table_exists(db_url, "_migrations")
    plan = run(cli, db_url, folder, "plan")
    assert plan.exit_code == 2 and "reader" in plan.stderr


def test_var_beats_environment_beats_pyproject(
        cli: Cli, db_url: str, migrations: Files, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pgshift.vars]\na = "from-pyproject"\nb = "from-pyproject"\n'
        'c = "from-pyproject"\nn = 7\n')
    folder = migrations({"001_v.sql": (
        "-- UP\nCREATE TABLE v AS SELECT ${a:literal}::text AS a, ${b:literal}::text AS b,"
        " ${c:literal}::text AS c, ${n} AS n;\n"
    )})
    env: dict[str, str | None] = {"PGSHIFT_VAR_a": "from-env", "PGSHIFT_VAR_b": "from-env"}
    result = run(cli, db_url, folder, "--var", "a=from-flag", "migrate", env=env)
    assert result.exit_code == 0, result.stderr
    assert fetch(db_url, "SELECT a, b, c, n FROM v") == [
        ("from-flag", "from-env", "from-pyproject", 7)]


def test_resolve_variables_precedence_and_errors() -> None:
    got = resolve_variables(("x=1", "y=a=b"), {"PGSHIFT_VAR_x": "2", "PGSHIFT_VAR_z": "3"},
                            {"vars": {"x": "4", "z": "5", "w": True}})
    assert got == {"x": "1", "y": "a=b", "z": "3", "w": "true"}
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        resolve_variables(("novalue",), {}, {})
    with pytest.raises(ConfigError, match="not a variable name"):
        resolve_variables((), {}, {"vars": {"1x": "a"}})


def test_changing_a_value_is_not_drift(db_url: str, migrations: Files) -> None:
    folder = migrations({"001_c.sql": "-- UP\nCREATE TABLE c AS SELECT ${v:literal} AS v;\n"})
    Migrator(db_url, folder, variables={"v": "one"}).migrate()
    report = Migrator(db_url, folder, variables={"v": "two"}).status()
    assert [e.state for e in report.entries] == ["executed"]
    written = "CREATE TABLE c AS SELECT ${v:literal} AS v;"
    from pgshift.files.sqlfile import checksum

    assert tracking_rows(db_url)[0]["checksum"] == checksum(written)


def test_no_placeholders_directive(db_url: str, migrations: Files) -> None:
    folder = migrations({"001_n.sql": (
        "-- pgshift: no-placeholders\n-- UP\n"
        "CREATE TABLE n AS SELECT '${kept}'::text AS t;\n"
    )})
    Migrator(db_url, folder).migrate()
    assert fetch(db_url, "SELECT t FROM n") == [("${kept}",)]


def test_no_placeholders_holds_for_the_stored_down_section(
    db_url: str, migrations: Files
) -> None:
    header = "-- pgshift: no-placeholders\n-- UP\nCREATE TABLE n (t text);\n"
    folder = migrations({"001_n.sql": header + "-- DOWN\nDROP TABLE n; -- ${not_a_var}\n"
                                               "CREATE TABLE gone AS SELECT '${x}'::text AS t;\n"})
    Migrator(db_url, folder).migrate()
    (folder / "001_n.sql").write_text(header)  # the DOWN now comes from the table
    Migrator(db_url, folder).rollback()
    assert not table_exists(db_url, "n")
    assert fetch(db_url, "SELECT t FROM gone") == [("${x}",)]
    assert tracking_rows(db_url) == []


@pytest.fixture
def role_name(db_url: str) -> Iterator[str]:
    name = f"pgshift_role_{secrets.token_hex(4)}"
    yield name
    execute(db_url, f'DROP ROLE IF EXISTS "{name}"')


@pytest.mark.parametrize("mode", [[], ["--verbose"], ["--json"]])
def test_password_is_never_shown_or_stored(
        cli: Cli, db_url: str, migrations: Files, role_name: str, mode: list[str]) -> None:
    password = "Zq9" + secrets.token_hex(8)
    folder = migrations({
        "001_role.sql": (
            "-- UP\nCREATE ROLE ${role:ident} LOGIN PASSWORD ${pw:literal};\n"
            "-- DOWN\nDROP ROLE ${role:ident};\n"),
        "002_fails.sql": (
            "-- UP\nCREATE TABLE t (id int);\n"
            "SELECT ${pw:literal}::int;\n"),
    })
    result = run(cli, db_url, folder, *mode, "--var", f"pw={password}", "--var",
                 f"role={role_name}", "migrate",
                 env={"PGSHIFT_VAR_pw": None})
    assert result.exit_code == 1
    shown = result.stdout + result.stderr
    assert password not in shown
    assert password[3:] not in shown
    assert "${pw:literal}" in shown
    assert "002_fails.sql" in shown
    if mode == ["--json"]:
        doc = json.loads(result.stdout)
        assert doc["ok"] is False
    rows = tracking_rows(db_url)
    assert [r["name"] for r in rows] == ["001_role.sql"]
    assert password not in json.dumps(rows, default=str)
    assert fetch(db_url, "SELECT count(*) FROM pg_roles WHERE rolname = %s",
                 [role_name]) == [(1,)]


def test_library_error_quotes_the_file_as_written(
        db_url: str, migrations: Files) -> None:
    folder = migrations({"001_x.sql": "-- UP\nSELECT 1;\nSELECT ${secret:literal}::int;\n"})
    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, folder, variables={"secret": "hunter22"}).migrate()
    error = caught.value
    assert "hunter22" not in str(error)
    assert error.statement is not None
    assert error.statement.sql == "SELECT ${secret:literal}::int"
    assert error.statement.line == 3
    assert error.server.message.endswith('"${secret}"')


def test_plan_and_verify_take_values_and_never_show_them(
        cli: Cli, db_url: str, pg_url: str, migrations: Files) -> None:
    folder = migrations({"001_p.sql": (
        "-- UP\nCREATE TABLE ${tab:ident} (id int DEFAULT ${n});\n"
        "COMMENT ON TABLE ${tab:ident} IS ${note:literal};\n"
        "-- DOWN\nDROP TABLE ${tab:ident};\n")})
    variables = ["--var", "tab=planned", "--var", "n=3", "--var", "note=confidential-note"]
    plan = run(cli, db_url, folder, *variables, "plan")
    assert plan.exit_code == 0, plan.stderr
    assert "CREATE TABLE ${tab:ident}" in plan.stdout
    assert "confidential-note" not in plan.stdout + plan.stderr
    verify = cli("--database-url", db_url, "--dir", str(folder), *variables, "verify",
                 "--scratch-url", pg_url)
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    assert "confidential-note" not in verify.stdout + verify.stderr
    assert not table_exists(db_url, "planned")
