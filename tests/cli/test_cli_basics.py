"""The ``pgshift`` command on a real database: every command and alias, global options,
help, exit codes of the happy paths, stdout vs stderr, ``--json``, confirmation of
destructive commands, terminal vs pipe, ``create`` and ``.env``.

Most runs are in-process (``cli``); a few are real subprocesses (``run_pgshift``), and
the terminal tests run pgshift on a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from pgshift import __version__
from pgtest import (
    CliResult,
    catalog_snapshot,
    clean_environ,
    execute,
    fetch,
    table_exists,
    tracking_rows,
)

Cli = Callable[..., CliResult]
Migrations = Callable[..., Path]

A = (
    "-- Migration: 001_a.sql\n-- Description: table a\n\n"
    "-- UP\nCREATE TABLE a (id int);\n\n-- DOWN\nDROP TABLE a;\n"
)
B = "-- UP\nCREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n-- DOWN\nDROP TABLE b;\n"
C = "-- UP\nCREATE TABLE c (id int);\n-- DOWN\nDROP TABLE c;\n"
FILES = {"001_a.sql": A, "002_b.sql": B}
ANSI = re.compile(r"\x1b\[")


def run(cli: Cli, url: str, folder: Path, *args: str, **kwargs: Any) -> CliResult:
    return cli("--database-url", url, "--dir", str(folder), *args, **kwargs)


def ok(result: CliResult) -> CliResult:
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def applied(url: str, table: str = "_migrations") -> list[tuple[str, int]]:
    return [(row["name"], row["batch"]) for row in tracking_rows(url, table)]


def tables(url: str) -> set[str]:
    rows = fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {name for (name,) in rows}


def one_json(result: CliResult) -> dict[str, Any]:
    """stdout parsed as exactly one JSON document."""
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


# --- version and help ---------------------------------------------------------------------


def test_version_prints_the_version_and_exits_0(cli: Cli) -> None:
    result = ok(cli("--version"))
    assert __version__ in result.stdout


@pytest.mark.parametrize("command", ["migrate", "status", "create", "rollback"])
def test_version_flag_is_accepted_after_the_command(cli: Cli, command: str) -> None:
    result = ok(cli(command, "--version"))
    assert __version__ in result.stdout


COMMANDS = [
    [],
    ["migrate"],
    ["status"],
    ["rollback"],
    ["reset"],
    ["refresh"],
    ["create"],
    ["embedded"],
    ["embedded", "url"],
    ["embedded", "stop"],
    ["migrate:status"],
    ["migrate:rollback"],
    ["migrate:reset"],
    ["migrate:refresh"],
    ["migrate:create"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_help_exists_for_every_command(cli: Cli, command: list[str]) -> None:
    result = ok(cli(*command, "--help"))
    assert result.stdout.startswith("Usage:")
    assert len(result.stdout.strip().splitlines()) > 3


@pytest.mark.parametrize("command", COMMANDS[1:7], ids=lambda c: c[0])
def test_short_help_flag_works(cli: Cli, command: list[str]) -> None:
    assert ok(cli(*command, "-h")).stdout.startswith("Usage:")


def test_main_help_lists_every_command_and_the_colon_aliases(cli: Cli) -> None:
    text = ok(cli("--help")).stdout
    for name in ("migrate", "status", "rollback", "reset", "refresh", "create"):
        assert re.search(rf"^\s+{name}\b", text, re.MULTILINE), name
    for alias in ("migrate:status", "migrate:rollback", "migrate:reset", "migrate:refresh",
                  "migrate:create"):
        assert alias in text


@pytest.mark.parametrize("command", ["migrate", "status", "rollback", "reset", "refresh"])
def test_help_of_each_command_lists_the_global_options(cli: Cli, command: str) -> None:
    text = ok(cli(command, "--help")).stdout
    for option in ("--database-url", "--dir", "--table", "--env-file", "--json", "--verbose",
                   "--quiet"):
        assert option in text


def test_destructive_commands_document_yes(cli: Cli) -> None:
    assert "--yes" in ok(cli("reset", "--help")).stdout
    assert "--yes" in ok(cli("refresh", "--help")).stdout


# --- migrate / status / rollback / reset / refresh ----------------------------------------


def test_migrate_applies_every_pending_migration_as_one_batch(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    result = ok(run(cli, db_url, migrations(FILES), "migrate"))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert {"a", "b"} <= tables(db_url)
    assert "001_a.sql" in result.stdout
    assert "002_b.sql" in result.stdout
    assert result.stdout.index("001_a.sql") < result.stdout.index("002_b.sql")


def test_migrate_with_nothing_pending_says_so_and_exits_0(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    before = catalog_snapshot(db_url)
    result = ok(run(cli, db_url, folder, "migrate"))
    assert "Nothing to migrate" in result.stdout
    assert catalog_snapshot(db_url) == before


def test_migrate_on_an_empty_directory_exits_0(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    result = ok(run(cli, db_url, migrations({}), "migrate"))
    assert "Nothing to migrate" in result.stdout


def test_a_later_migrate_makes_the_next_batch(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    ok(run(cli, db_url, migrations(FILES), "migrate"))
    ok(run(cli, db_url, migrations({"003_c.sql": C}), "migrate"))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 2)]


def test_status_lists_every_migration_and_a_summary(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"003_c.sql": C})
    result = ok(run(cli, db_url, folder, "status"))
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["name", "state", "batch", "executed_at"]
    assert rows[1].split()[:3] == ["001_a.sql", "executed", "1"]
    assert rows[2].split()[:3] == ["002_b.sql", "executed", "1"]
    assert rows[3].split() == ["003_c.sql", "pending"]
    assert rows[-1] == "3 migrations: 2 executed, 1 pending"


def test_status_never_creates_the_tracking_table(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    before = catalog_snapshot(db_url)
    result = ok(run(cli, db_url, migrations(FILES), "status"))
    assert "2 pending" in result.stdout
    assert not table_exists(db_url, "_migrations")
    assert catalog_snapshot(db_url) == before


def test_status_json_says_the_table_does_not_exist_yet(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    doc = one_json(ok(run(cli, db_url, migrations(FILES), "status", "--json")))
    assert doc["table_exists"] is False
    assert [m["state"] for m in doc["migrations"]] == ["pending", "pending"]
    assert not table_exists(db_url, "_migrations")


def test_status_piped_is_plain_aligned_text(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"001_a.sql": A, "002_a_much_longer_name.sql": B})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"003_c.sql": C})
    text = ok(run(cli, db_url, folder, "status")).stdout
    assert not ANSI.search(text)
    assert not set("│┃━─") & set(text)
    rows = text.splitlines()[:4]
    column = rows[0].index("state")
    assert [row.index(state) for row, state in
            zip(rows[1:], ("executed", "executed", "pending"), strict=True)] == [column] * 3


def test_status_verbose_shows_descriptions(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    text = ok(run(cli, db_url, folder, "status", "--verbose")).stdout
    assert "description" in text.splitlines()[0]
    assert "table a" in text


def test_status_warnings_go_to_stderr_not_stdout(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"002_a.sql": A, "002_b.sql": B, "notes.sql": C, "README.md": "x"})
    result = ok(run(cli, db_url, folder, "status"))
    assert "notes.sql" in result.stderr
    assert "002_a.sql" in result.stderr
    assert "notes.sql" not in result.stdout
    assert "README.md" not in result.stdout + result.stderr
    assert "warning" not in result.stdout


def test_status_shows_the_states_of_drift(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({**FILES, "003_c.sql": C})
    ok(run(cli, db_url, folder, "migrate"))
    (folder / "002_b.sql").write_text(B.replace("VALUES (1)", "VALUES (2)"), encoding="utf-8")
    (folder / "003_c.sql").unlink()
    result = ok(run(cli, db_url, folder, "status"))
    states = {row.split()[0]: row for row in result.stdout.splitlines()[1:4]}
    assert "modified" in states["002_b.sql"]
    assert "missing file" in states["003_c.sql"]
    assert "002_b.sql" in result.stderr
    assert "003_c.sql" in result.stderr


def test_rollback_rolls_back_the_last_batch_newest_first(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"001_a.sql": A})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_b.sql": B, "003_c.sql": C})
    ok(run(cli, db_url, folder, "migrate"))
    result = ok(run(cli, db_url, folder, "rollback"))
    assert applied(db_url) == [("001_a.sql", 1)]
    assert "a" in tables(db_url)
    assert not {"b", "c"} & tables(db_url)
    assert result.stdout.index("003_c.sql") < result.stdout.index("002_b.sql")


def test_rollback_with_nothing_applied_says_so_and_exits_0(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    result = ok(run(cli, db_url, migrations(FILES), "rollback"))
    assert "Nothing to roll back" in result.stdout


def test_reset_with_yes_rolls_back_every_batch(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"001_a.sql": A})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_b.sql": B})
    ok(run(cli, db_url, folder, "migrate"))
    result = ok(run(cli, db_url, folder, "reset", "--yes"))
    assert applied(db_url) == []
    assert not {"a", "b"} & tables(db_url)
    assert result.stdout.index("002_b.sql") < result.stdout.index("001_a.sql")


def test_refresh_with_yes_reapplies_everything_as_batch_1(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"001_a.sql": A})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_b.sql": B})
    ok(run(cli, db_url, folder, "migrate"))
    execute(db_url, "INSERT INTO a VALUES (42)")
    ok(run(cli, db_url, folder, "refresh", "--yes"))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert fetch(db_url, "SELECT count(*) FROM a") == [(0,)]


def test_short_yes_flag_works(cli: Cli, db_url: str, migrations: Migrations) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    ok(run(cli, db_url, folder, "reset", "-y"))
    assert applied(db_url) == []


def test_migrations_run_outside_a_transaction_are_named_in_output(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({
        "001_a.sql": A,
        "002_idx.sql": "-- UP\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n"
                       "-- DOWN\nDROP INDEX CONCURRENTLY a_id;\n",
    })
    result = ok(run(cli, db_url, folder, "migrate"))
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if ".sql" in line}
    assert "outside a transaction" in lines["002_idx.sql"]
    assert "outside a transaction" not in lines["001_a.sql"]
    status = ok(run(cli, db_url, folder, "status")).stdout.splitlines()
    assert "no transaction" in status[2]
    assert "no transaction" not in status[1]
    doc = one_json(ok(run(cli, db_url, folder, "status", "--json")))
    assert [m["no_transaction"] for m in doc["migrations"]] == [False, True]


# --- colon aliases ------------------------------------------------------------------------


def test_migrate_status_alias_is_status(cli: Cli, db_url: str, migrations: Migrations) -> None:
    result = ok(run(cli, db_url, migrations(FILES), "migrate:status"))
    assert result.stdout.splitlines()[-1] == "2 migrations: 2 pending"


def test_migrate_rollback_alias_is_rollback(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    ok(run(cli, db_url, folder, "migrate:rollback"))
    assert applied(db_url) == []


def test_migrate_reset_alias_is_reset(cli: Cli, db_url: str, migrations: Migrations) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    ok(run(cli, db_url, folder, "migrate:reset", "--yes"))
    assert applied(db_url) == []
    assert not {"a", "b"} & tables(db_url)


def test_migrate_refresh_alias_is_refresh(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"001_a.sql": A})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_b.sql": B})
    ok(run(cli, db_url, folder, "migrate"))
    ok(run(cli, db_url, folder, "migrate:refresh", "--yes"))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_migrate_create_alias_is_create(cli: Cli, tmp_path: Path) -> None:
    result = ok(cli("migrate:create", "add user avatar"))
    path = tmp_path / "migrations" / "001_add_user_avatar.sql"
    assert path.is_file()
    assert result.stdout.strip() == str(Path("migrations") / "001_add_user_avatar.sql")


def test_aliases_reset_and_refresh_also_refuse_without_yes(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    assert run(cli, db_url, folder, "migrate:reset").exit_code == 2
    assert run(cli, db_url, folder, "migrate:refresh").exit_code == 2
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


# --- global options before and after the command ------------------------------------------


def layouts(url: str, folder: Path) -> dict[str, list[str]]:
    given = ["--database-url", url, "--dir", str(folder), "--table", "schema_log", "--json"]
    return {
        "before": [*given, "migrate"],
        "after": ["migrate", *given],
        "mixed": [*given[:2], "--json", "migrate", *given[2:6]],
    }


@pytest.mark.parametrize("layout", ["before", "after", "mixed"])
def test_global_options_work_before_and_after_the_command(
    cli: Cli, db_url: str, migrations: Migrations, layout: str
) -> None:
    result = ok(cli(*layouts(db_url, migrations(FILES))[layout]))
    assert one_json(result)["batch"] == 1
    assert applied(db_url, "schema_log") == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert not table_exists(db_url, "_migrations")


def test_option_given_after_the_command_wins_over_the_one_before(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    ok(cli("--database-url", db_url, "--dir", str(folder), "--table", "first", "migrate",
           "--table", "second"))
    assert table_exists(db_url, "second")
    assert not table_exists(db_url, "first")


@pytest.mark.parametrize("position", ["before", "after"])
def test_env_file_option_works_before_and_after_the_command(
    cli: Cli, db_url: str, migrations: Migrations, tmp_path: Path, position: str
) -> None:
    folder = migrations(FILES)
    (tmp_path / "ci.env").write_text(f"DATABASE_URL={db_url}\n", encoding="utf-8")
    given = ["--env-file", "ci.env", "--dir", str(folder)]
    args = [*given, "migrate"] if position == "before" else ["migrate", *given]
    ok(cli(*args))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


@pytest.mark.parametrize("position", ["before", "after"])
def test_quiet_prints_nothing_on_success(
    cli: Cli, db_url: str, migrations: Migrations, position: str
) -> None:
    folder = migrations(FILES)
    args = ["--quiet", "migrate"] if position == "before" else ["migrate", "-q"]
    result = ok(run(cli, db_url, folder, *args))
    assert result.stdout == ""
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


# --- stdout, stderr and JSON --------------------------------------------------------------


def test_results_go_to_stdout_and_nothing_to_stderr(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    result = ok(run(cli, db_url, migrations(FILES), "migrate"))
    assert "002_b.sql" in result.stdout
    assert result.stderr == ""


def test_errors_go_to_stderr_and_nothing_to_stdout(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({**FILES, "003_bad.sql": "-- UP\nSELECT * FROM nope;\n"})
    result = run(cli, db_url, folder, "migrate")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "003_bad.sql" in result.stderr
    assert 'relation "nope" does not exist' in result.stderr


@pytest.mark.parametrize(
    "command",
    [["status"], ["migrate"], ["rollback"], ["reset", "--yes"], ["refresh", "--yes"]],
    ids=lambda c: c[0],
)
def test_json_prints_exactly_one_document_on_stdout(
    cli: Cli, db_url: str, migrations: Migrations, command: list[str]
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    doc = one_json(ok(run(cli, db_url, folder, *command, "--json")))
    if command[0] == "status":
        assert [m["state"] for m in doc["migrations"]] == ["executed", "executed"]
    else:
        assert doc["ok"] is True
        assert doc["action"] == command[0]


def test_migrate_json_lists_what_was_applied(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    doc = one_json(ok(run(cli, db_url, migrations(FILES), "--json", "migrate")))
    assert [a["name"] for a in doc["applied"]] == ["001_a.sql", "002_b.sql"]
    assert doc["batch"] == 1


def test_rollback_json_lists_what_was_rolled_back(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    doc = one_json(ok(run(cli, db_url, folder, "rollback", "--json")))
    assert [a["name"] for a in doc["rolled_back"]] == ["002_b.sql", "001_a.sql"]


def test_refresh_json_lists_both_halves(cli: Cli, db_url: str, migrations: Migrations) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    doc = one_json(ok(run(cli, db_url, folder, "refresh", "--yes", "--json")))
    assert [a["name"] for a in doc["rolled_back"]] == ["002_b.sql", "001_a.sql"]
    assert [a["name"] for a in doc["applied"]] == ["001_a.sql", "002_b.sql"]
    assert doc["batch"] == 1


def test_json_with_verbose_keeps_stdout_one_document(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    doc = one_json(ok(run(cli, db_url, folder, "migrate", "--json", "--verbose")))
    assert [a["name"] for a in doc["applied"]] == ["001_a.sql", "002_b.sql"]
    doc = one_json(ok(run(cli, db_url, folder, "-v", "status", "--json")))
    assert doc["migrations"][0]["metadata"]["description"] == "table a"


def test_json_with_nothing_to_do_is_one_document(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({})
    assert one_json(ok(run(cli, db_url, folder, "migrate", "--json")))["applied"] == []
    assert one_json(ok(run(cli, db_url, folder, "rollback", "--json")))["rolled_back"] == []


def test_json_with_warnings_keeps_stdout_one_document(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"002_a.sql": A, "002_b.sql": B, "notes.sql": C})
    doc = one_json(ok(run(cli, db_url, folder, "migrate", "--json")))
    assert [a["name"] for a in doc["applied"]] == ["002_a.sql", "002_b.sql"]
    doc = one_json(ok(run(cli, db_url, folder, "status", "--json")))
    assert any("notes.sql" in w for w in doc["warnings"])


def test_json_on_a_failed_migration_is_one_document(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({**FILES, "003_bad.sql": "-- UP\n\nSELECT * FROM nope;\n"})
    result = run(cli, db_url, folder, "migrate", "--json")
    assert result.exit_code == 1
    doc = one_json(result)
    assert doc["ok"] is False
    assert doc["server"]["sqlstate"] == "42P01"
    assert doc["statement"]["line"] == 3
    assert doc["applied"] == ["001_a.sql", "002_b.sql"]
    assert "003_bad.sql" in result.stderr


def test_json_on_a_malformed_file_is_one_document(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({**FILES, "003_bad.sql": "SELECT 1;\n"})
    result = run(cli, db_url, folder, "--json", "migrate")
    assert result.exit_code == 2
    doc = one_json(result)
    assert doc["ok"] is False
    assert doc["exit_code"] == 2
    assert "003_bad.sql" in doc["message"]


def test_json_on_a_refused_reset_is_one_document(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    result = run(cli, db_url, migrations(FILES), "reset", "--json")
    assert result.exit_code == 2
    assert one_json(result)["ok"] is False


def test_json_on_a_missing_down_section_is_one_document(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n"})
    ok(run(cli, db_url, folder, "migrate"))
    result = run(cli, db_url, folder, "rollback", "--json")
    assert result.exit_code == 1
    assert "001_a.sql" in one_json(result)["message"]


# --- reset / refresh confirmation (S48) ---------------------------------------------------


@pytest.mark.parametrize("command", ["reset", "refresh", "migrate:reset", "migrate:refresh"])
def test_destructive_command_without_yes_and_no_terminal_refuses(
    cli: Cli, db_url: str, migrations: Migrations, command: str
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    execute(db_url, "INSERT INTO a VALUES (1)")
    before = catalog_snapshot(db_url)
    result = run(cli, db_url, folder, command)
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert result.stdout == ""
    assert catalog_snapshot(db_url) == before


def test_destructive_command_without_yes_refuses_even_with_input_piped(
    cli: Cli, db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    before = catalog_snapshot(db_url)
    assert run(cli, db_url, folder, "reset", input="y\n").exit_code == 2
    assert catalog_snapshot(db_url) == before


def test_refusal_happens_before_connecting(cli: Cli, migrations: Migrations) -> None:
    result = cli("--database-url", "postgresql://nobody@127.0.0.1:1/none",
                 "--dir", str(migrations(FILES)), "reset")
    assert result.exit_code == 2
    assert "--yes" in result.stderr


@pytest.mark.parametrize("command", ["reset", "refresh"])
def test_destructive_command_without_yes_refuses_in_a_subprocess(
    run_pgshift: Callable[..., CliResult], db_url: str, migrations: Migrations, command: str
) -> None:
    folder = migrations(FILES)
    env = {"DATABASE_URL": db_url}
    assert run_pgshift("--dir", str(folder), "migrate", env=env, input="").exit_code == 0
    before = catalog_snapshot(db_url)
    result = run_pgshift("--dir", str(folder), command, env=env, input="")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert catalog_snapshot(db_url) == before


# --- on a terminal ------------------------------------------------------------------------


def run_on_terminal(
    args: list[str], env: dict[str, str], cwd: Path, answer: str | None = None
) -> CliResult:
    """``python -m pgshift`` with stdin and stdout on a pseudo-terminal, stderr piped."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pgshift", *args], stdin=terminal, stdout=terminal,
        stderr=subprocess.PIPE, env=env, cwd=cwd, close_fds=True,
    )
    os.close(terminal)
    if answer is not None:
        os.write(controller, answer.encode())
    output = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert process.stderr is not None
    stderr = process.stderr.read().decode("utf-8", "replace")
    process.stderr.close()
    return CliResult(process.returncode, output.decode("utf-8", "replace"), stderr)


def terminal_env(url: str) -> dict[str, str]:
    return clean_environ({"DATABASE_URL": url, "COLUMNS": "120", "TERM": "xterm"})


def test_status_on_a_terminal_shows_a_table_and_the_summary(
    db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    env = terminal_env(db_url)
    assert run_on_terminal(["--dir", str(folder), "migrate"], env, tmp_path).exit_code == 0
    result = run_on_terminal(["--dir", str(folder), "status"], env, tmp_path)
    assert result.exit_code == 0
    assert "001_a.sql" in result.stdout
    assert "executed" in result.stdout
    assert "2 migrations: 2 executed" in result.stdout


def test_reset_on_a_terminal_asks_and_declining_changes_nothing(
    db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    env = terminal_env(db_url)
    assert run_on_terminal(["--dir", str(folder), "migrate"], env, tmp_path).exit_code == 0
    before = catalog_snapshot(db_url)
    result = run_on_terminal(["--dir", str(folder), "reset"], env, tmp_path, answer="n\n")
    assert result.exit_code != 0
    assert "?" in result.stderr + result.stdout
    assert catalog_snapshot(db_url) == before


def test_reset_on_a_terminal_proceeds_when_confirmed(
    db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    env = terminal_env(db_url)
    assert run_on_terminal(["--dir", str(folder), "migrate"], env, tmp_path).exit_code == 0
    result = run_on_terminal(["--dir", str(folder), "reset"], env, tmp_path, answer="y\n")
    assert result.exit_code == 0, result
    assert applied(db_url) == []
    assert not {"a", "b"} & tables(db_url)


# --- create -------------------------------------------------------------------------------


def test_create_prints_the_path_and_writes_the_template(cli: Cli, tmp_path: Path) -> None:
    result = ok(cli("create", "add user avatar"))
    path = tmp_path / "migrations" / "001_add_user_avatar.sql"
    assert result.stdout.strip() == str(Path("migrations") / "001_add_user_avatar.sql")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("-- Migration: 001_add_user_avatar.sql\n-- Created: ")
    assert "-- Description: add user avatar\n\n-- UP\n\n\n-- DOWN\n" in text
    assert re.search(r"^-- Created: \d{4}-\d{2}-\d{2}$", text, re.MULTILINE)


def test_create_numbers_after_the_existing_files(
    cli: Cli, migrations: Migrations, tmp_path: Path
) -> None:
    folder = migrations({"0007_x.sql": A}, subdir="db/sql")
    result = ok(cli("create", "Add-Index", "--dir", "db/sql"))
    assert (folder / "0008_add_index.sql").is_file()
    assert result.stdout.strip().endswith("0008_add_index.sql")


def test_create_accepts_the_dir_before_the_command(cli: Cli, tmp_path: Path) -> None:
    ok(cli("--dir", "elsewhere", "create", "x"))
    assert (tmp_path / "elsewhere" / "001_x.sql").is_file()


def test_create_reads_the_dir_from_pyproject(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pgshift]\ndir = "db/migrations"\n',
                                             encoding="utf-8")
    ok(cli("create", "x"))
    assert (tmp_path / "db" / "migrations" / "001_x.sql").is_file()


def test_create_joins_several_words(cli: Cli, tmp_path: Path) -> None:
    ok(cli("create", "add", "user", "avatar"))
    assert (tmp_path / "migrations" / "001_add_user_avatar.sql").is_file()


def test_create_needs_no_database(cli: Cli, tmp_path: Path) -> None:
    result = cli("create", "x", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    ok(result)
    assert (tmp_path / "migrations" / "001_x.sql").is_file()


def test_create_json_prints_the_path(cli: Cli, tmp_path: Path) -> None:
    doc = one_json(ok(cli("create", "x", "--json")))
    assert doc["path"].endswith("001_x.sql")


def test_created_file_is_refused_until_its_up_section_has_sql(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    ok(cli("create", "x"))
    result = cli("--database-url", db_url, "migrate")
    assert result.exit_code == 2
    assert "001_x.sql" in result.stderr
    assert not table_exists(db_url, "_migrations")


def test_create_in_a_subprocess(run_pgshift: Callable[..., CliResult], tmp_path: Path) -> None:
    result = run_pgshift("migrate:create", "first one", input="")
    assert result.exit_code == 0, result
    assert (tmp_path / "migrations" / "001_first_one.sql").is_file()
    assert result.stdout.strip() == str(Path("migrations") / "001_first_one.sql")


# --- real subprocesses --------------------------------------------------------------------


def test_python_dash_m_pgshift_migrates_and_reports(
    run_pgshift: Callable[..., CliResult], db_url: str, migrations: Migrations
) -> None:
    folder = migrations(FILES)
    env = {"DATABASE_URL": db_url}
    result = run_pgshift("migrate", "--dir", str(folder), env=env, input="")
    assert result.exit_code == 0, result
    assert "002_b.sql" in result.stdout
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    status = run_pgshift("--dir", str(folder), "--json", "migrate:status", env=env, input="")
    assert status.exit_code == 0
    assert [m["state"] for m in json.loads(status.stdout)["migrations"]] == ["executed"] * 2


def test_subprocess_json_failure_is_one_document_and_exit_1(
    run_pgshift: Callable[..., CliResult], db_url: str, migrations: Migrations
) -> None:
    folder = migrations({"001_bad.sql": "-- UP\nCREATE TABLE t (id int);\nSELECT 1/0;\n"})
    result = run_pgshift("--database-url", db_url, "--dir", str(folder), "migrate", "--json",
                         input="")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["server"]["sqlstate"] == "22012"
    assert "Traceback" not in result.stderr
    assert not table_exists(db_url, "t")


# --- .env (S44) ---------------------------------------------------------------------------


def test_dotenv_url_is_used_when_the_environment_has_none(
    cli: Cli, db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    (tmp_path / ".env").write_text(f"DATABASE_URL={db_url}\n", encoding="utf-8")
    ok(cli("--dir", str(folder), "migrate"))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_environment_beats_dotenv(
    cli: Cli, db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://nobody@127.0.0.1:1/none\n",
                                   encoding="utf-8")
    ok(cli("--dir", str(folder), "migrate", env={"DATABASE_URL": db_url}))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_flag_beats_environment(cli: Cli, db_url: str, migrations: Migrations) -> None:
    folder = migrations(FILES)
    ok(cli("--database-url", db_url, "--dir", str(folder), "migrate",
           env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_env_file_option_replaces_dotenv(
    cli: Cli, db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://nobody@127.0.0.1:1/none\n",
                                   encoding="utf-8")
    (tmp_path / "ci.env").write_text(f"DATABASE_URL={db_url}\n", encoding="utf-8")
    ok(cli("--env-file", "ci.env", "--dir", str(folder), "migrate"))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_dotenv_does_not_leak_into_the_environment_of_later_runs(
    cli: Cli, db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    (tmp_path / ".env").write_text(f"DATABASE_URL={db_url}\n", encoding="utf-8")
    ok(cli("--dir", str(folder), "status"))
    assert "DATABASE_URL" not in os.environ


def test_libpq_environment_variables_name_the_server(
    cli: Cli, db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    target = conninfo_to_dict(db_url)
    env = {"PGHOST": str(target["host"]), "PGPORT": str(target.get("port", "5432")),
           "PGUSER": str(target["user"]), "PGDATABASE": str(target["dbname"])}
    ok(cli("--dir", str(migrations(FILES)), "migrate", env=env))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert not (tmp_path / ".pgshift").exists()


def test_pgservice_names_the_server(
    cli: Cli, db_url: str, migrations: Migrations, tmp_path: Path
) -> None:
    target = conninfo_to_dict(db_url)
    service = tmp_path / "pg_service.conf"
    service.write_text(
        f"[app]\nhost={target['host']}\nport={target.get('port', '5432')}\n"
        f"user={target['user']}\ndbname={target['dbname']}\n", encoding="utf-8")
    ok(cli("--dir", str(migrations(FILES)), "migrate",
           env={"PGSERVICEFILE": str(service), "PGSERVICE": "app"}))
    assert applied(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert not (tmp_path / ".pgshift").exists()

