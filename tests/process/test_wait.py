"""``pgshift wait``: ready at once on a running server, waits for one that starts later,
gives up at the timeout, reports a refused login at once, and ``--for-current`` waits for
a migration job."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultkit.cluster import Cluster, free_port
from pgtest import url_for_database
from process.support import Procs, assert_no_leak, migration, write_files
from process.test_tls_and_secrets import matching_bin_dir

FILES = {
    "001_t.sql": migration("CREATE TABLE t (id int);", "DROP TABLE t;"),
    "002_u.sql": migration("CREATE TABLE u (id int);", "DROP TABLE u;"),
}


@pytest.fixture(scope="module")
def scram_cluster(pg_url: str) -> Iterator[Cluster]:
    """A throw-away server with password authentication, stopped between tests that
    start it."""
    base = Path(tempfile.mkdtemp(prefix="pgshift-wait-"))
    server = Cluster(base, auth="scram", bin_dir=matching_bin_dir(pg_url))
    try:
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def test_ready_at_once_on_a_running_server(procs: Procs, db_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result = procs.run(db_url, tmp_path, tmp_path, "wait", "--timeout", "30")
    assert result.exit_code == 0, result.stderr
    assert "ready:" in result.stdout and "accepts connections" in result.stdout
    assert "waiting" not in result.stderr
    assert time.monotonic() - started < 30


def test_gives_up_at_the_timeout_when_nothing_listens(procs: Procs, tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/app"
    started = time.monotonic()
    result = procs.run(url, tmp_path, tmp_path, "wait", "--timeout", "2")
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.stderr
    assert "gave up waiting for the server" in result.stderr
    assert "Connection refused" in result.stderr
    assert elapsed >= 2


def test_waits_for_a_server_that_starts_later(procs: Procs, scram_cluster: Cluster,
                                              tmp_path: Path) -> None:
    scram_cluster.stop("fast")
    try:
        run = procs.start(scram_cluster.url(), tmp_path, tmp_path, "wait", "--timeout", "90")
        assert run.proc.stderr is not None
        # The first failed attempt says so (a line on stderr); an exit gives "".
        first = run.proc.stderr.readline()
        assert first.startswith("waiting (up to 90 s): "), first
        assert run.proc.poll() is None, "wait returned while the server was down"
        scram_cluster.start()
        result = run.result(90)
    finally:
        if not scram_cluster.running:
            scram_cluster.start()
    assert result.exit_code == 0, result.stderr
    assert "ready:" in result.stdout
    assert_no_leak(result, scram_cluster.password or "")


def test_a_wrong_password_is_reported_at_once(procs: Procs, scram_cluster: Cluster,
                                              tmp_path: Path) -> None:
    secret = "wrong-Secret-42"
    started = time.monotonic()
    result = procs.run(scram_cluster.url(password=secret), tmp_path, tmp_path,
                       "wait", "--timeout", "60")
    assert result.exit_code == 1
    assert time.monotonic() - started < 30, "an authentication failure was waited out"
    assert "is up but refused the connection" in result.stderr
    assert "password authentication failed" in result.stderr
    assert "gave up" not in result.stderr
    assert_no_leak(result, secret)


def test_a_database_not_created_yet_counts_as_up(procs: Procs, pg_url: str,
                                                 tmp_path: Path) -> None:
    url = url_for_database(pg_url, "pgshift_not_created_yet")
    result = procs.run(url, tmp_path, tmp_path, "wait", "--timeout", "10")
    assert result.exit_code == 0, result.stderr
    assert "does not exist yet" in result.stdout
    current = procs.run(url, tmp_path, tmp_path, "wait", "--for-current", "--timeout", "1")
    assert current.exit_code == 1
    assert "the database does not exist yet" in current.stderr


def test_for_current_waits_for_the_migration_job(procs: Procs, db_url: str,
                                                 tmp_path: Path) -> None:
    directory = write_files(tmp_path / "migrations", FILES)
    timed_out = procs.run(db_url, directory, tmp_path, "wait", "--for-current",
                          "--timeout", "1")
    assert timed_out.exit_code == 1
    assert "2 migrations pending (001_t.sql" in timed_out.stderr
    waiting = procs.start(db_url, directory, tmp_path, "wait", "--for-current",
                          "--timeout", "90", "--json")
    time.sleep(1.0)
    assert waiting.proc.poll() is None
    migrated = procs.run(db_url, directory, tmp_path, "migrate")
    assert migrated.exit_code == 0, migrated.stderr
    result = waiting.result(60)
    assert result.exit_code == 0, result.stderr
    assert '"current": true' in result.stdout


def test_for_current_is_ready_at_once_when_nothing_is_pending(procs: Procs, db_url: str,
                                                              tmp_path: Path) -> None:
    directory = write_files(tmp_path / "migrations", FILES)
    assert procs.run(db_url, directory, tmp_path, "migrate").exit_code == 0
    result = procs.run(db_url, directory, tmp_path, "wait", "--for-current")
    assert result.exit_code == 0, result.stderr
    assert "migrations are current" in result.stdout
