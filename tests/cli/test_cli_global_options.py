"""Global behaviour of the ``pgshift`` command: ``--version``, help for every command, the colon
aliases, and the global options accepted before or after the command.

In-process (``cli``) and in real subprocesses (``run_pgshift``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli.samples import FILES, A, B, tables
from pgshift import __version__
from pgtest import (
    Cli,
    Files,
    batches,
    ok,
    one_json,
    run,
    table_exists,
)


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


def test_migrate_status_alias_is_status(cli: Cli, db_url: str, migrations: Files) -> None:
    result = ok(run(cli, db_url, migrations(FILES), "migrate:status"))
    assert result.stdout.splitlines()[-1] == "2 migrations: 2 pending"


def test_migrate_rollback_alias_is_rollback(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    ok(run(cli, db_url, folder, "migrate:rollback"))
    assert batches(db_url) == []


def test_migrate_reset_alias_is_reset(cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    ok(run(cli, db_url, folder, "migrate:reset", "--yes"))
    assert batches(db_url) == []
    assert not {"a", "b"} & tables(db_url)


def test_migrate_refresh_alias_is_refresh(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_a.sql": A})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_b.sql": B})
    ok(run(cli, db_url, folder, "migrate"))
    ok(run(cli, db_url, folder, "migrate:refresh", "--yes"))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_migrate_create_alias_is_create(cli: Cli, tmp_path: Path) -> None:
    result = ok(cli("migrate:create", "add user avatar"))
    path = tmp_path / "migrations" / "001_add_user_avatar.sql"
    assert path.is_file()
    assert result.stdout.strip() == str(Path("migrations") / "001_add_user_avatar.sql")


def test_aliases_reset_and_refresh_also_refuse_without_yes(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    assert run(cli, db_url, folder, "migrate:reset").exit_code == 2
    assert run(cli, db_url, folder, "migrate:refresh").exit_code == 2
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def layouts(url: str, folder: Path) -> dict[str, list[str]]:
    given = ["--database-url", url, "--dir", str(folder), "--table", "schema_log", "--json"]
    return {
        "before": [*given, "migrate"],
        "after": ["migrate", *given],
        "mixed": [*given[:2], "--json", "migrate", *given[2:6]],
    }


@pytest.mark.parametrize("layout", ["before", "after", "mixed"])
def test_global_options_work_before_and_after_the_command(
    cli: Cli, db_url: str, migrations: Files, layout: str
) -> None:
    result = ok(cli(*layouts(db_url, migrations(FILES))[layout]))
    assert one_json(result)["batch"] == 1
    assert batches(db_url, "schema_log") == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert not table_exists(db_url, "_migrations")


def test_option_given_after_the_command_wins_over_the_one_before(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    ok(cli("--database-url", db_url, "--dir", str(folder), "--table", "first", "migrate",
           "--table", "second"))
    assert table_exists(db_url, "second")
    assert not table_exists(db_url, "first")


@pytest.mark.parametrize("position", ["before", "after"])
def test_env_file_option_works_before_and_after_the_command(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path, position: str
) -> None:
    folder = migrations(FILES)
    (tmp_path / "ci.env").write_text(f"DATABASE_URL={db_url}\n", encoding="utf-8")
    given = ["--env-file", "ci.env", "--dir", str(folder)]
    args = [*given, "migrate"] if position == "before" else ["migrate", *given]
    ok(cli(*args))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
