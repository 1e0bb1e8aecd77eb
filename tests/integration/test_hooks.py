"""Hooks (SPEC 9.4) on a real database: before/after-migrate in their own transactions,
only when something is applied; before/after-each inside each transactional migration's
transaction; placeholders; listed by plan; a failing hook fails the run (exit 1) and
says which hook and what stays applied."""

from __future__ import annotations

import json

import pytest

from pgshift import Migrator
from pgshift.errors import HookFailed, MigrationFileError
from pgtest import Cli, Files, fetch, table_exists, tracking_rows

LOG = "CREATE TABLE IF NOT EXISTS hook_log (id serial, what text, txid bigint);\n"


def hooks(**texts: str) -> dict[str, str]:
    return {f"hooks/{name.replace('_', '-')}.sql": text for name, text in texts.items()}


def log(what: str) -> str:
    return LOG + f"INSERT INTO hook_log (what, txid) VALUES ({what}, txid_current());\n"


def test_hooks_run_in_order_and_each_in_the_migration_transaction(
        db_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n",
        "003_c.sql": "-- pgshift: no-transaction\n-- UP\nCREATE TABLE c (id int);\n",
        **hooks(before_migrate=log("'before-migrate'"),
                after_migrate=log("'after-migrate'") + "GRANT SELECT ON a TO PUBLIC;\n",
                before_each=log("'before ${pgshift:filename}'"),
                after_each=log("'after ${pgshift:filename}'")),
    })
    result = Migrator(db_url, folder).migrate()
    assert [a.name for a in result.applied] == ["001_a.sql", "002_b.sql", "003_c.sql"]
    rows = fetch(db_url, "SELECT what, txid FROM hook_log ORDER BY id")
    assert [w for w, _ in rows] == [
        "before-migrate", "before 001_a.sql", "after 001_a.sql", "before 002_b.sql",
        "after 002_b.sql", "after-migrate"]
    tx = dict(rows)
    assert tx["before 001_a.sql"] == tx["after 001_a.sql"]
    assert tx["before 002_b.sql"] == tx["after 002_b.sql"] != tx["after 001_a.sql"]
    assert len({tx["before-migrate"], tx["after-migrate"], tx["before 001_a.sql"]}) == 3
    assert fetch(db_url, "SELECT has_table_privilege('public', 'a', 'SELECT')") == [(True,)]
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_a.sql", "002_b.sql",
                                                          "003_c.sql"]

    again = Migrator(db_url, folder).migrate()
    assert again.applied == ()
    assert fetch(db_url, "SELECT count(*) FROM hook_log") == [(6,)]


def test_after_migrate_fails_after_two_migrations_committed(
        cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n",
        **hooks(after_migrate="CREATE TABLE hooked (id int);\n"
                              "GRANT SELECT ON a TO no_such_role_here;\n"),
    })
    result = cli("--database-url", db_url, "--dir", str(folder), "migrate")
    assert result.exit_code == 1
    assert "hooks/after-migrate.sql:2" in result.stderr
    assert "no_such_role_here" in result.stderr
    assert "stay applied" in result.stderr and "001_a.sql, 002_b.sql" in result.stderr
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_a.sql", "002_b.sql"]
    assert table_exists(db_url, "a") and table_exists(db_url, "b")
    assert not table_exists(db_url, "hooked")

    json_run = cli("--json", "--database-url", db_url, "--dir", str(folder), "rollback")
    assert json_run.exit_code == 0, json_run.stderr


def test_failing_before_each_rolls_back_that_migration_only(
        db_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n",
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n",
        **hooks(before_each="SELECT 1 / (SELECT count(*) - 1 FROM pg_tables "
                            "WHERE tablename = 'a' AND schemaname = 'public')::int;\n"),
    })
    with pytest.raises(HookFailed) as caught:
        Migrator(db_url, folder).migrate()
    error = caught.value
    assert error.migration == "hooks/before-each.sql"
    assert error.applied == ["001_a.sql"]
    assert any("002_b.sql is not applied" in n for n in error.notes)
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_a.sql"]
    assert not table_exists(db_url, "b")


def test_before_migrate_failure_applies_nothing_and_hooks_need_their_values(
        cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n",
        **hooks(before_migrate="SET LOCAL statement_timeout = ${timeout:literal};\n"
                               "SELECT missing_column FROM pg_class;\n"),
    })
    unset = cli("--database-url", db_url, "--dir", str(folder), "migrate")
    assert unset.exit_code == 2
    assert "hooks/before-migrate.sql:1" in unset.stderr and "timeout" in unset.stderr
    failed = cli("--json", "--database-url", db_url, "--dir", str(folder), "--var",
                 "timeout=5s", "migrate")
    assert failed.exit_code == 1
    document = json.loads(failed.stdout)
    assert document["ok"] is False
    assert "before-migrate" in json.dumps(document)
    assert not table_exists(db_url, "a")
    assert not table_exists(db_url, "_migrations") or tracking_rows(db_url) == []


def test_plan_lists_the_hooks_and_bad_hook_sql_is_exit_2(
        cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n",
        **hooks(after_each="INSERT INTO audit VALUES (1);\n",
                before_migrate="SET LOCAL role_x;\n"),
    })
    with pytest.raises(MigrationFileError, match=r"hooks/before-migrate\.sql"):
        Migrator(db_url, folder).migrate()
    (folder / "hooks" / "before-migrate.sql").write_text("SELECT 1;\n")
    plan = cli("--database-url", db_url, "--dir", str(folder), "plan")
    assert plan.exit_code == 0, plan.stderr
    assert "hooks/before-migrate.sql" in plan.stdout
    assert "hooks/after-each.sql" in plan.stdout
    planned = cli("--json", "--database-url", db_url, "--dir", str(folder), "plan")
    assert [h["file"] for h in json.loads(planned.stdout)["hooks"]] == [
        "hooks/before-migrate.sql", "hooks/after-each.sql"]
