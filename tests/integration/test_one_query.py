"""A transactional migration on the happy path: one query (BEGIN, pgshift's SET LOCALs, the
commit guard, the section, the tracking row, COMMIT); ``--atomic`` without a savepoint per
migration.
Every way off the happy path still reports the failing statement and leaves nothing of
the migration applied: a failing statement, "already exists" (statement by statement
behind savepoints), a lock_timeout retried, a deferred constraint failing at COMMIT, an
INVALID index met by ``CREATE INDEX IF NOT EXISTS``."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from pgshift import Migrator
from pgshift.engine import apply
from pgshift.errors import MigrationFailed
from pgshift.results import Event
from pgtest import (
    Files,
    catalog_snapshot,
    execute,
    fetch,
    queries_sent,
    table_exists,
    tracking_rows,
)


def table(name: str) -> str:
    return f"-- UP\nCREATE TABLE {name} (id int PRIMARY KEY);\n-- DOWN\nDROP TABLE {name};\n"


def names(url: str) -> list[str]:
    return [row["name"] for row in tracking_rows(url)]


@pytest.mark.parametrize("atomic", [False, True])
def test_each_further_migration_costs_one_query(
    db_url: str, migrations: Files, atomic: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one query per migration when none may share a query (tests/integration/
    # test_together.py: when they may)
    monkeypatch.setattr(apply, "TOGETHER_MAX", 1)
    directory = migrations({"001_a.sql": table("a")})
    Migrator(db_url, directory).migrate()  # the tracking table exists from here on
    migrations({"002_b.sql": table("b")})
    one = queries_sent(db_url, directory, atomic=atomic)
    migrations({f"{i:03d}_t{i}.sql": table(f"t{i}") for i in range(3, 8)})
    five = queries_sent(db_url, directory, atomic=atomic)

    # Per migration: one query, its COMMIT included; --atomic: one query too (the run's
    # one COMMIT is counted in both runs).
    assert five - one == 4, (one, five)
    assert names(db_url) == ["001_a.sql", "002_b.sql", *[f"{i:03d}_t{i}.sql" for i in
                                                         range(3, 8)]]


@pytest.mark.parametrize("atomic", [False, True])
def test_a_failing_statement_is_named_and_nothing_of_the_migration_stays(
    db_url: str, migrations: Files, atomic: bool
) -> None:
    directory = migrations({
        "001_a.sql": table("a"),
        "002_bad.sql": "-- UP\nCREATE TABLE b (id int);\n\nINSERT INTO b VALUES (1);\n"
                       "INSERT INTO b VALUES ('x');\nCREATE TABLE c (id int);\n"
                       "-- DOWN\nDROP TABLE b;\n",
    })
    Migrator(db_url, directory).migrate(to="001_a.sql")
    before = catalog_snapshot(db_url)

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, atomic=atomic).migrate()

    failed = caught.value
    assert failed.migration == "002_bad.sql"
    assert failed.server.sqlstate == "22P02"
    assert failed.statement is not None
    assert (failed.statement.index, failed.statement.total, failed.statement.line) == (3, 4, 5)
    assert failed.statement.head == "INSERT INTO b VALUES ('x')"
    place = failed.statement.place
    assert place is not None and place.line == 5  # the caret under 'x', as psql draws it
    assert place.column == place.text.index("'x'"), place
    assert catalog_snapshot(db_url) == before
    assert names(db_url) == ["001_a.sql"]


@pytest.mark.parametrize("atomic", [False, True])
def test_already_exists_still_skips_one_statement(
    db_url: str, migrations: Files, atomic: bool
) -> None:
    execute(db_url, "CREATE TABLE by_hand (id int)")
    events: list[Event] = []
    directory = migrations({
        "001_a.sql": table("a"),
        "002_again.sql": "-- UP\nCREATE TABLE b (id int);\nCREATE TABLE by_hand (id int);\n"
                         "INSERT INTO b VALUES (7);\n-- DOWN\nDROP TABLE b;\n",
        "003_c.sql": table("c"),
    })

    result = Migrator(db_url, directory, atomic=atomic, on_event=events.append).migrate()

    assert [a.name for a in result.applied] == ["001_a.sql", "002_again.sql", "003_c.sql"]
    assert fetch(db_url, "SELECT id FROM b") == [(7,)]
    assert names(db_url) == ["001_a.sql", "002_again.sql", "003_c.sql"]
    warnings = [e.message for e in events if e.kind == "warning"]
    assert any('"by_hand" already exists' in w for w in warnings), warnings
    restarted = [e.message for e in events if "savepoint per migration" in e.message]
    assert bool(restarted) == atomic, restarted


@pytest.mark.parametrize("atomic", [False, True])
def test_lock_timeout_is_retried_until_the_lock_is_free(
    db_url: str, migrations: Files, atomic: bool
) -> None:
    Migrator(db_url, migrations({"001_a.sql": table("a")})).migrate()
    directory = migrations({
        "002_b.sql": table("b"),
        "003_alter.sql": "-- UP\nALTER TABLE a ADD COLUMN x int;\n"
                         "-- DOWN\nALTER TABLE a DROP COLUMN x;\n",
    })
    events: list[Event] = []
    with psycopg.connect(db_url) as blocker:
        blocker.execute("LOCK TABLE a IN ACCESS SHARE MODE")
        release = threading.Timer(1.5, blocker.rollback)
        release.start()
        try:
            Migrator(db_url, directory, lock_timeout=0.3, lock_retries=3, atomic=atomic,
                     on_event=events.append).migrate()
        finally:
            release.join()

    assert names(db_url) == ["001_a.sql", "002_b.sql", "003_alter.sql"]
    assert [r["batch"] for r in tracking_rows(db_url)] == [1, 2, 2]
    assert fetch(db_url, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'a'::regclass "
                         "AND attname = 'x'") == [(1,)]
    assert any(e.kind == "retry" for e in events), [e.message for e in events]


def test_a_deferred_constraint_failing_at_commit_leaves_nothing(
    db_url: str, migrations: Files
) -> None:
    Migrator(db_url, migrations({"001_a.sql": table("a")})).migrate()
    directory = migrations({
        "002_deferred.sql": "-- UP\nCREATE TABLE p (id int PRIMARY KEY);\n"
                            "CREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY "
                            "DEFERRED);\nINSERT INTO c VALUES (1);\n-- DOWN\nDROP TABLE c;\n",
    })
    before = catalog_snapshot(db_url)

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()

    assert caught.value.server.sqlstate == "23503"
    assert catalog_snapshot(db_url) == before
    assert names(db_url) == ["001_a.sql"]


def test_create_index_if_not_exists_on_an_invalid_index_fails_and_leaves_nothing(
    db_url: str, migrations: Files
) -> None:
    Migrator(db_url, migrations({"001_a.sql": table("a")})).migrate()
    execute(db_url, "CREATE TABLE dup (v int); INSERT INTO dup VALUES (1), (1)")
    with psycopg.connect(db_url, autocommit=True) as conn, pytest.raises(psycopg.Error):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY dup_v ON dup (v)")  # left INVALID
    directory = migrations({
        "002_index.sql": "-- UP\nCREATE TABLE z (id int);\n"
                         "CREATE UNIQUE INDEX IF NOT EXISTS dup_v ON dup (v);\n"
                         "-- DOWN\nDROP TABLE z;\n",
    })

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()

    assert "INVALID" in caught.value.server.message
    assert not table_exists(db_url, "z")
    assert names(db_url) == ["001_a.sql"]


def test_the_recorded_duration_is_the_time_the_section_took(
    db_url: str, migrations: Files
) -> None:
    Migrator(db_url, migrations({"001_a.sql": table("a")})).migrate()
    directory = migrations({
        "002_slow.sql": "-- UP\nSELECT pg_sleep(0.3);\nCREATE TABLE s (id int);\n"
                        "-- DOWN\nDROP TABLE s;\n",
    })
    started = time.monotonic()
    Migrator(db_url, directory).migrate()
    took_ms = (time.monotonic() - started) * 1000

    ((duration,),) = fetch(db_url, "SELECT duration_ms FROM _migrations "
                                   "WHERE name = '002_slow.sql'")
    assert 300 <= duration <= took_ms


def test_rollback_sends_each_down_with_the_row_deletion(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b"),
                            "003_bad_down.sql": "-- UP\nCREATE TABLE c (id int);\n"
                                                "-- DOWN\nDROP TABLE c;\nDROP TABLE nope;\n"})
    Migrator(db_url, directory).migrate()

    with pytest.raises(Exception) as caught:
        Migrator(db_url, directory).reset()

    assert "nope" in str(caught.value)
    assert names(db_url) == ["001_a.sql", "002_b.sql", "003_bad_down.sql"]
    assert table_exists(db_url, "c")


@pytest.mark.parametrize("again", [False, True])
def test_an_atomic_run_holds_pgshift_settings_in_every_migration(
    db_url: str, migrations: Files, again: bool
) -> None:
    # The SET LOCALs go once, when the run's transaction starts; with "already exists" the
    # run starts again with savepoints and sends them with each migration.
    execute(db_url, "CREATE TABLE seen (name text, idle text, lock text, keepalive text)")
    if again:
        execute(db_url, "CREATE TABLE by_hand (id int)")

    def seen(name: str, extra: str = "") -> str:
        return (f"-- UP\n{extra}INSERT INTO seen SELECT '{name}', "
                "current_setting('idle_in_transaction_session_timeout'), "
                "current_setting('lock_timeout'), current_setting('tcp_keepalives_idle');\n"
                f"-- DOWN\nDELETE FROM seen WHERE name = '{name}';\n")

    directory = migrations({"000_first.sql": table("first")})
    Migrator(db_url, directory).migrate()  # the tracking table exists: no set-up below
    migrations({
        "001_a.sql": seen("a"),
        "002_b.sql": seen("b", "CREATE TABLE by_hand (id int);\n"),
        "003_c.sql": seen("c"),
    })
    Migrator(db_url, directory, atomic=True, lock_timeout=3).migrate()

    rows = fetch(db_url, "SELECT name, idle, lock, keepalive FROM seen ORDER BY name")
    keepalive = rows[0][3]  # "0" on a Unix-domain socket, else 15
    assert keepalive in ("0", "15")
    assert rows == [(n, "1min", "3s", keepalive) for n in ("a", "b", "c")]
    assert names(db_url) == ["000_first.sql", "001_a.sql", "002_b.sql", "003_c.sql"]
