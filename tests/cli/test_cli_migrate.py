"""``pgshift migrate`` on a real database: batches, nothing pending, an empty directory,
migrations run outside a transaction, and ``python -m pgshift`` in a real subprocess.

In-process (``cli``) and in real subprocesses (``run_pgshift``); every run is checked
against the database."""

from __future__ import annotations

import json
from collections.abc import Callable

from cli.samples import FILES, A, C, tables
from pgtest import (
    Cli,
    CliResult,
    Files,
    batches,
    catalog_snapshot,
    ok,
    one_json,
    run,
)


def test_migrate_applies_every_pending_migration_as_one_batch(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    result = ok(run(cli, db_url, migrations(FILES), "migrate"))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert {"a", "b"} <= tables(db_url)
    assert "001_a.sql" in result.stdout
    assert "002_b.sql" in result.stdout
    assert result.stdout.index("001_a.sql") < result.stdout.index("002_b.sql")


def test_migrate_with_nothing_pending_says_so_and_exits_0(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    before = catalog_snapshot(db_url)
    result = ok(run(cli, db_url, folder, "migrate"))
    assert "Nothing to migrate" in result.stdout
    assert catalog_snapshot(db_url) == before


def test_migrate_on_an_empty_directory_exits_0(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    result = ok(run(cli, db_url, migrations({}), "migrate"))
    assert "Nothing to migrate" in result.stdout


def test_a_later_migrate_makes_the_next_batch(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    ok(run(cli, db_url, migrations(FILES), "migrate"))
    ok(run(cli, db_url, migrations({"003_c.sql": C}), "migrate"))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 2)]


def test_migrations_run_outside_a_transaction_are_named_in_output(
    cli: Cli, db_url: str, migrations: Files
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


def test_python_dash_m_pgshift_migrates_and_reports(
    run_pgshift: Callable[..., CliResult], db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    env = {"DATABASE_URL": db_url}
    result = run_pgshift("migrate", "--dir", str(folder), env=env, input="")
    assert result.exit_code == 0, result
    assert "002_b.sql" in result.stdout
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    status = run_pgshift("--dir", str(folder), "--json", "migrate:status", env=env, input="")
    assert status.exit_code == 0
    assert [m["state"] for m in json.loads(status.stdout)["migrations"]] == ["executed"] * 2
