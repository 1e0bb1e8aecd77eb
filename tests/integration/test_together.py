"""Consecutive transactional migrations sent together, several in one query, while such
queries stay quick (docs/performance.md, "Several migrations in one query").

Outside ``--atomic`` each still runs in its own transaction with its own tracking row;
every way off the happy path leaves exactly what sending them one by one leaves: those
before the one that stopped the query stay applied, that one is reported as if it had
gone alone, those after it are not run. The pace is pinned here (every query counts as
quick) so that which migrations share a query does not depend on the machine."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

from pgshift import Migrator
from pgshift.engine import apply
from pgshift.errors import ConnectionFailed, Interrupted, MigrationFailed
from pgshift.results import Event
from pgtest import (
    Files,
    catalog_snapshot,
    execute,
    fetch,
    queries_sent,
    table_exists,
    tracking_rows,
)


@pytest.fixture(autouse=True)
def every_query_is_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "TOGETHER_QUICK_SECONDS", 1e9)


def table(name: str, extra: str = "") -> str:
    return (f"-- UP\nCREATE TABLE {name} (id int PRIMARY KEY);\n{extra}"
            f"-- DOWN\nDROP TABLE {name};\n")


def numbered(first: int, last: int) -> dict[str, str]:
    return {f"{i:03d}_t{i}.sql": table(f"t{i}") for i in range(first, last + 1)}


def names(url: str) -> list[str]:
    return [row["name"] for row in tracking_rows(url)]


@pytest.mark.parametrize("atomic", [False, True])
def test_quick_migrations_share_queries_and_each_keeps_its_own_row(
    db_url: str, migrations: Files, atomic: bool
) -> None:
    directory = migrations(numbered(1, 1))
    Migrator(db_url, directory).migrate()  # the tracking table exists from here on
    migrations(numbered(2, 2))
    one = queries_sent(db_url, directory, atomic=atomic)
    migrations(numbered(3, 42))
    forty = queries_sent(db_url, directory, atomic=atomic)

    # 1, then 2, 4, 8, 16 and the last 9 together: six queries for forty migrations
    assert forty - one == 5, (one, forty)
    rows = tracking_rows(db_url)
    assert [r["name"] for r in rows] == list(numbered(1, 42))
    assert [r["batch"] for r in rows] == [1, 2, *[3] * 40]
    assert all(r["duration_ms"] is not None and r["duration_ms"] >= 0 for r in rows)
    assert fetch(db_url, "SELECT count(*) FROM pg_class WHERE relname ~ '^t[0-9]+$' "
                         "AND relkind = 'r'") == [(42,)]


def test_each_migration_of_a_shared_query_records_its_own_duration(
    db_url: str, migrations: Files
) -> None:
    events: list[Event] = []
    directory = migrations({
        "001_a.sql": table("a"),
        "002_slow.sql": table("slow", "SELECT pg_sleep(0.4);\n"),
        "003_quick.sql": table("quick"),
    })

    result = Migrator(db_url, directory, on_event=events.append).migrate()

    recorded = {r["name"]: r["duration_ms"] for r in tracking_rows(db_url)}
    assert recorded["002_slow.sql"] >= 400
    assert recorded["003_quick.sql"] < 400, recorded
    reported = {a.name: a.duration_ms for a in result.applied}
    # 002 and 003 shared a query: the server's figures (001 went alone, timed by pgshift)
    assert [reported[n] for n in ("002_slow.sql", "003_quick.sql")] == [
        recorded[n] for n in ("002_slow.sql", "003_quick.sql")]
    order = [(e.kind, e.name) for e in events if e.kind in ("applying", "applied")]
    assert order == [(kind, name) for name in recorded for kind in ("applying", "applied")]


def test_a_failure_in_a_shared_query_keeps_those_before_it_and_reports_it_as_alone(
    db_url: str, migrations: Files
) -> None:
    files = numbered(1, 3)
    files["004_bad.sql"] = ("-- UP\nCREATE TABLE b (id int);\n\nINSERT INTO b VALUES (1);\n"
                            "INSERT INTO b VALUES ('x');\n-- DOWN\nDROP TABLE b;\n")
    files.update(numbered(5, 7))
    directory = migrations(files)  # queries: 001; 002-003; 004 (fails)-007

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()

    failed = caught.value
    assert failed.migration == "004_bad.sql"
    assert failed.server.sqlstate == "22P02"
    assert failed.statement is not None
    assert (failed.statement.index, failed.statement.line) == (3, 5)
    place = failed.statement.place
    assert place is not None and place.column == place.text.index("'x'"), place
    assert failed.applied == ["001_t1.sql", "002_t2.sql", "003_t3.sql"]
    assert names(db_url) == ["001_t1.sql", "002_t2.sql", "003_t3.sql"]
    assert not table_exists(db_url, "b") and not table_exists(db_url, "t5")


def test_a_failing_migration_of_a_shared_query_runs_once(
    db_url: str, migrations: Files
) -> None:
    # a sequence counts what a rollback does not undo: each time 004 ran
    execute(db_url, "CREATE SEQUENCE runs")
    files = numbered(1, 3)
    files["004_bad.sql"] = "-- UP\nSELECT nextval('runs');\nSELECT 1/0;\n-- DOWN\nSELECT 1;\n"
    files.update(numbered(5, 6))
    directory = migrations(files)  # queries: 001; 002-003; 004 (fails)-006

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory).migrate()

    assert caught.value.migration == "004_bad.sql"
    assert caught.value.statement is not None and caught.value.statement.index == 2
    assert fetch(db_url, "SELECT last_value FROM runs") == [(1,)]
    assert names(db_url) == list(numbered(1, 3))


def test_a_failure_in_the_second_migration_of_a_shared_query(
    db_url: str, migrations: Files
) -> None:
    files = numbered(1, 4)
    files["005_dup.sql"] = "-- UP\nCREATE TABLE t1 (id int);\n-- DOWN\nSELECT 1;\n"
    files.update(numbered(6, 7))
    directory = migrations(files)  # queries: 001; 002-003; 004-007 (005 fails)
    Migrator(db_url, directory, strict=True).migrate(to="001_t1.sql")

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, strict=True).migrate()

    assert caught.value.migration == "005_dup.sql"
    assert caught.value.server.sqlstate == "42P07"
    assert names(db_url) == ["001_t1.sql", "002_t2.sql", "003_t3.sql", "004_t4.sql"]
    assert not table_exists(db_url, "t6")


def test_an_atomic_run_that_fails_in_a_shared_query_leaves_nothing(
    db_url: str, migrations: Files
) -> None:
    Migrator(db_url, migrations(numbered(1, 1))).migrate()
    before = catalog_snapshot(db_url)
    files = numbered(2, 5)
    files["006_bad.sql"] = "-- UP\nCREATE TABLE b (id int);\nSELECT 1/0;\n-- DOWN\nSELECT 1;\n"
    directory = migrations(files)  # queries: 002; 003-004; 005-006

    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, atomic=True).migrate()

    assert caught.value.migration == "006_bad.sql"
    assert caught.value.server.sqlstate == "22012"
    assert caught.value.statement is not None and caught.value.statement.index == 2
    assert caught.value.applied == []
    assert catalog_snapshot(db_url) == before
    assert names(db_url) == ["001_t1.sql"]


def test_already_exists_in_a_shared_query_of_an_atomic_run_starts_it_with_savepoints(
    db_url: str, migrations: Files
) -> None:
    execute(db_url, "CREATE TABLE by_hand (id int)")
    events: list[Event] = []
    files = numbered(1, 3)
    files["004_again.sql"] = ("-- UP\nCREATE TABLE by_hand (id int);\nCREATE TABLE b (id int);\n"
                              "-- DOWN\nDROP TABLE b;\n")
    directory = migrations(files)

    Migrator(db_url, directory, atomic=True, on_event=events.append).migrate()

    assert names(db_url) == [*numbered(1, 3), "004_again.sql"]
    assert table_exists(db_url, "b")
    assert any("savepoint per migration" in e.message for e in events)


def _end_during_sleep(db_url: str, how: str) -> threading.Thread:
    """A thread that ends the pgshift backend sleeping in ``pg_sleep`` (how:
    ``terminate`` or ``cancel``) as soon as it sleeps."""

    def run() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            # (a query of several migrations is longer than pg_stat_activity shows)
            found = fetch(db_url, f"SELECT pg_{how}_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND wait_event = "
                                  "'PgSleep' AND pid <> pg_backend_pid()")
            if found:
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _with_sleeper_fourth_in_a_query() -> dict[str, str]:
    files = numbered(1, 5)
    # queries: 001; 002-003; 004-007, 006 sleeping (third in its query)
    files["006_sleep.sql"] = table("sleeper", "SELECT pg_sleep(30);\n")
    files.update(numbered(7, 7))
    return files


def test_a_session_terminated_in_a_shared_query_keeps_those_that_committed(
    db_url: str, migrations: Files
) -> None:
    directory = migrations(_with_sleeper_fourth_in_a_query())
    ender = _end_during_sleep(db_url, "terminate")
    try:
        with pytest.raises(ConnectionFailed) as caught:
            Migrator(db_url, directory).migrate()
    finally:
        ender.join()

    message = str(caught.value)
    assert "during 006_sleep.sql" in message and "006_sleep.sql was not applied" in message
    assert "005_t5.sql" in message  # done before it
    assert names(db_url) == list(numbered(1, 5))
    assert not table_exists(db_url, "sleeper") and not table_exists(db_url, "t7")


def test_an_interrupt_in_a_shared_query_names_the_migration_it_stopped(
    db_url: str, migrations: Files
) -> None:
    directory = migrations(_with_sleeper_fourth_in_a_query())
    stopped: list[Interrupted] = []

    def interrupter() -> None:  # Ctrl-C, as the main thread receives it
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if fetch(db_url, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                             "AND datname = current_database() AND pid <> pg_backend_pid()"):
                _thread.interrupt_main()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=interrupter)
    thread.start()
    try:
        Migrator(db_url, directory).migrate()
    except Interrupted as error:
        stopped.append(error)
    finally:
        thread.join()

    assert stopped, "the run was not interrupted"
    message = str(stopped[0])
    assert "006_sleep.sql not applied" in message, message
    assert stopped[0].applied == list(numbered(1, 5))
    assert names(db_url) == list(numbered(1, 5))
    assert not table_exists(db_url, "sleeper")
