"""Unit tests for pgshift.review.numbering: which files renumber moves, and where. Pure."""

from __future__ import annotations

from pathlib import Path

from pgshift.files.directory import Discovery, MigrationFile
from pgshift.review.numbering import plan_renames


def discovery(*names: str) -> Discovery:
    files = [MigrationFile(n, int(n.split("_", 1)[0]), "/m") for n in names]
    return Discovery(Path("/m"), tuple(sorted(files, key=lambda f: f.sort_key)), ())


def moves(*names: str, keep: tuple[str, ...] = (), offline: bool = False) -> list[tuple[str, str]]:
    plan = plan_renames(discovery(*names), set(keep), offline=offline)
    assert plan.refusal is None, plan.refusal
    return [(r.old, r.new) for r in plan.renames]


def test_nothing_moves_when_numbers_are_unique_and_nothing_is_late() -> None:
    assert moves("001_a.sql", "002_b.sql", keep=("001_a.sql",)) == []


def test_a_branch_sharing_the_applied_number_moves_whole_and_in_order() -> None:
    assert moves("001_a.sql", "002_b.sql", "002_c.sql", "003_d.sql",
                 keep=("001_a.sql", "002_b.sql")) == [
        ("002_c.sql", "003_c.sql"), ("003_d.sql", "004_d.sql")]


def test_a_late_file_moves_with_every_pending_file_after_it() -> None:
    assert moves("001_a.sql", "002_late.sql", "003_c.sql", "004_new.sql",
                 keep=("001_a.sql", "003_c.sql")) == [
        ("002_late.sql", "004_late.sql"), ("004_new.sql", "005_new.sql")]


def test_pending_files_before_the_first_that_moves_stay() -> None:
    assert moves("001_a.sql", "002_x.sql", "003_y.sql", "003_z.sql",
                 keep=("001_a.sql",)) == [("003_z.sql", "004_z.sql")]


def test_a_file_already_at_its_new_number_keeps_its_name() -> None:
    assert moves("001_a.sql", "002_b.sql", "002_c.sql", "004_d.sql",
                 keep=("001_a.sql", "002_b.sql")) == [("002_c.sql", "003_c.sql")]


def test_the_number_width_of_the_directory_is_kept() -> None:
    assert moves("0001_a.sql", "0002_b.sql", "0002_c.sql", keep=("0001_a.sql", "0002_b.sql")
                 ) == [("0002_c.sql", "0003_c.sql")]


def test_offline_the_first_file_by_name_keeps_the_shared_number() -> None:
    assert moves("001_a.sql", "002_b.sql", "002_c.sql", offline=True) == [
        ("002_c.sql", "003_c.sql")]


def test_offline_a_move_past_another_file_is_refused() -> None:
    plan = plan_renames(discovery("001_a.sql", "002_b.sql", "002_c.sql", "003_d.sql"), set(),
                        offline=True)
    assert plan.renames == ()
    assert plan.refusal is not None
    assert "moving 002_c.sql after the other files would change its order with 003_d.sql" in (
        plan.refusal)
