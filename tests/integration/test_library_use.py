"""pgshift used as a library, as an application does at start-up: several instances of an
app migrating the same database at once, progress through ``on_event``, records on the
``pgshift`` logger (never a password), and the documented exceptions with their fields.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgshift
from pgshift import Migrator
from pgshift.db.lock import lock_key
from pgshift.errors import (
    ConnectionFailed,
    InputError,
    LockTimeout,
    MigrationFailed,
    MigrationFileError,
    PgshiftError,
    RollbackFailed,
    RunError,
    StateError,
    UsageRefused,
)
from pgshift.results import Event, RunResult
from pgtest import Files, batches, catalog_snapshot, fetch, table_exists

PASSWORD = "Hunter2-Secret-Pw"


def slow(number: int) -> str:
    """A migration that takes a moment and counts its own runs in ``runs``."""
    return (
        f"-- UP\nSELECT pg_sleep(0.2);\nCREATE TABLE m{number} (id int);\n"
        f"INSERT INTO runs VALUES ('{number:03}');\n"
        f"-- DOWN\nDROP TABLE m{number};\n"
    )


STARTUP_FILES = {
    "001_runs.sql": "-- UP\nCREATE TABLE runs (name text);\nINSERT INTO runs VALUES ('001');\n"
                    "-- DOWN\nDROP TABLE runs;\n",
    **{f"00{n}_m{n}.sql": slow(n) for n in range(2, 6)},
}


def with_password(url: str) -> str:
    """``url`` with PASSWORD added (the test servers trust local connections)."""
    if "://" not in url:
        return make_conninfo(url, password=PASSWORD)
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user or 'postgres'}:{PASSWORD}@{host}"))


def other_sessions(url: str, settle: float = 10.0) -> int:
    """The other sessions on the database once those closed by their clients are gone (a
    backend leaves pg_stat_activity a moment after its client closed the connection)."""
    deadline = time.monotonic() + settle
    while True:
        count: int = fetch(url, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                " current_database() AND pid <> pg_backend_pid()")[0][0]
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


# --- start-up hook ---------------------------------------------------------------------


class App:
    """A stand-in for a web application whose lifespan hook migrates the database."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self.events: list[Event] = []
        self.result: RunResult | None = None
        self.error: BaseException | None = None

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        migrator = Migrator(self.url, self.directory, on_event=self.events.append)
        self.result = await asyncio.to_thread(migrator.migrate)
        yield


def serve(app: App, ready: threading.Barrier) -> None:
    async def main() -> None:
        ready.wait()
        async with app.lifespan():
            pass

    try:
        asyncio.run(main())
    except BaseException as error:  # reported by the test's assertion
        app.error = error


def test_four_app_instances_starting_together_apply_each_migration_once(
    db_url: str, migrations: Files
) -> None:
    directory = migrations(STARTUP_FILES)
    apps = [App(db_url, directory) for _ in range(4)]
    ready = threading.Barrier(len(apps))
    threads = [threading.Thread(target=serve, args=(app, ready)) for app in apps]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads)
    assert [app.error for app in apps] == [None] * len(apps)
    results = [app.result for app in apps]
    assert all(result is not None for result in results)
    applied = [a.name for result in results if result for a in result.applied]
    assert sorted(applied) == sorted(STARTUP_FILES)
    assert sum(1 for result in results if result and result.applied) == 1
    assert batches(db_url) == [(name, 1) for name in sorted(STARTUP_FILES)]
    assert fetch(db_url, "SELECT name, count(*) FROM runs GROUP BY name ORDER BY name") == [
        (f"{n:03}", 1) for n in range(1, 6)]
    assert fetch(db_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                 "database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                 ) == [(0,)]
    assert other_sessions(db_url) == 0


@pytest.mark.parametrize("atomic", [False, True])
def test_plain_threads_each_with_a_migrator(
    db_url: str, migrations: Files, atomic: bool
) -> None:
    directory = migrations(STARTUP_FILES)
    results: list[RunResult] = []
    errors: list[BaseException] = []
    ready = threading.Barrier(4)

    def start() -> None:
        ready.wait()
        try:
            results.append(Migrator(db_url, directory, atomic=atomic).migrate())
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(a.name for r in results for a in r.applied) == sorted(STARTUP_FILES)
    assert fetch(db_url, "SELECT count(*), count(DISTINCT name) FROM runs") == [(5, 5)]
    assert batches(db_url) == [(name, 1) for name in sorted(STARTUP_FILES)]


def test_the_library_prints_nothing(
    db_url: str, migrations: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\n"
                                         "DROP TABLE a;\n",
                            "001_dup.sql": "-- UP\nSELECT 1;\n-- DOWN\nSELECT 1;\n",
                            "notes.sql": "not a migration"})

    migrator = Migrator(db_url, directory)
    migrator.migrate()
    migrator.status()
    migrator.rollback()

    assert capsys.readouterr() == ("", "")


# --- on_event --------------------------------------------------------------------------


def test_events_arrive_in_order_with_totals(db_url: str, migrations: Files) -> None:
    files = {f"00{n}_t{n}.sql": f"-- UP\nCREATE TABLE t{n} (id int);\n-- DOWN\nDROP TABLE t{n};\n"
             for n in range(1, 5)}
    directory = migrations(files)
    events: list[Event] = []
    migrator = Migrator(db_url, directory, on_event=events.append)

    migrator.migrate(step=3)
    migrator.rollback(step=2)

    flow = [(e.kind, e.name, e.total) for e in events]
    names = sorted(files)
    assert flow == [
        ("batch-start", None, 3),
        *[(kind, n, None) for n in names[:3] for kind in ("applying", "applied")],
        ("batch-end", None, None),
        ("batch-start", None, 2),
        *[(kind, n, None) for n in (names[2], names[1]) for kind in ("reverting", "reverted")],
        ("batch-end", None, None),
    ]
    done = [e for e in events if e.kind in ("applied", "reverted")]
    assert all(e.duration_ms is not None and e.duration_ms >= 0 for e in done)
    assert batches(db_url) == [(names[0], 1)]


def test_events_of_a_failed_run_end_the_batch(db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_bad.sql": "-- UP\nSELECT * FROM no_such_table;\n-- DOWN\nSELECT 1;\n",
        "003_c.sql": "-- UP\nCREATE TABLE c (id int);\n-- DOWN\nDROP TABLE c;\n",
    })
    events: list[Event] = []

    with pytest.raises(MigrationFailed):
        Migrator(db_url, directory, on_event=events.append).migrate()

    assert [(e.kind, e.name, e.total) for e in events] == [
        ("batch-start", None, 3),
        ("applying", "001_a.sql", None), ("applied", "001_a.sql", None),
        ("applying", "002_bad.sql", None),
        ("batch-end", None, None),
    ]


def test_nothing_to_do_sends_no_batch_events(db_url: str, migrations: Files) -> None:
    directory = migrations({"001_a.sql": "-- UP\nSELECT 1;\n-- DOWN\nSELECT 1;\n"})
    Migrator(db_url, directory).migrate()
    events: list[Event] = []

    Migrator(db_url, directory, on_event=events.append).migrate()

    assert [e.kind for e in events if e.kind.startswith("batch")] == []


# --- logging ---------------------------------------------------------------------------


def test_logger_records_progress_and_warnings_without_the_password(
    db_url: str, migrations: Files, caplog: pytest.LogCaptureFixture
) -> None:
    url = with_password(db_url)
    directory = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_again.sql": "-- UP\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
                         "-- DOWN\nDROP TABLE b;\n",
        "stray.sql": "SELECT 1;",
    })
    caplog.set_level(logging.DEBUG, logger="pgshift")
    lock_conn = psycopg.connect(db_url)
    lock_conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("public", "_migrations")])

    def release_on_wait(event: Event) -> None:
        if event.kind == "lock-wait" and not lock_conn.closed:
            lock_conn.close()

    try:
        Migrator(url, directory, on_event=release_on_wait).migrate()
    finally:
        lock_conn.close()
    Migrator(url, directory).rollback()
    with pytest.raises(ConnectionFailed) as caught:
        Migrator(url.replace(urlsplit(url).path, "/no_such_db_here") if "://" in url
                 else make_conninfo(url, dbname="no_such_db_here"), directory).migrate()

    records = [r for r in caplog.records if r.name.startswith("pgshift")]
    messages = [(r.levelno, r.getMessage()) for r in records]
    assert (logging.INFO, "applied 001_a.sql") in [(lvl, m.split(" (")[0]) for lvl, m in messages]
    warnings = [m for lvl, m in messages if lvl == logging.WARNING]
    assert any("already exists" in m for m in warnings)
    assert any("stray.sql" in m for m in warnings)
    assert any("waiting for the migration lock" in m for m in warnings)
    assert any(m.startswith("rolled back 002_again.sql") for _, m in messages)
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in str(record.args)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in str(caught.value) and PASSWORD not in (caught.value.hint or "")


def test_every_event_is_logged_at_its_level(
    db_url: str, migrations: Files, caplog: pytest.LogCaptureFixture
) -> None:
    directory = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_again.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nSELECT 1;\n",
    })
    events: list[Event] = []
    caplog.set_level(logging.DEBUG, logger="pgshift")

    Migrator(db_url, directory, on_event=events.append).migrate()
    Migrator(db_url, directory, on_event=events.append).rollback()

    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "pgshift"]
    expected_levels = {"applied": logging.INFO, "reverted": logging.INFO,
                       "warning": logging.WARNING, "batch-start": logging.DEBUG,
                       "applying": logging.DEBUG, "batch-end": logging.DEBUG}
    assert len(logged) == len(events)
    for event, (level, message) in zip(events, logged, strict=True):
        assert message.startswith(event.message)
        if event.kind in expected_levels:
            assert level == expected_levels[event.kind], event
    assert {"batch-start", "applying", "applied", "warning", "reverting", "reverted",
            "batch-end"} <= {e.kind for e in events}


# --- exceptions ------------------------------------------------------------------------


def test_migration_failed_carries_statement_server_and_applied(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({
        "001_ok.sql": "-- UP\nCREATE TABLE ok (id int PRIMARY KEY);\n-- DOWN\nDROP TABLE ok;\n",
        "002_bad.sql": (
            "-- Migration: 002_bad.sql\n"       # 1
            "\n"                                # 2
            "-- UP\n"                           # 3
            "INSERT INTO ok VALUES (1);\n"      # 4
            "\n"                                # 5
            "-- the duplicate key\n"            # 6
            "INSERT INTO ok\n"                  # 7
            "  VALUES (1);\n"                   # 8
            "-- DOWN\nDELETE FROM ok;\n"
        ),
        "003_never.sql": "-- UP\nCREATE TABLE never (id int);\n-- DOWN\nDROP TABLE never;\n",
    })

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()

    error = caught.value
    assert isinstance(error, RunError) and isinstance(error, PgshiftError)
    assert error.exit_code == 1
    assert error.migration == "002_bad.sql"
    assert error.applied == ["001_ok.sql"]
    assert error.statement is not None
    assert (error.statement.file, error.statement.line) == ("002_bad.sql", 7)
    assert error.statement.head == "INSERT INTO ok"
    assert (error.statement.index, error.statement.total) == (2, 2)
    assert error.server.sqlstate == "23505"
    assert error.server.detail is not None and "(id)=(1)" in error.server.detail
    assert "002_bad.sql:7" in str(error)
    assert batches(db_url) == [("001_ok.sql", 1)]
    assert fetch(db_url, "SELECT count(*) FROM ok") == [(0,)]
    assert not table_exists(db_url, "never")


def test_server_hint_reaches_the_exception(db_url: str, migrations: Files) -> None:
    directory = migrations({"001_f.sql": "-- UP\nSELECT no_such_function(1, 'x');\n"
                                         "-- DOWN\nSELECT 1;\n"})

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()

    assert caught.value.server.sqlstate == "42883"
    assert caught.value.server.hint
    assert caught.value.statement is not None and caught.value.statement.line == 2


def test_rollback_failed_carries_its_fields(db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\nDROP VIEW nope;\n",
        "003_c.sql": "-- UP\nCREATE TABLE c (id int);\n-- DOWN\nDROP TABLE c;\n",
    })
    Migrator(db_url, directory).migrate()

    with pytest.raises(RollbackFailed) as caught:
        Migrator(db_url, directory).rollback()

    error = caught.value
    assert (error.migration, error.applied, error.server.sqlstate) == (
        "002_b.sql", ["003_c.sql"], "42P01")
    assert error.statement is not None and error.statement.line == 5
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


@pytest.mark.parametrize("call, kind", [
    (lambda m: m.migrate(to="099_nope.sql"), UsageRefused),
    (lambda m: m.migrate(step=0), UsageRefused),
    (lambda m: m.rollback(step=1, to="001_a.sql"), UsageRefused),
    (lambda m: m.rollback(batch=1), StateError),  # batch 2 is the latest
    (lambda m: m.baseline("099_nope.sql"), UsageRefused),
    (lambda m: m.mark("001_a.sql"), StateError),
    (lambda m: m.mark("099_nope.sql"), UsageRefused),
])
def test_refusals_are_the_documented_types_and_change_nothing(
    db_url: str, migrations: Files, call: Callable[[Migrator], Any], kind: type[PgshiftError]
) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\n"
                                         "DROP TABLE a;\n"})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n"})
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)

    with pytest.raises(kind) as caught:
        call(Migrator(db_url, directory))

    expected_exit = 2 if issubclass(kind, InputError) else 1
    assert caught.value.exit_code == expected_exit
    assert catalog_snapshot(db_url) == before


def test_malformed_file_error_names_file_and_line(db_url: str, migrations: Files) -> None:
    directory = migrations({
        "001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n",
        "002_bad.sql": "-- UP\nSELECT 1;\n-- UP\nSELECT 2;\n",
    })

    with pytest.raises(MigrationFileError) as caught:
        Migrator(db_url, directory).migrate()

    assert (caught.value.file, caught.value.line, caught.value.exit_code) == (
        "002_bad.sql", 3, 2)
    assert not table_exists(db_url, "a")


def test_lock_timeout_names_the_holder(db_url: str, migrations: Files) -> None:
    directory = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\n"
                                         "DROP TABLE a;\n"})

    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key("public", "_migrations")])
        with pytest.raises(LockTimeout) as caught:
            Migrator(db_url, directory, lock_wait=0.5).migrate()
        pid = conn.info.backend_pid

    assert f"pid {pid}" in str(caught.value)
    assert caught.value.hint is not None and str(pid) in caught.value.hint
    assert not table_exists(db_url, "a")


def test_public_names_are_exported() -> None:
    assert pgshift.Migrator is Migrator
    assert pgshift.MigrationFailed is MigrationFailed
    assert {"Migrator", "MigrationFailed", "RollbackFailed", "StateError", "Event",
            "RunResult", "UsageRefused", "LockTimeout"} <= set(pgshift.__all__)
