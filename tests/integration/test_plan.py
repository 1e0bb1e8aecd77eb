"""``pgshift plan`` / ``migrate --dry-run`` / ``rollback --dry-run`` / ``reset --dry-run``:
what a run would do, the lock each statement takes, and nothing changed in the database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgshift import Migrator
from pgshift.analysis.locks.statement import MODES, statement_locks
from pgshift.db.lock import lock_key
from pgshift.review.plan import plan_migrate, plan_rollback
from pgtest import (
    Cli,
    Files,
    catalog_snapshot,
    execute,
    run,
    table_exists,
    tracking_rows,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "migrations"


def state(url: str) -> tuple[Any, Any]:
    """What "nothing changed" compares: the catalog with all table rows, and the
    tracking rows."""
    return catalog_snapshot(url), tracking_rows(url)


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return target


def statement(document: dict[str, Any], name: str, line: int) -> dict[str, Any]:
    migration = next(m for m in document["migrations"] if m["name"] == name)
    found: dict[str, Any] = next(s for s in migration["statements"] if s["line"] == line)
    return found


def locks_of(entry: dict[str, Any]) -> set[tuple[str, str]]:
    return {(lock["mode"], lock["relation"]) for lock in entry["locks"]}


# --- migrate plans ----------------------------------------------------------------------


def test_plan_shows_batch_modes_statements_locks_and_lint_and_changes_nothing(
    cli: Cli, db_url: str, examples: Path
) -> None:
    Migrator(db_url, examples).migrate(to="003_add_user_phone.sql")
    before = state(db_url)

    result = run(cli, db_url, examples, "plan")

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "migrate would apply 4 migrations as batch 2" in out
    assert "Dry run: nothing was changed." in out
    assert "004_create_notifications_table.sql in a transaction" in out
    assert ("005_add_generations_model_index.sql outside a transaction "
            "(CREATE INDEX CONCURRENTLY), statement by statement") in out
    assert ("line 9: CREATE INDEX CONCURRENTLY idx_generations_model ON generations(model)"
            in out)
    assert "SHARE UPDATE EXCLUSIVE on generations (CREATE INDEX CONCURRENTLY)" in out
    assert "ACCESS EXCLUSIVE on users (ALTER COLUMN … TYPE): blocks reads and writes" in out
    assert "SHARE ROW EXCLUSIVE on generations (ADD FOREIGN KEY)" in out
    assert "SHARE ROW EXCLUSIVE on workspaces (referenced by a new FOREIGN KEY)" in out
    assert ("007_add_generations_workspace_fk.sql:6: warning constraint-missing-not-valid"
            in out)
    assert "column-type-change" not in out  # 006 allows it in its header
    assert "001_initial_schema.sql" not in out
    assert state(db_url) == before


def test_plan_json_names_locks_modes_and_batch(cli: Cli, db_url: str, examples: Path) -> None:
    Migrator(db_url, examples).migrate(to="001_initial_schema.sql")
    before = state(db_url)

    result = run(cli, db_url, examples, "--json", "plan")

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["action"] == "migrate" and document["dry_run"] is True
    assert document["batch"] == 2 and document["refusal"] is None
    assert [m["name"] for m in document["migrations"]] == [
        f.name for f in sorted(examples.iterdir())][1:]
    modes = {m["name"]: m["mode"] for m in document["migrations"]}
    assert modes["005_add_generations_model_index.sql"] == "no-transaction"
    assert modes["002_add_user_avatar.sql"] == "transaction"
    add_column = statement(document, "002_add_user_avatar.sql", 6)
    assert add_column["sql"] == "ALTER TABLE users ADD COLUMN avatar_url TEXT"
    assert add_column["locks"] == [{
        "mode": "ACCESS EXCLUSIVE", "relation": "users", "kind": "table",
        "reason": "ADD COLUMN", "blocks": "blocks reads and writes"}]
    assert locks_of(statement(document, "002_add_user_avatar.sql", 7)) == {("SHARE", "users")}
    concurrent = statement(document, "005_add_generations_model_index.sql", 9)
    assert concurrent["outside_transaction"] == "CREATE INDEX CONCURRENTLY"
    assert locks_of(concurrent) == {("SHARE UPDATE EXCLUSIVE", "generations")}
    assert locks_of(statement(document, "007_add_generations_workspace_fk.sql", 6)) == {
        ("SHARE ROW EXCLUSIVE", "generations"), ("SHARE ROW EXCLUSIVE", "workspaces")}
    avatar = next(m for m in document["migrations"] if m["name"] == "002_add_user_avatar.sql")
    assert {(f["rule"], f["line"]) for f in avatar["findings"]} >= {
        ("require-concurrent-index", 7), ("require-concurrent-index-drop", 11)}
    assert state(db_url) == before


def test_migrate_dry_run_is_the_plan_and_creates_no_tracking_table(
    cli: Cli, db_url: str, examples: Path
) -> None:
    before = catalog_snapshot(db_url)

    dry = run(cli, db_url, examples, "--json", "migrate", "--dry-run")
    planned = run(cli, db_url, examples, "--json", "plan")

    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout) == json.loads(planned.stdout)
    assert json.loads(dry.stdout)["batch"] == 1
    assert not table_exists(db_url, "_migrations")
    assert catalog_snapshot(db_url) == before


def test_tables_created_earlier_in_the_same_transaction_are_not_reported_locked(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_t.sql": "-- UP\nCREATE TABLE t (id int PRIMARY KEY);\n"
                            "CREATE INDEX t_id ON t (id);\n"
                            "CREATE TABLE u (t_id int REFERENCES t (id));\n"})

    plan = plan_migrate(Migrator(db_url, directory))

    assert [s.locks for s in plan.migrations[0].statements] == [(), (), ()]


def test_plan_does_not_wait_for_the_migration_lock(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n"})
    with psycopg.connect(db_url, autocommit=True) as holder:
        schema = holder.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(schema, "_migrations"),))

        result = run(cli, db_url, directory, "plan")

    assert result.exit_code == 0, result.stderr
    assert "migrate would apply 1 migration as batch 1" in result.stdout


def test_plan_under_strict_refuses_on_drift_with_exit_1(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n",
                            "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n"})
    Migrator(db_url, directory).migrate(to="001_a.sql")
    (directory / "001_a.sql").write_text("-- UP\nCREATE TABLE a (id bigint);\n")
    before = state(db_url)

    result = run(cli, db_url, directory, "plan", "--strict")

    assert result.exit_code == 1
    assert "refused: --strict: applied migrations changed since they were applied: " \
        "001_a.sql (modified)" in result.stdout
    assert "001_a.sql was modified after it was applied" in result.stderr
    assert state(db_url) == before


def test_plan_with_nothing_pending_says_so(cli: Cli, db_url: str, migrations: Files) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n"})
    Migrator(db_url, directory).migrate()

    result = run(cli, db_url, directory, "plan")

    assert result.exit_code == 0
    assert result.stdout.startswith("Nothing to migrate (")


def test_plan_of_a_malformed_pending_file_is_exit_2(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n",
                            "002_bad.sql": "CREATE TABLE b (id int);\n"})

    result = run(cli, db_url, directory, "plan")

    assert result.exit_code == 2
    assert "002_bad.sql" in result.stderr


# --- rollback and reset plans -----------------------------------------------------------


def test_rollback_dry_run_lists_the_last_batch_newest_first_with_down_locks(
    cli: Cli, db_url: str, examples: Path
) -> None:
    migrator = Migrator(db_url, examples)
    migrator.migrate(to="001_initial_schema.sql")
    migrator.migrate(to="003_add_user_phone.sql")
    before = state(db_url)

    result = run(cli, db_url, examples, "--json", "rollback", "--dry-run")

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["action"] == "rollback" and document["batch"] == 2
    assert [(m["name"], m["section"], m["batch"], m["source"])
            for m in document["migrations"]] == [
        ("003_add_user_phone.sql", "down", 2, "file"),
        ("002_add_user_avatar.sql", "down", 2, "file")]
    drop_index = statement(document, "002_add_user_avatar.sql", 11)
    assert drop_index["sql"] == "DROP INDEX IF EXISTS idx_users_avatar"
    assert drop_index["locks"][0]["mode"] == "ACCESS EXCLUSIVE"
    assert drop_index["locks"][0]["relation"] == "users"  # the index's table, from the catalog
    assert state(db_url) == before


def test_reset_dry_run_covers_every_batch_and_uses_the_stored_down_of_a_missing_file(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n",
    })
    migrator = Migrator(db_url, directory)
    migrator.migrate(to="001_a.sql")
    migrator.migrate()
    (directory / "002_b.sql").unlink()
    before = state(db_url)

    result = run(cli, db_url, directory, "reset", "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert "reset would roll back 2 migrations (batches 2, 1), newest first" in result.stdout
    assert ("002_b.sql (batch 2): DOWN stored in the tracking table (file missing), "
            "in a transaction") in result.stdout
    assert result.stdout.index("002_b.sql") < result.stdout.index("001_a.sql")
    assert "ACCESS EXCLUSIVE on b (DROP TABLE)" in result.stdout
    assert "002_b.sql: file is missing" in result.stderr
    assert state(db_url) == before


def test_rollback_dry_run_refuses_with_exit_1_when_a_down_is_missing(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n"})
    Migrator(db_url, directory).migrate()
    before = state(db_url)

    result = run(cli, db_url, directory, "rollback", "--dry-run")

    assert result.exit_code == 1
    assert "001_a.sql (batch 1) has no DOWN section: it cannot be rolled back" in result.stdout
    assert "refused: cannot roll back: 001_a.sql has no DOWN section" in result.stdout
    assert state(db_url) == before


def test_plan_rollback_library_names_modes_of_down_sections(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_t.sql": "-- UP\nCREATE TABLE t (id int);\n-- DOWN\nDROP TABLE t;\n",
        "002_i.sql": "-- UP\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"
                     "-- DOWN\nDROP INDEX CONCURRENTLY t_id;\n",
    })
    Migrator(db_url, directory).migrate()

    plan = plan_rollback(Migrator(db_url, directory), all_batches=False)

    assert [m.name for m in plan.migrations] == ["002_i.sql", "001_t.sql"]
    index = plan.migrations[0]
    assert index.no_transaction and index.reasons == ("DROP INDEX CONCURRENTLY",)
    lock = index.statements[0].locks[0]
    assert (lock.mode, lock.relation, lock.kind) == ("SHARE UPDATE EXCLUSIVE", "t", "table")


# --- the lock table agrees with pg_locks ------------------------------------------------

SCHEMA = """
CREATE TABLE users (id int PRIMARY KEY, email text, n int);
CREATE TABLE ws (id int PRIMARY KEY, owner int);
CREATE TABLE parted (id int, k int) PARTITION BY RANGE (k);
CREATE TABLE part1 (id int, k int);
CREATE TABLE p2 PARTITION OF parted FOR VALUES FROM (100) TO (200);
CREATE INDEX idx_users_email ON users (email);
CREATE SEQUENCE s1;
CREATE VIEW v1 AS SELECT id FROM users;
CREATE MATERIALIZED VIEW mv1 AS SELECT id FROM users;
ALTER TABLE ws ADD CONSTRAINT ws_fk FOREIGN KEY (owner) REFERENCES users (id) NOT VALID;
CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER t1 BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION trg();
CREATE POLICY pol ON users USING (true);
"""

STATEMENTS = [
    "ALTER TABLE users ADD COLUMN bio text",
    "ALTER TABLE users ALTER COLUMN n SET DEFAULT 1",
    "ALTER TABLE users ALTER COLUMN n SET NOT NULL",
    "ALTER TABLE users ALTER COLUMN n SET STATISTICS 100",
    "ALTER TABLE users SET (fillfactor = 70)",
    "ALTER TABLE users ADD CONSTRAINT c CHECK (n > 0) NOT VALID",
    "ALTER TABLE users ADD CONSTRAINT uq UNIQUE (email)",
    "ALTER TABLE ws VALIDATE CONSTRAINT ws_fk",
    "ALTER TABLE ws ADD CONSTRAINT f2 FOREIGN KEY (owner) REFERENCES users (id)",
    "ALTER TABLE ws ADD COLUMN u int REFERENCES users (id)",
    "ALTER TABLE parted ATTACH PARTITION part1 FOR VALUES FROM (0) TO (100)",
    "ALTER TABLE parted DETACH PARTITION p2",
    "ALTER TABLE users DISABLE TRIGGER t1",
    "ALTER TABLE users ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE users RENAME COLUMN email TO mail",
    "ALTER TABLE users RENAME TO accounts",
    "ALTER TABLE users CLUSTER ON idx_users_email",
    "ALTER TABLE users ALTER COLUMN n SET (n_distinct = 5)",
    "ALTER VIEW v1 SET (security_barrier = true)",
    "ALTER SEQUENCE s1 RESTART 5",
    "CREATE INDEX idx_users_n ON users (n)",
    "CREATE TABLE p3 PARTITION OF parted FOR VALUES FROM (200) TO (300)",
    "CREATE TABLE child () INHERITS (users)",
    "CREATE TABLE copy (LIKE users)",
    "CREATE TABLE r (id int REFERENCES users (id))",
    "CREATE TABLE snapshot AS SELECT * FROM users",
    "CREATE OR REPLACE VIEW v1 AS SELECT id FROM users",
    "CREATE TRIGGER t2 AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION trg()",
    "CREATE POLICY p2 ON users USING (true)",
    "CREATE STATISTICS st1 ON id, n FROM users",
    "COMMENT ON TABLE users IS 'x'",
    "COMMENT ON COLUMN users.email IS 'x'",
    "DROP INDEX idx_users_email",
    "DROP TRIGGER t1 ON users",
    "DROP POLICY pol ON users",
    "DROP VIEW v1",
    "DROP SEQUENCE s1",
    "REINDEX INDEX idx_users_email",
    "REINDEX TABLE users",
    "REFRESH MATERIALIZED VIEW mv1",
    "TRUNCATE ws",
    "LOCK TABLE ws IN SHARE MODE",
    "INSERT INTO ws SELECT id, id FROM users",
    "UPDATE users SET n = 1 FROM ws WHERE ws.id = users.id",
    "DELETE FROM users USING ws WHERE ws.id = users.id",
    "SELECT * FROM users JOIN ws ON true FOR UPDATE OF ws",
    "ANALYZE users",
]


@pytest.fixture(scope="module")
def lock_db(pg_url: str) -> Any:
    from secrets import token_hex

    from psycopg import sql

    from pgtest import url_for_database

    name = f"pgshift_t_locks_{token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = url_for_database(pg_url, name)
    execute(url, SCHEMA)
    yield url
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def observed_locks(url: str, sql_text: str) -> dict[str, str]:
    """Strongest lock per pre-existing table, view or sequence while the statement's
    transaction is open (it is rolled back)."""
    names = {"AccessShareLock": 0, "RowShareLock": 1, "RowExclusiveLock": 2,
             "ShareUpdateExclusiveLock": 3, "ShareLock": 4, "ShareRowExclusiveLock": 5,
             "ExclusiveLock": 6, "AccessExclusiveLock": 7}
    with psycopg.connect(url) as conn:
        relations = dict(conn.execute(
            "SELECT oid, relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'p', 'v', 'm', 'S')").fetchall())
        conn.commit()
        conn.execute(sql_text)  # type: ignore[call-overload]
        held = conn.execute("SELECT relation, mode FROM pg_locks WHERE pid = pg_backend_pid() "
                            "AND locktype = 'relation'").fetchall()
        conn.rollback()
    strongest: dict[str, str] = {}
    for oid, mode in held:
        name = relations.get(oid)
        if name and (name not in strongest or names[mode] > MODES.index(strongest[name])):
            strongest[name] = MODES[names[mode]]
    return strongest


# Locks that only the catalog could tell (whose constraint, which query): the plan states
# them as a note on the statement instead of a lock.
NOTED = {
    "ALTER TABLE ws VALIDATE CONSTRAINT ws_fk": ({"users": "ROW SHARE"}, "ROW SHARE"),
    "REFRESH MATERIALIZED VIEW mv1": ({"users": "ACCESS SHARE"}, "ACCESS SHARE"),
}


@pytest.mark.parametrize("sql_text", STATEMENTS)
def test_lock_levels_agree_with_pg_locks(lock_db: str, sql_text: str) -> None:
    index_tables = {"idx_users_email": "users"}
    found = statement_locks(sql_text)
    predicted = {index_tables.get(lock.relation, lock.relation): lock.mode
                 for lock in found.locks}
    noted, words = NOTED.get(sql_text, ({}, ""))

    assert {**predicted, **noted} == observed_locks(lock_db, sql_text)
    assert all(words in " ".join(found.notes) for _ in noted)
