"""``migrate`` on a real database: one transaction per migration with its row, batches,
failures part-way through a run, and the PostgreSQL errors a migration can hit
(SPEC 5.1, 5.4; RELIABILITY S15, S20, S21, S22)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pgshift import Migrator
from pgshift.errors import MigrationFailed
from pgshift.results import Event
from pgtest import (
    Cli,
    Files,
    advisory_locks,
    batches,
    catalog_snapshot,
    columns,
    execute,
    fetch,
    run,
    table_exists,
    tracking_rows,
)

CHECKSUM = re.compile(r"^sha256v1:[0-9a-f]{64}$")




def table(name: str, extra: str = "") -> str:
    return f"-- UP\nCREATE TABLE {name} (id int{extra});\n\n-- DOWN\nDROP TABLE {name};\n"


# --- one transaction per migration, batches ---------------------------------------------


def test_each_migration_is_recorded_with_its_checksum_down_and_duration(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_a.sql": table("a"),
        "002_b.sql": "-- Migration: 002_b.sql\n-- Description: b\n\n" + table("b"),
        "003_c.sql": "-- UP\nCREATE TABLE c (id int);\n",
    })

    result = Migrator(db_url, directory).migrate()

    assert result.action == "migrate"
    assert result.batch == 1
    assert [a.name for a in result.applied] == ["001_a.sql", "002_b.sql", "003_c.sql"]
    assert all(table_exists(db_url, name) for name in ("a", "b", "c"))
    rows = tracking_rows(db_url)
    assert [(r["id"], r["name"], r["batch"]) for r in rows] == [
        (1, "001_a.sql", 1), (2, "002_b.sql", 1), (3, "003_c.sql", 1)
    ]
    assert all(CHECKSUM.match(r["checksum"]) for r in rows), rows
    assert all(r["duration_ms"] is not None and r["duration_ms"] >= 0 for r in rows)
    assert all(r["executed_at"] is not None for r in rows)
    assert rows[0]["down_sql"].strip() == "DROP TABLE a;"
    assert rows[2]["down_sql"] is None
    # Rows committed one by one: their executed_at (now() = transaction start) differ
    # in order, which a single transaction around the whole run would not give.
    stamps = [r["executed_at"] for r in rows]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3


def test_reference_batch_example(db_url: str, migrations: Files, cli: Cli) -> None:
    directory = migrations({"001_initial_schema.sql": table("users", ", email text")})
    assert run(cli, db_url, directory, "migrate").exit_code == 0
    migrations({
        "002_add_user_avatar.sql": "-- UP\nALTER TABLE users ADD COLUMN avatar_url text;\n"
        "-- DOWN\nALTER TABLE users DROP COLUMN avatar_url;\n",
        "003_add_user_bio.sql": "-- UP\nALTER TABLE users ADD COLUMN bio text;\n"
        "-- DOWN\nALTER TABLE users DROP COLUMN bio;\n",
    })
    second = run(cli, db_url, directory, "migrate")
    assert second.exit_code == 0, second.stderr
    assert "batch 2" in second.stdout

    assert fetch(db_url, "SELECT id, name, batch FROM _migrations ORDER BY batch, name") == [
        (1, "001_initial_schema.sql", 1),
        (2, "002_add_user_avatar.sql", 2),
        (3, "003_add_user_bio.sql", 2),
    ]
    with psycopg.connect(db_url) as conn:
        cursor = conn.execute("SELECT * FROM _migrations ORDER BY batch, name")
        assert [c.name for c in cursor.description or []][:4] == [
            "id", "name", "batch", "executed_at"
        ]
    assert list(columns(db_url, "users")) == ["id", "email", "avatar_url", "bio"]

    back = run(cli, db_url, directory, "rollback")
    assert back.exit_code == 0, back.stderr
    assert batches(db_url) == [("001_initial_schema.sql", 1)]
    assert list(columns(db_url, "users")) == ["id", "email"]


def test_nothing_pending_says_so_and_creates_no_table(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations({})
    result = run(cli, db_url, directory, "migrate")

    assert result.exit_code == 0, result.stderr
    assert "Nothing to migrate" in result.stdout
    assert not table_exists(db_url, "_migrations")
    assert Migrator(db_url, directory).migrate().applied == ()
    assert not table_exists(db_url, "_migrations")


def test_nothing_pending_after_everything_is_applied(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations({"001_a.sql": table("a")})
    assert run(cli, db_url, directory, "migrate").exit_code == 0
    before = catalog_snapshot(db_url)

    again = run(cli, db_url, directory, "migrate")

    assert again.exit_code == 0
    assert "Nothing to migrate" in again.stdout
    assert catalog_snapshot(db_url) == before


# --- a failing statement part-way through a run (S15) -----------------------------------

FAILING_SECOND = """\
-- Migration: 002_fill.sql
-- UP
CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL);
INSERT INTO people VALUES (1, 'a@example.com');

-- the next statement is the one that fails;
-- its first token is on line 8
INSERT INTO people
  VALUES (2, NULL);
ALTER TABLE people ADD COLUMN nick text;

-- DOWN
DROP TABLE people;
"""


@pytest.fixture
def s15(db_url: str, migrations: Files) -> Path:
    """Batch 1 applied (000); then 001 (good), 002 (fails at statement 3), 003 pending."""
    directory = migrations({"000_base.sql": table("base")})
    Migrator(db_url, directory).migrate()
    return migrations({
        "001_first.sql": table("first_t"),
        "002_fill.sql": FAILING_SECOND,
        "003_third.sql": table("third_t"),
    })


def test_failure_keeps_earlier_files_of_the_run_and_undoes_the_failed_one(
    db_url: str, s15: Path
) -> None:
    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, s15).migrate()

    error = caught.value
    assert error.applied == ["001_first.sql"]
    assert error.migration == "002_fill.sql"
    assert error.server.sqlstate == "23502"
    assert 'null value in column "email"' in error.server.message
    assert error.server.detail is not None and "Failing row contains" in error.server.detail
    assert error.statement is not None
    assert error.statement.file == "002_fill.sql"
    assert error.statement.line == 8
    assert error.statement.head == "INSERT INTO people"
    assert (error.statement.index, error.statement.total) == (3, 4)
    assert error.ran_outside_transaction == []

    assert batches(db_url) == [("000_base.sql", 1), ("001_first.sql", 2)]
    assert table_exists(db_url, "first_t")
    assert not table_exists(db_url, "people")
    assert not table_exists(db_url, "third_t")
    assert advisory_locks(db_url) == []


def test_failure_is_reported_like_psql_without_traceback(
    db_url: str, s15: Path, cli: Cli
) -> None:
    result = run(cli, db_url, s15, "migrate")

    assert result.exit_code == 1
    err = result.stderr
    assert "002_fill.sql:8" in err
    assert "INSERT INTO people" in err
    assert 'null value in column "email"' in err
    assert "DETAIL:" in err and "Failing row contains" in err
    assert "23502" in err
    assert "001_first.sql" in err
    assert "Traceback" not in err + result.stdout


def test_fixing_the_failed_file_applies_the_rest_as_the_next_batch(
    db_url: str, s15: Path, cli: Cli
) -> None:
    assert run(cli, db_url, s15, "migrate").exit_code == 1
    fixed_text = FAILING_SECOND.replace("(2, NULL)", "(2, 'b@example.com')")
    (s15 / "002_fill.sql").write_text(fixed_text)

    fixed = run(cli, db_url, s15, "migrate")

    assert fixed.exit_code == 0, fixed.stderr
    assert batches(db_url) == [
        ("000_base.sql", 1), ("001_first.sql", 2), ("002_fill.sql", 3), ("003_third.sql", 3)
    ]
    assert fetch(db_url, "SELECT id, email FROM people ORDER BY id") == [
        (1, "a@example.com"), (2, "b@example.com")
    ]
    assert "nick" in columns(db_url, "people")
    assert table_exists(db_url, "third_t")


def test_error_carries_the_servers_hint(db_url: str, migrations: Files, cli: Cli) -> None:
    directory = migrations({
        "001_hint.sql": "-- UP\nCREATE TABLE h (id int);\n\n"
        "DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING ERRCODE = 'not_null_violation',"
        " DETAIL = 'the detail', HINT = 'the hint'; END $$;\n",
        "002_fn.sql": "-- UP\nSELECT no_such_function(1);\n",
    })
    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()
    server = caught.value.server
    assert (server.message, server.sqlstate, server.detail, server.hint) == (
        "custom failure", "23502", "the detail", "the hint"
    )
    assert caught.value.statement is not None and caught.value.statement.line == 4

    result = run(cli, db_url, directory, "migrate")
    assert result.exit_code == 1
    assert "HINT:" in result.stderr and "the hint" in result.stderr
    assert "DETAIL:" in result.stderr and "the detail" in result.stderr
    assert "001_hint.sql:4" in result.stderr
    assert not table_exists(db_url, "h")
    assert tracking_rows(db_url) == []


def test_undefined_function_shows_the_servers_own_hint(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_fn.sql": "-- UP\nCREATE TABLE f (id int);\n"
                            "SELECT no_such_function(1);\n"})
    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()
    assert caught.value.server.sqlstate == "42883"
    assert caught.value.server.hint and "explicit type casts" in caught.value.server.hint
    assert caught.value.statement is not None and caught.value.statement.line == 3
    assert not table_exists(db_url, "f")


# --- enum value added and used in one file (S20) ----------------------------------------

ENUM_BASE = (
    "-- UP\nCREATE TYPE mood AS ENUM ('sad', 'ok');\n"
    "CREATE TABLE t (id int, m mood);\nINSERT INTO t VALUES (1, 'ok');\n"
)


def test_enum_value_used_in_the_same_file_fails_with_55p04(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations({"001_mood.sql": ENUM_BASE})
    Migrator(db_url, directory).migrate()
    migrations({"002_meh.sql": "-- UP\nALTER TYPE mood ADD VALUE 'meh';\n"
                "UPDATE t SET m = 'meh';\n"})
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "migrate")

    assert result.exit_code == 1
    assert "55P04" in result.stderr
    assert re.search(r"later migration file|split", result.stderr, re.I)
    assert "no-transaction" in result.stderr
    assert catalog_snapshot(db_url) == before
    assert fetch(db_url, "SELECT enum_range(NULL::mood)::text") == [("{sad,ok}",)]


def test_enum_value_added_and_used_in_two_files_of_one_run(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_mood.sql": ENUM_BASE,
        "002_meh.sql": "-- UP\nALTER TYPE mood ADD VALUE 'meh';\n",
        "003_use.sql": "-- UP\nUPDATE t SET m = 'meh';\n",
    })

    result = Migrator(db_url, directory).migrate()

    assert [a.name for a in result.applied] == ["001_mood.sql", "002_meh.sql", "003_use.sql"]
    assert fetch(db_url, "SELECT m::text FROM t") == [("meh",)]
    assert batches(db_url) == [("001_mood.sql", 1), ("002_meh.sql", 1), ("003_use.sql", 1)]


def test_enum_value_added_and_used_in_a_no_transaction_file(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_mood.sql": ENUM_BASE,
        "002_meh.sql": "-- pgshift: no-transaction\n-- UP\nALTER TYPE mood ADD VALUE 'meh';\n"
        "UPDATE t SET m = 'meh';\n",
    })

    result = Migrator(db_url, directory).migrate()

    assert [(a.name, a.no_transaction) for a in result.applied] == [
        ("001_mood.sql", False), ("002_meh.sql", True)
    ]
    assert fetch(db_url, "SELECT m::text FROM t") == [("meh",)]


# --- statement_timeout and lock_timeout (S21, S22) --------------------------------------


def test_set_local_statement_timeout_in_a_file(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations({
        "001_ok.sql": table("ok"),
        "002_slow.sql": "-- UP\nCREATE TABLE slow (id int);\n"
        "SET LOCAL statement_timeout = '200ms';\nSELECT pg_sleep(2);\n",
    })

    result = run(cli, db_url, directory, "migrate")

    assert result.exit_code == 1
    assert "57014" in result.stderr
    assert "002_slow.sql:4" in result.stderr
    assert batches(db_url) == [("001_ok.sql", 1)]
    assert not table_exists(db_url, "slow")
    assert advisory_locks(db_url) == []


def test_statement_timeout_of_the_database(db_url: str, migrations: Files) -> None:
    directory = migrations({"001_slow.sql": "-- UP\nCREATE TABLE slow (id int);\n"
                            "SELECT pg_sleep(2);\n"})
    execute(db_url, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout"
            " = ''300ms''', current_database()); END $$")

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()

    assert caught.value.server.sqlstate == "57014"
    assert not table_exists(db_url, "slow")
    assert tracking_rows(db_url) == []
    assert advisory_locks(db_url) == []


@pytest.fixture
def busy_table(db_url: str) -> Iterator[int]:
    """Table ``t`` with another session holding ACCESS SHARE on it in an open
    transaction; yields that session's pid."""
    execute(db_url, "CREATE TABLE t (id int)")
    with psycopg.connect(db_url) as conn:
        conn.execute("LOCK TABLE t IN ACCESS SHARE MODE")
        yield conn.info.backend_pid


def test_lock_timeout_on_a_busy_table(
    db_url: str, migrations: Files, cli: Cli, busy_table: int
) -> None:
    directory = migrations({"001_alter.sql": "-- UP\nCREATE TABLE other (id int);\n"
                            "ALTER TABLE t ADD COLUMN c int;\n"})
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "migrate", "--lock-timeout", "0.5",
                 "--lock-retries", "1")

    assert result.exit_code == 1
    assert "55P03" in result.stderr
    assert "retry" in result.stderr
    assert "001_alter.sql:3" in result.stderr
    assert catalog_snapshot(db_url) == before
    assert advisory_locks(db_url) == []


def test_lock_timeout_message_names_the_blocking_pid(
    db_url: str, migrations: Files, cli: Cli, busy_table: int
) -> None:
    directory = migrations({"001_alter.sql": "-- UP\nALTER TABLE t ADD COLUMN c int;\n"})

    result = run(cli, db_url, directory, "migrate", "--lock-timeout", "0.3",
                 "--lock-retries", "0")

    assert result.exit_code == 1
    assert "55P03" in result.stderr
    assert f"pid {busy_table}" in result.stderr


def test_lock_timeout_retry_succeeds_once_the_table_is_free(
    db_url: str, migrations: Files
) -> None:
    execute(db_url, "CREATE TABLE t (id int)")
    directory = migrations({"001_alter.sql": "-- UP\nALTER TABLE t ADD COLUMN c int;\n"})
    events: list[Event] = []
    with psycopg.connect(db_url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS SHARE MODE")

        def on_event(event: Event) -> None:
            events.append(event)
            if event.kind == "retry":
                holder.rollback()

        result = Migrator(db_url, directory, lock_timeout=0.3, lock_retries=2,
                          on_event=on_event).migrate()

    assert [a.name for a in result.applied] == ["001_alter.sql"]
    assert [e.kind for e in events].count("retry") == 1
    assert "c" in columns(db_url, "t")
    assert batches(db_url) == [("001_alter.sql", 1)]


def test_first_migration_is_committed_while_the_second_runs(
    db_url: str, migrations: Files
) -> None:
    """Another session sees 001 recorded while 002 is still running."""
    directory = migrations({
        "001_a.sql": table("a"),
        "002_wait.sql": "-- UP\nSELECT pg_sleep(1);\nCREATE TABLE b (id int);\n",
    })
    seen: list[Any] = []
    watchers: list[threading.Thread] = []

    def watch(event: Event) -> None:
        if event.kind == "applying" and event.name == "002_wait.sql":
            watcher = threading.Thread(target=lambda: seen.append(batches(db_url)))
            watcher.start()
            watchers.append(watcher)

    Migrator(db_url, directory, on_event=watch).migrate()
    for watcher in watchers:
        watcher.join(10)

    assert seen == [[("001_a.sql", 1)]]
    assert batches(db_url) == [("001_a.sql", 1), ("002_wait.sql", 1)]


POSITIONED = (
    "-- Migration: 001_pos.sql\n"
    "-- UP\n"
    "-- Überprüfung der Einträge ✓ 🎉 — ünïcödé before the failing statement\n"
    "CREATE TABLE t (id int, label text DEFAULT 'ça va 🎉');\n"
    "\n"
    "/* a block comment\n"
    "   over two lines ✓ */\n"
    "INSERT INTO t (id, label)\n"
    "  VALUES ('x', 'ok');\n"
    "CREATE TABLE after_it (id int);\n"
)


@pytest.mark.parametrize("encode", [
    lambda text: text.encode(),
    lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
], ids=["lf", "bom-crlf"])
@pytest.mark.parametrize("lock_timeout", [5.0, 0.0])
def test_line_of_a_positioned_error_after_multibyte_text(
    db_url: str, migrations: Files, encode: Callable[[str], bytes], lock_timeout: float
) -> None:
    directory = migrations({"001_pos.sql": encode(POSITIONED)})

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, lock_timeout=lock_timeout).migrate()

    assert caught.value.server.sqlstate == "22P02"
    assert caught.value.server.position is not None
    statement = caught.value.statement
    assert statement is not None
    assert (statement.line, statement.head, statement.index) == (8, "INSERT INTO t (id, label)", 2)
    assert not table_exists(db_url, "t")


def test_lock_timeout_applies_to_no_transaction_migrations_too(
    db_url: str, migrations: Files, cli: Cli, busy_table: int
) -> None:
    """Only CONCURRENTLY statements are exempt from pgshift's lock_timeout (RELIABILITY
    finding 6, S18, S22); an ALTER in a no-transaction file must not queue forever."""
    directory = migrations({"001_alter.sql": "-- pgshift: no-transaction\n-- UP\n"
                            "ALTER TABLE t ADD COLUMN c int;\n"})
    bounded = make_conninfo(db_url, options="-c statement_timeout=5s")

    result = run(cli, bounded, directory, "migrate", "--lock-timeout", "0.3",
                 "--lock-retries", "0")

    assert result.exit_code == 1
    assert "55P03" in result.stderr, result.stderr
    assert "c" not in columns(db_url, "t")
