"""Markdown summaries of the review commands, for a pull request comment or a GitHub job
summary (``$GITHUB_STEP_SUMMARY``): a heading with the verdict, the counts, and tables.
Nothing here queries, exits or reads settings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgshift.render.review import (
    SEVERITIES,
    headline,
    lint_summary,
    lock_text,
    mode_text,
)

if TYPE_CHECKING:
    from pgshift.results import Finding
    from pgshift.review.plan import CheckReport, Plan
    from pgshift.review.verify import VerifyRun

PASSED = "✅ passed"
FAILED = "❌ failed"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no HTML, no column breaks, no line breaks."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def code(text: str) -> str:
    """Inline code that survives backticks in ``text``."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{cell(text)}{pad}{fence}"


def findings_table(findings: Sequence[Finding]) -> list[str]:
    """A table of findings, errors first."""
    if not findings:
        return []
    order = {severity: i for i, severity in enumerate(SEVERITIES)}
    rows = ["| severity | file | line | rule | message |", "| --- | --- | --- | --- | --- |"]
    for f in sorted(findings, key=lambda f: (order.get(f.severity, 9), f.file, f.line)):
        rows.append(f"| {f.severity} | {code(f.file)} | {f.line} | {code(f.rule)} "
                    f"| {cell(f.message)} |")
    return rows


def lint(files: int, findings: Sequence[Finding]) -> str:
    errors = any(f.severity == "error" for f in findings)
    lines = [f"### pgshift lint: {FAILED if errors else PASSED}", "",
             lint_summary(files, findings)]
    table = findings_table(findings)
    lines += ["", *table] if table else ["", "No findings."]
    return "\n".join(lines) + "\n"


def check(report: CheckReport) -> str:
    if report.offline:
        scope = (f"{_plural(report.files, 'migration file')} (offline: the tracking table "
                 "was not read)")
    else:
        scope = (f"{_plural(report.files, 'migration file')}, {report.applied} applied, "
                 f"{len(report.pending or ())} pending")
    lines = [f"### pgshift check: {PASSED if report.ok else FAILED}", "", scope]
    problems = [p for p in report.problems if p.kind != "lint-error"]
    if problems:
        lines += ["", "| problem | migration | message |", "| --- | --- | --- |"]
        lines += [f"| {code(p.kind)} | {code(p.name)} | {cell(p.message)} |" for p in problems]
    table = findings_table(report.findings)
    if table:
        lines += ["", "#### Lint findings", "", *table]
    if report.warnings:
        lines += ["", "#### Warnings", "", *(f"- {cell(w)}" for w in report.warnings)]
    return "\n".join(lines) + "\n"


def plan(plan: Plan) -> str:
    verdict = "❌ would refuse" if plan.refusal else "would run"
    lines = [f"### pgshift plan: {plan.action} {verdict}", "", cell(headline(plan))]
    if plan.refusal:
        lines += ["", f"> **refused:** {cell(plan.refusal)}"]
    if plan.migrations:
        lines += ["", "| migration | mode | statements | strongest lock | findings |",
                  "| --- | --- | --- | --- | --- |"]
        for m in plan.migrations:
            locks = [lock for s in m.statements for lock in s.locks]
            strongest = lock_text(locks[0]) if locks else "none on existing tables"
            counts = ", ".join(f"{sum(1 for f in m.findings if f.severity == s)} {s}"
                               for s in SEVERITIES if any(f.severity == s for f in m.findings))
            lines.append(f"| {code(m.name)} | {cell(mode_text(m))} | {len(m.statements)} "
                         f"| {cell(strongest)} | {counts or 'none'} |")
        for m in plan.migrations:
            if not m.statements:
                continue
            count = f"{len(m.statements)} statement{'' if len(m.statements) == 1 else 's'}"
            lines += ["", f"<details><summary>{cell(m.name)}: {count}</summary>", "",
                      *_sql_block([s.sql for s in m.statements]),
                      "", "</details>"]
    findings = [f for m in plan.migrations for f in m.findings]
    table = findings_table(findings)
    if table:
        lines += ["", "#### Lint findings", "", *table]
    if plan.warnings:
        lines += ["", "#### Warnings", "", *(f"- {cell(w)}" for w in plan.warnings)]
    return "\n".join(lines) + "\n"


def verify(run: VerifyRun) -> str:
    verdicts = run.report.verdicts
    bad = sum(1 for v in verdicts if not v.ok)
    lines = [f"### pgshift verify: {PASSED if run.ok else FAILED}", "",
             f"{_plural(len(verdicts), 'migration')} verified in {run.report.seconds:.2f} s "
             f"on a scratch database: {len(verdicts) - bad} ok, {bad} with problems"]
    if run.applied_first:
        lines += ["", "Applied first, not verified: "
                  + ", ".join(code(n) for n in run.applied_first)]
    if verdicts:
        lines += ["", "| migration | result | time | problems |", "| --- | --- | --- | --- |"]
        lines += [f"| {code(v.name)} | {'ok' if v.ok else 'FAIL'} | {v.seconds:.2f} s "
                  f"| {cell('; '.join(v.problems))} |" for v in verdicts]
    return "\n".join(lines) + "\n"


def _sql_block(statements: Sequence[str]) -> list[str]:
    """A fenced SQL block, its fence longer than any run of backticks inside."""
    text = "\n\n".join(s.rstrip().rstrip(";") + ";" for s in statements)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}sql", text, fence]
