"""Work a killed or frozen client leaves running on the server, and connections ended by
the server while pgshift sets up its session (issue: faults found by a randomized soak).

- A ``CREATE INDEX CONCURRENTLY`` whose client is gone keeps building its (INVALID) index.
  A runner that takes over must wait for that build (bounded by ``--lock-wait``, naming
  the backend) rather than drop the index under it (XX000 "tuple concurrently updated").
- On PostgreSQL 14+ pgshift sets ``client_connection_check_interval`` around statements
  that run outside a transaction, so the server ends such a statement soon after its
  client vanished, and resets it afterwards, also after a failure.
- A connection terminated while pgshift reads the server's facts, waits for the lock or
  reads the tracking table ends in pgshift's own message (exit 1), never a traceback.

The real program runs in subprocesses; the assertions are on the server's state.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg
import pytest

from pgtest import batches, execute, fetch, index_info, table_exists
from process.support import (
    Backend,
    Procs,
    assert_released,
    migration,
    pgshift_backends,
    wait_for,
    write_files,
)

pytestmark = pytest.mark.faults

BIG_ROWS = 100_000
FILES = {
    "001_base.sql": migration("CREATE TABLE base (id int);", "DROP TABLE base;"),
    "002_x_index_y.sql": migration(
        "CREATE TABLE x (id int);\n"
        "CREATE INDEX CONCURRENTLY big_v_idx ON big (v);\n"
        "CREATE TABLE y (id int);",
        "DROP TABLE y;\nDROP INDEX CONCURRENTLY big_v_idx;\nDROP TABLE x;",
        header="-- pgshift: no-transaction\n",
    ),
}


def make_big_table(url: str) -> None:
    execute(url, "CREATE TABLE big (id int PRIMARY KEY, v text);"
                 f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {BIG_ROWS}) g;")
    execute(url, "VACUUM ANALYZE big")


def waiting_cic(url: str) -> Backend | None:
    """pgshift's CREATE INDEX CONCURRENTLY while it waits for the blocker's snapshot, its
    index in the catalog (not while it waits for its table lock, e.g. behind autovacuum)."""
    waiting = {r[0] for r in fetch(url, "SELECT pid FROM pg_stat_progress_create_index "
                                        "WHERE phase = 'waiting for old snapshots'")}
    found = [b for b in pgshift_backends(url)
             if "CREATE INDEX CONCURRENTLY" in b.query.upper() and b.state == "active"
             and b.wait_event_type == "Lock" and b.pid in waiting]
    return found[0] if found else None


def lock_backend(url: str) -> int | None:
    """The pid of a pgshift run's lock connection (its second one) once it is open."""
    pids = [r[0] for r in fetch(
        url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
             "AND application_name = 'pgshift' ORDER BY backend_start, pid")]
    return pids[1] if len(pids) == 2 else None


def snapshot_blocker(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An open REPEATABLE READ transaction with a snapshot: a CREATE INDEX CONCURRENTLY
    started after it waits for it to end."""
    conn = psycopg.connect(url)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.execute("SELECT count(*) FROM big")
    return conn


def test_a_takeover_waits_for_the_build_of_an_index_a_frozen_client_left_running(
    db_url: str, tmp_path: Path, procs: Procs
) -> None:
    make_big_table(db_url)
    directory = write_files(tmp_path / "migrations", FILES)
    blocker = snapshot_blocker(db_url)
    try:
        first = procs.start(db_url, directory, tmp_path, "migrate")
        cic = first.wait_for(lambda: waiting_cic(db_url), 60, "the first run's CIC waiting")
        # The client freezes (its socket stays open, so the server keeps building) and
        # its lock is ended: a second runner can take over while the build goes on.
        os.kill(first.proc.pid, signal.SIGSTOP)
        holder = wait_for(lambda: lock_backend(db_url), 10, "the first run's lock backend")
        execute(db_url, "SELECT pg_terminate_backend(%s)", [holder])
        wait_for(lambda: holder not in {b.pid for b in pgshift_backends(db_url)}, 10,
                 "the first run's lock connection gone")
        assert index_info(db_url, "big_v_idx") is not None
        assert index_info(db_url, "big_v_idx")[0] is False

        bounded = procs.run(db_url, directory, tmp_path, "migrate", "--lock-wait", "3",
                            timeout=60)
        assert bounded.exit_code == 1, bounded.stderr
        assert "Traceback" not in bounded.stderr and "XX000" not in bounded.stderr
        assert "big_v_idx" in bounded.stderr and f"pid {cic.pid}" in bounded.stderr
        assert "application 'pgshift'" in bounded.stderr
        assert f"pg_cancel_backend({cic.pid})" in bounded.stderr
        # the build was left alone
        assert waiting_cic(db_url) is not None and waiting_cic(db_url).pid == cic.pid

        wait_for(lambda: [b.pid for b in pgshift_backends(db_url)] == [cic.pid], 15,
                 "the bounded run's sessions gone")
        waiting = procs.start(db_url, directory, tmp_path, "migrate")
        waiting.wait_for(lambda: [b for b in pgshift_backends(db_url)
                                  if "pg_stat_progress_create_index" in b.query], 30,
                         "the next run to wait for the build")
        still = waiting_cic(db_url)
        assert still is not None and still.pid == cic.pid, "the build ended before the blocker"
    finally:
        blocker.rollback()
        blocker.close()
    done = waiting.result(120)
    assert done.exit_code == 0, done.stderr
    assert "waiting for the build" in done.stderr and f"pid {cic.pid}" in done.stderr, done.stderr
    assert "XX000" not in done.stderr and "Traceback" not in done.stderr
    first.kill()
    first.result(10)
    assert index_info(db_url, "big_v_idx") == (
        True, "CREATE INDEX big_v_idx ON public.big USING btree (v)")
    assert table_exists(db_url, "y")
    assert batches(db_url) == [("001_base.sql", 1), ("002_x_index_y.sql", 2)]
    assert fetch(db_url, "SELECT count(*) FROM _migrations_progress") == [(0,)]
    assert_released(db_url)


def test_the_server_ends_a_killed_clients_cic_without_any_database_setting(
    db_url: str, tmp_path: Path, procs: Procs
) -> None:
    if fetch(db_url, "SELECT current_setting('server_version_num')::int")[0][0] < 140000:
        pytest.skip("client_connection_check_interval needs PostgreSQL 14+")
    assert fetch(db_url, "SHOW client_connection_check_interval") == [("0",)]
    make_big_table(db_url)
    directory = write_files(tmp_path / "migrations", FILES)
    blocker = snapshot_blocker(db_url)
    try:
        run = procs.start(db_url, directory, tmp_path, "migrate")
        cic = run.wait_for(lambda: waiting_cic(db_url), 60, "pgshift's CIC waiting")
        run.kill()
        run.result(30)
        # the blocker is still open: only the server noticing the dead client ends it
        wait_for(lambda: cic.pid not in {b.pid for b in pgshift_backends(db_url)}, 20,
                 "the killed client's CIC backend to end")
    finally:
        blocker.rollback()
        blocker.close()
    assert index_info(db_url, "big_v_idx") is not None
    assert index_info(db_url, "big_v_idx")[0] is False
    again = procs.run(db_url, directory, tmp_path, "migrate")
    assert again.exit_code == 0, again.stderr
    assert index_info(db_url, "big_v_idx")[0] is True
    assert batches(db_url) == [("001_base.sql", 1), ("002_x_index_y.sql", 2)]
    assert_released(db_url)


def test_terminated_while_waiting_for_the_lock_is_pgshifts_own_message(
    db_url: str, tmp_path: Path, procs: Procs
) -> None:
    from pgshift.db.lock import lock_key

    directory = write_files(tmp_path / "migrations", FILES)
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("public", "_migrations")])
        run = procs.start(db_url, directory, tmp_path, "migrate")
        run.wait_for(lambda: lock_backend(db_url), 30, "pgshift polling for the lock")
        execute(db_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = 'pgshift'")
        result = run.result(30)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "\nerror: the connection to " in "\n" + result.stderr, result.stderr
    assert "terminat" in result.stderr and "migration lock" in result.stderr
    assert "nothing was changed" in result.stderr
    assert batches(db_url) == [] and not table_exists(db_url, "base")
    assert_released(db_url)


def test_terminated_before_reading_the_tracking_table_is_pgshifts_own_message(
    db_url: str, tmp_path: Path, procs: Procs
) -> None:
    from pgshift.db.lock import lock_key

    directory = write_files(tmp_path / "migrations", FILES)
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("public", "_migrations")])
        run = procs.start(db_url, directory, tmp_path, "migrate")
        polling = run.wait_for(lambda: lock_backend(db_url), 30, "pgshift polling for the lock")
        # end the migration connection only; the lock is granted afterwards
        execute(db_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = 'pgshift' "
                        "AND pid <> %s", [polling])
    result = run.result(30)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "\nerror: the connection to " in "\n" + result.stderr, result.stderr
    assert "tracking table" in result.stderr and "nothing was changed" in result.stderr
    assert batches(db_url) == [] and not table_exists(db_url, "base")
    assert_released(db_url)
