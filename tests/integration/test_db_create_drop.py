"""``pgshift db create`` and ``db drop``: the URL's database, through a maintenance
database, idempotent, confirmed before a drop; and the library functions behind them."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgshift.lifecycle.database import (
    create_database,
    database_exists,
    drop_database,
    target_database,
)
from pgtest import Cli, CliResult, clean_environ, execute, fetch, url_for_database


@pytest.fixture
def new_name(pg_url: str) -> Iterator[str]:
    """A database name not in use; the database is dropped after the test if it exists."""
    name = f"pgshift_db_{secrets.token_hex(5)}"
    yield name
    execute(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def exists(pg_url: str, name: str) -> bool:
    return bool(fetch(pg_url, "SELECT 1 FROM pg_database WHERE datname = %s", [name]))


def test_create_makes_the_database_then_says_it_exists(cli: Cli, pg_url: str,
                                                      new_name: str) -> None:
    url = url_for_database(pg_url, new_name)
    first = cli("--database-url", url, "db", "create")
    assert first.exit_code == 0, first.stderr
    assert f"created database '{new_name}'" in first.stdout
    assert exists(pg_url, new_name)
    again = cli("--database-url", url, "db", "create")
    assert again.exit_code == 0, again.stderr
    assert "already exists" in again.stdout
    with psycopg.connect(url) as conn:  # the database is usable
        assert conn.execute("SELECT current_database()").fetchone() == (new_name,)


def test_create_json(cli: Cli, pg_url: str, new_name: str) -> None:
    url = url_for_database(pg_url, new_name)
    result = cli("--database-url", url, "--json", "db", "create")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] and document["changed"] and document["database"] == new_name
    assert document["maintenance_database"] == "postgres"
    assert json.loads(cli("--database-url", url, "--json", "db", "create").stdout)[
        "changed"] is False


def test_name_that_needs_quoting_is_created_exactly(cli: Cli, pg_url: str,
                                                   new_name: str) -> None:
    odd = new_name + '-Odd "Name"; DROP'
    url = url_for_database(pg_url, odd)
    try:
        assert cli("--database-url", url, "db", "create").exit_code == 0
        assert exists(pg_url, odd)
        assert not exists(pg_url, new_name)
        dropped = cli("--database-url", url, "db", "drop", "--yes")
        assert dropped.exit_code == 0, dropped.stderr
        assert not exists(pg_url, odd)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(odd)))


def test_drop_without_terminal_and_without_yes_is_refused(cli: Cli, pg_url: str,
                                                          new_name: str) -> None:
    execute(pg_url, f'CREATE DATABASE "{new_name}"')
    result = cli("--database-url", url_for_database(pg_url, new_name), "db", "drop")
    assert result.exit_code == 2
    assert "--yes" in result.stderr and new_name in result.stderr
    assert exists(pg_url, new_name)


def test_drop_yes_drops_then_says_there_is_nothing(cli: Cli, pg_url: str,
                                                   new_name: str) -> None:
    execute(pg_url, f'CREATE DATABASE "{new_name}"')
    url = url_for_database(pg_url, new_name)
    result = cli("--database-url", url, "db", "drop", "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"dropped database '{new_name}'" in result.stdout
    assert not exists(pg_url, new_name)
    again = cli("--database-url", url, "db", "drop", "--yes")
    assert again.exit_code == 0 and "does not exist" in again.stdout


def _drop_on_a_terminal(url: str, answer: str, cwd: Path) -> CliResult:
    """``pgshift db drop`` with a pseudo-terminal as stdin, answering ``answer``."""
    main, replica = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pgshift", "--database-url", url, "db", "drop"],
            stdin=replica, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
            env=clean_environ(), text=True)
        os.write(main, answer.encode() + b"\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(main)
        os.close(replica)
    return CliResult(proc.returncode, out, err)


def test_drop_asks_on_a_terminal(pg_url: str, new_name: str, tmp_path: Path) -> None:
    execute(pg_url, f'CREATE DATABASE "{new_name}"')
    url = url_for_database(pg_url, new_name)
    declined = _drop_on_a_terminal(url, "n", tmp_path)
    assert declined.exit_code == 2, declined.stderr
    assert "Continue?" in declined.stderr and "cancelled" in declined.stderr
    assert exists(pg_url, new_name)
    accepted = _drop_on_a_terminal(url, "y", tmp_path)
    assert accepted.exit_code == 0, accepted.stderr
    assert not exists(pg_url, new_name)


def test_drop_of_a_database_in_use_needs_force(cli: Cli, pg_url: str, new_name: str) -> None:
    execute(pg_url, f'CREATE DATABASE "{new_name}"')
    url = url_for_database(pg_url, new_name)
    with psycopg.connect(url) as other:
        refused = cli("--database-url", url, "db", "drop", "--yes")
        assert refused.exit_code == 1
        assert "is being accessed by other users" in refused.stderr
        assert "--force" in refused.stderr
        assert exists(pg_url, new_name)
        forced = cli("--database-url", url, "db", "drop", "--yes", "--force")
        assert forced.exit_code == 0, forced.stderr
        assert not exists(pg_url, new_name)
        other.close()


def test_the_maintenance_database_itself_is_managed_through_template1(pg_url: str) -> None:
    url = url_for_database(pg_url, "postgres")
    result = create_database(url)
    assert (result.changed, result.via, result.database) == (False, "template1", "postgres")


def test_library_functions(pg_url: str, new_name: str) -> None:
    url = url_for_database(pg_url, new_name)
    assert target_database(url) == new_name
    assert not database_exists(url)
    assert create_database(url).changed
    assert database_exists(url)
    assert not create_database(url).changed
    assert drop_database(url).changed
    assert not database_exists(url)
    assert not drop_database(url).changed


def test_target_database_defaults_like_libpq(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGDATABASE", raising=False)
    monkeypatch.delenv("PGUSER", raising=False)
    assert target_database("host=h user=alice") == "alice"
    monkeypatch.setenv("PGDATABASE", "from_env")
    assert target_database("host=h user=alice") == "from_env"
    assert target_database("postgresql://alice@h/explicit") == "explicit"


def test_a_user_without_createdb_gets_the_servers_reason(cli: Cli, pg_url: str,
                                                        new_name: str) -> None:
    role = f"pgshift_nocreate_{secrets.token_hex(4)}"
    execute(pg_url, f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        url = url_for_database(pg_url, new_name).replace("postgres@", f"{role}@", 1)
        if "@" not in url:  # a key=value test URL
            url = f"{url} user={role}"
        result = cli("--database-url", url, "db", "create")
        assert result.exit_code == 1
        assert "permission denied to create database" in result.stderr
        assert not exists(pg_url, new_name)
    finally:
        execute(pg_url, f"DROP ROLE {role}")
