"""Randomized fault soak (RELIABILITY 2a): random faults at random moments of ``migrate``
over a real-sized generated history with ``CREATE INDEX CONCURRENTLY`` files, with one
or two runners, the invariant checked after every round.

Each round starts one or two ``pgshift migrate`` processes and, once a runner is
connected, waits a random moment and injects one fault: SIGKILL, SIGTERM or SIGINT of a
runner, or ``pg_terminate_backend`` / ``pg_cancel_backend`` of one of pgshift's
backends. In some rounds an open snapshot holds the index builds waiting, so that the
fault lands inside one. After the runners exit:

- every exit is clean: exit 0, pgshift's own message with exit 1, 130/143 after
  SIGINT/SIGTERM, or death by SIGKILL; never a traceback, never XX000;
- recorded ⇔ applied: a transactional migration's objects and mark row exist iff its
  tracking row does; a non-transactional one is complete and its index valid when
  recorded, and otherwise ran no statement beyond the one after its progress;
- no name is recorded twice, no advisory lock and no pgshift backend idle in
  transaction is left, and every INVALID index is named by ``pgshift status``.

At the end a clean run completes the history, and the schema equals that of a fault-free
apply. The seed is printed; ``PGSHIFT_SOAK_SEED=<seed>`` replays a run,
``PGSHIFT_SOAK_ROUNDS`` (default 4) and ``PGSHIFT_SOAK_FILES`` (default 100) make it
longer: e.g. ``PGSHIFT_SOAK_ROUNDS=500 pytest -m faults tests/process/test_fault_soak.py``.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgtest import catalog_snapshot, execute, fetch, url_for_database
from process.support import Procs, Run, assert_released, wait_for, write_files

pytestmark = pytest.mark.faults

ROUNDS = int(os.environ.get("PGSHIFT_SOAK_ROUNDS", "4"))
FILES = int(os.environ.get("PGSHIFT_SOAK_FILES", "100"))
BIG_ROWS = 20_000
FAULTS = ("SIGKILL", "SIGTERM", "SIGINT", "terminate", "cancel")
# A signal that lands after pgshift finished and reported leaves the command's exit code
# (test_late_signals.py); one that lands while it runs ends it with 130 or 143.
CLEAN_EXITS = {0, 1, 128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGKILL}
RUN_TIMEOUT = 120


# --- the generated history -------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One generated migration file: ``concurrent`` files run outside a transaction as
    CREATE TABLE x_N; CREATE INDEX CONCURRENTLY ix_N; CREATE TABLE y_N."""

    number: int
    concurrent: bool

    @property
    def name(self) -> str:
        kind = "index" if self.concurrent else "schema"
        return f"{self.number:04d}_{kind}_{self.number}.sql"

    def text(self) -> str:
        n = self.number
        if n == 1:
            return ("-- UP\nCREATE TABLE soak_marks (name text PRIMARY KEY);\n"
                    "CREATE TABLE soak_big (id bigint PRIMARY KEY, v text NOT NULL);\n"
                    "INSERT INTO soak_big SELECT g, md5(g::text) FROM generate_series(1, "
                    f"{BIG_ROWS}) g;\n"
                    f"INSERT INTO soak_marks VALUES ('{self.name}');\n"
                    "-- DOWN\nDROP TABLE soak_big;\nDROP TABLE soak_marks;\n")
        if self.concurrent:
            return ("-- UP\n"
                    f"CREATE TABLE x_{n} (id int);\n"
                    f"CREATE INDEX CONCURRENTLY ix_{n} ON soak_big ((v || '{n}'));\n"
                    f"CREATE TABLE y_{n} (id int);\n"
                    f"-- DOWN\nDROP TABLE y_{n};\nDROP INDEX CONCURRENTLY ix_{n};\n"
                    f"DROP TABLE x_{n};\n")
        previous = n - 1
        return (
            f"-- Description: generated schema change {n}\n-- UP\n"
            f"CREATE TABLE t_{n} (id bigint PRIMARY KEY, label text NOT NULL DEFAULT 'é{n}',"
            " amount numeric(12, 2));\n"
            f"INSERT INTO t_{n} SELECT g, 'row ' || g, g * 1.5 FROM generate_series(1, 40) g;\n"
            f"CREATE INDEX t_{n}_label ON t_{n} (label);\n"
            f"CREATE VIEW v_{n} AS SELECT id, upper(label) AS label FROM t_{n} WHERE id > 10;\n"
            f"CREATE FUNCTION f_{n}(x int) RETURNS int LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n  RETURN x + {n}; -- a ; inside a body\nEND;\n$$;\n"
            f"DO $$ BEGIN IF f_{n}(1) <> {n + 1} THEN RAISE EXCEPTION 'bad'; END IF; END $$;\n"
            + (f"ALTER TABLE t_{previous} ADD COLUMN c_{n} int;\n"
               if previous > 1 and (previous % 10) != 0 else "")
            + f"INSERT INTO soak_marks VALUES ('{self.name}');\n"
            f"-- DOWN\nDROP VIEW v_{n};\nDROP FUNCTION f_{n}(int);\nDROP TABLE t_{n};\n"
            f"DELETE FROM soak_marks WHERE name = '{self.name}';\n"
        )


def history(count: int) -> list[Spec]:
    return [Spec(n, n > 1 and n % 10 == 0) for n in range(1, count + 1)]


# --- the invariant ---------------------------------------------------------------------


def exists(url: str) -> set[str]:
    return {r[0] for r in fetch(url, "SELECT relname FROM pg_class c JOIN pg_namespace n "
                                     "ON n.oid = c.relnamespace WHERE nspname = 'public'")}


def check_invariant(url: str, specs: list[Spec], status_text: str, where: str) -> None:
    relations = exists(url)
    recorded: list[str] = []
    if "_migrations" in relations:
        recorded = [r[0] for r in fetch(url, "SELECT name FROM _migrations")]
    assert len(recorded) == len(set(recorded)), f"{where}: a name recorded twice: {recorded}"
    done = set(recorded)
    marks: set[str] = set()
    if "soak_marks" in relations:
        marks = {r[0] for r in fetch(url, "SELECT name FROM soak_marks")}
    progress: dict[str, int] = {}
    if "_migrations_progress" in relations:
        progress = {r[0]: r[1] for r in fetch(url, "SELECT name, applied "
                                                   "FROM _migrations_progress")}
    valid = {r[0]: r[1] for r in fetch(
        url, "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
             "ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname = 'public'")}
    for spec in specs:
        n, name = spec.number, spec.name
        if not spec.concurrent:
            objects = (f"t_{n}" in relations) if n > 1 else ("soak_big" in relations)
            assert (name in done) == (name in marks) == objects, (
                f"{where}: {name}: recorded {name in done}, mark {name in marks}, "
                f"objects {objects}")
            continue
        steps = [f"x_{n}" in relations, f"ix_{n}" in valid, f"y_{n}" in relations]
        if name in done:
            assert all(steps) and valid[f"ix_{n}"], f"{where}: {name} recorded but {steps}"
            assert name not in progress, f"{where}: {name} recorded with progress left"
            continue
        ran = progress.get(name, -1)  # -1: not started (no progress row)
        beyond = [i for i, present in enumerate(steps) if present and i > ran]
        assert not beyond, (f"{where}: {name} not recorded, progress {ran}, yet "
                            f"statement(s) {beyond} took effect")
    invalid = [index for index, ok in valid.items() if not ok]
    unreported = [index for index in invalid if index not in status_text]
    assert not unreported, f"{where}: INVALID index(es) {unreported} not reported:\n{status_text}"


def assert_clean_exit(run: Run, where: str) -> int:
    result = run.result(RUN_TIMEOUT)
    shown = f"{where}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert result.exit_code in CLEAN_EXITS, shown
    assert "Traceback" not in result.stderr, shown
    assert "XX000" not in result.stderr and "concurrently updated" not in result.stderr, shown
    if result.exit_code == 1:
        assert "error: " in result.stderr, shown
    return result.exit_code


# --- faults ----------------------------------------------------------------------------


def pgshift_pids(url: str) -> list[int]:
    return [r[0] for r in fetch(url, "SELECT pid FROM pg_stat_activity WHERE datname = "
                                     "current_database() AND application_name = 'pgshift' "
                                     "ORDER BY pid")]


def inject(rng: random.Random, url: str, runs: list[Run]) -> str:
    """Wait until a runner is connected, a random moment more, then one random fault."""
    fault = rng.choice(FAULTS)
    target = rng.choice(runs)

    def connected() -> bool:
        return target.proc.poll() is not None or bool(pgshift_pids(url))

    wait_for(connected, 60, "a runner connected")
    time.sleep(rng.uniform(0.0, 1.5))
    if target.proc.poll() is not None:
        return f"{fault} (too late: the runner had exited)"
    if fault.startswith("SIG"):
        os.kill(target.proc.pid, getattr(signal, fault))
        return f"{fault} to runner {runs.index(target) + 1}"
    pids = pgshift_pids(url)
    if not pids:
        return f"{fault} (no pgshift backend)"
    pid = rng.choice(pids)
    function = "pg_terminate_backend" if fault == "terminate" else "pg_cancel_backend"
    execute(url, f"SELECT {function}(%s)", [pid])
    return f"{function}({pid})"


@pytest.fixture
def reference_url(pg_url: str) -> Iterator[str]:
    """A second empty database, for the fault-free apply the result is compared with."""
    name = f"pgshift_soak_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_for_database(pg_url, name)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def schema_of(url: str) -> dict[str, object]:
    snapshot = catalog_snapshot(url)
    data = snapshot["data"]
    for table in ("public._migrations", "public._migrations_progress"):
        data.pop(table, None)
    return snapshot


def test_randomized_fault_soak(
    db_url: str, reference_url: str, tmp_path: Path, procs: Procs
) -> None:
    seed = int(os.environ.get("PGSHIFT_SOAK_SEED") or secrets.randbits(32))
    print(f"fault soak: PGSHIFT_SOAK_SEED={seed} PGSHIFT_SOAK_ROUNDS={ROUNDS} "
          f"PGSHIFT_SOAK_FILES={FILES}")
    rng = random.Random(seed)
    specs = history(FILES)
    directory = write_files(tmp_path / "migrations", {s.name: s.text() for s in specs})
    log: list[str] = []

    for number in range(1, ROUNDS + 1):
        where = f"seed {seed}, round {number}"
        if fetch(db_url, "SELECT to_regclass('_migrations') IS NOT NULL")[0][0] and fetch(
                db_url, "SELECT count(*) FROM _migrations")[0][0] == len(specs):
            # all applied: start the history again on an empty schema
            execute(db_url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        blocker = None
        if rng.random() < 0.3 and "soak_big" in exists(db_url):
            blocker = psycopg.connect(db_url)
            blocker.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            blocker.execute("SELECT count(*) FROM soak_big")
        try:
            runs = [procs.start(db_url, directory, tmp_path, "migrate")
                    for _ in range(rng.choice((1, 1, 2)))]
            fault = inject(rng, db_url, runs)
            if blocker is not None:
                time.sleep(rng.uniform(0.0, 1.0))
        finally:
            if blocker is not None:
                blocker.close()
        exits = [assert_clean_exit(run, f"{where} ({fault})") for run in runs]
        log.append(f"round {number}: {len(runs)} runner(s), {fault}, exits {exits}")
        # a killed client's index build ends once the server notices (PG 14+: seconds)
        wait_for(lambda: not fetch(db_url, "SELECT pid FROM pg_stat_progress_create_index "
                                           "WHERE datid = (SELECT oid FROM pg_database "
                                           "WHERE datname = current_database())"),
                 60, f"{where}: index builds of killed runners to end")
        assert_released(db_url)
        status = procs.run(db_url, directory, tmp_path, "status")
        assert status.exit_code == 0, f"{where}: status failed\n{status.stderr}"
        check_invariant(db_url, specs, status.stdout + status.stderr, f"{where} ({fault})")

    final = procs.run(db_url, directory, tmp_path, "migrate", timeout=RUN_TIMEOUT)
    assert final.exit_code == 0, f"seed {seed}: the final run failed\n{final.stderr}\n{log}"
    status = procs.run(db_url, directory, tmp_path, "status")
    check_invariant(db_url, specs, status.stdout + status.stderr, f"seed {seed}, final")
    assert fetch(db_url, "SELECT count(*) FROM _migrations")[0][0] == len(specs)
    assert fetch(db_url, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == [(0,)]
    clean = procs.run(reference_url, directory, tmp_path, "migrate", timeout=RUN_TIMEOUT)
    assert clean.exit_code == 0, clean.stderr
    assert schema_of(db_url) == schema_of(reference_url), f"seed {seed}: {log}"
    print("\n".join(log))
