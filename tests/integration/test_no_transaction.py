"""Migrations that run outside a transaction (SPEC 5.2; RELIABILITY S16, S17, S19):
``CREATE INDEX CONCURRENTLY`` and friends, the ``no-transaction`` directive and files
with their own ``BEGIN``/``COMMIT`` run statement by statement and are recorded after the
last one; failures say what ran and was not undone; an INVALID index never passes."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgtest
from pgshift import Migrator
from pgshift.errors import MigrationFailed
from pgtest import (
    Cli,
    CliResult,
    Files,
    columns,
    execute,
    fetch,
    index_info,
    table_exists,
    tracking_rows,
)

BASE = {
    "001_users.sql": "-- UP\nCREATE TABLE users (id int PRIMARY KEY, email text);\n"
    "INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 50) g;\n"
    "-- DOWN\nDROP TABLE users;\n",
}


def bounded(url: str) -> str:
    """``url`` with a statement_timeout, so a CREATE INDEX CONCURRENTLY stalled by a
    transaction pgshift holds open fails (57014) instead of hanging the test run."""
    return make_conninfo(url, options="-c statement_timeout=20s")


def run(cli: Cli, url: str, directory: Path, *args: str) -> CliResult:
    """:func:`pgtest.run` on the :func:`bounded` URL."""
    return pgtest.run(cli, bounded(url), directory, *args)


def names(url: str) -> list[str]:
    return [row["name"] for row in tracking_rows(url)]


def is_valid(url: str, index: str) -> bool | None:
    """indisvalid of ``index``, None when there is no such index."""
    info = index_info(url, index)
    return None if info is None else info[0]


def leave_invalid_index(url: str, index: str) -> None:
    """Make ``index`` an INVALID unique index on users(email) the way a failed
    CREATE INDEX CONCURRENTLY does (duplicates present), then remove the duplicates."""
    execute(url, "INSERT INTO users VALUES (1000, 'dup@example.com'), (1001, 'dup@example.com')")
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.Error):
        conn.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {index} ON users (email)")
    execute(url, "DELETE FROM users WHERE id = 1001")
    assert is_valid(url, index) is False


@pytest.fixture
def base(db_url: str, migrations: Files) -> Path:
    directory = migrations(BASE)
    Migrator(bounded(db_url), directory).migrate()
    return directory


# --- CREATE INDEX CONCURRENTLY ----------------------------------------------------------

CIC = (
    "-- UP\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n"
    "-- DOWN\nDROP INDEX CONCURRENTLY users_email_idx;\n"
)


def test_cic_migration_runs_outside_a_transaction_and_is_recorded(
    db_url: str, base: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_email_idx.sql": CIC})

    result = run(cli, db_url, base, "migrate")

    assert result.exit_code == 0, result.stderr
    assert "002_email_idx.sql" in result.stdout
    assert "outside a transaction" in result.stdout
    assert is_valid(db_url, "users_email_idx") is True
    rows = tracking_rows(db_url)
    assert [(r["name"], r["batch"]) for r in rows] == [("001_users.sql", 1),
                                                       ("002_email_idx.sql", 2)]
    assert rows[1]["down_sql"].strip() == "DROP INDEX CONCURRENTLY users_email_idx;"

    status = run(cli, db_url, base, "status")
    line = next(x for x in status.stdout.splitlines() if "002_email_idx.sql" in x)
    assert "no transaction" in line
    entries = {e.name: e for e in Migrator(bounded(db_url), base).status().entries}
    assert entries["002_email_idx.sql"].no_transaction is True
    assert entries["002_email_idx.sql"].state == "executed"


def test_library_result_flags_no_transaction(db_url: str, base: Path, migrations: Files) -> None:
    migrations({
        "002_email_idx.sql": CIC,
        "003_plain.sql": "-- UP\nALTER TABLE users ADD COLUMN nick text;\n",
        "004_directive.sql": "-- pgshift: no-transaction\n-- UP\n"
        "ALTER TABLE users ADD COLUMN bio text;\n",
    })

    result = Migrator(bounded(db_url), base).migrate()

    assert [(a.name, a.no_transaction) for a in result.applied] == [
        ("002_email_idx.sql", True), ("003_plain.sql", False), ("004_directive.sql", True)
    ]
    assert {"nick", "bio"} <= set(columns(db_url, "users"))
    assert names(db_url) == ["001_users.sql", "002_email_idx.sql", "003_plain.sql",
                             "004_directive.sql"]


def test_rollback_of_a_concurrent_down(db_url: str, base: Path, migrations: Files) -> None:
    migrations({"002_email_idx.sql": CIC})
    Migrator(bounded(db_url), base).migrate()

    result = Migrator(bounded(db_url), base).rollback()

    assert [(r.name, r.no_transaction) for r in result.rolled_back] == [
        ("002_email_idx.sql", True)
    ]
    assert is_valid(db_url, "users_email_idx") is None
    assert names(db_url) == ["001_users.sql"]


@pytest.mark.parametrize("statement, reason", [
    ("REINDEX INDEX CONCURRENTLY users_pkey", "REINDEX"),
    ("VACUUM users", "VACUUM"),
    ("DROP INDEX CONCURRENTLY IF EXISTS nothing_here", "DROP INDEX"),
])
def test_other_statements_that_refuse_a_transaction(
    db_url: str, base: Path, migrations: Files, statement: str, reason: str
) -> None:
    migrations({"002_x.sql": f"-- UP\n{statement};\n"})

    result = Migrator(bounded(db_url), base).migrate()

    assert [(a.name, a.no_transaction) for a in result.applied] == [("002_x.sql", True)], reason
    assert names(db_url) == ["001_users.sql", "002_x.sql"]


def test_detach_partition_concurrently(db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_parts.sql": "-- UP\nCREATE TABLE m (id int) PARTITION BY RANGE (id);\n"
        "CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10);\n",
        "002_detach.sql": "-- UP\nALTER TABLE m DETACH PARTITION m1 CONCURRENTLY;\n",
    })

    Migrator(bounded(db_url), directory).migrate()

    assert fetch(db_url, "SELECT relispartition FROM pg_class WHERE relname = 'm1'") == [
        (False,)
    ]
    assert names(db_url) == ["001_parts.sql", "002_detach.sql"]
    assert Migrator(bounded(db_url), directory).status().entries[1].no_transaction is True


# --- S16: failure after partial progress ------------------------------------------------

S16 = """\
-- pgshift: no-transaction
-- UP
VACUUM users;
CREATE INDEX CONCURRENTLY i1 ON users (email);

ALTER TABLE nope ADD COLUMN x int;
"""


def test_failure_after_partial_progress_says_what_was_not_undone(
    db_url: str, base: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_partial.sql": S16})

    result = run(cli, db_url, base, "migrate")

    assert result.exit_code == 1
    assert "002_partial.sql:6" in result.stderr
    assert "42P01" in result.stderr
    assert "1, 2" in result.stderr and "NOT undone" in result.stderr
    assert "Traceback" not in result.stderr
    assert is_valid(db_url, "i1") is True
    assert names(db_url) == ["001_users.sql"]

    with pytest.raises(MigrationFailed) as caught:
        Migrator(bounded(db_url), base).migrate()
    assert caught.value.statement is not None and caught.value.statement.index == 3
    assert caught.value.ran_outside_transaction == [1, 2]


def test_fixed_partial_migration_is_recorded_once(
    db_url: str, base: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_partial.sql": S16})
    assert run(cli, db_url, base, "migrate").exit_code == 1
    migrations({"002_partial.sql": S16.replace("nope", "users")})

    fixed = run(cli, db_url, base, "migrate")

    assert fixed.exit_code == 0, fixed.stderr
    assert names(db_url) == ["001_users.sql", "002_partial.sql"]
    assert is_valid(db_url, "i1") is True
    assert "x" in columns(db_url, "users")
    assert run(cli, db_url, base, "migrate").stdout.strip() == "Nothing to migrate."
    assert names(db_url) == ["001_users.sql", "002_partial.sql"]


def test_partial_failure_keeps_earlier_migrations_of_the_run(
    db_url: str, base: Path, migrations: Files
) -> None:
    migrations({"002_plain.sql": "-- UP\nCREATE TABLE plain (id int);\n",
                "003_partial.sql": S16, "004_after.sql": "-- UP\nCREATE TABLE after (id int);\n"})

    with pytest.raises(MigrationFailed) as caught:
        Migrator(bounded(db_url), base).migrate()

    assert caught.value.applied == ["002_plain.sql"]
    assert names(db_url) == ["001_users.sql", "002_plain.sql"]
    assert table_exists(db_url, "plain") and not table_exists(db_url, "after")


# --- S17: CIC on duplicate values -------------------------------------------------------

UNIQUE_CIC = "-- UP\nCREATE UNIQUE INDEX CONCURRENTLY u ON users (email);\n"


@pytest.fixture
def duplicates(db_url: str, base: Path) -> Path:
    execute(db_url, "INSERT INTO users VALUES (1000, 'dup@example.com'),"
            " (1001, 'dup@example.com')")
    return base


def test_cic_on_duplicates_names_the_invalid_index(
    db_url: str, duplicates: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_unique.sql": UNIQUE_CIC})

    result = run(cli, db_url, duplicates, "migrate")

    assert result.exit_code == 1
    assert "23505" in result.stderr
    assert "INVALID" in result.stderr
    assert "DROP INDEX CONCURRENTLY u" in result.stderr
    assert is_valid(db_url, "u") is False
    assert names(db_url) == ["001_users.sql"]


def test_invalid_index_is_never_recorded_while_duplicates_remain(
    db_url: str, duplicates: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_unique.sql": UNIQUE_CIC})
    assert run(cli, db_url, duplicates, "migrate").exit_code == 1

    again = run(cli, db_url, duplicates, "migrate")

    assert again.exit_code == 1
    assert names(db_url) == ["001_users.sql"]
    assert is_valid(db_url, "u") is not True


def test_rerun_after_removing_duplicates_never_records_an_invalid_index(
    db_url: str, duplicates: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_unique.sql": UNIQUE_CIC})
    assert run(cli, db_url, duplicates, "migrate").exit_code == 1
    execute(db_url, "DELETE FROM users WHERE id = 1001")

    again = run(cli, db_url, duplicates, "migrate")

    if again.exit_code == 0:
        assert is_valid(db_url, "u") is True
        assert names(db_url) == ["001_users.sql", "002_unique.sql"]
    else:
        assert again.exit_code == 1
        assert "u" in again.stderr and "DROP INDEX CONCURRENTLY" in again.stderr
        assert names(db_url) == ["001_users.sql"]
        execute(db_url, "DROP INDEX CONCURRENTLY u")
        assert run(cli, db_url, duplicates, "migrate").exit_code == 0
        assert is_valid(db_url, "u") is True
        assert names(db_url) == ["001_users.sql", "002_unique.sql"]


@pytest.mark.parametrize("up", [
    "CREATE UNIQUE INDEX CONCURRENTLY u ON users (email);",
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u ON users (email);",
    "CREATE INDEX IF NOT EXISTS u ON users (email);",
    "CREATE TABLE extra (id int);\nCREATE INDEX IF NOT EXISTS u ON users (email);",
])
def test_someone_elses_invalid_index_never_counts_as_existing(
    db_url: str, base: Path, migrations: Files, cli: Cli, up: str
) -> None:
    leave_invalid_index(db_url, "u")
    migrations({"002_u.sql": f"-- UP\n{up}\n"})

    result = run(cli, db_url, base, "migrate")

    assert result.exit_code == 1, result.stdout
    assert "u" in result.stderr and "INVALID" in result.stderr
    assert "DROP INDEX CONCURRENTLY u" in result.stderr
    assert names(db_url) == ["001_users.sql"]
    assert is_valid(db_url, "u") is False
    if "extra" in up:
        assert not table_exists(db_url, "extra")


def test_valid_existing_index_is_already_exists(
    db_url: str, base: Path, migrations: Files
) -> None:
    execute(db_url, "CREATE UNIQUE INDEX u ON users (email)")
    migrations({"002_u.sql": UNIQUE_CIC})

    result = Migrator(bounded(db_url), base).migrate()

    assert [a.name for a in result.applied] == ["002_u.sql"]
    assert any("u" in w for w in result.applied[0].warnings)
    assert is_valid(db_url, "u") is True


# --- S19: a file with its own BEGIN / COMMIT --------------------------------------------


def test_file_with_own_transaction_is_recorded_once(
    db_url: str, base: Path, migrations: Files
) -> None:
    migrations({"002_own.sql": "-- UP\nBEGIN;\nCREATE TABLE a (id int);\n"
                "INSERT INTO a VALUES (1);\nCOMMIT;\n"})

    result = Migrator(bounded(db_url), base).migrate()

    assert [(a.name, a.no_transaction) for a in result.applied] == [("002_own.sql", True)]
    assert fetch(db_url, "SELECT id FROM a") == [(1,)]
    assert names(db_url) == ["001_users.sql", "002_own.sql"]


def test_file_with_own_transaction_fails_after_commit(
    db_url: str, base: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_own.sql": "-- UP\nBEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n"
                "CREATE TABLE b (x no_such_type);\n"})

    result = run(cli, db_url, base, "migrate")

    assert result.exit_code == 1
    assert "002_own.sql:5" in result.stderr
    assert "42704" in result.stderr
    assert "NOT undone" in result.stderr
    assert table_exists(db_url, "a") and not table_exists(db_url, "b")
    assert names(db_url) == ["001_users.sql"]


def test_failure_inside_the_files_own_transaction(
    db_url: str, base: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_own.sql": "-- UP\nBEGIN;\nCREATE TABLE a (id int);\n"
                "CREATE TABLE b (x no_such_type);\nCOMMIT;\n"})

    result = run(cli, db_url, base, "migrate")

    assert result.exit_code == 1
    assert "002_own.sql:4" in result.stderr
    assert "42704" in result.stderr
    assert "Traceback" not in result.stderr
    assert not table_exists(db_url, "a") and not table_exists(db_url, "b")
    assert names(db_url) == ["001_users.sql"]
    assert fetch(db_url, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                 " current_database() AND state LIKE 'idle in transaction%'") == [(0,)]


def test_file_that_leaves_its_own_transaction_open_is_not_recorded(
    db_url: str, base: Path, migrations: Files, cli: Cli
) -> None:
    """BEGIN without COMMIT: nothing of it may be committed behind the user's back."""
    migrations({"002_open.sql": "-- UP\nBEGIN;\nCREATE TABLE a (id int);\n"})

    result = run(cli, db_url, base, "migrate")

    assert "Traceback" not in result.stderr
    if result.exit_code == 0:
        assert table_exists(db_url, "a")
        assert names(db_url) == ["001_users.sql", "002_open.sql"]
    else:
        assert result.exit_code == 1
        assert not table_exists(db_url, "a")
        assert names(db_url) == ["001_users.sql"]
    assert fetch(db_url, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                 " current_database() AND state LIKE 'idle in transaction%'") == [(0,)]


def test_concurrent_down_failing_midway_keeps_the_row(
    db_url: str, base: Path, migrations: Files, cli: Cli
) -> None:
    migrations({"002_idx.sql": "-- UP\nCREATE INDEX CONCURRENTLY i2 ON users (email);\n"
                "CREATE TABLE side (id int);\n"
                "-- DOWN\nDROP INDEX CONCURRENTLY i2;\nDROP TABLE nope_side;\n"})
    Migrator(bounded(db_url), base).migrate()

    result = run(cli, db_url, base, "rollback")

    assert result.exit_code == 1
    assert "002_idx.sql:6" in result.stderr
    assert "42P01" in result.stderr
    assert "NOT undone" in result.stderr
    assert is_valid(db_url, "i2") is None
    assert table_exists(db_url, "side")
    assert names(db_url) == ["001_users.sql", "002_idx.sql"]


def test_stored_concurrent_down_runs_outside_a_transaction(
    db_url: str, base: Path, migrations: Files
) -> None:
    migrations({"002_email_idx.sql": CIC})
    Migrator(bounded(db_url), base).migrate()
    (base / "002_email_idx.sql").unlink()

    result = Migrator(bounded(db_url), base).rollback()

    assert [(r.name, r.no_transaction) for r in result.rolled_back] == [
        ("002_email_idx.sql", True)
    ]
    assert is_valid(db_url, "users_email_idx") is None
    assert names(db_url) == ["001_users.sql"]


# --- client_connection_check_interval around statements outside a transaction -----------

CHECKED = (
    "-- pgshift: no-transaction\n-- UP\n"
    "CREATE TABLE seen AS SELECT current_setting('client_connection_check_interval') AS v;\n"
    "CREATE TABLE t (id int);\n"
    "CREATE INDEX CONCURRENTLY t_id ON t (id);\n"
)


def _section(text: str) -> object:
    from pgshift.files import sqlfile

    return sqlfile.parse(text, "001_checked.sql").up


def _server_14(url: str) -> None:
    if fetch(url, "SELECT current_setting('server_version_num')::int")[0][0] < 140000:
        pytest.skip("client_connection_check_interval needs PostgreSQL 14+")


def test_statements_outside_a_transaction_run_with_the_client_check_and_reset_it(
    db_url: str
) -> None:
    from pgshift.db import runner

    _server_14(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        outcome = runner.run_outside_transaction(conn, _section(CHECKED))  # type: ignore[arg-type]
        assert conn.execute("SHOW client_connection_check_interval").fetchone() == ("0",)
    assert outcome.warnings == ()
    assert fetch(db_url, "SELECT v FROM seen") == [("2s",)]
    assert index_info(db_url, "t_id") is not None


def test_the_client_check_is_reset_after_a_failed_statement_and_an_open_block(
    db_url: str
) -> None:
    from pgshift.db import runner

    _server_14(db_url)
    for text in (CHECKED + "ALTER TABLE nope ADD COLUMN c int;\n",
                 CHECKED.replace("-- pgshift: no-transaction\n", "")
                 + "BEGIN;\nCREATE TABLE inside (id int);\nSELECT 1/0;\nCOMMIT;\n"):
        execute(db_url, "DROP TABLE IF EXISTS seen, t, inside")
        with psycopg.connect(db_url, autocommit=True) as conn:
            with pytest.raises(runner.StatementError):
                runner.run_outside_transaction(conn, _section(text))  # type: ignore[arg-type]
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert conn.execute("SHOW client_connection_check_interval").fetchone() == ("0",)
        assert fetch(db_url, "SELECT v FROM seen") == [("2s",)]


def test_a_client_check_the_role_or_session_set_is_left_alone(db_url: str) -> None:
    from pgshift.db import runner

    _server_14(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET client_connection_check_interval = '7s'")
        runner.run_outside_transaction(conn, _section(CHECKED))  # type: ignore[arg-type]
        assert conn.execute("SHOW client_connection_check_interval").fetchone() == ("7s",)
    assert fetch(db_url, "SELECT v FROM seen") == [("7s",)]
