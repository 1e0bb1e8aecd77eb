"""The migration lock (SPEC 5.5; RELIABILITY S05, S06): a second connection holds it,
pgshift waits saying who holds it, ``--lock-wait`` bounds the wait; nothing is left held
or ``idle in transaction`` after a command; the held lock keeps no snapshot, so it never
stalls ``CREATE INDEX CONCURRENTLY``."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pgshift import Migrator
from pgshift.db import lock
from pgshift.db.lock import lock_key
from pgshift.errors import LockTimeout
from pgshift.results import Event
from pgtest import (
    OWN_DATABASE,
    Cli,
    Files,
    advisory_locks,
    catalog_snapshot,
    clean_environ,
    execute,
    fetch,
    run,
    tracking_rows,
)

HEARTBEAT_SECONDS: float = getattr(lock, "HEARTBEAT_SECONDS", 5.0)

FILES = {
    "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
    "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n",
}


def bounded(url: str) -> str:
    """``url`` with a statement_timeout, so a stall fails instead of hanging the run."""
    return make_conninfo(url, options="-c statement_timeout=20s")


@contextmanager
def holding_lock(url: str, schema: str = "public", table: str = "_migrations") -> Iterator[int]:
    """Hold pgshift's lock for ``schema.table`` in an open transaction; yields the pid."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(schema, table)])
        yield conn.info.backend_pid
        conn.rollback()


def pgshift_backends(url: str) -> list[tuple[int, str | None, Any]]:
    """(pid, state, backend_xmin) of pgshift's sessions on the database of ``url``."""
    return [(r[0], r[1], r[2]) for r in fetch(
        url, "SELECT pid, state, backend_xmin FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'pgshift'")]


def assert_nothing_left(url: str) -> None:
    deadline = time.monotonic() + 5
    while pgshift_backends(url) and time.monotonic() < deadline:
        time.sleep(0.05)  # a closed connection's backend may need a moment to exit
    assert advisory_locks(url) == []
    assert [b for b in pgshift_backends(url) if b[1] and "in transaction" in b[1]] == []


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, thread: threading.Thread | None = None
) -> Any:
    """The first truthy value of ``predicate``; fails after ``timeout`` s or as soon as
    ``thread`` (the run being watched) has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if thread is not None and not thread.is_alive():
            raise AssertionError("the run ended before the condition was reached")
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


# --- S05: bounded wait ------------------------------------------------------------------


def test_lock_wait_bound_names_the_holder(db_url: str, migrations: Files, cli: Cli) -> None:
    directory = migrations(FILES)
    before = catalog_snapshot(db_url)

    with holding_lock(db_url) as holder:
        started = time.monotonic()
        result = run(cli, db_url, directory, "migrate", "--lock-wait", "2")
        waited = time.monotonic() - started
        assert advisory_locks(db_url) == [(holder, True)]

    assert result.exit_code == 1
    assert waited >= 2.0
    assert f"pid {holder}" in result.stderr
    assert f"pg_terminate_backend({holder})" in result.stderr
    assert "Traceback" not in result.stderr
    assert catalog_snapshot(db_url) == before
    assert_nothing_left(db_url)


@pytest.mark.parametrize("command", ["rollback", "reset", "refresh"])
def test_lock_wait_bound_applies_to_every_changing_command(
    db_url: str, migrations: Files, cli: Cli, command: str
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)
    extra = ["--yes"] if command in ("reset", "refresh") else []

    with holding_lock(db_url) as holder:
        result = run(cli, db_url, directory, command, *extra, "--lock-wait", "0.5")

    assert result.exit_code == 1
    assert f"pid {holder}" in result.stderr
    assert catalog_snapshot(db_url) == before
    assert_nothing_left(db_url)


def test_library_raises_lock_timeout(db_url: str, migrations: Files) -> None:
    directory = migrations(FILES)
    with holding_lock(db_url) as holder, pytest.raises(LockTimeout) as caught:
        Migrator(db_url, directory, lock_wait=0.5).migrate()
    assert f"pid {holder}" in str(caught.value)
    assert tracking_rows(db_url) == []


def test_status_does_not_wait_for_the_lock(db_url: str, migrations: Files) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()
    with holding_lock(db_url):
        report = Migrator(db_url, directory, lock_wait=0).status()
    assert [e.state for e in report.entries] == ["executed", "executed"]


def test_waiter_proceeds_once_the_holder_is_gone(db_url: str, migrations: Files) -> None:
    directory = migrations(FILES)
    events: list[Event] = []
    conn = psycopg.connect(db_url)
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("public", "_migrations")])
    holder = conn.info.backend_pid

    def on_event(event: Event) -> None:
        events.append(event)
        if event.kind == "lock-wait":
            conn.rollback()

    try:
        result = Migrator(db_url, directory, on_event=on_event).migrate()
    finally:
        conn.close()

    waits = [e for e in events if e.kind == "lock-wait"]
    assert len(waits) == 1 and f"pid {holder}" in waits[0].message
    assert [a.name for a in result.applied] == list(FILES)
    assert_nothing_left(db_url)


def test_cli_prints_a_line_naming_the_holder_while_waiting(
    db_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)
    lines: queue.Queue[str] = queue.Queue()
    with holding_lock(db_url) as holder:
        process = subprocess.Popen(
            [sys.executable, "-m", "pgshift", "--database-url", db_url, "--dir",
             str(directory), "migrate"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=clean_environ(), cwd=directory.parent,
        )
        assert process.stderr is not None
        stderr = process.stderr
        threading.Thread(target=lambda: [lines.put(x) for x in stderr], daemon=True).start()
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            process.kill()
            raise
        assert f"pid {holder}" in first and "lock" in first
        assert tracking_rows(db_url) == []
    out, _ = process.communicate(timeout=60)

    assert process.returncode == 0
    assert "Applied 2 migrations" in out
    assert [r["name"] for r in tracking_rows(db_url)] == list(FILES)


# --- the lock's scope ---------------------------------------------------------------------


def test_another_tracking_table_has_its_own_lock(db_url: str, migrations: Files) -> None:
    directory = migrations(FILES)
    with holding_lock(db_url):
        result = Migrator(db_url, directory, table="other_log", lock_wait=0.5).migrate()
    assert len(result.applied) == 2


def test_the_same_table_name_in_another_database_is_not_blocked(
    db_url: str, pg_url: str, migrations: Files
) -> None:
    directory = migrations(FILES)
    with holding_lock(pg_url):
        result = Migrator(db_url, directory, lock_wait=0.5).migrate()
    assert len(result.applied) == 2


def test_schema_qualified_table_uses_its_schemas_key(db_url: str, migrations: Files) -> None:
    execute(db_url, "CREATE SCHEMA ops")
    directory = migrations(FILES)
    with holding_lock(db_url, "ops", "log"), pytest.raises(LockTimeout):
        Migrator(db_url, directory, table="ops.log", lock_wait=0.3).migrate()
    with holding_lock(db_url, "ops", "log"), pytest.raises(LockTimeout):
        Migrator(make_conninfo(db_url, options="-c search_path=ops"), directory,
                 table="log", lock_wait=0.3).migrate()


# --- nothing left behind ------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ("migrate",), ("status",), ("rollback",), ("reset", "--yes"), ("refresh", "--yes"),
])
def test_no_lock_or_open_transaction_after_a_command(
    db_url: str, migrations: Files, cli: Cli, command: tuple[str, ...]
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()
    migrations({"003_c.sql": "-- UP\nCREATE TABLE c (id int);\n-- DOWN\nDROP TABLE c;\n"})

    result = run(cli, db_url, directory, *command)

    assert result.exit_code == 0, result.stderr
    assert_nothing_left(db_url)


@pytest.mark.parametrize("command", ["migrate", "rollback"])
def test_no_lock_or_open_transaction_after_a_failure(
    db_url: str, migrations: Files, cli: Cli, command: str
) -> None:
    directory = migrations({"001_bad.sql": "-- UP\nCREATE TABLE a (id int);\n"
                            "-- DOWN\nDROP TABLE nope;\n"})
    Migrator(db_url, directory).migrate()
    migrations({"002_bad.sql": "-- UP\nCREATE TABLE x (id nosuchtype);\n"})

    result = run(cli, db_url, directory, command)

    assert result.exit_code == 1
    assert_nothing_left(db_url)


# --- the held lock holds no snapshot ------------------------------------------------------


def _in_background(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(call())
        except Exception as error:  # reported by the test that joins the thread
            outcome.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def lock_holder_facts(url: str) -> list[tuple[int, str | None, Any, int]]:
    """(pid, state, backend_xmin, advisory locks held) of each advisory-lock holder."""
    return [(r[0], r[1], r[2], r[3]) for r in fetch(
        url,
        "SELECT a.pid, a.state, a.backend_xmin, count(*) FROM pg_locks l"
        " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
        f" AND l.granted AND l.database = {OWN_DATABASE} GROUP BY 1, 2, 3")]


def test_lock_connection_is_idle_without_snapshot_during_a_migration(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_a.sql": FILES["001_a.sql"],
        "002_slow.sql": "-- UP\nCREATE TABLE slow (id int);\nSELECT pg_sleep(1.5);\n",
    })
    thread, outcome = _in_background(lambda: Migrator(db_url, directory).migrate())

    wait_for(lambda: fetch(db_url, "SELECT 1 FROM pg_stat_activity WHERE datname ="
                                   " current_database() AND query LIKE '%pg_sleep(1.5)%'"
                                   " AND state = 'active' AND application_name = 'pgshift'"),
             thread=thread)
    holders = lock_holder_facts(db_url)
    thread.join(30)

    assert not isinstance(outcome[0], Exception), outcome
    # the lock's connection, and the migration's own (active: it holds the commit guard
    # of its one-query transaction, see pgshift.db.runner)
    assert len(holders) == 2, holders
    (_, state, xmin, count), = [h for h in holders if h[1] != "active"]
    assert state == "idle in transaction"
    assert xmin is None
    assert count == 1
    assert [h[3] for h in holders if h[1] == "active"] == [1]
    assert_nothing_left(db_url)


def test_held_lock_does_not_stall_create_index_concurrently(
    db_url: str, migrations: Files
) -> None:
    """A writer's open transaction makes the CIC wait; while it waits, pgshift's lock
    connection must hold no snapshot, and once the writer commits the CIC finishes."""
    execute(db_url, "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)")
    directory = migrations({"001_idx.sql": "-- UP\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"})
    with psycopg.connect(db_url) as writer:
        writer.execute("INSERT INTO t VALUES (0)")
        writer_pid = writer.info.backend_pid
        thread, outcome = _in_background(lambda: Migrator(bounded(db_url), directory).migrate())
        waiting = wait_for(lambda: fetch(
            db_url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'"),
            thread=thread)
        holders = lock_holder_facts(db_url)
        blockers = fetch(db_url, "SELECT pg_blocking_pids(%s)", [waiting[0][0]])[0][0]
        # let the lock's heartbeat run while the CIC waits: it must not take a snapshot
        time.sleep(HEARTBEAT_SECONDS + 1.5)
        holders += lock_holder_facts(db_url)
        blockers += fetch(db_url, "SELECT pg_blocking_pids(%s)", [waiting[0][0]])[0][0]
        writer.commit()
    thread.join(30)

    assert not isinstance(outcome[0], Exception), outcome
    assert len(holders) == 2 and holders[0][0] == holders[1][0]
    assert [h[1:3] for h in holders] == [("idle in transaction", None)] * 2
    assert holders[0][0] not in blockers
    assert set(blockers) == {writer_pid}
    assert fetch(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass"
                 ) == [(True,)]
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_idx.sql"]
    assert_nothing_left(db_url)


def test_refresh_holds_one_lock_per_backend(db_url: str, migrations: Files) -> None:
    """RELIABILITY S06: never more than one advisory lock per pgshift backend."""
    directory = migrations({
        **FILES,
        "003_slow.sql": "-- UP\nSELECT pg_sleep(0.7);\n-- DOWN\nSELECT pg_sleep(0.7);\n",
    })
    Migrator(db_url, directory).migrate()
    seen: list[list[tuple[int, str | None, Any, int]]] = []
    thread, outcome = _in_background(lambda: Migrator(db_url, directory).refresh())
    while thread.is_alive():
        seen.append(lock_holder_facts(db_url))
        time.sleep(0.05)

    assert not isinstance(outcome[0], Exception), outcome
    assert any(seen)
    # one holder of the migration lock (its idle transaction); the active migration
    # connection holds only the commit guard of its one-query transaction
    assert all(len([f for f in facts if f[1] != "active"]) <= 1
               and all(f[3] == 1 for f in facts) for facts in seen), seen
    assert [r["batch"] for r in tracking_rows(db_url)] == [1, 1, 1]
    assert_nothing_left(db_url)


@pytest.mark.parametrize("setting", [
    "idle_in_transaction_session_timeout = '1s'",
    "transaction_timeout = '1200ms'",
])
def test_lock_survives_session_timeouts_of_the_database(
    db_url: str, migrations: Files, setting: str
) -> None:
    """Timeouts set on the database must not end the lock's long-lived transaction
    while the run goes on (each migration's own transaction stays shorter than them)."""
    with psycopg.connect(db_url) as conn:
        version = conn.info.server_version
    if "transaction_timeout" in setting and version < 170000:
        pytest.skip("transaction_timeout exists from PostgreSQL 17 on")
    directory = migrations({
        f"00{n}_nap.sql": f"-- UP\nSELECT pg_sleep(0.{n + 3}1);\n" for n in range(1, 5)
    })
    execute(db_url, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET " + setting.replace(
        "'", "''") + "', current_database()); END $$")
    thread, outcome = _in_background(lambda: Migrator(db_url, directory).migrate())
    # one query: whether 004 sleeps right now, and how many advisory locks are granted
    during_last = wait_for(lambda: [r[1] for r in fetch(
        db_url,
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        "   AND application_name = 'pgshift' AND pid <> pg_backend_pid()"
        "   AND query LIKE '%pg_sleep(0.71)%' AND state = 'active'),"
        f" (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        f"   AND database = {OWN_DATABASE})") if r[0]], thread=thread)
    thread.join(30)

    assert not isinstance(outcome[0], Exception), outcome
    # the migration lock, and the commit guard 004's transaction holds
    assert during_last == [2], "the migration lock was no longer held during 004"
    assert [r["name"] for r in tracking_rows(db_url)] == sorted(
        f"00{n}_nap.sql" for n in range(1, 5))
