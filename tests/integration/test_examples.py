"""The example project (examples/migrations) through the CLI, on a real database.

The examples are every migration of the design pgshift reimplements; these tests check
that migrate, rollback, reset and refresh leave exactly the schema they should, by
reading the catalog and the tracking table.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from pgtest import (
    Cli,
    CliResult,
    batches,
    catalog_snapshot,
    columns,
    execute,
    fetch,
    index_info,
    ok,
    run,
    table_exists,
    tracking_rows,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "migrations"
NAMES = sorted(path.name for path in EXAMPLES.glob("*.sql"))
TABLES = ("users", "workspaces", "generations", "notifications")
INDEXES = (
    "idx_users_avatar",
    "idx_notifications_user_id",
    "idx_notifications_unread",
    "idx_generations_model",
)
CHECKSUM = re.compile(r"^sha256v1:[0-9a-f]{64}$")



def down_section(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8").split("\n-- DOWN\n", 1)[1].strip()


def copy_examples(target: Path, names: list[str]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(EXAMPLES / name, target / name)
    return target


def schema_facts(url: str) -> dict[str, Any]:
    """What the examples change, read from the catalog."""
    fk = fetch(
        url,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conname = 'fk_generations_workspace' AND conrelid = to_regclass('generations')",
    )
    return {
        "tables": [name for name in TABLES if table_exists(url, name)],
        "users": columns(url, "users"),
        "indexes": {name: info[0] for name in INDEXES if (info := index_info(url, name))},
        "fk": fk[0][0] if fk else None,
    }


def expected_facts(applied: int) -> dict[str, Any]:
    """``schema_facts`` once the first ``applied`` examples are applied."""
    if applied == 0:
        return {"tables": [], "users": {}, "indexes": {}, "fk": None}
    users = {
        "id": "text",
        "email": "text",
        "name": "text",
        "credits": "numeric(20,8)" if applied >= 6 else "numeric(18,8)",
        "created_at": "timestamp with time zone",
        "updated_at": "timestamp with time zone",
    }
    indexes: dict[str, bool] = {}
    if applied >= 2:
        users["avatar_url"] = "text"
        indexes["idx_users_avatar"] = True
    if applied >= 3:
        users["phone"] = "text"
    if applied >= 4:
        indexes["idx_notifications_user_id"] = True
        indexes["idx_notifications_unread"] = True
    if applied >= 5:
        indexes["idx_generations_model"] = True
    tables = ["users", "workspaces", "generations"] + (["notifications"] if applied >= 4 else [])
    fk = None
    if applied >= 7:
        fk = "FOREIGN KEY (workspace_id) REFERENCES workspaces(id) ON DELETE SET NULL"
    return {"tables": tables, "users": users, "indexes": indexes, "fk": fk}


def without_tracking_table(url: str) -> dict[str, Any]:
    """The catalog snapshot once pgshift's own tables (the tracking table and its
    companion ``_migrations_progress``, when there is one) are checked empty and dropped."""
    assert tracking_rows(url) == []
    if table_exists(url, "_migrations_progress"):
        assert fetch(url, "SELECT name FROM _migrations_progress") == []
    execute(url, "DROP TABLE IF EXISTS _migrations_progress, _migrations")
    return catalog_snapshot(url)


def test_examples_are_the_seven_documented_migrations() -> None:
    assert NAMES == [
        "001_initial_schema.sql",
        "002_add_user_avatar.sql",
        "003_add_user_phone.sql",
        "004_create_notifications_table.sql",
        "005_add_generations_model_index.sql",
        "006_widen_user_credits.sql",
        "007_add_generations_workspace_fk.sql",
    ]
    avatar = (EXAMPLES / "002_add_user_avatar.sql").read_text(encoding="utf-8")
    assert avatar.startswith(
        "-- Migration: 002_add_user_avatar.sql\n-- Created: 2026-01-20\n"
        "-- Description: Add avatar column to users table\n"
    )


def test_migrate_applies_every_example(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, EXAMPLES, "migrate"))

    assert schema_facts(db_url) == expected_facts(7)
    assert columns(db_url, "users")["avatar_url"] == "text"
    assert columns(db_url, "users")["credits"] == "numeric(20,8)"

    avatar = index_info(db_url, "idx_users_avatar")
    assert avatar is not None and avatar[0] is True
    assert "(avatar_url)" in avatar[1]
    assert "WHERE (avatar_url IS NOT NULL)" in avatar[1]

    assert columns(db_url, "notifications") == {
        "id": "text",
        "user_id": "text",
        "type": "text",
        "message": "text",
        "read": "boolean",
        "created_at": "timestamp with time zone",
    }
    by_user = index_info(db_url, "idx_notifications_user_id")
    unread = index_info(db_url, "idx_notifications_unread")
    assert by_user is not None and by_user[0] and "(user_id)" in by_user[1]
    assert unread is not None and unread[0] and "WHERE (read = false)" in unread[1]
    assert fetch(
        db_url,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'notifications'::regclass AND contype = 'f'",
    ) == [("FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",)]

    model = index_info(db_url, "idx_generations_model")
    assert model is not None and model[0] is True and "(model)" in model[1]

    assert fetch(
        db_url,
        "SELECT contype, confdeltype, confrelid::regclass::text FROM pg_constraint"
        " WHERE conname = 'fk_generations_workspace'",
    ) == [("f", "n", "workspaces")]


def test_migrate_records_one_row_per_example(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, EXAMPLES, "migrate"))

    rows = tracking_rows(db_url)
    assert [row["name"] for row in rows] == NAMES
    assert [row["batch"] for row in rows] == [1] * len(NAMES)
    assert all(row["executed_at"] is not None for row in rows)
    assert all(CHECKSUM.match(row["checksum"] or "") for row in rows), rows
    assert len({row["checksum"] for row in rows}) == len(NAMES)
    for row in rows:
        assert row["down_sql"] is not None
        assert down_section(row["name"]) in row["down_sql"], row["name"]
        assert "-- UP" not in row["down_sql"]
    assert fetch(db_url, "SELECT name, batch FROM _migrations ORDER BY batch, name") == [
        (name, 1) for name in NAMES
    ]


def test_foreign_key_sets_workspace_to_null(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, EXAMPLES, "migrate"))
    execute(
        db_url,
        "INSERT INTO users (id, email) VALUES ('u1', 'a@example.com');"
        "INSERT INTO workspaces (id, owner_id, name) VALUES ('w1', 'u1', 'Main');"
        "INSERT INTO generations (id, user_id, workspace_id, model, prompt)"
        " VALUES ('g1', 'u1', 'w1', 'm-1', 'a cat');"
        "DELETE FROM workspaces WHERE id = 'w1';",
    )
    assert fetch(db_url, "SELECT id, workspace_id FROM generations") == [("g1", None)]


def test_rollback_of_a_single_batch_reverts_everything(cli: Cli, db_url: str) -> None:
    baseline = catalog_snapshot(db_url)
    ok(run(cli, db_url, EXAMPLES, "migrate"))

    ok(run(cli, db_url, EXAMPLES, "rollback"))

    assert schema_facts(db_url) == expected_facts(0)
    assert without_tracking_table(db_url) == baseline


def test_rollback_reverts_only_the_last_batch(cli: Cli, db_url: str, tmp_path: Path) -> None:
    directory = copy_examples(tmp_path / "project", NAMES[:1])
    ok(run(cli, db_url, directory, "migrate"))
    assert batches(db_url) == [("001_initial_schema.sql", 1)]

    copy_examples(directory, NAMES[1:3])
    ok(run(cli, db_url, directory, "migrate"))
    assert batches(db_url) == [
        ("001_initial_schema.sql", 1),
        ("002_add_user_avatar.sql", 2),
        ("003_add_user_phone.sql", 2),
    ]
    assert schema_facts(db_url) == expected_facts(3)

    result = ok(run(cli, db_url, directory, "--json", "rollback"))

    assert batches(db_url) == [("001_initial_schema.sql", 1)]
    assert schema_facts(db_url) == expected_facts(1)
    reverted = [entry["name"] for entry in json.loads(result.stdout)["rolled_back"]]
    assert reverted == ["003_add_user_phone.sql", "002_add_user_avatar.sql"]


def test_reset_leaves_no_objects_and_no_rows(cli: Cli, db_url: str, tmp_path: Path) -> None:
    baseline = catalog_snapshot(db_url)
    directory = copy_examples(tmp_path / "project", NAMES[:4])
    ok(run(cli, db_url, directory, "migrate"))
    copy_examples(directory, NAMES[4:])
    ok(run(cli, db_url, directory, "migrate"))
    assert {batch for _, batch in batches(db_url)} == {1, 2}

    ok(run(cli, db_url, directory, "reset", "--yes"))

    assert tracking_rows(db_url) == []
    assert schema_facts(db_url) == expected_facts(0)
    assert without_tracking_table(db_url) == baseline


def test_refresh_ends_with_every_example_in_batch_one(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    directory = copy_examples(tmp_path / "project", NAMES[:2])
    ok(run(cli, db_url, directory, "migrate"))
    copy_examples(directory, NAMES[2:5])
    ok(run(cli, db_url, directory, "migrate"))
    copy_examples(directory, NAMES[5:])
    ok(run(cli, db_url, directory, "migrate"))
    assert [batch for _, batch in batches(db_url)] == [1, 1, 2, 2, 2, 3, 3]

    ok(run(cli, db_url, directory, "refresh", "--yes"))

    assert batches(db_url) == [(name, 1) for name in NAMES]
    assert schema_facts(db_url) == expected_facts(7)


def test_each_example_applies_and_rolls_back_on_its_own(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "project"
    for count, name in enumerate(NAMES, start=1):
        copy_examples(directory, [name])
        ok(run(cli, db_url, directory, "migrate"))
        assert batches(db_url)[-1] == (name, count)
        assert len(tracking_rows(db_url)) == count
        assert schema_facts(db_url) == expected_facts(count), name

    for count in range(len(NAMES), 0, -1):
        ok(run(cli, db_url, directory, "rollback"))
        assert [name for name, _ in batches(db_url)] == NAMES[: count - 1]
        assert schema_facts(db_url) == expected_facts(count - 1), NAMES[count - 1]


@pytest.mark.parametrize("command", [("reset", "--yes"), ("refresh", "--yes"), ("rollback",)])
def test_destructive_commands_on_an_empty_database_succeed(
    cli: Cli, db_url: str, command: tuple[str, ...]
) -> None:
    ok(run(cli, db_url, EXAMPLES, *command))
    if command[0] == "refresh":
        assert batches(db_url) == [(name, 1) for name in NAMES]
    else:
        assert tracking_rows(db_url) == []


def test_readme_commands_run_in_order(run_pgshift: Cli, db_url: str) -> None:
    """The example README's sequence, as a real process from the repository root."""

    def pgshift(*args: str) -> CliResult:
        return run_pgshift(
            "--database-url", db_url, "--dir", "examples/migrations", *args, cwd=REPO
        )

    ok(pgshift("migrate"))
    assert schema_facts(db_url) == expected_facts(7)
    status = ok(pgshift("status"))
    for name in NAMES:
        assert name in status.stdout
    ok(pgshift("rollback"))
    assert schema_facts(db_url) == expected_facts(0)
    ok(pgshift("migrate"))
    ok(pgshift("reset", "--yes"))
    assert tracking_rows(db_url) == []
    assert schema_facts(db_url) == expected_facts(0)
    ok(pgshift("refresh", "--yes"))
    assert batches(db_url) == [(name, 1) for name in NAMES]
    assert schema_facts(db_url) == expected_facts(7)
