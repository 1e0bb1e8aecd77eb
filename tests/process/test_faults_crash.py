"""Crashes and restarts around a running pgshift (RELIABILITY S04, S08, S11, S12).

Every test runs the real program (``python -m pgshift``) in subprocesses with an explicit
``--database-url`` and ``--dir``, from a temporary directory, with no ``DATABASE_URL`` or
``PG*`` variable in its environment, and asserts on the database afterwards: tracking rows
against catalog objects, ``pg_index.indisvalid``, no advisory lock left in the test
database, no pgshift backend left ``idle in transaction``, and no password in any output.

Long statements sleep for ``SELECT seconds FROM fault_sleep`` so a test can make the
re-run after a fault fast by setting it to 0. Server restarts use a throw-away cluster
(``faultkit.Cluster``) of the same major version as the suite's test server when its
binaries are on this machine.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from faultkit import Cluster, matching_bin_dir
from pgtest import CliResult, batches, execute, fetch, index_info, table_exists
from process.support import (
    Backend,
    Procs,
    assert_no_leak,
    assert_released,
    migration,
    pgshift_backends,
    wait_for,
    with_password,
    write_files,
)

pytestmark = pytest.mark.faults

SECRET = "Vx7Qm2Lp9Rk"
BIG_ROWS = 200_000
SLEEP = "SELECT pg_sleep((SELECT seconds FROM fault_sleep));"


# --- helpers ----------------------------------------------------------------------------


def sleeping_backend(url: str) -> Backend | None:
    """pgshift's backend while it runs the test's pg_sleep statement."""
    found = [b for b in pgshift_backends(url)
             if b.state == "active" and "pg_sleep" in b.query]
    return found[0] if found else None


def set_sleep(url: str, seconds: float) -> None:
    execute(url, "CREATE TABLE IF NOT EXISTS fault_sleep (seconds float8);"
                 "DELETE FROM fault_sleep;")
    execute(url, "INSERT INTO fault_sleep VALUES (%s)", [seconds])


def make_big_table(url: str) -> None:
    # Autovacuum stays off the table: an auto-analyze holds a snapshot that a CREATE INDEX
    # CONCURRENTLY would wait for too, which is not the wait a test sets up.
    execute(url, "CREATE TABLE big (id int PRIMARY KEY, v text) "
                 "WITH (autovacuum_enabled = off);"
                 f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {BIG_ROWS}) g;"
                 "ANALYZE big;")


def cic_backend(url: str) -> Backend | None:
    """pgshift's CREATE INDEX CONCURRENTLY while it waits on a lock."""
    found = [b for b in pgshift_backends(url)
             if "CREATE INDEX CONCURRENTLY" in b.query.upper() and b.state == "active"
             and b.wait_event_type == "Lock"]
    return found[0] if found else None


@pytest.fixture
def cluster(pg_url: str) -> Iterator[Cluster]:
    """A throw-away cluster with SCRAM authentication (password with URL-reserved chars)."""
    base = Path(tempfile.mkdtemp(prefix="pgshift-faults-"))
    server = Cluster(base, auth="scram", bin_dir=matching_bin_dir(pg_url))
    try:
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


# --- S04: runners racing a CREATE INDEX CONCURRENTLY migration ------------------------------


CIC_FILE = migration("CREATE INDEX CONCURRENTLY big_v_idx ON big (v);",
                     "DROP INDEX CONCURRENTLY big_v_idx;")


def _snapshot_holders(url: str, seen: dict[int, int]) -> list[int]:
    """Update ``seen`` (pid → consecutive samples idle in transaction WITH a snapshot)
    and return the pids seen so in two samples in a row."""
    now = {b.pid for b in pgshift_backends(url)
           if (b.state or "").startswith("idle in trans") and b.has_snapshot}
    for pid in list(seen):
        if pid not in now:
            del seen[pid]
    for pid in now:
        seen[pid] = seen.get(pid, 0) + 1
    return [pid for pid, count in seen.items() if count >= 2]


@pytest.mark.parametrize("outside_snapshot", [False, True], ids=["race", "cic-waits"])
def test_s04_four_runners_racing_a_cic_migration(
    db_url: str, tmp_path: Path, procs: Procs, outside_snapshot: bool
) -> None:
    url = with_password(db_url, SECRET)
    make_big_table(db_url)
    directory = write_files(tmp_path / "migrations", {"001_big_v_idx.sql": CIC_FILE})
    blocker = None
    if outside_snapshot:
        # An application's REPEATABLE READ transaction: CIC must wait for it, and only it.
        blocker = psycopg.connect(db_url)
        blocker.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        blocker.execute("SELECT count(*) FROM big")
    try:
        runs = [procs.start(url, directory, tmp_path, "migrate") for _ in range(4)]
        stuck: list[int] = []
        seen: dict[int, int] = {}
        if blocker is not None:
            cic = runs[0].wait_for(lambda: cic_backend(db_url), 60, "pgshift's CIC waiting")
            ours = {b.pid: b for b in pgshift_backends(db_url)}

            def waits_for_the_blocker() -> bool:
                # CIC waits for older snapshots one at a time; none may be pgshift's own.
                blockers = fetch(db_url, "SELECT pg_blocking_pids(%s)", [cic.pid])[0][0]
                assert not [p for p in blockers if p in ours], (blockers, ours)
                return blocker.info.backend_pid in blockers

            runs[0].wait_for(waits_for_the_blocker, 30, "the CIC waiting for the blocker")
            holders = [r[0] for r in fetch(
                db_url, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database())")]
            assert len(holders) == 1 and holders[0] in ours, (holders, ours)
            # the lock's transaction is open but holds no snapshot
            assert ours[holders[0]].state == "idle in transaction"
            assert ours[holders[0]].has_snapshot is False
            assert index_info(db_url, "big_v_idx") is not None
            # the three others have their lock's connection (two backends each): they are
            # at the lock, not still starting, when the blocker lets the CIC finish
            runs[0].wait_for(lambda: len(pgshift_backends(db_url)) == 8, 60,
                             "the other three runners waiting for the lock")
            for _ in range(10):
                stuck += _snapshot_holders(db_url, seen)
                time.sleep(0.05)
            blocker.commit()
        while any(r.proc.poll() is None for r in runs):
            stuck += _snapshot_holders(db_url, seen)
            time.sleep(0.05)
        results = [r.result(120) for r in runs]
    finally:
        if blocker is not None:
            blocker.close()

    shown = "\n".join(r.stdout + r.stderr for r in results)
    assert [r.exit_code for r in results] == [0, 0, 0, 0], shown
    assert "deadlock" not in shown and "40P01" not in shown
    assert sum("Applied 1 migration" in r.stdout for r in results) == 1, shown
    assert sum("Nothing to migrate" in r.stdout for r in results) == 3, shown
    if outside_snapshot:
        assert sum("waiting for the migration lock" in r.stderr for r in results) == 3, shown
    assert stuck == [], "pgshift sessions held a snapshot while idle in transaction"
    assert index_info(db_url, "big_v_idx") == (
        True, "CREATE INDEX big_v_idx ON public.big USING btree (v)")
    assert batches(db_url) == [("001_big_v_idx.sql", 1)]
    assert_released(db_url)
    for result in results:
        assert_no_leak(result, SECRET)


# --- S08: kill -9 during a non-transactional migration --------------------------------------


NO_TX_FILE = migration(
    "CREATE TABLE x (id int);\n"
    "CREATE INDEX CONCURRENTLY big_v_idx ON big (v);\n"
    "CREATE TABLE y (id int);",
    "DROP TABLE y;\nDROP INDEX CONCURRENTLY big_v_idx;\nDROP TABLE x;",
    header="-- pgshift: no-transaction\n",
)


def test_s08_kill_during_cic_leaves_partial_progress_that_the_next_run_completes(
    db_url: str, tmp_path: Path, procs: Procs
) -> None:
    url = with_password(db_url, SECRET)
    make_big_table(db_url)
    # The server notices a vanished client even while the CIC waits (PG 14+).
    dbname = urlsplit(db_url).path.lstrip("/")
    execute(db_url, f'ALTER DATABASE "{dbname}" SET client_connection_check_interval = 200')
    directory = write_files(tmp_path / "migrations", {
        "001_base.sql": migration("CREATE TABLE base (id int);", "DROP TABLE base;"),
        "002_x_index_y.sql": NO_TX_FILE,
    })
    with psycopg.connect(db_url) as blocker:
        blocker.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        blocker.execute("SELECT count(*) FROM big")
        run = procs.start(url, directory, tmp_path, "migrate")
        cic = run.wait_for(lambda: cic_backend(db_url), 60, "pgshift's CIC waiting")
        run.kill()
        killed = run.result(30)
        wait_for(lambda: cic.pid not in {b.pid for b in pgshift_backends(db_url)}, 30,
                 "the killed client's CIC backend to end")
        blocker.rollback()

    assert killed.exit_code == -signal.SIGKILL
    assert table_exists(db_url, "x") and not table_exists(db_url, "y")
    assert index_info(db_url, "big_v_idx") is not None
    assert index_info(db_url, "big_v_idx")[0] is False
    assert batches(db_url) == [("001_base.sql", 1)]
    progress = fetch(db_url, "SELECT name, applied, total, pending_index "
                             "FROM _migrations_progress")
    assert [(n, a, t, (i or "").strip('"')) for n, a, t, i in progress] == [
        ("002_x_index_y.sql", 1, 3, "big_v_idx")]
    assert_released(db_url)

    status = procs.run(url, directory, tmp_path, "status")
    assert status.exit_code == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if "002_x_index_y.sql" in x)
    assert "partial (1 of 3 statements)" in line
    assert "big_v_idx" in status.stderr and "INVALID" in status.stderr

    again = procs.run(url, directory, tmp_path, "migrate")
    assert again.exit_code == 0, again.stderr
    assert index_info(db_url, "big_v_idx") == (
        True, "CREATE INDEX big_v_idx ON public.big USING btree (v)")
    assert table_exists(db_url, "y")
    assert batches(db_url) == [("001_base.sql", 1), ("002_x_index_y.sql", 2)]
    assert fetch(db_url, "SELECT count(*) FROM _migrations_progress") == [(0,)]
    assert_released(db_url)
    for result in (status, again):
        assert_no_leak(result, SECRET)


# --- S11 / S12: server restart, backend terminated ------------------------------------------


def _sleeping_files(directory: Path) -> Path:
    return write_files(directory, {
        "001_one.sql": migration("CREATE TABLE one (id int);", "DROP TABLE one;"),
        "002_two.sql": migration(f"CREATE TABLE a (id int);\n{SLEEP}\nCREATE TABLE b (id int);",
                                 "DROP TABLE b;\nDROP TABLE a;"),
    })


def _assert_second_not_applied(url: str, result: CliResult) -> None:
    assert result.exit_code == 1, result.stderr
    assert "connection was lost during 002_two.sql" in result.stderr, result.stderr
    assert "002_two.sql was not applied" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert batches(url) == [("001_one.sql", 1)]
    assert table_exists(url, "one")
    assert not table_exists(url, "a") and not table_exists(url, "b")


def _rerun_applies_the_second(url: str, directory: Path, cwd: Path, procs: Procs,
                              secret: str) -> None:
    set_sleep(url, 0)
    again = procs.run(url, directory, cwd, "migrate", timeout=60)
    assert again.exit_code == 0, again.stderr
    assert batches(url) == [("001_one.sql", 1), ("002_two.sql", 2)]
    assert table_exists(url, "a") and table_exists(url, "b")
    assert_released(url)
    assert_no_leak(again, secret)


def test_s11_server_restart_mid_migration(
    cluster: Cluster, tmp_path: Path, procs: Procs
) -> None:
    url = cluster.url()
    secret = cluster.password or ""
    set_sleep(url, 30)
    directory = _sleeping_files(tmp_path / "migrations")
    run = procs.start(url, directory, tmp_path, "migrate")
    run.wait_for(lambda: sleeping_backend(url), 60, "002_two.sql sleeping")

    cluster.restart("fast")
    result = run.result(30)

    _assert_second_not_applied(url, result)
    assert_released(url)
    assert_no_leak(result, secret)
    _rerun_applies_the_second(url, directory, tmp_path, procs, secret)


def test_s12_backend_terminated_by_an_admin(db_url: str, tmp_path: Path, procs: Procs) -> None:
    url = with_password(db_url, SECRET)
    set_sleep(db_url, 30)
    directory = _sleeping_files(tmp_path / "migrations")
    run = procs.start(url, directory, tmp_path, "migrate")
    victim = run.wait_for(lambda: sleeping_backend(db_url), 60, "002_two.sql sleeping")

    assert fetch(db_url, "SELECT pg_terminate_backend(%s)", [victim.pid]) == [(True,)]
    result = run.result(30)

    _assert_second_not_applied(db_url, result)
    assert "57P01" in result.stderr, result.stderr
    assert_released(db_url)
    assert_no_leak(result, SECRET)
    _rerun_applies_the_second(db_url, directory, tmp_path, procs, SECRET)
