"""``status`` and drift on a real database (SPEC 3, 4, 5.6; RELIABILITY S25, S26):
states by checksum, missing files, warnings on ``migrate`` and refusal under ``--strict``;
``status`` never creates the tracking table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pgshift import Migrator
from pgshift.errors import StateError
from pgshift.results import Event
from pgtest import Cli, Files, catalog_snapshot, run, table_exists, tracking_rows

B_UP = "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n"
FILES = {
    "001_a.sql": "-- Migration: 001_a.sql\n-- Description: table a\n\n-- UP\n"
    "CREATE TABLE a (id int);\n\n-- DOWN\nDROP TABLE a;\n",
    "002_b.sql": f"-- UP\n{B_UP}\n-- DOWN\nDROP TABLE b;\n",
    "003_c.sql": "-- UP\nCREATE TABLE c (id int);\n\n-- DOWN\nDROP TABLE c;\n",
}


def states(url: str, directory: Path) -> dict[str, str]:
    return {e.name: e.state for e in Migrator(url, directory).status().entries}


@pytest.fixture
def applied(db_url: str, migrations: Files) -> Path:
    """001 to 003 applied in batch 1."""
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()
    return directory


def test_status_of_a_fresh_database_creates_nothing(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations(FILES)
    before = catalog_snapshot(db_url)

    report = Migrator(db_url, directory).status()
    result = run(cli, db_url, directory, "status")
    as_json = run(cli, db_url, directory, "status", "--json")

    assert [(e.name, e.state, e.batch) for e in report.entries] == [
        (name, "pending", None) for name in FILES
    ]
    assert report.table_exists is False
    assert report.counts["pending"] == 3
    assert result.exit_code == 0 and as_json.exit_code == 0, result.stderr
    assert "pending" in result.stdout
    assert not table_exists(db_url, "_migrations")
    assert catalog_snapshot(db_url) == before


def test_status_lists_executed_and_pending(db_url: str, applied: Path, migrations: Files,
                                           cli: Cli) -> None:
    migrations({"004_d.sql": "-- UP\nCREATE TABLE d (id int);\n"})

    report = Migrator(db_url, applied).status()
    result = run(cli, db_url, applied, "status")

    assert [(e.name, e.state, e.batch) for e in report.entries] == [
        ("001_a.sql", "executed", 1), ("002_b.sql", "executed", 1),
        ("003_c.sql", "executed", 1), ("004_d.sql", "pending", None),
    ]
    rows = {r["name"]: r for r in tracking_rows(db_url)}
    for entry in report.entries[:3]:
        assert entry.executed_at == rows[entry.name]["executed_at"]
        assert entry.checksum == rows[entry.name]["checksum"] == entry.file_checksum
    assert result.exit_code == 0
    assert "3 executed" in result.stdout and "1 pending" in result.stdout


# --- S25: edited applied migration ------------------------------------------------------


def test_edited_up_is_modified(db_url: str, applied: Path, cli: Cli) -> None:
    path = applied / "002_b.sql"
    path.write_text(path.read_text().replace("VALUES (1)", "VALUES (2)"))

    report = Migrator(db_url, applied).status()
    result = run(cli, db_url, applied, "status")

    entry = {e.name: e for e in report.entries}["002_b.sql"]
    assert entry.state == "modified"
    assert entry.batch == 1
    assert entry.checksum != entry.file_checksum
    assert states(db_url, applied) == {
        "001_a.sql": "executed", "002_b.sql": "modified", "003_c.sql": "executed"
    }
    assert any("002_b.sql" in w for w in report.warnings)
    assert result.exit_code == 0
    assert "modified" in result.stdout
    assert "002_b.sql" in result.stderr


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def bom(text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.encode()


def down_only(text: str) -> bytes:
    return text.replace("DROP TABLE b;", "DROP TABLE IF EXISTS b CASCADE;").encode()


def blank_lines(text: str) -> bytes:
    return text.replace("-- UP\n", "-- UP\n\n\n").encode()


def header_edit(text: str) -> bytes:
    return ("-- Description: now with a header\n" + text).encode()


@pytest.mark.parametrize("edit", [crlf, bom, down_only, blank_lines, header_edit])
def test_edits_that_are_not_modifications(
    db_url: str, applied: Path, edit: Callable[[str], bytes]
) -> None:
    path = applied / "002_b.sql"
    path.write_bytes(edit(path.read_text()))

    report = Migrator(db_url, applied).status()

    assert {e.name: e.state for e in report.entries}["002_b.sql"] == "executed"
    assert not [w for w in report.warnings if "002_b.sql" in w]
    assert Migrator(db_url, applied, strict=True).migrate().applied == ()


# --- S26: applied migration whose file is gone ------------------------------------------


def test_missing_file_keeps_batch_and_time(db_url: str, applied: Path, cli: Cli) -> None:
    (applied / "002_b.sql").unlink()

    report = Migrator(db_url, applied).status()
    result = run(cli, db_url, applied, "status")

    entry = {e.name: e for e in report.entries}["002_b.sql"]
    assert entry.state == "missing file"
    assert entry.batch == 1 and entry.executed_at is not None
    assert [e.name for e in report.entries] == list(FILES)
    assert result.exit_code == 0
    assert "missing file" in result.stdout
    assert "002_b.sql" in result.stderr


# --- migrate with drift -----------------------------------------------------------------


@pytest.fixture(params=["modified", "missing file"])
def drifted(request: pytest.FixtureRequest, applied: Path, migrations: Files) -> Path:
    """002 drifted (edited or deleted); 004 pending."""
    path = applied / "002_b.sql"
    if request.param == "modified":
        path.write_text(path.read_text().replace("VALUES (1)", "VALUES (3)"))
    else:
        path.unlink()
    migrations({"004_d.sql": "-- UP\nCREATE TABLE d (id int);\n-- DOWN\nDROP TABLE d;\n"})
    return applied


def test_migrate_warns_about_drift_and_applies_pending(
    db_url: str, drifted: Path, cli: Cli
) -> None:
    result = run(cli, db_url, drifted, "migrate")

    assert result.exit_code == 0, result.stderr
    assert "warning" in result.stderr and "002_b.sql" in result.stderr
    assert "004_d.sql" in result.stdout
    assert [(r["name"], r["batch"]) for r in tracking_rows(db_url)] == [
        ("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 1), ("004_d.sql", 2)
    ]
    assert table_exists(db_url, "d")


def test_migrate_library_reports_drift_warnings(db_url: str, drifted: Path) -> None:
    events: list[Event] = []

    result = Migrator(db_url, drifted, on_event=events.append).migrate()

    assert [a.name for a in result.applied] == ["004_d.sql"]
    assert any("002_b.sql" in w for w in result.warnings)
    assert any(e.kind == "warning" and "002_b.sql" in e.message for e in events)


def test_strict_migrate_refuses_drift_and_changes_nothing(
    db_url: str, drifted: Path, cli: Cli
) -> None:
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, drifted, "migrate", "--strict")

    assert result.exit_code == 1
    assert "002_b.sql" in result.stderr
    assert catalog_snapshot(db_url) == before
    with pytest.raises(StateError, match=r"002_b\.sql"):
        Migrator(db_url, drifted, strict=True).migrate()
    assert catalog_snapshot(db_url) == before


def test_modified_warning_names_both_checksums(db_url: str, applied: Path) -> None:
    path = applied / "002_b.sql"
    path.write_text(path.read_text().replace("VALUES (1)", "VALUES (4)"))
    stored = {r["name"]: r["checksum"] for r in tracking_rows(db_url)}["002_b.sql"]

    result = Migrator(db_url, applied).migrate()

    file_sum = {e.name: e.file_checksum for e in Migrator(db_url, applied).status().entries}
    warning = next(w for w in result.warnings if "002_b.sql" in w)
    assert stored in warning and file_sum["002_b.sql"] in warning


def test_unparsable_applied_file_counts_as_modified(db_url: str, applied: Path) -> None:
    (applied / "003_c.sql").write_text("CREATE TABLE c (id int);\n")

    assert states(db_url, applied)["003_c.sql"] == "modified"


PENDING_B = ("-- Migration: 002_b.sql\n-- Created: 2026-02-01\n-- Description: add table b\n\n"
             "-- UP\nCREATE TABLE b (id int);\n\n-- DOWN\nDROP TABLE b;\n")
# Not finished: its UP does not parse. status shows its header without parsing it.
PENDING_WIP = ("-- Created: 2026-02-02\n-- Description: work in progress\n\n-- UP\n"
               "CREATE TABLE (;\n")


def test_status_shows_the_header_metadata_of_pending_migrations_too(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": "-- Created: 2026-01-20\n" + FILES["001_a.sql"]})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": PENDING_B, "003_wip.sql": PENDING_WIP})
    rows, before = tracking_rows(db_url), catalog_snapshot(db_url)

    document = json.loads(run(cli, db_url, directory, "--json", "status").stdout)
    verbose = run(cli, db_url, directory, "status", "--verbose")
    again = json.loads(run(cli, db_url, directory, "--json", "status").stdout)  # cached facts

    for doc in (document, again):
        assert {m["name"]: (m["state"], m["metadata"]) for m in doc["migrations"]} == {
            "001_a.sql": ("executed", {"created": "2026-01-20", "migration": "001_a.sql",
                                       "description": "table a"}),
            "002_b.sql": ("pending", {"migration": "002_b.sql", "created": "2026-02-01",
                                      "description": "add table b"}),
            "003_wip.sql": ("pending", {"created": "2026-02-02",
                                        "description": "work in progress"}),
        }
    lines = verbose.stdout.splitlines()
    assert lines[0].split() == ["name", "state", "batch", "executed_at", "duration_ms",
                                "created", "description"]
    assert lines[2].split() == ["002_b.sql", "pending", "2026-02-01", "add", "table", "b"]
    assert lines[3].split() == ["003_wip.sql", "pending", "2026-02-02", "work", "in",
                                "progress"]
    assert tracking_rows(db_url) == rows
    assert catalog_snapshot(db_url) == before


def test_status_of_a_fresh_database_shows_pending_metadata_and_creates_nothing(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"002_b.sql": PENDING_B})

    report = Migrator(db_url, directory).status()

    assert [(e.state, dict(e.metadata)) for e in report.entries] == [
        ("pending", {"migration": "002_b.sql", "created": "2026-02-01",
                     "description": "add table b"})]
    assert not table_exists(db_url, "_migrations")
