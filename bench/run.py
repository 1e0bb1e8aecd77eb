"""pgshift's benchmark: one command that measures pgshift against its floors and dbmate.

    python bench/run.py [--quick] [--database-url URL] [--sizes 200,1000] [--runs 5]
                        [--json out.json] [--only W1,W2]

Starts its own embedded PostgreSQL (or uses ``--database-url``), generates the workloads,
runs pgshift, the floor scripts and dbmate alternately run by run, prints a table of
medians, min-max and same-run ratios, and writes every figure as JSON. See bench/README.md.
Exit status: 0 when every run succeeded (tools that are not installed are skipped), 1 when
a run failed, 2 for bad arguments or a server that could not be started.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from harness.cases import FLEET, WORKLOADS, Plan, Workspace, build_cases
from harness.fleetload import FleetBench, FleetSize
from harness.lintload import FILES as LINT_FILES
from harness.measure import Sample
from harness.report import case_figures, table
from harness.runner import CaseRunner, Templates
from harness.server import Server, connect_url, start_embedded
from harness.tools import BENCH_DIR, Toolbox, find_tools

from pgshift.errors import PgshiftError

DEFAULT_JSON = BENCH_DIR / "results" / "latest.json"
QUICK_LINT_FILES = 40  # W9 with --quick (the full run lints 340 files)


@dataclass(frozen=True)
class Defaults:
    """Sizes and runs when not given on the command line."""

    sizes: tuple[int, ...]
    runs: int
    bulk_rows: int
    drift_files: int
    history_files: int
    fleet_schemas: int


FULL = Defaults(sizes=(200, 1000, 10000), runs=5, bulk_rows=100_000, drift_files=10_000,
                history_files=248, fleet_schemas=1000)
QUICK = Defaults(sizes=(20,), runs=1, bulk_rows=2_000, drift_files=200, history_files=30,
                 fleet_schemas=20)


def _csv(values: tuple[int, ...]) -> str:
    return ",".join(str(v) for v in values)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive integers: {text}")
    return values


def _workloads(text: str) -> frozenset[str]:
    chosen = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = chosen - WORKLOADS.keys()
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown workload(s) {', '.join(sorted(unknown)) or '(none)'};"
            f" choose from {','.join(WORKLOADS)}"
        )
    return chosen


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _size_options(parser: argparse.ArgumentParser) -> None:
    option = parser.add_argument
    option(
        "--sizes",
        type=_int_list,
        metavar="N,N",
        help=f"N of W1-W4 (default {_csv(FULL.sizes)}; quick {_csv(QUICK.sizes)})",
    )
    option(
        "--runs",
        type=_positive,
        metavar="R",
        help=f"runs per tool (default {FULL.runs}; quick {QUICK.runs})",
    )
    option(
        "--bulk-rows",
        type=_positive,
        metavar="ROWS",
        help=f"INSERTs in W6 (default {FULL.bulk_rows}; quick {QUICK.bulk_rows})",
    )
    option(
        "--drift-files",
        type=_positive,
        metavar="FILES",
        help=f"files in W7 (default {FULL.drift_files}; quick {QUICK.drift_files})",
    )
    option(
        "--history-files",
        type=_positive,
        metavar="FILES",
        help=f"files of W8's generated history (default {FULL.history_files};"
        f" quick {QUICK.history_files})",
    )
    option(
        "--fleet-schemas",
        type=_positive,
        metavar="S",
        help=f"tenant schemas of F1-F3, 10 migrations each (default {FULL.fleet_schemas};"
        f" quick {QUICK.fleet_schemas})",
    )
    option(
        "--dbmate-rollback-max",
        type=_positive,
        default=1000,
        metavar="N",
        help="largest N for which W4 runs `dbmate rollback` N times"
        " (one process per migration; default 1000)",
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line (see the module docstring); exits 2 on bad arguments."""
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=__doc__.split("\n\n")[0].strip()
    )
    option = parser.add_argument
    option(
        "--quick",
        action="store_true",
        help="tiny sizes, one run: N=20, W6 with 2000 rows, W7 with 200 files,"
        " W8 with 30 files",
    )
    option(
        "--database-url",
        metavar="URL",
        help="a postgresql:// URL whose user may create databases"
        " (default: start an embedded server in a temporary directory)",
    )
    _size_options(parser)
    option(
        "--only",
        type=_workloads,
        default=frozenset(WORKLOADS),
        metavar="W1,W2",
        help="run only these workloads (default: all)",
    )
    option(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help=f"where to write the figures (default {DEFAULT_JSON})",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    defaults = QUICK if args.quick else FULL
    return Plan(
        sizes=args.sizes or defaults.sizes,
        runs=args.runs or defaults.runs,
        bulk_rows=args.bulk_rows or defaults.bulk_rows,
        drift_files=args.drift_files or defaults.drift_files,
        history_files=args.history_files or defaults.history_files,
        dbmate_rollback_max=args.dbmate_rollback_max,
        only=args.only,
        lint_files=QUICK_LINT_FILES if args.quick else LINT_FILES,
        fleet_schemas=args.fleet_schemas or defaults.fleet_schemas,
    )


def _progress(workload: str, run: int, tool: str, sample: Sample) -> None:
    outcome = f"{sample.seconds:.3f} s" if sample.ok else f"FAILED (exit {sample.exit_code})"
    print(f"  run {run} {tool:<8} {outcome}", file=sys.stderr, flush=True)


def _announce(tools: Toolbox) -> None:
    for name, program in (
        ("pgshift", tools.pgshift),
        ("dbmate", tools.dbmate),
        ("psql", tools.psql),
        ("squawk", tools.squawk),
    ):
        if not program.available:
            print(f"{name}: skipped: {program.missing}", file=sys.stderr)
    if not tools.gnu_time:
        print("peak RSS: not measured (no /usr/bin/time; apt-get install time)", file=sys.stderr)


def benchmark(plan: Plan, server: Server, work: Path) -> tuple[list[dict[str, Any]], bool]:
    """Run every case of ``plan``; return the figures of each case and whether all runs
    succeeded."""
    tools = find_tools(work)
    _announce(tools)
    ws = Workspace(work / "migrations")
    runner = CaseRunner(server, Templates(server, tools, ws), tools, work / "cwd", _progress)
    runner.cwd.mkdir()
    everything_ok = True
    figures: list[dict[str, Any]] = []
    for case in build_cases(plan, tools, ws):
        size = "" if case.n is None else f" N={case.n}"
        print(f"{case.workload} {case.title}{size}", file=sys.stderr, flush=True)
        result = runner.run(case, plan.runs)
        for tool, failed in result.failures.items():
            everything_ok = False
            print(f"{tool} failed:\n{failed.error}", file=sys.stderr)
        figures.append(case_figures(result))
    if plan.only & FLEET and tools.pgshift.available:
        fleet_figures, fleet_ok = _fleet(plan, server, tools, work)
        figures += fleet_figures
        everything_ok = everything_ok and fleet_ok
    return figures, everything_ok


def _fleet(plan: Plan, server: Server, tools: Toolbox, work: Path) -> (
    tuple[list[dict[str, Any]], bool]
):
    """F1-F3 on the databases of many tenant schemas (see harness/fleetload.py)."""
    bench = FleetBench(server, tools, work / "fleet",
                       FleetSize(plan.fleet_schemas, plan.fleet_migrations), _progress)
    print(f"preparing {plan.fleet_schemas} tenant schemas", file=sys.stderr, flush=True)
    bench.prepare()
    figures: list[dict[str, Any]] = []
    ok = True
    for case, template in bench.cases():
        if case.workload not in plan.only:
            continue
        print(f"{case.workload} {case.title} N={case.n}", file=sys.stderr, flush=True)
        runs = min(plan.runs, 2) if case.workload == "F1" else plan.runs
        result = bench.run(case, template, runs)
        for tool, failed in result.failures.items():
            ok = False
            print(f"{tool} failed:\n{failed.error}", file=sys.stderr)
        figures.append(case_figures(result))
    return figures, ok


def _metadata(plan: Plan, server: Server, started: float) -> dict[str, Any]:
    from pgshift import __version__

    return {
        "pgshift_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "server": server.description,
        "server_settings": server.settings(),
        "runs": plan.runs,
        "sizes": list(plan.sizes),
        "bulk_rows": plan.bulk_rows,
        "drift_files": plan.drift_files,
        "history_files": plan.history_files,
        "fleet_schemas": plan.fleet_schemas,
        "workloads": sorted(plan.only),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
    }


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    # Unwinds like Ctrl-C, so the databases are dropped and an own server is stopped.
    raise SystemExit(128 + signum)


def compile_pgshift() -> None:
    """Write the bytecode of pgshift's modules, as pip does when it installs a wheel. An
    editable install imports them from the source tree, and with PYTHONDONTWRITEBYTECODE
    set (or a read-only checkout) every pgshift process would compile them again: a cost
    no installed pgshift pays. Files that are up to date are left alone."""
    import compileall

    import pgshift

    compileall.compile_dir(Path(pgshift.__file__).parent, quiet=1)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    compile_pgshift()
    plan = make_plan(args)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="pgshift-bench-") as tmp:
        work = Path(tmp)
        try:
            server = (
                connect_url(args.database_url)
                if args.database_url
                else start_embedded(work / "server")
            )
        except (RuntimeError, ValueError, psycopg.Error, PgshiftError) as error:
            print(f"could not get a PostgreSQL server: {error}", file=sys.stderr)
            return 2
        try:
            print(f"server: {server.description}", file=sys.stderr)
            figures, ok = benchmark(plan, server, work)
            document = {"meta": _metadata(plan, server, started), "cases": figures}
        except RuntimeError as error:
            print(f"benchmark stopped: {error}", file=sys.stderr)
            return 1
        finally:
            server.close()
    print(table(figures))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nfigures written to {args.json}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
