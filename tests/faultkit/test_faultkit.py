"""Tests of the fault-injection kit itself, and of the PostgreSQL facts pgshift's lock relies on.

The facts (docs/pg-facts.md) run on the suite's test server: the embedded PostgreSQL 18, and
PostgreSQL 15 in CI's second run (PGSHIFT_TEST_DATABASE_URL), where only databases named
faultkit_* are created and dropped. Measured values are
printed as ``FACT …`` lines (``pytest -s`` shows them).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgtest import url_for_database

from .cluster import TEST_OS_USER, Cluster, ssl_unavailable
from .pgbouncer import PgBouncer, available, version
from .proxy import FaultProxy, simple_query

Conn = psycopg.Connection[tuple[Any, ...]]
HELD_SQL = """SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
              AND objid = %s AND objsubid = 1
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              ORDER BY pid"""
USER_SETTABLE = ["client_connection_check_interval", "idle_in_transaction_session_timeout",
                 "tcp_keepalives_count", "tcp_keepalives_idle", "tcp_keepalives_interval",
                 "tcp_user_timeout"]
CHILD_HOLDS_LOCK = """
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
conn.execute("SELECT pg_advisory_lock(44)")
print(conn.execute("SELECT pg_backend_pid()").fetchone()[0], flush=True)
time.sleep(600)
"""


@dataclass(frozen=True)
class Server:
    """A server the facts run on: a label and a superuser URL to its ``postgres`` database."""

    label: str
    url: str


def fact(label: str, text: str) -> None:
    print(f"\nFACT [{label}] {text}")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` every 50 ms; return the seconds it took. Raises AssertionError on timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def holders(url: str, key: int) -> list[int]:
    """Backends holding advisory lock ``key`` (a bigint key) in ``url``'s database."""
    with psycopg.connect(url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(HELD_SQL, (key,))]


def one(conn: Conn, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row


def activity(conn: Conn, pid: int) -> tuple[Any, ...] | None:
    """``(state, backend_xmin, wait_event_type, wait_event)`` of ``pid``, None when gone."""
    return conn.execute(
        """SELECT state, backend_xmin, wait_event_type, wait_event
           FROM pg_stat_activity WHERE pid = %s""", (pid,)).fetchone()


def live(conn: Conn, pid: int) -> tuple[Any, ...]:
    row = activity(conn, pid)
    assert row is not None, f"backend {pid} is gone"
    return row


def private_tmp() -> tempfile.TemporaryDirectory[str]:
    # Not pytest's tmp_path: a concurrent pytest run on the same machine prunes old basetemp
    # directories, which would delete a running cluster's data directory.
    return tempfile.TemporaryDirectory(prefix="pgshift-faultkit-")


@pytest.fixture
def workdir() -> Iterator[Path]:
    with private_tmp() as path:
        yield Path(path)


@pytest.fixture(scope="module")
def pg18() -> Iterator[Cluster]:
    with private_tmp() as path, Cluster(path) as cluster:
        yield cluster


@pytest.fixture
def server(pg_url: str) -> Server:
    """The suite's test server: embedded PostgreSQL 18 by default, PostgreSQL 15 in CI's
    second run (PGSHIFT_TEST_DATABASE_URL), so every fact is checked on both."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return Server(f"PostgreSQL {row[0] if row else '?'}", pg_url)


@pytest.fixture
def db(server: Server) -> Iterator[str]:
    """A fresh database on ``server``; its URL. Dropped afterwards (WITH (FORCE))."""
    name = f"faultkit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        version_text = conn.execute("SHOW server_version").fetchone()
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    fact(server.label, f"server_version {version_text[0] if version_text else '?'}")
    try:
        yield url_for_database(server.url, name)
    finally:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture
def table_with_rows(db: str) -> str:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v "
                     "FROM generate_series(1, 50000) g")
    return db


def hold_xact_lock(url: str, isolation: psycopg.IsolationLevel) -> Conn:
    """Connection A: open transaction holding pg_advisory_xact_lock(42), left idle."""
    conn = psycopg.connect(url)
    conn.isolation_level = isolation
    conn.execute("SELECT pg_advisory_xact_lock(42)")
    return conn


def index_valid(url: str, name: str) -> bool | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                           (name,)).fetchone()
    return None if row is None else bool(row[0])


# --- the kit ---------------------------------------------------------------------------------

def test_cluster_scram_password_with_reserved_characters(workdir: Path) -> None:
    with Cluster(workdir, auth="scram") as pg:
        assert pg.password == "p@ss:w/rd#1"
        with psycopg.connect(pg.url()) as conn:
            row = one(conn, "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
            assert str(row[0]).startswith("SCRAM-SHA-256$")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(pg.url(password="wrong"))
        app_url = pg.create_role("app user", "p@ss:w/rd%2Fx#1")
        with psycopg.connect(app_url) as conn:
            assert one(conn, "SELECT current_user, usesuper FROM pg_user "
                             "WHERE usename = current_user") == ("app user", False)
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(pg.url(user="app user"))
        postmaster_pid = int((pg.data / "postmaster.pid").read_text().split()[0])
        if os.geteuid() == 0:
            owner = Path(f"/proc/{postmaster_pid}").stat().st_uid
            assert owner == pwd.getpwnam(TEST_OS_USER).pw_uid


@pytest.mark.faults
def test_cluster_restart_keeps_port_and_data_and_breaks_sessions(workdir: Path) -> None:
    with Cluster(workdir, settings={"max_connections": 20}) as pg:
        port = pg.port
        pg.psql("CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)")
        old = psycopg.connect(pg.url(), autocommit=True)
        pg.restart()
        with pytest.raises(psycopg.OperationalError):
            old.execute("SELECT 1")
        old.close()
        pg.stop("immediate")
        assert not pg.running
        pg.start()
        assert pg.port == port
        assert pg.psql("SELECT count(*) FROM kept; SHOW max_connections") == "1\n20"


@pytest.mark.skipif(ssl_unavailable() is not None, reason=f"TLS cluster: {ssl_unavailable()}")
def test_cluster_tls_verify_full(workdir: Path) -> None:
    with Cluster(workdir, ssl=True, auth="scram") as pg:
        assert pg.ca_cert_path is not None
        good = pg.url(sslmode="verify-full", sslrootcert=str(pg.ca_cert_path))
        with psycopg.connect(good) as conn:
            row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert row.fetchone() == (True,)
        other_roots = Path("/etc/ssl/certs/ca-certificates.crt")
        if other_roots.exists():
            with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
                psycopg.connect(pg.url(sslmode="verify-full", sslrootcert=str(other_roots)))
        fact("kit", f"TLS cluster binaries {pg.bin_dir}, server_version_num "
                    f"{pg.server_version_num}")


def test_wheel_cluster_has_no_tls(pg18: Cluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="server does not support SSL"):
        psycopg.connect(pg18.url(sslmode="require"))


@pytest.mark.faults
def test_standby_streams_and_refuses_ddl(pg18: Cluster, workdir: Path) -> None:
    pg18.psql("CREATE TABLE IF NOT EXISTS replicated (x int)")
    standby = pg18.make_standby(workdir)
    try:
        pg18.psql("INSERT INTO replicated VALUES (7)")
        with psycopg.connect(standby.url(), autocommit=True) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            wait_until(lambda: standby.psql("SELECT count(*) FROM replicated WHERE x = 7") == "1",
                       30, "row replicated to the standby")
            with pytest.raises(errors.ReadOnlySqlTransaction):
                conn.execute("CREATE TABLE nope (x int)")
            assert conn.execute("SELECT pg_try_advisory_lock(1)").fetchone() == (True,)
    finally:
        standby.stop()


def test_proxy_pass_and_reset_all(pg18: Cluster) -> None:
    with FaultProxy("127.0.0.1", pg18.port) as proxy:
        conn = psycopg.connect(proxy.rewrite_url(pg18.url()), autocommit=True)
        backend = conn.info.backend_pid
        assert proxy.stats().active == 1
        assert proxy.reset_all() == 1
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
        with psycopg.connect(pg18.url(), autocommit=True) as mon:
            wait_until(lambda: activity(mon, backend) is None, 10, "backend gone after RST")
        proxy.mode = "reset"
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(proxy.rewrite_url(pg18.url()), connect_timeout=5)
        assert proxy.stats().resets == 2


@pytest.mark.faults
def test_proxy_blackhole_holds_traffic_until_healed(pg18: Cluster) -> None:
    with FaultProxy("127.0.0.1", pg18.port) as proxy:
        url = proxy.rewrite_url(pg18.url())
        conn = psycopg.connect(url, autocommit=True)
        proxy.mode = "blackhole"
        result: list[object] = []
        worker = threading.Thread(target=lambda: result.append(one(conn, "SELECT 42")))
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and result == []
        with pytest.raises(psycopg.OperationalError, match="timeout"):
            psycopg.connect(url, connect_timeout=2)
        proxy.mode = "pass"
        worker.join(10)
        assert result == [(42,)]
        conn.close()


def test_proxy_cut_after_commit_is_ambiguous_but_committed(pg18: Cluster) -> None:
    pg18.psql("CREATE TABLE IF NOT EXISTS cut_target (x int)")
    with FaultProxy("127.0.0.1", pg18.port) as proxy:
        conn = psycopg.connect(proxy.rewrite_url(pg18.url()))
        conn.execute("INSERT INTO cut_target VALUES (14)")
        proxy.cut_after_client_bytes(simple_query("COMMIT"))
        with pytest.raises(psycopg.OperationalError):
            conn.commit()
        assert proxy.wait_for_cut(5) and proxy.stats().cuts == 1
        conn.close()
    # The server reads the COMMIT that reached it before the connection's end, but it may
    # process it a moment after the client saw the cut: poll, with a bound.
    deadline = time.monotonic() + 10
    while pg18.psql("SELECT count(*) FROM cut_target WHERE x = 14") != "1":
        assert time.monotonic() < deadline, "the COMMIT that reached the server was lost"
        time.sleep(0.1)


@pytest.mark.faults
def test_pgbouncer_in_front_of_scram_cluster(workdir: Path) -> None:
    reason = available()
    if reason is not None:
        pytest.skip(f"PgBouncer: {reason}")
    with Cluster(workdir, auth="scram") as pg, PgBouncer(
        workdir, "127.0.0.1", pg.port, users={"postgres": pg.password or ""}
    ) as pgb:
        with psycopg.connect(pgb.url(), autocommit=True, prepare_threshold=None) as conn:
            assert one(conn, "SELECT current_user") == ("postgres",)
        with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
            psycopg.connect(pgb.url() + "?options=-c%20statement_timeout%3D1000")
        with psycopg.connect(pgb.admin_url(), autocommit=True) as admin:
            pools = {row[0]: row[-1] for row in admin.execute("SHOW POOLS")}
        assert pools.get("postgres") == "transaction"
    assert pgb.pid is None


# --- the facts -------------------------------------------------------------------------------

@pytest.mark.faults
def test_fact_a_cic_does_not_wait_for_read_committed_xact_lock_holder(
    server: Server, table_with_rows: str
) -> None:
    a = hold_xact_lock(table_with_rows, psycopg.IsolationLevel.READ_COMMITTED)
    try:
        with psycopg.connect(table_with_rows, autocommit=True) as b:
            assert live(b, a.info.backend_pid)[:2] == ("idle in transaction", None)
            b.execute("SET statement_timeout = '60s'")
            start = time.monotonic()
            b.execute("CREATE INDEX CONCURRENTLY t_v ON t (v)")
            took = time.monotonic() - start
            assert live(b, a.info.backend_pid)[0] == "idle in transaction"
        assert holders(table_with_rows, 42) == [a.info.backend_pid]
        assert index_valid(table_with_rows, "t_v") is True
        fact(server.label, f"(a) CIC with an idle READ COMMITTED xact-lock holder: {took:.3f} s")
    finally:
        a.close()


@pytest.mark.faults
def test_fact_b_cic_waits_for_repeatable_read_xact_lock_holder(
    server: Server, table_with_rows: str
) -> None:
    a = hold_xact_lock(table_with_rows, psycopg.IsolationLevel.REPEATABLE_READ)
    outcome: list[Any] = []

    def build() -> None:
        with psycopg.connect(table_with_rows, autocommit=True) as b:
            outcome.append(b.info.backend_pid)
            b.execute("SET statement_timeout = '60s'")
            b.execute("CREATE INDEX CONCURRENTLY t_v ON t (v)")
            outcome.append("done")

    with psycopg.connect(table_with_rows, autocommit=True) as mon:
        assert live(mon, a.info.backend_pid)[1] is not None
        builder = threading.Thread(target=build)
        builder.start()
        wait_until(lambda: len(outcome) == 1, 10, "CIC connection opened")
        b_pid = int(outcome[0])
        wait_until(lambda: live(mon, b_pid)[2:] == ("Lock", "virtualxid"), 30,
                   "CIC waiting on A's virtualxid")
        blocking = mon.execute("SELECT pg_blocking_pids(%s)", (b_pid,)).fetchone()
        assert blocking == ([a.info.backend_pid],)
        assert index_valid(table_with_rows, "t_v") is False
        waited = time.monotonic()
        a.commit()
        builder.join(60)
        fact(server.label, f"(b) CIC finished {time.monotonic() - waited:.3f} s after the "
                           "REPEATABLE READ holder committed")
    assert outcome[-1] == "done" and index_valid(table_with_rows, "t_v") is True
    a.close()
    a = hold_xact_lock(table_with_rows, psycopg.IsolationLevel.REPEATABLE_READ)
    with psycopg.connect(table_with_rows, autocommit=True) as b:
        b.execute("SET statement_timeout = '2s'")
        with pytest.raises(errors.QueryCanceled):
            b.execute("CREATE INDEX CONCURRENTLY t_v2 ON t (v)")
    assert index_valid(table_with_rows, "t_v2") is False
    a.close()


@pytest.mark.faults
def test_fact_c_set_local_idle_timeout_zero_keeps_holder_alive(server: Server, db: str) -> None:
    dbname = urllib.parse.urlsplit(db).path[1:]
    with psycopg.connect(db, autocommit=True) as mon:
        mon.execute(sql.SQL("ALTER DATABASE {} SET idle_in_transaction_session_timeout = '1s'")
                    .format(sql.Identifier(dbname)))
        holder = psycopg.connect(db)
        holder.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
        holder.execute("SELECT pg_advisory_xact_lock(42)")
        control = psycopg.connect(db)
        assert control.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("1s",)
        control.execute("SELECT pg_advisory_xact_lock(43)")
        gone = wait_until(lambda: activity(mon, control.info.backend_pid) is None, 30,
                          "control session ended by the 1 s idle timeout")
        time.sleep(1)
        assert live(mon, holder.info.backend_pid)[0] == "idle in transaction"
    assert holders(db, 42) == [holder.info.backend_pid] and holders(db, 43) == []
    assert holder.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.Error):
        control.execute("SELECT 1")
    holder.close()
    control.close()
    fact(server.label, f"(c) control session without SET LOCAL terminated after {gone:.1f} s; "
                       "holder with SET LOCAL ... = 0 kept its lock")


def keepalive_timer(conn: Conn) -> str:
    """The server socket's keepalive timer as ``ss -o`` prints it (e.g. ``119min``), or ''."""
    if shutil.which("ss") is None:
        return ""
    server_port, client_port = one(conn, "SELECT inet_server_port(), inet_client_port()")
    found: list[str] = []

    def look() -> bool:
        out = subprocess.run(
            ["ss", "-tnoH", "state", "established",
             f"( sport = :{server_port} and dport = :{client_port} )"],
            capture_output=True, text=True, check=False).stdout
        found[:] = re.findall(r"timer:\(keepalive,([^,]+),", out)
        return bool(found)

    wait_until(look, 10, "keepalive timer shown by ss")
    return found[0]


def test_fact_d_set_local_tcp_keepalives_idle_visible_in_transaction(
    server: Server, db: str
) -> None:
    with psycopg.connect(db) as a:
        before = one(a, "SHOW tcp_keepalives_idle")[0], keepalive_timer(a)
        a.execute("SET LOCAL tcp_keepalives_idle = 5")
        inside = one(a, "SHOW tcp_keepalives_idle")[0], keepalive_timer(a)
        a.commit()
        after = one(a, "SHOW tcp_keepalives_idle")[0], keepalive_timer(a)
        contexts: dict[str, str] = dict(a.execute(
            "SELECT name, context FROM pg_settings WHERE name = ANY(%s)", (USER_SETTABLE,)
        ).fetchall())
    assert inside[0] == "5" and after[0] == before[0]
    if before[1]:
        assert "min" in before[1] and "min" not in inside[1] and "min" in after[1]
    assert contexts == dict.fromkeys(USER_SETTABLE, "user")
    fact(server.label, f"(d) SHOW tcp_keepalives_idle / server socket keepalive timer (ss -o) "
                       f"before, inside, after the SET LOCAL transaction: {before}, {inside}, "
                       f"{after}; context 'user': {', '.join(USER_SETTABLE)}")


@pytest.fixture
def bouncer(server: Server, db: str, workdir: Path) -> Iterator[PgBouncer]:
    reason = available()
    if reason is not None:
        pytest.skip(f"PgBouncer: {reason}")
    target = urllib.parse.urlsplit(server.url)
    with PgBouncer(workdir, target.hostname or "127.0.0.1", target.port or 5432) as pgb:
        fact(server.label, f"(e) {version()}, pool_mode=transaction, default_pool_size=2")
        yield pgb


@pytest.mark.faults
def test_fact_e_pgbouncer_xact_lock_pins_server_connection(
    server: Server, db: str, bouncer: PgBouncer
) -> None:
    via = bouncer.url(urllib.parse.urlsplit(db).path[1:])
    a = psycopg.connect(via, prepare_threshold=None)
    a_pid = one(a, "SELECT pg_backend_pid() FROM (SELECT pg_advisory_xact_lock(42)) s")[0]
    with psycopg.connect(via, autocommit=True, prepare_threshold=None) as b:
        for _ in range(3):
            assert a.execute("SELECT pg_backend_pid()").fetchone() == (a_pid,)
        row = b.execute("SELECT pg_try_advisory_xact_lock(42), pg_backend_pid()").fetchone()
        assert row is not None and row[0] is False and row[1] != a_pid
        assert holders(db, 42) == [a_pid]
        a.commit()
        assert b.execute("SELECT pg_try_advisory_xact_lock(42)").fetchone() == (True,)
    a.close()
    assert holders(db, 42) == []


@pytest.mark.faults
def test_fact_e_pgbouncer_session_advisory_lock_leaks(
    server: Server, db: str, bouncer: PgBouncer
) -> None:
    via = bouncer.url(urllib.parse.urlsplit(db).path[1:])
    with psycopg.connect(via, autocommit=True, prepare_threshold=None) as c:
        c_backend = one(c, "SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock(43)) s")[0]
    assert holders(db, 43) == [c_backend]
    with psycopg.connect(via, autocommit=True, prepare_threshold=None) as d:
        got, d_backend = one(d, "SELECT pg_try_advisory_lock(43), pg_backend_pid()")
    assert got is (d_backend == c_backend)
    fact(server.label, f"(e) session lock outlived its client; next client landed on "
                       f"{'the same' if got else 'another'} backend and try-lock returned {got}")
    bouncer.stop()
    wait_until(lambda: holders(db, 43) == [], 10, "leaked lock released when pgbouncer stops")


@contextlib.contextmanager
def lock_child(url: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A Python process holding session advisory lock 44 through ``url``; killed on exit."""
    child = subprocess.Popen([sys.executable, "-c", CHILD_HOLDS_LOCK, url],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield child, int(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.faults
@pytest.mark.parametrize("route", ["direct", "proxy"])
def test_fact_f_sigkilled_client_releases_advisory_lock(
    server: Server, db: str, route: str
) -> None:
    target = urllib.parse.urlsplit(server.url)
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 5432)
    url = db if route == "direct" else proxy.start().rewrite_url(db)
    with proxy, lock_child(url) as (child, backend):
        assert holders(db, 44) == [backend]
        child.kill()
        child.wait()
        took = wait_until(lambda: holders(db, 44) == [], 30, "lock released after SIGKILL")
    fact(server.label, f"(f) SIGKILL of the client ({route}): lock released after {took:.3f} s")


@pytest.mark.faults
def test_fact_f_blackholed_dead_client_keeps_lock_until_reset(server: Server, db: str) -> None:
    target = urllib.parse.urlsplit(server.url)
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    with proxy, lock_child(proxy.rewrite_url(db)) as (child, backend):
        proxy.mode = "blackhole"
        child.kill()
        child.wait()
        time.sleep(2)
        assert holders(db, 44) == [backend]
        proxy.reset_all()
        wait_until(lambda: holders(db, 44) == [], 10, "lock released after the RST")


@pytest.mark.faults
def test_fact_g_set_local_idle_timeout_ends_blackholed_holder(server: Server, db: str) -> None:
    target = urllib.parse.urlsplit(server.url)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        holder = psycopg.connect(proxy.rewrite_url(db))
        holder.execute("SET LOCAL idle_in_transaction_session_timeout = '2s'")
        holder.execute("SELECT pg_advisory_xact_lock(45)")
        assert holders(db, 45) == [holder.info.backend_pid]
        proxy.mode = "blackhole"
        took = wait_until(lambda: holders(db, 45) == [], 30, "lock released by the timeout")
        proxy.reset_all()
        holder.close()
    fact(server.label, f"(g) blackholed idle-in-transaction holder with SET LOCAL "
                       f"idle_in_transaction_session_timeout = '2s': lock released after "
                       f"{took:.1f} s (after blackholing)")
