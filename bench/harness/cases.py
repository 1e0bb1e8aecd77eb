"""The workloads (W1-W9) as cases: for each size, what every tool runs and on which
state. The fleet workloads F1-F3 are run by :mod:`harness.fleetload`."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.files import MigrationSet, edit_one, write_bulk, write_trivial
from harness.history import FILES as HISTORY_FILES
from harness.history import write_history
from harness.lintload import FILES as LINT_FILES
from harness.lintload import write_lint_history
from harness.server import dbmate_url
from harness.tools import Toolbox

WORKLOADS = {
    "W1": "apply all",
    "W2": "status, all applied",
    "W3": "no-op migrate, all applied",
    "W4": "reset everything",
    "W5": "start-up",
    "W6": "one migration of single-row INSERTs",
    "W7": "status with one edited file",
    "W8": "apply a real-sized history",
    "W9": "lint a real-sized history",
    "F1": "fleet migrate, every schema behind",
    "F2": "no-op fleet migrate, every schema up to date",
    "F3": "fleet status, every schema up to date",
}
FLEET = frozenset({"F1", "F2", "F3"})
# "loop" is F1's shell loop of `pgshift migrate`, one process per schema
TOOLS = ("pgshift", "floor", "dbmate", "squawk", "loop")
# What a tool starts from in each run:
#   none            no database at all;
#   empty           a fresh database (from template0) per tool and run;
#   prepared        a fresh copy of the prepared template per tool and run;
#   prepared-shared one fresh copy per run, shared by the tools (read-only workloads).
STATES = ("none", "empty", "prepared", "prepared-shared")

CommandsFor = Callable[[str], list[list[str]]]


@dataclass(frozen=True)
class Contender:
    """One tool in one case: a label for the table and the commands it runs for a database
    URL (a loop of several commands is timed as a whole), or why it is skipped."""

    tool: str
    label: str
    commands: CommandsFor | None
    skip_reason: str = ""


@dataclass(frozen=True)
class Case:
    """One workload at one size, run by every contender in turn, run after run.

    ``prepared_n`` names the prepared template (the N trivial migrations applied by the
    floor) that ``prepared`` states copy.
    """

    workload: str
    n: int | None
    variant: str
    state: str
    contenders: tuple[Contender, ...]
    prepared_n: int | None = None

    @property
    def title(self) -> str:
        return WORKLOADS[self.workload] + (f" ({self.variant})" if self.variant else "")


@dataclass(frozen=True)
class Plan:
    """What to run: sizes of W1-W4, runs per tool, W6 rows, W7 files, W8 files, selected
    workloads."""

    sizes: tuple[int, ...]
    runs: int
    bulk_rows: int
    drift_files: int
    dbmate_rollback_max: int
    only: frozenset[str]
    history_files: int = HISTORY_FILES
    lint_files: int = LINT_FILES
    fleet_schemas: int = 1000
    fleet_migrations: int = 10


class Workspace:
    """The generated migration directories, written once each under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._trivial: dict[int, MigrationSet] = {}

    def trivial(self, n: int) -> MigrationSet:
        """The N trivial CREATE TABLE / DROP TABLE migrations."""
        if n not in self._trivial:
            self._trivial[n] = write_trivial(self.root / f"trivial_{n}", n)
        return self._trivial[n]

    def drifted(self, n: int) -> MigrationSet:
        """The N trivial migrations with the middle one's UP SQL edited."""
        migration_set = write_trivial(self.root / f"drifted_{n}", n)
        edit_one(migration_set)
        return migration_set

    def history(self, files: int) -> MigrationSet:
        """W8's generated history of ``files`` migrations."""
        return write_history(self.root / f"history_{files}", files)

    def lint_history(self, files: int) -> tuple[Path, int]:
        """W9's generated history of ``files`` migrations and its statement count."""
        directory = self.root / f"lint_{files}"
        return directory, write_lint_history(directory, files)

    def bulk(self, rows: int) -> tuple[MigrationSet, Path]:
        """W6's one migration, and its UP SQL alone for psql."""
        return write_bulk(self.root / f"bulk_{rows}", rows)


class _Builder:
    """Turns tool invocations into contenders, skipping tools that are not available."""

    def __init__(self, tools: Toolbox) -> None:
        self.tools = tools

    def pgshift(self, label: str, directory: Path | None, *args: str) -> Contender:
        program = self.tools.pgshift
        if not program.available:
            return Contender("pgshift", label, None, program.missing)

        def commands(url: str) -> list[list[str]]:
            where = ["--database-url", url, "--dir", str(directory)] if directory else []
            return [[program.path, *where, *args]]

        return Contender("pgshift", label, commands)

    def floor(self, label: str, script: str, directory: Path | None, *args: str) -> Contender:
        prefix = self.tools.floor(script)
        where = [str(directory)] if directory else []
        return Contender("floor", label, lambda url: [[*prefix, url, *where, *args]])

    def dbmate(self, label: str, directory: Path | None, *args: str, repeat: int = 1) -> Contender:
        program = self.tools.dbmate
        if not program.available:
            return Contender("dbmate", label, None, program.missing)

        def commands(url: str) -> list[list[str]]:
            where = (
                ["--url", dbmate_url(url), "--migrations-dir", str(directory), "--no-dump-schema"]
                if directory
                else []
            )
            return [[program.path, *where, *args]] * repeat

        return Contender("dbmate", label, commands)

    def command(self, tool: str, label: str, argv: list[str]) -> Contender:
        return Contender(tool, label, lambda _url: [argv])


def _case(
    workload: str, n: int | None, state: str, *contenders: Contender, variant: str = ""
) -> Case:
    prepared_n = n if state.startswith("prepared") else None
    return Case(workload, n, variant, state, contenders, prepared_n)


def _apply_all(b: _Builder, s: MigrationSet, n: int) -> list[Case]:
    plain = _case(
        "W1", n, "empty",
        b.pgshift("pgshift migrate", s.pgshift_dir, "migrate"),
        b.floor("floor_apply.py", "floor_apply.py", s.pgshift_dir),
        b.dbmate("dbmate migrate", s.dbmate_dir, "migrate"),
    )  # fmt: skip
    atomic: tuple[Contender, ...] = (
        b.pgshift("pgshift migrate --atomic", s.pgshift_dir, "migrate", "--atomic"),
        b.floor("floor_apply.py --atomic", "floor_apply.py", s.pgshift_dir, "--atomic"),
        Contender("dbmate", "-", None, "dbmate has no one-transaction mode"),
    )
    if not b.tools.pgshift_atomic:
        reason = "pgshift migrate has no --atomic"
        atomic = tuple(Contender(c.tool, c.label, None, c.skip_reason or reason) for c in atomic)
    return [plain, _case("W1", n, "empty", *atomic, variant="atomic")]


def _applied(b: _Builder, s: MigrationSet, n: int, plan: Plan) -> list[Case]:
    rollback = b.dbmate(f"dbmate rollback x{n}", s.dbmate_dir, "rollback", repeat=n)
    if n > plan.dbmate_rollback_max:
        limit = f"N > --dbmate-rollback-max {plan.dbmate_rollback_max}"
        rollback = Contender("dbmate", "-", None, limit)
    return [
        _case(
            "W2", n, "prepared-shared",
            b.pgshift("pgshift status", s.pgshift_dir, "status"),
            b.floor("floor_status.py", "floor_status.py", None),
            b.dbmate("dbmate status", s.dbmate_dir, "status"),
        ),
        _case(
            "W3", n, "prepared",
            b.pgshift("pgshift migrate", s.pgshift_dir, "migrate"),
            b.floor("floor_status.py", "floor_status.py", None),
            b.dbmate("dbmate migrate", s.dbmate_dir, "migrate"),
        ),
        _case(
            "W4", n, "prepared",
            b.pgshift("pgshift reset --yes", s.pgshift_dir, "reset", "--yes"),
            b.floor("floor_revert.py", "floor_revert.py", s.pgshift_dir),
            rollback,
        ),
    ]  # fmt: skip


def _startup(b: _Builder) -> list[Case]:
    import_click = [b.tools.python, "-c", "import click"]
    return [
        _case(
            "W5", None, "none",
            b.pgshift(f"pgshift {flag}", None, flag),
            b.command("floor", 'python -c "import click"', import_click),
            b.dbmate(f"dbmate {flag}", None, flag),
            variant=flag,
        )
        for flag in ("--help", "--version")
    ]  # fmt: skip


def _bulk(b: _Builder, ws: Workspace, rows: int) -> Case:
    s, up_only = ws.bulk(rows)
    psql = b.tools.psql
    floor = Contender("floor", "psql -1 -f", None, psql.missing)
    if psql.available:
        flags = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", str(up_only)]
        floor = Contender("floor", "psql -1 -f", lambda url: [[psql.path, *flags, "-d", url]])
    return _case(
        "W6", rows, "empty",
        b.pgshift("pgshift migrate", s.pgshift_dir, "migrate"),
        floor,
        b.dbmate("dbmate migrate", s.dbmate_dir, "migrate"),
    )  # fmt: skip


def _drift(b: _Builder, ws: Workspace, files: int) -> Case:
    s = ws.drifted(files)
    verify = ("--verify", str(s.pgshift_dir))
    return _case(
        "W7", files, "prepared-shared",
        b.pgshift("pgshift status", s.pgshift_dir, "status"),
        b.floor("floor_status.py --verify", "floor_status.py", None, *verify),
        b.dbmate("dbmate status", s.dbmate_dir, "status"),
    )  # fmt: skip


def _history(b: _Builder, ws: Workspace, files: int) -> Case:
    s = ws.history(files)
    return _case(
        "W8", files, "empty",
        b.pgshift("pgshift migrate", s.pgshift_dir, "migrate"),
        b.floor("floor_apply.py", "floor_apply.py", s.pgshift_dir),
        b.dbmate("dbmate migrate", s.dbmate_dir, "migrate"),
    )  # fmt: skip


def _lint(b: _Builder, ws: Workspace, files: int) -> Case:
    """W9: pgshift lint against squawk on the same files. Both exit 1 when they find
    something, which is the expected outcome here: 0 and 1 count as success."""
    directory, _statements = ws.lint_history(files)
    quoted = shlex.quote(str(directory))
    squawk = b.tools.squawk
    contender = Contender("squawk", "squawk DIR/*.sql", None, squawk.missing)
    if squawk.available:
        contender = b.command("squawk", "squawk DIR/*.sql", _found_ok(
            f"{shlex.quote(squawk.path)} {quoted}/*.sql > /dev/null"))
    pgshift = b.tools.pgshift
    mine = Contender("pgshift", "pgshift lint", None, pgshift.missing)
    if pgshift.available:
        mine = b.command("pgshift", "pgshift lint", _found_ok(
            f"{shlex.quote(pgshift.path)} --dir {quoted} lint > /dev/null"))
    return _case("W9", files, "none", mine, contender)


def _found_ok(command: str) -> list[str]:
    """``command`` in sh, exiting 0 when it exits 0 or 1 (findings)."""
    return ["sh", "-c", f"{command}; test $? -le 1"]


def build_cases(plan: Plan, tools: Toolbox, ws: Workspace) -> list[Case]:
    """Every selected case, in the order they run (cheap ones first, then by size)."""
    b = _Builder(tools)
    cases: list[Case] = []
    if "W5" in plan.only:
        cases.extend(_startup(b))
    for n in plan.sizes:
        if plan.only & {"W1", "W2", "W3", "W4"}:
            migration_set = ws.trivial(n)
            if "W1" in plan.only:
                cases.extend(_apply_all(b, migration_set, n))
            cases.extend(c for c in _applied(b, migration_set, n, plan) if c.workload in plan.only)
    if "W6" in plan.only:
        cases.append(_bulk(b, ws, plan.bulk_rows))
    if "W7" in plan.only:
        cases.append(_drift(b, ws, plan.drift_files))
    if "W8" in plan.only:
        cases.append(_history(b, ws, plan.history_files))
    if "W9" in plan.only:
        cases.append(_lint(b, ws, plan.lint_files))
    return cases
