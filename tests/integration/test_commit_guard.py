"""The commit guard (docs/reliability.md, "A connection lost while that query runs").

A transactional migration travels as one query with its ``COMMIT``, so an earlier run's
last migration may still be running on the server, and may still commit, after that
run's client is gone. Such a transaction holds the commit guard; every run waits for the
guard after taking the migration lock and before reading the tracking table. Here a test
connection stands in for the earlier run's server-side transaction: it holds the guard,
creates what 002 creates and records it, and commits while pgshift waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from pgshift import Migrator
from pgshift.db.lock import COMMIT_GUARD_NAMESPACE, commit_guard, lock_key
from pgshift.errors import LockTimeout
from pgshift.results import Event
from pgtest import (
    OWN_DATABASE,
    Files,
    advisory_locks,
    catalog_snapshot,
    fetch,
    table_exists,
    tracking_rows,
)

FILES = {
    "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
    "002_b.sql": "-- UP\nCREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n"
                 "-- DOWN\nDROP TABLE b;\n",
    "003_c.sql": "-- UP\nCREATE TABLE c (id int);\n-- DOWN\nDROP TABLE c;\n",
}


def guard_key(schema: str = "public", table: str = "_migrations") -> int:
    return lock_key(schema, table, namespace=COMMIT_GUARD_NAMESPACE)


@contextmanager
def earlier_runs_transaction(url: str) -> Iterator[psycopg.Connection]:
    """An open transaction holding the commit guard, as an earlier run's migration
    would on the server; committed (or rolled back) by the test through the yielded
    connection."""
    with psycopg.connect(url) as conn:
        conn.execute(commit_guard(guard_key()))
        yield conn


def names(url: str) -> list[tuple[str, int]]:
    return [(r["name"], r["batch"]) for r in tracking_rows(url)]


def test_the_guard_key_is_apart_from_the_migration_lock() -> None:
    assert guard_key() != lock_key("public", "_migrations")
    assert guard_key("app", "_migrations") != guard_key()
    assert guard_key("public", "other") != guard_key()


def test_a_run_waits_for_the_earlier_runs_migration_and_never_applies_it_twice(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": FILES["001_a.sql"]})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": FILES["002_b.sql"], "003_c.sql": FILES["003_c.sql"]})
    events: list[Event] = []
    outcome: list[object] = []
    with earlier_runs_transaction(db_url) as earlier:
        pid = earlier.info.backend_pid
        thread = threading.Thread(target=lambda: outcome.append(
            Migrator(db_url, directory, on_event=events.append).migrate()))
        thread.start()
        deadline = time.monotonic() + 20
        while not any(e.kind == "lock-wait" for e in events) and time.monotonic() < deadline:
            time.sleep(0.05)
        waiting = [e.message for e in events if e.kind == "lock-wait"]
        # what the earlier run's 002 does on the server, then its COMMIT
        earlier.execute("CREATE TABLE b (id int); INSERT INTO b VALUES (1)")
        earlier.execute("INSERT INTO _migrations (name, batch, checksum, duration_ms) "
                        "SELECT '002_b.sql', 1, checksum, 1 FROM _migrations "
                        "WHERE name = '001_a.sql'")
        earlier.commit()
        thread.join(30)

    assert waiting and "an earlier run sent with its COMMIT" in waiting[0], waiting
    assert f"pid {pid}" in waiting[0], waiting
    assert not thread.is_alive() and outcome, "the run did not finish"
    assert [a.name for a in outcome[0].applied] == ["003_c.sql"]  # type: ignore[attr-defined]
    assert names(db_url) == [("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 2)]
    assert fetch(db_url, "SELECT count(*) FROM b") == [(1,)]
    assert advisory_locks(db_url) == []


def test_the_wait_is_bounded_by_lock_wait_and_changes_nothing(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": FILES["001_a.sql"]})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": FILES["002_b.sql"]})
    before = catalog_snapshot(db_url)
    with earlier_runs_transaction(db_url) as earlier:
        with pytest.raises(LockTimeout) as raised:
            Migrator(db_url, directory, lock_wait=1).migrate()
        pid = earlier.info.backend_pid
        earlier.rollback()

    message = str(raised.value)
    assert "still running on the server" in message and f"pid {pid}" in message, message
    assert f"pg_terminate_backend({pid})" in (raised.value.hint or "")
    assert catalog_snapshot(db_url) == before
    assert names(db_url) == [("001_a.sql", 1)] and not table_exists(db_url, "b")
    assert advisory_locks(db_url) == []


def test_each_migration_transaction_holds_the_guard_until_it_ends(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": FILES["001_a.sql"]})
    Migrator(db_url, directory).migrate()  # the tracking table exists from here on
    migrations({
        "002_slow.sql": "-- UP\nCREATE TABLE slow (id int);\nSELECT pg_sleep(1.5);\n"
                        "-- DOWN\nDROP TABLE slow;\n",
    })
    thread = threading.Thread(target=lambda: Migrator(db_url, directory).migrate())
    thread.start()
    key = guard_key() & 0xFFFFFFFFFFFFFFFF
    held: list[tuple[object, ...]] = []
    deadline = time.monotonic() + 20
    while not held and thread.is_alive() and time.monotonic() < deadline:
        # exclusive: the run's own wait for the guard takes it shared, for a moment
        held = fetch(db_url, "SELECT a.state, a.query LIKE '%%pg_sleep(1.5)%%' FROM pg_locks l "
                             "JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' "
                             "AND l.granted AND l.mode = 'ExclusiveLock' "
                             f"AND l.database = {OWN_DATABASE} "
                             "AND l.classid::bigint = %s AND l.objid::bigint = %s",
                     [key >> 32, key & 0xFFFFFFFF])
        time.sleep(0.05)
    thread.join(30)

    assert held == [("active", True)], held
    assert advisory_locks(db_url) == []
    assert names(db_url) == [("001_a.sql", 1), ("002_slow.sql", 2)]
