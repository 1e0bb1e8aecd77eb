"""Network faults between pgshift and its server (RELIABILITY S13, S14, S41).

pgshift runs as a real program (``python -m pgshift``) in subprocesses, connected through
``faultkit.FaultProxy``, a TCP proxy that can blackhole or cut the connection at a chosen
moment. The tests assert on the server afterwards, through a direct connection: tracking
rows against catalog objects, no advisory lock left in the test database, no pgshift
backend left behind, and no password in any output.

Long statements sleep for ``SELECT seconds FROM fault_sleep`` so a test controls how long
a migration runs.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from faultkit import FaultProxy, free_port
from pgtest import CliResult, advisory_locks, batches, execute, fetch, table_exists
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

SECRET = "Wd4Hs8Kt2Pz"
SLEEP = "SELECT pg_sleep((SELECT seconds FROM fault_sleep));"
# RELIABILITY S13: a blackholed run ends within this bound on the client...
CLIENT_BOUND = 60
# ... and the server frees what it held within this one (pgshift's idle-in-transaction
# timeout of 60 s on its lock connection, plus slack).
SERVER_BOUND = 100


# --- helpers ----------------------------------------------------------------------------


def sleeping_backend(url: str) -> Backend | None:
    """pgshift's backend while it runs the test's pg_sleep statement."""
    found = [b for b in pgshift_backends(url)
             if b.state == "active" and "pg_sleep" in b.query]
    return found[0] if found else None


def in_transaction(url: str) -> list[Backend]:
    """pgshift's backends that are inside a transaction (or running a statement)."""
    return [b for b in pgshift_backends(url) if b.state != "idle"]


def set_sleep(url: str, seconds: float) -> None:
    execute(url, "CREATE TABLE IF NOT EXISTS fault_sleep (seconds float8);"
                 "DELETE FROM fault_sleep;")
    execute(url, "INSERT INTO fault_sleep VALUES (%s)", [seconds])


def proxy_for(url: str) -> FaultProxy:
    parts = urlsplit(url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432)


def columns_of(url: str, table: str) -> list[str]:
    return [r[0] for r in fetch(url, "SELECT attname FROM pg_attribute WHERE attrelid = "
                                     "to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
                                     "ORDER BY attnum", [table])]


def table_is_usable(url: str, table: str) -> bool:
    """Whether an application can read ``table`` without waiting more than a second."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '1s'")
        try:
            conn.execute(f"SELECT count(*) FROM {table}")
        except psycopg.errors.LockNotAvailable:
            return False
    return True


# --- S13: network blackhole mid-migration ---------------------------------------------------


def test_s13_blackhole_mid_migration_ends_both_sides(
    db_url: str, tmp_path: Path, procs: Procs
) -> None:
    set_sleep(db_url, 3)
    directory = write_files(tmp_path / "migrations", {
        "001_t1.sql": migration("CREATE TABLE t1 (id int);\nINSERT INTO t1 VALUES (1);",
                                "DROP TABLE t1;"),
        "002_alter.sql": migration(f"ALTER TABLE t1 ADD COLUMN c int;\n{SLEEP}\n"
                                   "CREATE TABLE b (id int);",
                                   "DROP TABLE b;\nALTER TABLE t1 DROP COLUMN c;"),
    })
    with proxy_for(db_url) as proxy:
        url = proxy.rewrite_url(with_password(db_url, SECRET))
        run = procs.start(url, directory, tmp_path, "migrate")
        run.wait_for(lambda: sleeping_backend(db_url), 60, "002_alter.sql sleeping")
        proxy.mode = "blackhole"
        cut_at = time.monotonic()
        result = run.result(CLIENT_BOUND)

        # The whole of 002's transaction, its COMMIT included, reached the server before
        # the blackhole: the server may finish it, and pgshift cannot ask (no new
        # connection gets through), so it says it cannot tell.
        assert result.exit_code == 1, result.stderr
        assert "002_alter.sql" in result.stderr, result.stderr
        assert "may or may not have been committed" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert_no_leak(result, SECRET)
        # Server side, seen through a direct connection: the lock goes within the bound.
        wait_for(lambda: not advisory_locks(db_url), SERVER_BOUND, "the advisory lock freed")
        # ... and so must every session pgshift left in a transaction (one that held
        # ACCESS EXCLUSIVE on t1 would block the application). The migration's session
        # committed and waits, idle, for a client the blackhole hides: it holds nothing,
        # and goes when the network heals (below) or the server's keepalives give up.
        remaining = max(1.0, SERVER_BOUND - (time.monotonic() - cut_at))
        try:
            wait_for(lambda: not in_transaction(db_url), remaining, "pgshift's sessions out of "
                     "their transactions")
            left: list[Backend] = []
        except AssertionError:
            left = in_transaction(db_url)
        t1_usable = table_is_usable(db_url, "t1")
        proxy.mode = "reset"  # the partition heals with an RST: the server sees EOF
        wait_for(lambda: not pgshift_backends(db_url), 30, "pgshift's backends gone after RST")

    # The server did finish it: row present <=> objects present, and the next run
    # applies nothing twice.
    assert batches(db_url) == [("001_t1.sql", 1), ("002_alter.sql", 1)]
    assert columns_of(db_url, "t1") == ["id", "c"] and table_exists(db_url, "b")
    again = procs.run(with_password(db_url, SECRET), directory, tmp_path, "migrate")
    assert again.exit_code == 0, again.stderr
    assert batches(db_url) == [("001_t1.sql", 1), ("002_alter.sql", 1)]
    assert columns_of(db_url, "t1") == ["id", "c"] and table_exists(db_url, "b")
    assert_released(db_url)
    assert_no_leak(again, SECRET)
    assert left == [] and t1_usable, (
        f"{SERVER_BOUND} s after the blackhole began, pgshift sessions were still in a "
        f"transaction on the server: {left}; t1 readable by an application: {t1_usable}")


# --- S14: ambiguous commit ------------------------------------------------------------------


def cut_during_002(db_url: str, tmp_path: Path, procs: Procs, first: str) -> tuple[
        Path, CliResult]:
    """Run migrate of 001 (its UP: ``first``), 002 (sleeps 1.5 s) and 003 through a
    proxy that cuts the connection right after the query holding 002's tracking row (and
    so its COMMIT) reached the server; return the directory and the run's result, once
    the server has ended pgshift's sessions."""
    set_sleep(db_url, 1.5)
    directory = write_files(tmp_path / "migrations", {
        "001_t1.sql": migration(first, "DROP TABLE t1;"),
        "002_t2.sql": migration(f"CREATE TABLE t2 (id int);\n{SLEEP}\n"
                                "INSERT INTO t2 VALUES (1);", "DROP TABLE t2;"),
        "003_t3.sql": migration("CREATE TABLE t3 (id int);", "DROP TABLE t3;"),
    })
    with proxy_for(db_url) as proxy:
        url = proxy.rewrite_url(with_password(db_url, SECRET))
        proxy.cut_after_client_bytes(b"'002_t2.sql'")
        run = procs.start(url, directory, tmp_path, "migrate")
        assert proxy.wait_for_cut(60), "002_t2.sql was never sent"
        result = run.result(CLIENT_BOUND)
    wait_for(lambda: not pgshift_backends(db_url), 30, "pgshift's backends gone")
    return directory, result


def test_s14_ambiguous_commit_is_settled_and_the_table_tells_the_truth(
    db_url: str, tmp_path: Path, procs: Procs
) -> None:
    """The connection is cut right after 002's one query (its COMMIT included) reached the
    server. pgshift asks again on a new connection, after waiting for the server to end
    that transaction (its commit guard), and reports what the server did. (001 takes over
    half a second, so 002 goes alone: test_s14_..._of_a_shared_query has them share.)"""
    directory, result = cut_during_002(db_url, tmp_path, procs,
                                       "CREATE TABLE t1 (id int);\nSELECT pg_sleep(0.6);")

    assert result.exit_code == 1, result.stderr
    assert "the connection was lost during 002_t2.sql" in result.stderr, result.stderr
    assert "003_t3.sql" not in result.stdout
    assert_no_leak(result, SECRET)
    recorded = [name for name, _ in batches(db_url)]
    # row present <=> objects present: both were in the one transaction
    assert ("002_t2.sql" in recorded) == table_exists(db_url, "t2")
    # ... and the message says which
    said = ("the server finished 002_t2.sql and committed it" if "002_t2.sql" in recorded
            else "002_t2.sql was not applied")
    assert said in result.stderr, (recorded, result.stderr)
    assert not table_exists(db_url, "t3")
    assert_released(db_url)

    direct = with_password(db_url, SECRET)
    status = procs.run(direct, directory, tmp_path, "status")
    assert status.exit_code == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if x.startswith("002_t2.sql"))
    assert ("executed" in line) == ("002_t2.sql" in recorded), status.stdout

    again = procs.run(direct, directory, tmp_path, "migrate")
    assert again.exit_code == 0, again.stderr
    names = [name for name, _ in batches(db_url)]
    assert names == ["001_t1.sql", "002_t2.sql", "003_t3.sql"]
    assert fetch(db_url, "SELECT count(*) FROM t2") == [(1,)], "002_t2.sql ran twice"
    assert_released(db_url)
    for shown in (status, again):
        assert_no_leak(shown, SECRET)


# --- S41: unreachable server ----------------------------------------------------------------


def test_s41_closed_port_exits_1_naming_host_and_port(tmp_path: Path, procs: Procs) -> None:
    port = free_port()
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/postgres"
    directory = write_files(tmp_path / "migrations", {
        "001_t1.sql": migration("CREATE TABLE t1 (id int);", "DROP TABLE t1;")})
    for command in ("migrate", "status", "rollback"):
        result = procs.run(url, directory, tmp_path, command, timeout=30)
        assert result.exit_code == 1, (command, result.stderr)
        assert f"127.0.0.1:{port}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert_no_leak(result, SECRET)


def test_s41_blackholed_server_exits_1_within_the_connect_timeout(
    pg_url: str, tmp_path: Path, procs: Procs
) -> None:
    directory = write_files(tmp_path / "migrations", {
        "001_t1.sql": migration("CREATE TABLE t1 (id int);", "DROP TABLE t1;")})
    with proxy_for(pg_url) as proxy:
        proxy.mode = "blackhole"
        url = proxy.rewrite_url(with_password(pg_url, SECRET))
        runs = {command: procs.start(url, directory, tmp_path, command)
                for command in ("migrate", "status")}
        # connect_timeout defaults to 10 s: allow for interpreter start-up on a busy machine
        results = {command: run.result(30) for command, run in runs.items()}
        assert proxy.stats().bytes_client_to_server == 0
    for command, result in results.items():
        assert result.exit_code == 1, (command, result.stderr)
        assert f"127.0.0.1:{proxy.port}" in result.stderr, result.stderr
        assert "timeout" in result.stderr, result.stderr
        assert_no_leak(result, SECRET)


def test_s14_ambiguous_commit_of_a_shared_query_is_settled_and_the_table_tells_the_truth(
    db_url: str, tmp_path: Path, procs: Procs
) -> None:
    """As above, with 001 quick: 002 and 003 then travel in one query (on a loaded machine
    002 may still go alone). Whatever the server did with them, each row goes with its
    objects and the message says the truth about the migration it names."""
    directory, result = cut_during_002(db_url, tmp_path, procs, "CREATE TABLE t1 (id int);")

    assert result.exit_code == 1, result.stderr
    assert_no_leak(result, SECRET)
    recorded = [name for name, _ in batches(db_url)]
    for name, table in (("002_t2.sql", "t2"), ("003_t3.sql", "t3")):
        assert (name in recorded) == table_exists(db_url, table), (name, recorded)
    assert recorded in (["001_t1.sql"], ["001_t1.sql", "002_t2.sql"],
                        ["001_t1.sql", "002_t2.sql", "003_t3.sql"]), recorded
    finished = re.search(r"the server finished (\S+) and committed it", result.stderr)
    missing = re.search(r"; (\S+) was not applied", result.stderr)
    assert bool(finished) != bool(missing), result.stderr
    if finished:  # the last it sent, committed
        assert finished.group(1) == recorded[-1], (recorded, result.stderr)
    else:  # the first not committed, everything before it committed
        assert missing is not None
        assert missing.group(1) not in recorded, (recorded, result.stderr)
        assert ["001_t1.sql", "002_t2.sql", "003_t3.sql"].index(missing.group(1)) == len(
            recorded), (recorded, result.stderr)
    assert_released(db_url)

    again = procs.run(with_password(db_url, SECRET), directory, tmp_path, "migrate")
    assert again.exit_code == 0, again.stderr
    assert [name for name, _ in batches(db_url)] == ["001_t1.sql", "002_t2.sql", "003_t3.sql"]
