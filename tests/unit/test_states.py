"""Unit tests for pgshift.engine.states: files ⋈ tracking rows → each migration's state
and the warnings about them (pending, executed, modified, missing file, partial). Pure,
no database: files are written to a temporary directory, rows and table states are
built here."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pgshift.db.store import AppliedRow, Progress, TableState
from pgshift.engine.states import FileFacts, merge, order_key, read_facts
from pgshift.files import directory
from pgshift.files.sqlfile import parse

WHEN = datetime(2026, 1, 2, tzinfo=timezone.utc)


def table(name: str) -> str:
    return f"-- UP\nCREATE TABLE {name} (id int);\n-- DOWN\nDROP TABLE {name};\n"


def folder(tmp_path: Path, files: dict[str, str]) -> directory.Discovery:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return directory.discover(tmp_path)


def checksum(text: str, name: str) -> str:
    return parse(text, name).checksum


def state(*rows: tuple[str, int, str | None], partial: tuple[Progress, ...] = ()) -> TableState:
    """A tracking table holding (name, batch, checksum) rows, ids in order."""
    return TableState(True, False, tuple(
        AppliedRow(i, name, batch, WHEN, sum_, 12) for i, (name, batch, sum_) in
        enumerate(rows, start=1)), partial)


def test_order_key_sorts_by_number_then_name() -> None:
    names = ["10_b.sql", "2_a.sql", "002_b.sql", "1_z.sql", "odd.sql"]
    assert sorted(names, key=order_key) == ["1_z.sql", "002_b.sql", "2_a.sql", "10_b.sql",
                                            "odd.sql"]


def test_files_and_rows_merge_into_states_in_order(tmp_path: Path) -> None:
    a, b = table("a"), table("b")
    found = folder(tmp_path, {"001_a.sql": a, "002_b.sql": b, "003_c.sql": table("c")})
    entries, warnings = merge(found, state(("001_a.sql", 1, checksum(a, "001_a.sql")),
                                           ("002_b.sql", 2, checksum(b, "002_b.sql"))))
    assert [(e.name, e.state, e.batch) for e in entries] == [
        ("001_a.sql", "executed", 1), ("002_b.sql", "executed", 2), ("003_c.sql", "pending", None)]
    assert warnings == []
    assert entries[0].checksum == entries[0].file_checksum == checksum(a, "001_a.sql")
    assert entries[0].executed_at == WHEN
    assert entries[0].duration_ms == 12


def test_a_changed_file_is_modified_with_both_checksums(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": table("a2")})
    entries, warnings = merge(found, state(("001_a.sql", 1, "sha256v1:old")))
    assert entries[0].state == "modified"
    assert warnings == [f"001_a.sql was modified after it was applied: checksum sha256v1:old "
                        f"when applied, now {checksum(table('a2'), '001_a.sql')}"]


def test_a_legacy_row_without_checksum_is_never_modified(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": table("a")})
    entries, warnings = merge(found, state(("001_a.sql", 1, None)))
    assert entries[0].state == "executed"
    assert warnings == []


def test_an_applied_file_that_no_longer_parses_is_modified(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": "-- DOWN\nDROP TABLE a;\n"})
    entries, warnings = merge(found, state(("001_a.sql", 1, "sha256v1:old")))
    assert entries[0].state == "modified"
    assert entries[0].file_checksum is None
    assert len(warnings) == 1 and warnings[0].startswith("001_a.sql was modified")


def test_a_row_without_its_file_is_a_missing_file(tmp_path: Path) -> None:
    found = folder(tmp_path, {"002_b.sql": table("b")})
    entries, warnings = merge(found, state(("001_a.sql", 1, "sha256v1:x")))
    assert [(e.name, e.state) for e in entries] == [("001_a.sql", "missing file"),
                                                    ("002_b.sql", "pending")]
    assert warnings == ["001_a.sql is applied (batch 1) but its file is missing"]


def test_a_partial_run_is_partial_with_its_progress(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": table("a")})
    progress = Progress("001_a.sql", total=3, applied=1, pending_index="a_idx",
                        updated_at=WHEN)
    entries, warnings = merge(found, state(partial=(progress,)))
    entry = entries[0]
    assert (entry.state, entry.statements_done, entry.statements_total,
            entry.no_transaction, entry.executed_at) == ("partial", 1, 3, True, WHEN)
    assert warnings == ["001_a.sql is partially applied: 1 of 3 statements ran outside a "
                        "transaction; migrate resumes it (index a_idx may be left INVALID)"]


def test_facts_come_from_the_reader_given(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": table("a")})
    seen: list[str] = []

    def facts(file: directory.MigrationFile, *, header_only: bool = False) -> FileFacts:
        seen.append(file.name)
        return FileFacts("sha256v1:x", no_transaction=True, metadata=(("description", "d"),))

    entries, _ = merge(found, state(("001_a.sql", 1, "sha256v1:x")), facts)
    assert seen == ["001_a.sql"]
    assert (entries[0].state, entries[0].no_transaction, entries[0].metadata) == (
        "executed", True, (("description", "d"),))


def test_pending_files_are_read_for_their_header_only(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": "-- Description: a\n" + table("a")})
    read: list[tuple[str, bool]] = []

    def facts(file: directory.MigrationFile, *, header_only: bool = False) -> FileFacts:
        read.append((file.name, header_only))
        return read_facts(file, header_only=header_only)

    entries, _ = merge(found, state(), facts)
    assert read == [("001_a.sql", True)]
    assert (entries[0].state, entries[0].metadata) == ("pending", (("description", "a"),))


def test_read_facts_of_a_good_and_a_broken_file(tmp_path: Path) -> None:
    text = ("-- Description: t\n-- pgshift: no-transaction\n"
            "-- UP\nCREATE INDEX CONCURRENTLY i ON t (id);\n")
    found = folder(tmp_path, {"001_a.sql": text, "002_b.sql": "no markers at all\n"})
    good, broken = (read_facts(f) for f in found.files)
    assert good == FileFacts(checksum(text, "001_a.sql"), True, (("description", "t"),))
    assert broken.checksum is None and broken.problem
