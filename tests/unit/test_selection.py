"""Unit tests for pgshift.engine.selection: which migrations ``migrate`` applies
(``--step``, ``--to``) and which rows a rollback undoes (``--step``, ``--batch``,
``--to``, reset). Pure, no database: files and rows are built here."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from pgshift.db.store import AppliedRow
from pgshift.engine.selection import (
    BASELINE_BATCH,
    newest_first,
    pending_to_apply,
    rows_to_revert,
)
from pgshift.errors import StateError, UsageRefused
from pgshift.files.directory import MigrationFile

WHEN = datetime(2026, 1, 2, tzinfo=timezone.utc)


def files(*names: str) -> list[MigrationFile]:
    return [MigrationFile(name, int(name.split("_")[0]), "migrations") for name in names]


def rows(*pairs: tuple[str, int]) -> list[AppliedRow]:
    """Tracking rows with ids in the given order: (name, batch)."""
    return [AppliedRow(i, name, batch, WHEN, None, None)
            for i, (name, batch) in enumerate(pairs, start=1)]


def names(chosen: list[MigrationFile] | list[AppliedRow]) -> list[str]:
    return [item.name for item in chosen]


PENDING = files("003_c.sql", "004_d.sql", "005_e.sql")
APPLIED = rows(("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 2), ("004_d.sql", 3),
               ("005_e.sql", 3))

# --- pending_to_apply ---------------------------------------------------------------------


def test_all_pending_files_by_default() -> None:
    assert pending_to_apply(PENDING) == PENDING


def test_step_takes_the_next_n() -> None:
    assert names(pending_to_apply(PENDING, step=2)) == ["003_c.sql", "004_d.sql"]
    assert pending_to_apply(PENDING, step=10) == PENDING


def test_to_includes_the_named_file() -> None:
    assert names(pending_to_apply(PENDING, to="004_d.sql")) == ["003_c.sql", "004_d.sql"]


def test_to_and_step_together_take_the_shorter() -> None:
    assert names(pending_to_apply(PENDING, to="005_e.sql", step=1)) == ["003_c.sql"]


def test_nothing_pending_is_an_empty_choice() -> None:
    assert pending_to_apply([]) == []
    assert pending_to_apply([], step=3) == []


@pytest.mark.parametrize("step", [0, -1])
def test_a_step_below_one_is_refused(step: int) -> None:
    with pytest.raises(UsageRefused, match="--step must be at least 1"):
        pending_to_apply(PENDING, step=step)


def test_to_an_applied_migration_says_so() -> None:
    with pytest.raises(UsageRefused, match=r"--to 001_a\.sql: is already applied"):
        pending_to_apply(PENDING, to="001_a.sql", applied=["001_a.sql"])


def test_to_an_unknown_migration_names_a_pending_one_in_the_hint() -> None:
    with pytest.raises(UsageRefused, match="is not a pending migration") as caught:
        pending_to_apply(PENDING, to="009_x.sql")
    assert "005_e.sql" in (caught.value.hint or "")


# --- rows_to_revert -----------------------------------------------------------------------


def test_newest_first_orders_by_batch_then_id() -> None:
    mixed = rows(("001_a.sql", 2), ("002_b.sql", 1), ("003_c.sql", 2))
    assert names(newest_first(mixed)) == ["003_c.sql", "001_a.sql", "002_b.sql"]


def test_the_last_batch_by_default_newest_first() -> None:
    assert names(rows_to_revert(APPLIED)) == ["005_e.sql", "004_d.sql"]


def test_step_crosses_batches() -> None:
    assert names(rows_to_revert(APPLIED, step=3)) == ["005_e.sql", "004_d.sql", "003_c.sql"]


def test_batch_must_be_the_latest() -> None:
    assert names(rows_to_revert(APPLIED, batch=3)) == ["005_e.sql", "004_d.sql"]
    with pytest.raises(StateError, match=r"only the latest batch \(3\)"):
        rows_to_revert(APPLIED, batch=2)


def test_to_keeps_the_named_migration_applied() -> None:
    assert names(rows_to_revert(APPLIED, to="003_c.sql")) == ["005_e.sql", "004_d.sql"]
    assert rows_to_revert(APPLIED, to="005_e.sql") == []


def test_to_an_unapplied_migration_is_refused() -> None:
    with pytest.raises(UsageRefused, match=r"--to 009_x\.sql: is not an applied migration"):
        rows_to_revert(APPLIED, to="009_x.sql")


def test_everything_is_every_batch_newest_first() -> None:
    assert names(rows_to_revert(APPLIED, everything=True)) == [
        "005_e.sql", "004_d.sql", "003_c.sql", "002_b.sql", "001_a.sql"]


@pytest.mark.parametrize("options", [{"step": 1, "batch": 3}, {"step": 1, "to": "001_a.sql"},
                                     {"batch": 3, "to": "001_a.sql"}])
def test_step_batch_and_to_cannot_be_combined(options: dict[str, Any]) -> None:
    with pytest.raises(UsageRefused, match="cannot be combined"):
        rows_to_revert(APPLIED, **options)


def test_a_step_below_one_is_refused_for_rollback() -> None:
    with pytest.raises(UsageRefused, match="--step must be at least 1"):
        rows_to_revert(APPLIED, step=0)


def test_baseline_rows_are_never_reverted() -> None:
    with_baseline = rows(("001_a.sql", BASELINE_BATCH), ("002_b.sql", BASELINE_BATCH),
                         ("003_c.sql", 1))
    assert names(rows_to_revert(with_baseline)) == ["003_c.sql"]
    assert names(rows_to_revert(with_baseline, everything=True)) == ["003_c.sql"]
    assert names(rows_to_revert(with_baseline, step=5)) == ["003_c.sql"]
    only_baseline = rows(("001_a.sql", BASELINE_BATCH))
    assert rows_to_revert(only_baseline) == []
    assert rows_to_revert(only_baseline, to="001_a.sql") == []


def test_nothing_applied_is_an_empty_choice() -> None:
    assert rows_to_revert([]) == []
    assert rows_to_revert([], everything=True) == []
