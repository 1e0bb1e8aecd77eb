"""Unit tests for the pure decisions of pgshift.engine.policy about pending files: what is
pending, whether migrate has nothing to do, the next batch number, and the warnings for
files merged late. No database: files are written to a temporary directory, table
states are built here."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pgshift.db.store import AppliedRow, Progress, TableState
from pgshift.engine import policy
from pgshift.files import directory

WHEN = datetime(2026, 1, 2, tzinfo=timezone.utc)


def table(name: str) -> str:
    return f"-- UP\nCREATE TABLE {name} (id int);\n-- DOWN\nDROP TABLE {name};\n"


def folder(tmp_path: Path, files: dict[str, str]) -> directory.Discovery:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return directory.discover(tmp_path)


def state(*rows: tuple[str, int, str | None], partial: tuple[Progress, ...] = ()) -> TableState:
    """A tracking table holding (name, batch, checksum) rows, ids in order."""
    return TableState(True, False, tuple(
        AppliedRow(i, name, batch, WHEN, sum_, 12) for i, (name, batch, sum_) in
        enumerate(rows, start=1)), partial)


def test_pending_is_every_unrecorded_file_in_order(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": table("a"), "002_b.sql": table("b"),
                              "003_c.sql": table("c")})
    recorded = state(("002_b.sql", 1, None), ("009_gone.sql", 1, None))
    assert [f.name for f in policy.pending(found, recorded)] == ["001_a.sql", "003_c.sql"]
    assert policy.recorded(recorded) == {"002_b.sql", "009_gone.sql"}


def test_up_to_date_needs_every_file_recorded_and_nothing_partial(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": table("a")})
    assert policy.up_to_date(found, state(("001_a.sql", 1, None)))
    assert not policy.up_to_date(found, state())
    partial = Progress("001_a.sql", total=2, applied=1)
    assert not policy.up_to_date(found, state(partial=(partial,)))


def test_the_next_batch_follows_the_highest_and_baseline_counts_as_zero() -> None:
    assert policy.next_batch(state()) == 1
    assert policy.next_batch(state(("001_a.sql", 0, None))) == 1
    assert policy.next_batch(state(("001_a.sql", 1, None), ("002_b.sql", 3, None))) == 4


def test_late_warnings_names_files_sorting_before_the_latest_applied(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": table("a"), "002_b.sql": table("b"),
                              "003_c.sql": table("c"), "004_d.sql": table("d")})
    applied = state(("001_a.sql", 1, None), ("003_c.sql", 1, None))
    pending = [f for f in found.files if f.name in ("002_b.sql", "004_d.sql")]
    assert policy.late_warnings(found, applied, pending) == [
        "002_b.sql is pending but sorts before 003_c.sql, which is already applied "
        "(merged late?); it will be applied now"]


def test_late_warnings_is_quiet_without_applied_or_pending(tmp_path: Path) -> None:
    found = folder(tmp_path, {"001_a.sql": table("a")})
    assert policy.late_warnings(found, state(), list(found.files)) == []
    assert policy.late_warnings(found, state(("001_a.sql", 1, None)), []) == []
    # an applied row whose file is gone does not count as the latest
    assert policy.late_warnings(found, state(("009_z.sql", 1, None)), list(found.files)) == []
