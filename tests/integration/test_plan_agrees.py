"""A plan never disagrees with the run it predicts: for each state of the files and the
tracking table, ``plan --json`` (``rollback --dry-run --json``) is taken first, then the
command is run, and what the plan said — which migrations in which batch, or the refusal
and its exit code — is what the run did, as the tracking table shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from pgshift import Migrator
from pgshift.errors import MigrationFailed
from pgtest import Cli, Files, tracking_rows

A = "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n"
B = "-- UP\nCREATE TABLE b (id int);\n-- DOWN\nDROP TABLE b;\n"
C = "-- UP\nCREATE TABLE c (id int);\n-- DOWN\nDROP TABLE c;\n"
INDEX = "-- UP\nCREATE TABLE t (id int);\n"
CONCURRENT = ("-- UP\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"
              "-- DOWN\nDROP INDEX CONCURRENTLY t_id;\n")
BROKEN_SECOND = ("-- pgshift: no-transaction\n-- UP\nCREATE TABLE p (id int);\n"
                 "CREATE INDEX CONCURRENTLY p_x ON p (no_such_column);\n"
                 "-- DOWN\nDROP TABLE p;\n")
FIXED_SECOND = ("-- pgshift: no-transaction\n-- UP\nCREATE TABLE p (id int);\n"
                "CREATE INDEX CONCURRENTLY p_x ON p (id);\n-- DOWN\nDROP TABLE p;\n")


@dataclass(frozen=True)
class Case:
    """A state to reach (``setup(db_url, directory)``) and the command to predict."""

    files: dict[str, str]
    setup: Callable[[str, Path], None]
    command: tuple[str, ...] = ("migrate",)
    refuses: Literal["never", "always", "strict"] = "never"


def _nothing(url: str, directory: Path) -> None:
    """Nothing applied yet."""


def _apply_first(url: str, directory: Path) -> None:
    Migrator(url, directory).migrate(to="001_a.sql")


def _modify_first(url: str, directory: Path) -> None:
    _apply_first(url, directory)
    (directory / "001_a.sql").write_text(A.replace("id int", "id bigint"))


def _remove_first(url: str, directory: Path) -> None:
    _apply_first(url, directory)
    (directory / "001_a.sql").unlink()


def _partial(url: str, directory: Path) -> None:
    """003_p ran its first statement outside a transaction, then failed."""
    with pytest.raises(MigrationFailed):
        Migrator(url, directory).migrate()
    (directory / "003_p.sql").write_text(FIXED_SECOND)


def _partial_file_gone(url: str, directory: Path) -> None:
    with pytest.raises(MigrationFailed):
        Migrator(url, directory).migrate()
    (directory / "003_p.sql").unlink()


def _late_merge(url: str, directory: Path) -> None:
    """001 and 003 applied; 002 arrives afterwards (a late merge)."""
    (directory / "002_b.sql").rename(directory / "002_b.later")
    Migrator(url, directory).migrate()
    (directory / "002_b.later").rename(directory / "002_b.sql")


def _apply_all(url: str, directory: Path) -> None:
    Migrator(url, directory).migrate()


def _apply_all_then_drop_down(url: str, directory: Path) -> None:
    """Applied with a DOWN section (stored), then the file loses it."""
    _apply_all(url, directory)
    (directory / "002_b.sql").write_text("-- UP\nCREATE TABLE b (id int);\n")


def _apply_all_then_remove_file(url: str, directory: Path) -> None:
    _apply_all(url, directory)
    (directory / "002_b.sql").unlink()


MIGRATE_CASES = {
    "clean": Case({"001_a.sql": A, "002_b.sql": B}, _nothing),
    "nothing pending": Case({"001_a.sql": A}, _apply_first),
    "step": Case({"001_a.sql": A, "002_b.sql": B, "003_c.sql": C}, _nothing,
                 ("migrate", "--step", "2")),
    "drift": Case({"001_a.sql": A, "002_b.sql": B}, _modify_first, refuses="strict"),
    "drift, nothing pending": Case({"001_a.sql": A}, _modify_first, refuses="strict"),
    "missing file": Case({"001_a.sql": A, "002_b.sql": B}, _remove_first,
                         refuses="strict"),
    # --strict refuses these two on lint findings (mixed or concurrent statements)
    "partial run": Case({"001_a.sql": A, "002_b.sql": B, "003_p.sql": BROKEN_SECOND},
                        _partial, refuses="strict"),
    "partial run, file gone": Case(
        {"001_a.sql": A, "002_b.sql": B, "003_p.sql": BROKEN_SECOND}, _partial_file_gone,
        refuses="always"),
    "non-transactional": Case({"001_t.sql": INDEX, "002_i.sql": CONCURRENT}, _nothing,
                              refuses="strict"),
    "non-transactional under --atomic": Case(
        {"001_t.sql": INDEX, "002_i.sql": CONCURRENT}, _nothing, ("migrate", "--atomic"),
        "always"),
    "transactional under --atomic": Case(
        {"001_a.sql": A, "002_b.sql": B}, _nothing, ("migrate", "--atomic")),
    "late merge": Case({"001_a.sql": A, "002_b.sql": B, "003_c.sql": C}, _late_merge),
}

ROLLBACK_CASES = {
    "rollback": Case({"001_a.sql": A, "002_b.sql": B}, _apply_all, ("rollback",)),
    "missing DOWN": Case({"001_a.sql": A, "002_b.sql": "-- UP\nCREATE TABLE b (id int);\n"},
                         _apply_all, ("rollback",), "always"),
    "DOWN dropped from the file after it was applied": Case(
        {"001_a.sql": A, "002_b.sql": B}, _apply_all_then_drop_down, ("rollback",)),
    "file gone, stored DOWN": Case(
        {"001_a.sql": A, "002_b.sql": B}, _apply_all_then_remove_file, ("rollback",)),
    "non-transactional DOWN under --atomic": Case(
        {"001_t.sql": INDEX, "002_i.sql": CONCURRENT}, _apply_all, ("rollback", "--atomic"),
        "always"),
    "reset": Case({"001_a.sql": A, "002_b.sql": B}, _apply_all, ("reset", "--yes")),
}


def _run(cli: Cli, url: str, directory: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("--database-url", url, "--dir", str(directory), "--json", *args)
    document: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, document


def _by_batch(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {row["name"]: row["batch"] for row in rows}


def _agree(cli: Cli, url: str, directory: Path, command: tuple[str, ...]) -> bool:
    """Plan, then run; assert they agree; return whether both refused."""
    verb, *flags = command
    # ``plan`` is ``migrate --dry-run``; it has no --atomic of its own
    planner = ("plan",) if verb == "migrate" and "--atomic" not in flags else (verb, "--dry-run")
    dry_run = (*planner, *flags)
    before = tracking_rows(url)

    plan_code, plan = _run(cli, url, directory, *dry_run)
    assert tracking_rows(url) == before
    run_code, ran = _run(cli, url, directory, *command)
    after = tracking_rows(url)

    if plan["refusal"] is not None:
        assert (plan_code, run_code) == (1, 1), (plan, ran)
        assert ran["error"] == "StateError"
        reason = plan["refusal"].rsplit("; ", 1)[0]
        assert ran["message"].rsplit("; ", 1)[0] == reason
        assert after == before
        return True
    assert (plan_code, run_code) == (0, 0), (plan, ran)
    predicted = [m["name"] for m in plan["migrations"]]
    if verb == "migrate":
        assert [m["name"] for m in ran["applied"]] == predicted
        new = {name: batch for name, batch in _by_batch(after).items()
               if name not in _by_batch(before)}
        assert list(new) == predicted
        assert set(new.values()) <= {plan["batch"]}
        assert ran["batch"] == plan["batch"]
    else:
        assert [m["name"] for m in ran["rolled_back"]] == predicted
        gone = [name for name in _by_batch(before) if name not in _by_batch(after)]
        assert sorted(gone) == sorted(predicted)
        assert set(_by_batch(after)) == set(_by_batch(before)) - set(predicted)
    assert all(m["section"] == ("up" if verb == "migrate" else "down")
               for m in plan["migrations"])
    return False


@pytest.mark.parametrize("strict", [False, True], ids=["", "--strict"])
@pytest.mark.parametrize("name", list(MIGRATE_CASES))
def test_plan_predicts_migrate(cli: Cli, db_url: str, migrations: Files, name: str,
                               strict: bool) -> None:
    case = MIGRATE_CASES[name]
    directory = migrations(case.files)
    case.setup(db_url, directory)

    refused = _agree(cli, db_url, directory, (*case.command, *(("--strict",) if strict else ())))

    assert refused == (case.refuses == "always" or (case.refuses == "strict" and strict))


@pytest.mark.parametrize("name", list(ROLLBACK_CASES))
def test_dry_run_predicts_rollback(cli: Cli, db_url: str, migrations: Files,
                                   name: str) -> None:
    case = ROLLBACK_CASES[name]
    directory = migrations(case.files)
    case.setup(db_url, directory)

    refused = _agree(cli, db_url, directory, case.command)

    assert refused == (case.refuses == "always")
