"""Fleet on a real server (SPEC §8): schema targets run in their schema (SET LOCAL
search_path in transactions, the startup option outside them), keep their own tracking
table and lock; status and a no-op migrate read every schema with one query; the library's
FleetResult; the CLI's output, JSON document and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from faultkit import FaultProxy
from pgshift import Migrator
from pgshift.errors import LockTimeout
from pgshift.fleet.fleet import Fleet
from pgshift.fleet.results import FleetEvent
from pgshift.fleet.targets import Target, schema_targets
from pgtest import CliResult, execute, fetch, tracking_rows

Cli = Callable[..., CliResult]
Files = Callable[..., Path]

FILES = {
    "001_items.sql": "-- UP\nCREATE TABLE items (id int PRIMARY KEY, note text);\n"
                     "CREATE TABLE log (name text);\nINSERT INTO log VALUES ('001');\n"
                     "-- DOWN\nDROP TABLE log;\nDROP TABLE items;\n",
    "002_index.sql": "-- UP\nCREATE INDEX CONCURRENTLY items_note ON items (note);\n"
                     "-- DOWN\nDROP INDEX CONCURRENTLY items_note;\n",
    "003_own_block.sql": "-- UP\nBEGIN;\nCREATE TABLE extra (id int);\n"
                         "INSERT INTO log VALUES ('003');\nCOMMIT;\n"
                         "-- DOWN\nDROP TABLE extra;\n",
}


def make_schemas(url: str, *names: str) -> None:
    execute(url, "".join(f'CREATE SCHEMA "{n}";' for n in names))


def relations(url: str, schema: str) -> list[str]:
    return [r[0] for r in fetch(
        url, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname = %s AND c.relkind IN ('r', 'i') ORDER BY 1", [schema])]


def test_schema_targets_run_in_their_own_schema(db_url: str, migrations: Files) -> None:
    make_schemas(db_url, "tenant_a", "Tenant B")
    directory = migrations(FILES)
    events: list[FleetEvent] = []
    result = Fleet(schema_targets(db_url, pattern="%enant%"), directory,
                   on_event=events.append).migrate()

    assert result.ok and result.counts["migrated"] == 2
    assert [t.name for t in result.targets] == ["Tenant B", "tenant_a"]
    for schema in ("tenant_a", "Tenant B"):
        assert {"items", "items_note", "log", "extra", "_migrations"} <= set(
            relations(db_url, schema))
        rows = fetch(db_url, f'SELECT name, batch FROM "{schema}"._migrations ORDER BY id')
        assert rows == [(n, 1) for n in sorted(FILES)]
    assert relations(db_url, "public") == []
    assert fetch(db_url, 'SELECT name FROM tenant_a.log ORDER BY 1') == [("001",), ("003",)]
    kinds = {(e.target, e.kind) for e in events}
    assert ("tenant_a", "start") in kinds and ("Tenant B", "done") in kinds
    assert any(e.event is not None and e.event.kind == "applied" for e in events)


def test_rollback_status_and_plan_per_schema(db_url: str, migrations: Files) -> None:
    make_schemas(db_url, "t1", "t2")
    directory = migrations(FILES)
    fleet = Fleet(schema_targets(db_url, pattern="t_"), directory)
    fleet.migrate()
    execute(db_url, "CREATE SCHEMA t3")
    fleet = Fleet(schema_targets(db_url, pattern="t_"), directory)

    status = fleet.status()
    assert {t.name: t.outcome for t in status.targets} == {
        "t1": "up-to-date", "t2": "up-to-date", "t3": "pending"}
    assert status.targets[2].report is not None
    assert status.targets[2].report.counts["pending"] == 3
    plan = fleet.plan()
    assert plan.targets[2].pending == tuple(sorted(FILES))

    undone = fleet.rollback()
    assert {t.name: t.outcome for t in undone.targets} == {
        "t1": "rolled-back", "t2": "rolled-back", "t3": "up-to-date"}
    assert undone.targets[0].rolled_back == tuple(sorted(FILES, reverse=True))
    assert relations(db_url, "t1") == ["_migrations", "_migrations_name_key",
                                       "_migrations_pkey", "_migrations_progress",
                                       "_migrations_progress_pkey"]


def test_each_schema_has_its_own_lock(db_url: str, migrations: Files) -> None:
    from pgshift.db.lock import lock_key

    make_schemas(db_url, "s1", "s2")
    directory = migrations(FILES)
    # a session lock on an autocommit connection: no open transaction (and no snapshot)
    # that would make the CREATE INDEX CONCURRENTLY of s2 wait
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [lock_key("s1", "_migrations")])
        result = Fleet(schema_targets(db_url, pattern="s_"), directory, lock_wait=0).migrate()
        outcomes = {t.name: t.outcome for t in result.targets}
        assert outcomes == {"s1": "failed", "s2": "migrated"}
        assert isinstance(result.targets[0].error, LockTimeout)
        with pytest.raises(LockTimeout):
            Migrator(db_url, directory, schema="s1", lock_wait=0).migrate()
        holder.execute("SELECT pg_advisory_unlock_all()")
    assert tracking_rows(db_url, "s1._migrations") == []
    assert Migrator(db_url, directory, schema="s1", lock_wait=0).migrate().applied


def test_a_missing_schema_fails_that_target_only(db_url: str, migrations: Files) -> None:
    make_schemas(db_url, "here")
    targets = [Target("here", db_url, "here"), Target("gone", db_url, "gone")]
    result = Fleet(targets, migrations(FILES)).migrate()
    assert {t.name: t.outcome for t in result.targets} == {"gone": "failed",
                                                           "here": "migrated"}
    assert "schema 'gone' does not exist" in str(result.targets[0].error)
    assert relations(db_url, "public") == []


def test_database_and_schema_targets_together(db_url: str, migrations: Files) -> None:
    make_schemas(db_url, "x1")
    targets = [Target("db", db_url), Target("x1", db_url, "x1"),
               Target("closed", "postgresql://postgres@127.0.0.1:1/none")]
    result = Fleet(targets, migrations(FILES)).migrate()
    assert {t.name: t.outcome for t in result.targets} == {
        "closed": "unreachable", "db": "migrated", "x1": "migrated"}
    assert not result.ok
    assert len(tracking_rows(db_url, "public._migrations")) == 3
    assert len(tracking_rows(db_url, "x1._migrations")) == 3


def through_proxy(url: str) -> FaultProxy:
    target = conninfo_to_dict(url)
    return FaultProxy(str(target.get("host", "127.0.0.1")), int(target.get("port", 5432)))


@pytest.mark.parametrize("command", ["status", "migrate"])
def test_status_and_no_op_migrate_read_all_schemas_with_one_query(
    db_url: str, migrations: Files, run_pgshift: Any, command: str
) -> None:
    names = [f"tenant_{i:02d}" for i in range(40)]
    make_schemas(db_url, *names)
    directory = migrations(FILES)
    done = run_pgshift("--database-url", db_url, "--dir", str(directory), "fleet", "migrate",
                       "--schemas", "tenant_%", "-q")
    assert done.exit_code == 0, done.stderr
    with through_proxy(db_url) as proxy:
        result = run_pgshift("--database-url", proxy.rewrite_url(db_url), "--dir",
                             str(directory), "fleet", command, "--schemas", "tenant_%")
        stats = proxy.stats()

    assert result.exit_code == 0, result.stderr
    assert "40 targets: " in result.stdout and "40 up to date" in result.stdout
    sent = stats.client_messages
    # one connection and query list the schemas, one connection and query read them all
    assert sent.get("Q", 0) + sent.get("E", 0) == 2, sent
    assert stats.accepted == 2, stats


def test_fleet_cli_lines_summary_and_json(db_url: str, migrations: Files, cli: Cli) -> None:
    make_schemas(db_url, "c1", "c2", "c3")
    execute(db_url, "CREATE TABLE c2.log (x date)")  # 001's INSERT fails on c2
    directory = migrations(FILES)
    base = ("--database-url", db_url, "--dir", str(directory), "fleet")

    text = cli(*base, "migrate", "--schemas", "c_")
    assert text.exit_code == 1
    lines = text.stdout.splitlines()
    assert lines[0].split()[:2] == ["c1", "migrated"]
    assert lines[1].split()[:2] == ["c2", "failed"]
    assert "001_items.sql:4: invalid input syntax for type date" in lines[1]
    assert lines[-1] == "3 targets: 2 migrated, 0 up to date, 1 failed, 0 unreachable, 0 skipped"

    document = cli(*base, "status", "--schemas", "c_", "--json")
    body = json.loads(document.stdout)
    assert document.exit_code == 0
    assert set(body) == {"ok", "targets", "counts"}
    assert body["counts"]["pending"] == 1 and body["counts"]["up-to-date"] == 2
    c2 = body["targets"][1]
    assert {"name", "outcome", "batch", "applied", "rolled_back", "error",
            "duration_ms"} <= set(c2)
    assert c2["status"] == {"executed": 0, "pending": 3, "modified": 0, "missing": 0,
                            "partial": 0}
    assert cli(*base, "status", "--schemas", "c_", "--fail-if-pending").exit_code == 1

    failed = json.loads(cli(*base, "migrate", "--schemas", "c_", "--json").stdout)
    assert failed["ok"] is False
    error = failed["targets"][1]["error"]
    assert error["error"] == "MigrationFailed" and error["server"]["sqlstate"] == "22007"


@pytest.mark.parametrize(("args", "says"), [
    ((), "no targets"),
    (("--schemas", ""), "--schemas: the pattern is empty"),
    (("--schemas", "t\\"), "must not end with the escape character"),
    (("--schemas", "t%", "--shard", "3/2"), "--shard '3/2'"),
    (("--schemas", "t%", "--only", "zz"), "no target named zz"),
    (("--schemas-query", "SELECT 1"), "is not text"),
    (("--schemas-query", "SELECT nope FROM nothing"), "--schemas-query failed"),
    (("--schemas-query", "DELETE FROM pg_class RETURNING relname"), "read-only transaction"),
    (("--targets", "missing.toml"), "no such file"),
])
def test_bad_fleet_usage_exits_2(db_url: str, migrations: Files, cli: Cli,
                                 args: tuple[str, ...], says: str) -> None:
    result = cli("--database-url", db_url, "--dir", str(migrations(FILES)), "fleet",
                 "migrate", *args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert result.stdout == ""


def test_a_schema_qualified_table_is_refused(db_url: str, migrations: Files, cli: Cli) -> None:
    result = cli("--database-url", db_url, "--dir", str(migrations(FILES)), "--table",
                 "x.tracking", "fleet", "status", "--schemas", "t%")
    assert result.exit_code == 2 and "give its name only" in result.stderr


def test_targets_file_password_refused_and_never_shown(
    db_url: str, migrations: Files, cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "t.toml").write_text(
        '[[target]]\nname = "a"\nurl = "postgresql://u:Sup3rS3cret@127.0.0.1/x"\n')
    result = cli("--dir", str(migrations(FILES)), "fleet", "migrate", "--targets", "t.toml")
    assert result.exit_code == 2
    assert "holds a password" in result.stderr
    assert "Sup3rS3cret" not in result.stdout + result.stderr


def test_pyproject_fleet_section_gives_the_targets(
    db_url: str, migrations: Files, cli: Cli, tmp_path: Path
) -> None:
    make_schemas(db_url, "p1", "p2")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pgshift]\ndir = "migrations"\n[tool.pgshift.fleet]\nschemas = "p_"\n')
    migrations(FILES)
    result = cli("--database-url", db_url, "fleet", "migrate")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("2 targets: 2 migrated")


def test_targets_file_with_url_env(db_url: str, migrations: Files, cli: Cli,
                                   tmp_path: Path) -> None:
    make_schemas(db_url, "f1")
    (tmp_path / "t.toml").write_text(
        '[[target]]\nname = "whole"\nurl_env = "MAIN_DB"\n\n'
        '[[target]]\nname = "one"\nurl_env = "MAIN_DB"\nschema = "f1"\n')
    result = cli("--dir", str(migrations(FILES)), "fleet", "migrate", "--targets", "t.toml",
                 env={"MAIN_DB": db_url})
    assert result.exit_code == 0, result.stderr
    assert len(tracking_rows(db_url, "f1._migrations")) == 3
    assert len(tracking_rows(db_url, "public._migrations")) == 3
