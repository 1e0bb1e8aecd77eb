"""``pgshift rollback``, ``reset`` and ``refresh`` on a real database, and the confirmation of
the destructive ones (S48): refused without ``--yes`` and no terminal, asked on a terminal.

In-process (``cli``), in real subprocesses (``run_pgshift``) and on a pseudo-terminal;
every run is checked against the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cli.samples import FILES, A, B, C, tables
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
    run_on_terminal,
    terminal_env,
)


def test_rollback_rolls_back_the_last_batch_newest_first(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_a.sql": A})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_b.sql": B, "003_c.sql": C})
    ok(run(cli, db_url, folder, "migrate"))
    result = ok(run(cli, db_url, folder, "rollback"))
    assert batches(db_url) == [("001_a.sql", 1)]
    assert "a" in tables(db_url)
    assert not {"b", "c"} & tables(db_url)
    assert result.stdout.index("003_c.sql") < result.stdout.index("002_b.sql")


def test_rollback_with_nothing_applied_says_so_and_exits_0(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    result = ok(run(cli, db_url, migrations(FILES), "rollback"))
    assert "Nothing to roll back" in result.stdout


def test_reset_with_yes_rolls_back_every_batch(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_a.sql": A})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_b.sql": B})
    ok(run(cli, db_url, folder, "migrate"))
    result = ok(run(cli, db_url, folder, "reset", "--yes"))
    assert batches(db_url) == []
    assert not {"a", "b"} & tables(db_url)
    assert result.stdout.index("002_b.sql") < result.stdout.index("001_a.sql")


def test_refresh_with_yes_reapplies_everything_as_batch_1(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_a.sql": A})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"002_b.sql": B})
    ok(run(cli, db_url, folder, "migrate"))
    execute(db_url, "INSERT INTO a VALUES (42)")
    ok(run(cli, db_url, folder, "refresh", "--yes"))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert fetch(db_url, "SELECT count(*) FROM a") == [(0,)]


def test_short_yes_flag_works(cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    ok(run(cli, db_url, folder, "reset", "-y"))
    assert batches(db_url) == []


@pytest.mark.parametrize("command", ["reset", "refresh", "migrate:reset", "migrate:refresh"])
def test_destructive_command_without_yes_and_no_terminal_refuses(
    cli: Cli, db_url: str, migrations: Files, command: str
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
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    before = catalog_snapshot(db_url)
    assert run(cli, db_url, folder, "reset", input="y\n").exit_code == 2
    assert catalog_snapshot(db_url) == before


def test_refusal_happens_before_connecting(cli: Cli, migrations: Files) -> None:
    result = cli("--database-url", "postgresql://nobody@127.0.0.1:1/none",
                 "--dir", str(migrations(FILES)), "reset")
    assert result.exit_code == 2
    assert "--yes" in result.stderr


@pytest.mark.parametrize("command", ["reset", "refresh"])
def test_destructive_command_without_yes_refuses_in_a_subprocess(
    run_pgshift: Callable[..., CliResult], db_url: str, migrations: Files, command: str
) -> None:
    folder = migrations(FILES)
    env = {"DATABASE_URL": db_url}
    assert run_pgshift("--dir", str(folder), "migrate", env=env, input="").exit_code == 0
    before = catalog_snapshot(db_url)
    result = run_pgshift("--dir", str(folder), command, env=env, input="")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert catalog_snapshot(db_url) == before


def test_reset_on_a_terminal_asks_and_declining_changes_nothing(
    db_url: str, migrations: Files, tmp_path: Path
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
    db_url: str, migrations: Files, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    env = terminal_env(db_url)
    assert run_on_terminal(["--dir", str(folder), "migrate"], env, tmp_path).exit_code == 0
    result = run_on_terminal(["--dir", str(folder), "reset"], env, tmp_path, answer="y\n")
    assert result.exit_code == 0, result
    assert batches(db_url) == []
    assert not {"a", "b"} & tables(db_url)
