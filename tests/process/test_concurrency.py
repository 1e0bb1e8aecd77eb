"""Real ``pgshift`` processes racing each other, killed and interrupted (RELIABILITY S01,
S02, S03, S07, S09, S10; SPEC 5.5).

Every test runs ``python -m pgshift`` in subprocesses with an explicit ``--database-url``
and ``--dir`` and no database variable in its environment, then asserts on the database:
tracking rows against catalog objects, no advisory lock left in the test database and no
pgshift backend left ``idle in transaction``.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgshift import Migrator
from pgshift.db.lock import lock_key
from pgtest import (
    CliResult,
    Files,
    advisory_locks,
    batches,
    clean_environ,
    execute,
    fetch,
    table_exists,
    tracking_rows,
)


def table(name: str) -> str:
    return f"-- UP\nCREATE TABLE {name} (id int);\n-- DOWN\nDROP TABLE {name};\n"


class Procs:
    """Starts pgshift processes and kills any still running at the end of the test."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, url: str, directory: Path, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "pgshift", "--database-url", url, "--dir", str(directory),
             *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
            env=clean_environ(), cwd=directory.parent,
        )
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture
def procs() -> Iterator[Procs]:
    started = Procs()
    try:
        yield started
    finally:
        started.kill_all()


def finish(process: subprocess.Popen[str], timeout: float = 60) -> CliResult:
    out, err = process.communicate(timeout=timeout)
    return CliResult(process.returncode, out, err)


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    process: subprocess.Popen[str] | None = None,
) -> Any:
    """The first truthy value of ``predicate``; fails after ``timeout`` s, or as soon as
    ``process`` (the run being watched) has exited, showing its output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"pgshift exited {process.returncode} first:\n{out}\n{err}")
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def sleeping(url: str, marker: str) -> bool:
    """Whether a pgshift backend on the database of ``url`` runs a query containing
    ``marker`` right now."""
    return bool(fetch(
        url, "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'pgshift' AND state = 'active' AND position(%s in query) > 0",
        [marker]))


def pgshift_backends(url: str) -> list[tuple[int, str | None]]:
    return [(r[0], r[1]) for r in fetch(
        url, "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'pgshift'")]


def assert_nothing_left(url: str) -> None:
    deadline = time.monotonic() + 10
    while pgshift_backends(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert advisory_locks(url) == []
    assert [b for b in pgshift_backends(url) if b[1] and "in transaction" in b[1]] == []


# --- S01: N runners on an empty database ------------------------------------------------

S01_FILES = {
    "001_hits.sql": "-- UP\nCREATE TABLE hits (run_pid int);\n-- DOWN\nDROP TABLE hits;\n",
    "002_slow.sql": "-- UP\nCREATE TABLE two (id int);\nSELECT pg_sleep(1.5);\n"
    "-- DOWN\nDROP TABLE two;\n",
    "003_hit.sql": "-- UP\nINSERT INTO hits VALUES (pg_backend_pid());\n"
    "-- DOWN\nDELETE FROM hits;\n",
    "004_four.sql": table("four"),
    "005_five.sql": table("five"),
}


def test_s01_eight_runners_on_an_empty_database(
    db_url: str, migrations: Files, procs: Procs
) -> None:
    directory = migrations(S01_FILES)

    started = [procs.start(db_url, directory, "migrate") for _ in range(8)]
    results = [finish(p) for p in started]

    assert [r.exit_code for r in results] == [0] * 8, [r.stderr for r in results]
    outputs = [r.stdout + r.stderr for r in results]
    assert not [o for o in outputs if "42P07" in o or "23505" in o or "Traceback" in o]
    appliers = [r for r in results if "Applied 5 migrations" in r.stdout]
    assert len(appliers) == 1
    assert sum("Nothing to migrate" in r.stdout for r in results) == 7
    # runners that started while the applier held the lock said who held it
    assert re.search(r"waiting for the migration lock, held by pid \d+",
                     "".join(r.stderr for r in results))
    assert batches(db_url) == [(name, 1) for name in S01_FILES]
    assert fetch(db_url, "SELECT count(*) FROM hits") == [(1,)]
    assert_nothing_left(db_url)


# --- S02: a runner started while another is mid-batch -----------------------------------


def test_s02_second_runner_rereads_the_table_after_the_lock(
    db_url: str, migrations: Files, procs: Procs
) -> None:
    # The slow migration waits (polling, so no lock_timeout applies) until the test opens a
    # gate: the second runner is certainly started, and has found the migration lock
    # taken, before the first one goes on.
    execute(db_url, "CREATE TABLE s02_gate (open boolean NOT NULL)")
    directory = migrations({
        "001_hits.sql": S01_FILES["001_hits.sql"],
        "002_slow.sql": "-- UP\nDO $$ BEGIN\n  WHILE NOT EXISTS (SELECT FROM s02_gate WHERE open) "
                        "LOOP\n    PERFORM pg_sleep(0.05);\n  END LOOP;\nEND $$;\n",
        "003_hit.sql": S01_FILES["003_hit.sql"],
    })
    first = procs.start(db_url, directory, "migrate")
    wait_for(lambda: sleeping(db_url, "s02_gate"), timeout=60, process=first)
    theirs = [pid for pid, _ in pgshift_backends(db_url)]
    migrations({"004_late.sql": table("late")})
    second = procs.start(db_url, directory, "migrate")

    def second_waits() -> bool:
        # its session and lock connections are up, and the lock connection has tried the
        # lock and looked for its holder (a lock obtained would leave it in a transaction)
        new = [(state, query) for pid, state, query in fetch(
            db_url, "SELECT pid, state, query FROM pg_stat_activity WHERE datname = "
                    "current_database() AND application_name = 'pgshift'")
            if pid not in theirs]
        return len(new) >= 2 and all(q == "ROLLBACK" and s == "idle" for s, q in new)

    wait_for(second_waits, timeout=60, process=second)
    execute(db_url, "INSERT INTO s02_gate VALUES (true)")
    one, two = finish(first), finish(second)

    assert (one.exit_code, two.exit_code) == (0, 0), one.stderr + two.stderr
    assert "Applied 3 migrations in batch 1" in one.stdout
    assert "Applied 1 migration in batch 2" in two.stdout
    assert "waiting for the migration lock" in two.stderr
    assert batches(db_url) == [("001_hits.sql", 1), ("002_slow.sql", 1), ("003_hit.sql", 1),
                               ("004_late.sql", 2)]
    assert fetch(db_url, "SELECT count(*) FROM hits") == [(1,)]
    assert table_exists(db_url, "late")
    assert_nothing_left(db_url)


# --- S03: concurrent migrate and rollback -----------------------------------------------

S03_FILES = {f"00{n}_t{n}.sql": table(f"t{n}") for n in (1, 2, 3)}
# migrate then rollback: 002/003 applied as batch 2 and rolled back;
# rollback then migrate: 001 rolled back, then all three applied as batch 1.
SERIAL_OUTCOMES = (
    [("001_t1.sql", 1)],
    [("001_t1.sql", 1), ("002_t2.sql", 1), ("003_t3.sql", 1)],
)


def test_s03_concurrent_migrate_and_rollback(
    db_url: str, migrations: Files, procs: Procs
) -> None:
    first_only = migrations({"001_t1.sql": S03_FILES["001_t1.sql"]}, subdir="first")
    directory = migrations(S03_FILES)
    for _ in range(10):
        execute(db_url, "DROP TABLE IF EXISTS t1, t2, t3, _migrations, _migrations_progress")
        Migrator(db_url, first_only).migrate()

        racing = [procs.start(db_url, directory, "migrate"),
                  procs.start(db_url, directory, "rollback")]
        results = [finish(p) for p in racing]

        assert [r.exit_code for r in results] == [0, 0], [r.stderr for r in results]
        state = batches(db_url)
        assert state in SERIAL_OUTCOMES, state
        recorded = {name for name, _ in state}
        for name in S03_FILES:
            relation = name[4:6]
            assert table_exists(db_url, relation) == (name in recorded), (name, state)
        assert_nothing_left(db_url)


# --- S07: kill -9 inside a transactional migration --------------------------------------

# The sleeps read their length from table "nap", so a re-run can be made fast.
NAP = "SELECT pg_sleep((SELECT seconds FROM nap));"
S07_FILES = {
    "001_t1.sql": table("t1"),
    "002_slow.sql": f"-- UP\nCREATE TABLE a (id int);\n{NAP}\n"
    "CREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\nDROP TABLE a;\n",
}


def nap(url: str, seconds: float) -> None:
    execute(url, "CREATE TABLE IF NOT EXISTS nap (seconds float)")
    execute(url, "DELETE FROM nap")
    execute(url, "INSERT INTO nap VALUES (%s)", [seconds])


@pytest.fixture
def killed_mid_migration(db_url: str, migrations: Files, procs: Procs) -> Path:
    """``migrate`` SIGKILLed while 002's transaction sleeps."""
    nap(db_url, 8)
    directory = migrations(S07_FILES)
    process = procs.start(db_url, directory, "migrate")
    wait_for(lambda: sleeping(db_url, "FROM nap"), process=process)
    process.kill()
    process.communicate()
    nap(db_url, 0)
    return directory


def test_s07_kill_during_a_transactional_migration(
    db_url: str, killed_mid_migration: Path, procs: Procs
) -> None:
    assert batches(db_url) == [("001_t1.sql", 1)]
    assert not table_exists(db_url, "a") and not table_exists(db_url, "b")

    again = finish(procs.start(db_url, killed_mid_migration, "migrate"))

    assert again.exit_code == 0, again.stderr
    assert batches(db_url) == [("001_t1.sql", 1), ("002_slow.sql", 2)]
    assert table_exists(db_url, "a") and table_exists(db_url, "b")
    assert_nothing_left(db_url)


def test_s07_next_run_does_not_wait_after_a_kill(
    db_url: str, killed_mid_migration: Path, procs: Procs
) -> None:
    deadline = time.monotonic() + 5
    while pgshift_backends(db_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = pgshift_backends(db_url)

    again = finish(procs.start(db_url, killed_mid_migration, "migrate"))

    assert left == []
    assert again.exit_code == 0, again.stderr
    assert "waiting" not in again.stderr and "retry" not in again.stderr


# --- S09: kill -9 while waiting for the lock --------------------------------------------


def test_s09_kill_while_waiting_for_the_lock(
    db_url: str, migrations: Files, procs: Procs
) -> None:
    directory = migrations({"001_t1.sql": table("t1")})
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("public", "_migrations")])
        holder_pid = holder.info.backend_pid
        waiter = procs.start(db_url, directory, "migrate")
        wait_for(lambda: pgshift_backends(db_url), process=waiter)
        time.sleep(1)  # at least one try-lock poll has happened
        waiter.kill()
        waiter.communicate()
        wait_for(lambda: not pgshift_backends(db_url), timeout=10)
        assert advisory_locks(db_url) == [(holder_pid, True)]
        assert holder.execute("SELECT 1").fetchone() == (1,)
        holder.rollback()

    result = finish(procs.start(db_url, directory, "migrate"))

    assert result.exit_code == 0, result.stderr
    assert "waiting" not in result.stderr
    assert batches(db_url) == [("001_t1.sql", 1)]
    assert_nothing_left(db_url)


# --- S10: SIGINT / SIGTERM mid-migration ------------------------------------------------


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_s10_signal_mid_migration(
    db_url: str, migrations: Files, procs: Procs, signum: int, code: int
) -> None:
    nap(db_url, 20)
    directory = migrations({
        "001_t1.sql": table("t1"),
        "002_slow.sql": f"-- UP\nCREATE TABLE a (id int);\n{NAP}\n",
        "003_t3.sql": table("t3"),
    })
    process = procs.start(db_url, directory, "migrate")
    wait_for(lambda: sleeping(db_url, "FROM nap"), process=process)

    process.send_signal(signum)
    result = finish(process, timeout=15)

    assert result.exit_code == code, result.stderr
    assert "interrupted" in result.stderr
    assert "002_slow.sql not applied" in result.stderr
    assert "Traceback" not in result.stderr
    assert batches(db_url) == [("001_t1.sql", 1)]
    assert not table_exists(db_url, "a") and not table_exists(db_url, "t3")
    assert not sleeping(db_url, "FROM nap")
    assert_nothing_left(db_url)

    nap(db_url, 0)
    again = finish(procs.start(db_url, directory, "migrate", "--lock-wait", "5"))
    assert again.exit_code == 0, again.stderr
    assert batches(db_url) == [("001_t1.sql", 1), ("002_slow.sql", 2), ("003_t3.sql", 2)]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_waiting_for_the_lock(
    db_url: str, migrations: Files, procs: Procs, signum: int, code: int
) -> None:
    directory = migrations({"001_t1.sql": table("t1")})
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("public", "_migrations")])
        holder_pid = holder.info.backend_pid
        waiter = procs.start(db_url, directory, "migrate")
        wait_for(lambda: pgshift_backends(db_url), process=waiter)
        time.sleep(1)
        waiter.send_signal(signum)
        result = finish(waiter, timeout=15)
        wait_for(lambda: not pgshift_backends(db_url), timeout=10)
        assert advisory_locks(db_url) == [(holder_pid, True)]
        holder.rollback()

    assert result.exit_code == code, result.stderr
    assert "Traceback" not in result.stderr
    assert tracking_rows(db_url) == []
    assert_nothing_left(db_url)


def test_sigint_in_a_no_transaction_migration_says_what_stays(
    db_url: str, migrations: Files, procs: Procs
) -> None:
    """SPEC 5.2: part-way through a migration outside a transaction, the message says which
    statements ran and were not undone (there is no transaction to roll back)."""
    nap(db_url, 20)
    directory = migrations({
        "001_t1.sql": table("t1"),
        "002_outside.sql": "-- pgshift: no-transaction\n-- UP\nCREATE TABLE x (id int);\n"
        f"{NAP}\nCREATE TABLE y (id int);\n",
    })
    process = procs.start(db_url, directory, "migrate")
    wait_for(lambda: sleeping(db_url, "FROM nap"), process=process)

    process.send_signal(signal.SIGINT)
    result = finish(process, timeout=15)

    assert result.exit_code == 130, result.stderr
    assert "002_outside.sql" in result.stderr
    assert table_exists(db_url, "x") and not table_exists(db_url, "y")
    assert batches(db_url) == [("001_t1.sql", 1)]
    assert "transaction was rolled back" not in result.stderr
    assert re.search(r"statement\(?s?\)? 1\b.*not undone", result.stderr, re.I | re.S)
    assert_nothing_left(db_url)
