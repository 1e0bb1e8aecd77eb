"""Figures from the samples: medians, ranges, same-run ratios, targets; as a table and JSON."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.cases import TOOLS, Case
from harness.measure import Sample
from harness.runner import CaseResult

KIB_PER_MIB = 1024
RATIOS = (("pgshift", "floor"), ("pgshift", "dbmate"), ("pgshift", "squawk"),
          ("pgshift", "loop"))


@dataclass(frozen=True)
class Target:
    """A goal from the performance issue: ``metric`` is ``pgshift/floor`` (median of the
    same-run ratios), ``seconds`` (pgshift's median) or ``rss_mib`` (pgshift's largest
    peak RSS); met when the figure is at most ``limit``."""

    metric: str
    limit: float

    def describe(self) -> str:
        unit = {"pgshift/floor": "x floor", "pgshift/squawk": "x squawk", "seconds": " s",
                "rss_mib": " MiB", "pgshift/loop": "x loop"}[self.metric]
        return f"<= {self.limit:g}{unit}"


def targets_for(case: Case) -> list[Target]:
    """The issue's targets that apply to ``case`` (by workload and size)."""
    ratio = {"W1": 1.05, "W4": 1.1, "W5": 1.5, "W6": 1.2, "W8": 1.15}
    found: list[Target] = []
    if case.workload == "W1" and case.n in (1000, 10000):
        # One query per migration against the floor's four round trips; --atomic against
        # the floor's one transaction (two round trips per migration).
        limit = ratio["W1"] if case.variant == "atomic" else 0.95
        found.append(Target("pgshift/floor", limit))
        found.append(Target("rss_mib", 45.0 if case.n == 1000 else 80.0))
    elif case.workload in ("W2", "W3") and case.n == 1000:
        found.append(Target("pgshift/floor", 1.3))
    elif case.workload in ("W2", "W3") and case.n == 10000:
        found.append(Target("seconds", 0.5))
    elif case.workload == "W8" and case.n == 248:
        found.append(Target("pgshift/floor", ratio["W8"]))
    elif case.workload == "W9":
        found.append(Target("pgshift/squawk", 3.0))
    elif case.workload in ("F2", "F3") and case.n == 1000:
        found.append(Target("seconds", 2.0))
    elif case.workload in ("W4", "W5") or (case.workload == "W6" and case.n == 100_000):
        found.append(Target("pgshift/floor", ratio[case.workload]))
    return found


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def tool_figures(samples: list[Sample]) -> dict[str, Any]:
    """Times and peak RSS of one tool's successful runs (all runs when it failed)."""
    good = [s for s in samples if s.ok]
    figures: dict[str, Any] = {
        "runs": len(good),
        "seconds": [round(s.seconds, 6) for s in good],
        "cpu_seconds": [round(s.cpu_seconds, 6) for s in good],
        "peak_rss_kib": [s.peak_rss_kib for s in good],
    }
    if good:
        figures["time_s"] = _spread([s.seconds for s in good])
        figures["cpu_s"] = _spread([s.cpu_seconds for s in good])
        rss = [s.peak_rss_kib / KIB_PER_MIB for s in good if s.peak_rss_kib is not None]
        if rss:
            figures["peak_rss_mib"] = _spread(rss)
    failed = [s for s in samples if not s.ok]
    if failed:
        figures["failed"] = {"exit_code": failed[0].exit_code, "output": failed[0].error}
    return figures


def same_run_ratios(result: CaseResult, top: str, bottom: str, *, cpu: bool = False) -> (
    list[float]
):
    """``top`` ÷ ``bottom`` for every run in which both succeeded (of the wall-clock times,
    or with ``cpu`` of the CPU times)."""
    pairs = zip(result.samples.get(top, []), result.samples.get(bottom, []), strict=False)
    if cpu:
        return [a.cpu_seconds / b.cpu_seconds for a, b in pairs
                if a.ok and b.ok and b.cpu_seconds > 0]
    return [a.seconds / b.seconds for a, b in pairs if a.ok and b.ok and b.seconds > 0]


def _target_met(target: Target, figures: dict[str, Any]) -> bool | None:
    pgshift = figures["tools"].get("pgshift", {})
    if target.metric in ("pgshift/floor", "pgshift/squawk"):
        value = figures["ratios"].get(target.metric, {}).get("median")
    elif target.metric == "seconds":
        value = pgshift.get("time_s", {}).get("median")
    else:
        value = pgshift.get("peak_rss_mib", {}).get("max")
    return None if value is None else bool(value <= target.limit)


def case_figures(result: CaseResult) -> dict[str, Any]:
    """Everything known about one case, as a JSON-ready dict."""
    case = result.case
    figures: dict[str, Any] = {
        "workload": case.workload,
        "title": case.title,
        "variant": case.variant,
        "n": case.n,
        "commands": {c.tool: c.label for c in case.contenders},
        "tools": {tool: tool_figures(s) for tool, s in result.samples.items()},
        "skipped": dict(result.skipped),
        "ratios": {},
    }
    for top, bottom in RATIOS:
        values = same_run_ratios(result, top, bottom)
        if values:
            figures["ratios"][f"{top}/{bottom}"] = {"per_run": values, **_spread(values)}
    cpu = same_run_ratios(result, "pgshift", "floor", cpu=True)
    if cpu:
        figures["cpu_ratios"] = {"pgshift/floor": {"per_run": cpu, **_spread(cpu)}}
    figures["targets"] = [
        {"metric": t.metric, "limit": t.limit, "met": _target_met(t, figures)}
        for t in targets_for(case)
    ]
    return figures


def _cell_time(tool: dict[str, Any]) -> tuple[str, str, str, str]:
    t, rss, cpu = tool["time_s"], tool.get("peak_rss_mib"), tool.get("cpu_s")
    return (
        f"{t['median']:.3f} s",
        f"{t['min']:.3f}-{t['max']:.3f}",
        f"{cpu['median']:.3f} s" if cpu else "-",
        f"{rss['median']:.1f} MiB" if rss else "-",
    )


def _rows(figures: dict[str, Any]) -> Iterable[list[str]]:
    n = "" if figures["n"] is None else str(figures["n"])
    head = [figures["workload"], figures["title"], n]
    for tool in [t for t in TOOLS if t in figures["commands"]]:
        label = figures["commands"].get(tool, "-")
        data = figures["tools"].get(tool)
        if data is not None and "failed" in data:
            cells = ["FAILED", f"exit {data['failed']['exit_code']}", "", ""]
        elif data is not None and data["runs"]:
            cells = list(_cell_time(data))
        else:
            cells = ["skipped", "", "", ""]
        yield [*head, tool, label, *cells]
        head = ["", "", ""]
    yield ["", "", "", "", _ratio_line(figures), "", "", "", ""]


def _ratio_line(figures: dict[str, Any]) -> str:
    parts = []
    for name, ratio in figures["ratios"].items():
        parts.append(
            f"{name.replace('/', ' ÷ ')} {ratio['median']:.2f}"
            f" ({ratio['min']:.2f}-{ratio['max']:.2f})"
        )
    for name, ratio in figures.get("cpu_ratios", {}).items():
        parts.append(f"CPU {name.replace('/', ' ÷ ')} {ratio['median']:.2f}")
    for target in figures["targets"]:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[target["met"]]
        parts.append(
            f"target {target['metric']} "
            f"{Target(target['metric'], target['limit']).describe()}: {verdict}"
        )
    return "; ".join(parts) or "no ratio"


def table(cases: list[dict[str, Any]]) -> str:
    """A plain-text table: one line per tool, then a line of ratios and targets per case."""
    header = ["", "workload", "N", "tool", "command", "median", "min-max (s)", "CPU", "peak RSS"]
    rows = [row for figures in cases for row in _rows(figures)]
    tool_rows = [header, *(r for r in rows if r[3])]
    width = [max(len(r[i]) for r in tool_rows) for i in range(len(header))]
    indent = " " * (sum(width[:3]) + 6)
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, width, strict=True)).rstrip()]
    for row in rows:
        if row[3]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, width, strict=True)).rstrip())
        else:
            lines.append(indent + row[4])
    return "\n".join(lines)
