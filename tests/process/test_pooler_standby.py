"""pgshift behind PgBouncer in transaction mode, and against a hot standby (S46, S47).

pgshift runs as a real program (``python -m pgshift``) in subprocesses, from a temporary
directory, with no ``DATABASE_URL`` or ``PG*`` variable in its environment. PgBouncer
(Debian's 1.18, ``pool_mode = transaction``, ``default_pool_size = 2``) sits in front of the
suite's test server; it is skipped with the kit's reason when it is not installed. The
standby is a streaming hot standby of a throw-away ``faultkit.Cluster`` of the test server's
major version when those binaries are here. Assertions are on the servers afterwards,
through direct connections.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from faultkit import Cluster, PgBouncer, matching_bin_dir, pgbouncer_unavailable
from pgtest import CliResult, advisory_locks, batches, catalog_snapshot, fetch, index_info
from process.support import (
    Procs,
    assert_no_leak,
    assert_released,
    migration,
    wait_for,
    with_password,
    write_files,
)

pytestmark = pytest.mark.faults

SECRET = "Gh6Nr3Xe8Uc"
POOLER_ERRORS = ("prepared statement", "unsupported startup parameter")


# --- helpers ----------------------------------------------------------------------------


def thirty_files() -> dict[str, str]:
    """30 migrations: tables with rows, a function, and two CREATE INDEX CONCURRENTLY files
    (run outside a transaction, statement by statement)."""
    files: dict[str, str] = {}
    for n in range(1, 31):
        name = f"{n:03d}_step_{n}.sql"
        if n in (10, 20):
            files[name] = migration(f"CREATE INDEX CONCURRENTLY t{n - 1:02d}_v_idx "
                                    f"ON t{n - 1:02d} (v);",
                                    f"DROP INDEX CONCURRENTLY t{n - 1:02d}_v_idx;")
        elif n == 15:
            files[name] = migration(
                "CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  RETURN i + 1;\nEND;\n$$;", "DROP FUNCTION add_one(int);")
        else:
            files[name] = migration(
                f"CREATE TABLE t{n:02d} (id int PRIMARY KEY, v text);\n"
                f"INSERT INTO t{n:02d} SELECT g, md5(g::text) FROM generate_series(1, 100) g;",
                f"DROP TABLE t{n:02d};")
    return files


@pytest.fixture
def bouncer(pg_url: str) -> Iterator[PgBouncer]:
    reason = pgbouncer_unavailable()
    if reason is not None:
        pytest.skip(f"PgBouncer tests need pgbouncer: {reason}")
    parts = urlsplit(pg_url)
    base = Path(tempfile.mkdtemp(prefix="pgshift-bouncer-"))
    server = PgBouncer(base, parts.hostname or "127.0.0.1", parts.port or 5432,
                       pool_mode="transaction", default_pool_size=2,
                       users={parts.username or "postgres": parts.password or ""})
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def through(bouncer: PgBouncer, db_url: str) -> str:
    dbname = urlsplit(db_url).path.lstrip("/")
    return with_password(bouncer.url(dbname), SECRET)


def assert_no_pooler_errors(*results: CliResult) -> None:
    for result in results:
        shown = result.stdout + result.stderr
        assert not [e for e in POOLER_ERRORS if e in shown], shown


def session_settings(url: str) -> list[tuple[str, ...]]:
    """SHOW of the settings pgshift sets with SET LOCAL (and, around statements outside a
    transaction, SET and RESET), on both pooled server connections (two clients in open
    transactions pin one server connection each)."""
    names = ("lock_timeout", "idle_in_transaction_session_timeout", "statement_timeout",
             "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
             "client_connection_check_interval")
    values = []
    first = psycopg.connect(url, prepare_threshold=None)
    second = psycopg.connect(url, prepare_threshold=None)
    try:
        for conn in (first, second):
            values.append(tuple(str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names))
    finally:
        first.close()
        second.close()
    return values


# --- S46: PgBouncer, transaction pooling ----------------------------------------------------


def test_s46_status_migrate_rollback_through_pgbouncer(
    db_url: str, bouncer: PgBouncer, tmp_path: Path, procs: Procs
) -> None:
    url = through(bouncer, db_url)
    directory = write_files(tmp_path / "migrations", thirty_files())
    direct_settings = session_settings(db_url)[0]

    before = procs.run(url, directory, tmp_path, "status")
    migrated = procs.run(url, directory, tmp_path, "migrate")
    after = procs.run(url, directory, tmp_path, "status")

    assert_no_pooler_errors(before, migrated, after)
    assert before.exit_code == 0 and "30 pending" in before.stdout, before.stdout + before.stderr
    assert migrated.exit_code == 0, migrated.stderr
    assert after.exit_code == 0 and "30 executed" in after.stdout, after.stdout + after.stderr
    assert batches(db_url) == [(name, 1) for name in sorted(thirty_files())]
    assert index_info(db_url, "t19_v_idx") == (
        True, "CREATE INDEX t19_v_idx ON public.t19 USING btree (v)")
    # nothing pgshift set leaked onto the pooled server connections
    assert session_settings(url) == [direct_settings, direct_settings]
    assert_released(db_url)

    rolled = procs.run(url, directory, tmp_path, "rollback")
    assert_no_pooler_errors(rolled)
    assert rolled.exit_code == 0, rolled.stderr
    assert batches(db_url) == []
    assert fetch(db_url, "SELECT to_regclass('t01'), to_regclass('t09_v_idx')") == [
        (None, None)]
    assert_released(db_url)
    for result in (before, migrated, after, rolled):
        assert_no_leak(result, SECRET)


def test_s46_four_concurrent_migrate_through_pgbouncer_serialize(
    db_url: str, bouncer: PgBouncer, tmp_path: Path, procs: Procs
) -> None:
    url = through(bouncer, db_url)
    directory = write_files(tmp_path / "migrations", thirty_files())
    direct_settings = session_settings(db_url)[0]

    runs = [procs.start(url, directory, tmp_path, "migrate") for _ in range(4)]
    results = [run.result(180) for run in runs]

    shown = "\n".join(r.stdout + r.stderr for r in results)
    assert_no_pooler_errors(*results)
    assert [r.exit_code for r in results] == [0, 0, 0, 0], shown
    assert sum("Applied 30 migrations in batch 1" in r.stdout for r in results) == 1, shown
    assert sum("Nothing to migrate" in r.stdout for r in results) == 3, shown
    assert batches(db_url) == [(name, 1) for name in sorted(thirty_files())]
    assert fetch(db_url, "SELECT count(*) FROM t30") == [(100,)]
    # checked while PgBouncer still holds its server connections open
    assert advisory_locks(db_url) == []
    assert fetch(db_url, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                         "WHERE l.locktype = 'advisory' AND a.datname = current_database()"
                 ) == [(0,)]
    assert session_settings(url) == [direct_settings, direct_settings]
    assert_released(db_url)
    for result in results:
        assert_no_leak(result, SECRET)


# --- S47: hot standby as the target ---------------------------------------------------------


@dataclass
class Pair:
    primary: Cluster
    standby: Cluster


@pytest.fixture
def replicated(pg_url: str) -> Iterator[Pair]:
    base = Path(tempfile.mkdtemp(prefix="pgshift-standby-"))
    primary = Cluster(base, auth="scram", bin_dir=matching_bin_dir(pg_url))
    standby: Cluster | None = None
    try:
        primary.start()
        standby = primary.make_standby(base)
        yield Pair(primary, standby)
    finally:
        if standby is not None:
            standby.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def replayed(standby_url: str, count: int) -> bool:
    try:
        return bool(fetch(standby_url, "SELECT count(*) FROM _migrations")[0][0] == count)
    except psycopg.errors.UndefinedTable:
        return False


def test_s47_hot_standby_refuses_changes_before_any_ddl_and_status_reads(
    replicated: Pair, tmp_path: Path, procs: Procs
) -> None:
    primary, standby = replicated.primary, replicated.standby
    secret = primary.password or ""
    files = {
        "001_t1.sql": migration("CREATE TABLE t1 (id int);", "DROP TABLE t1;"),
        "002_t2.sql": migration("CREATE TABLE t2 (id int);", "DROP TABLE t2;"),
    }
    directory = write_files(tmp_path / "migrations", files)
    applied = procs.run(primary.url(), directory, tmp_path, "migrate")
    assert applied.exit_code == 0, applied.stderr
    write_files(directory, {"003_t3.sql": migration("CREATE TABLE t3 (id int);",
                                                    "DROP TABLE t3;")})
    wait_for(lambda: replayed(standby.url(), 2), 60, "the standby replaying _migrations")
    standby_before = catalog_snapshot(standby.url())
    primary_before = catalog_snapshot(primary.url())

    refused = {command: procs.run(standby.url(), directory, tmp_path, *command.split())
               for command in ("migrate", "rollback", "reset --yes", "refresh --yes")}
    status = procs.run(standby.url(), directory, tmp_path, "status")

    for command, result in refused.items():
        assert result.exit_code == 1, (command, result.stderr)
        assert "recovery" in result.stderr, (command, result.stderr)
        assert f"127.0.0.1:{standby.port}" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert_no_leak(result, secret)
    assert status.exit_code == 0, status.stderr
    states = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()
              if line[:3].isdigit()}
    assert states == {"001_t1.sql": "executed", "002_t2.sql": "executed",
                      "003_t3.sql": "pending"}
    assert_no_leak(status, secret)
    assert catalog_snapshot(standby.url()) == standby_before
    assert catalog_snapshot(primary.url()) == primary_before
    # no statement was even tried: the standby logs every refused one as an ERROR
    assert "read-only transaction" not in standby.log_path.read_text(errors="replace")
    assert advisory_locks(standby.url()) == []


def test_s47_status_on_a_standby_without_a_tracking_table(
    replicated: Pair, tmp_path: Path, procs: Procs
) -> None:
    primary, standby = replicated.primary, replicated.standby
    directory = write_files(tmp_path / "migrations", {
        "001_t1.sql": migration("CREATE TABLE t1 (id int);", "DROP TABLE t1;")})
    with psycopg.connect(primary.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE marker (id int)")
    wait_for(lambda: fetch(standby.url(), "SELECT to_regclass('marker') IS NOT NULL")[0][0],
             60, "the standby replaying")

    status = procs.run(standby.url(), directory, tmp_path, "status")

    assert status.exit_code == 0, status.stderr
    assert "001_t1.sql" in status.stdout and "pending" in status.stdout
    assert "read-only transaction" not in standby.log_path.read_text(errors="replace")
    assert fetch(standby.url(), "SELECT to_regclass('_migrations')") == [(None,)]
    assert_no_leak(status, primary.password or "")
