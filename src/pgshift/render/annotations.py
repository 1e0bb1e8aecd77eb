"""Findings of the review commands as CI annotations: GitHub workflow commands and SARIF
2.1.0. Each report (lint findings, a check, a plan, a verify run) becomes a list of
:class:`Annotation`; :func:`github` and :func:`sarif` write them out. Nothing here
queries, exits or reads settings: file paths come in through a ``path`` function."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pgshift._version import __version__
from pgshift.analysis.lint.catalog import RULES_BY_ID

if TYPE_CHECKING:
    from pgshift.results import Finding
    from pgshift.review.plan import CheckReport, Plan
    from pgshift.review.verify import VerifyRun

Level = Literal["error", "warning", "note"]
PathOf = Callable[[str], str]

SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")
TOOL_URI = "https://pypi.org/project/pgshift/"
# GitHub's names for the three levels.
GITHUB_COMMANDS = {"error": "error", "warning": "warning", "note": "notice"}
# What the rules that are not lint rules report (SARIF's rule descriptions).
OTHER_RULES = {
    "duplicate-number": "Two migration files share a number.",
    "late": "A pending migration sorts before one that is already applied.",
    "modified": "An applied migration's file changed after it was applied.",
    "missing-file": "An applied migration's file is gone.",
    "partial": "A migration run outside a transaction stopped part-way.",
    "pending": "A migration is pending (check --no-pending).",
    "verify": "A DOWN section does not undo its UP, an UP cannot run again after its DOWN, "
              "or a repeatable's restore (its DOWN, then its UP) changes the schema.",
    "refused": "The command would refuse to run.",
    "warning": "A warning about the migrations directory or the recorded state.",
}


@dataclass(frozen=True)
class Annotation:
    """One message for CI: its ``level``, the ``rule`` (a lint rule id, a check problem
    kind, ``verify``, ``refused`` or ``warning``), a ``title``, the ``message`` and where it
    is (a path relative to the working directory, and a 1-based line), when known."""

    level: Level
    rule: str
    title: str
    message: str
    file: str | None = None
    line: int | None = None


# --- reports → annotations --------------------------------------------------------------


def from_findings(findings: Iterable[Finding], path: PathOf, command: str) -> list[Annotation]:
    """One annotation per lint finding, at its file and line."""
    return [Annotation(f.severity, f.rule, f"pgshift {command}: {f.rule}", f.message,
                       path(f.file), f.line) for f in findings]


def from_check(report: CheckReport, path: PathOf) -> list[Annotation]:
    """Every problem of the gate (an error) and every lint finding. Lint errors are
    annotated once, as findings (at their line)."""
    found = []
    for problem in report.problems:
        if problem.kind == "lint-error":
            continue
        line = re.match(rf"{re.escape(problem.name)}:(\d+):", problem.message)
        found.append(Annotation("error", problem.kind, f"pgshift check: {problem.kind}",
                                problem.message, path(problem.name),
                                int(line.group(1)) if line else None))
    found += from_findings(report.findings, path, "check")
    found += [Annotation("warning", "warning", "pgshift check: warning", w)
              for w in report.warnings]
    return found


def from_plan(plan: Plan, path: PathOf) -> list[Annotation]:
    """The lint findings of each planned migration, the warnings, and the refusal."""
    found = [a for m in plan.migrations for a in from_findings(m.findings, path, "plan")]
    found += [Annotation("warning", "warning", "pgshift plan: warning", w)
              for w in plan.warnings]
    if plan.refusal:
        found.append(Annotation("error", "refused", f"pgshift {plan.action} would refuse",
                                plan.refusal))
    return found


def from_verify(run: VerifyRun, path: PathOf) -> list[Annotation]:
    """One error per migration that failed verification, on its file."""
    return [Annotation("error", "verify", "pgshift verify", "; ".join(v.problems) or "failed",
                       path(v.name))
            for v in run.report.verdicts if not v.ok]


# --- GitHub workflow commands -----------------------------------------------------------


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (``file=…``, ``title=…``): also ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(annotations: Sequence[Annotation]) -> str:
    """``::error file=…,line=…,title=…::message`` lines, one per annotation."""
    lines = []
    for note in annotations:
        properties = []
        if note.file is not None:
            properties.append(f"file={escape_property(note.file)}")
            if note.line is not None:
                properties.append(f"line={note.line}")
        properties.append(f"title={escape_property(note.title)}")
        lines.append(f"::{GITHUB_COMMANDS[note.level]} {','.join(properties)}::"
                     f"{escape_data(note.message)}")
    return "\n".join(lines)


# --- SARIF 2.1.0 ------------------------------------------------------------------------


def sarif(annotations: Sequence[Annotation]) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of pgshift: its rules, and one result per
    annotation (with a location when the annotation has a file)."""
    rule_ids = sorted({a.rule for a in annotations})
    index = {rule: i for i, rule in enumerate(rule_ids)}
    results = []
    for note in annotations:
        result: dict[str, Any] = {"ruleId": note.rule, "ruleIndex": index[note.rule],
                                  "level": note.level, "message": {"text": note.message}}
        if note.file is not None:
            physical: dict[str, Any] = {"artifactLocation": _artifact(note.file)}
            if note.line is not None:
                physical["region"] = {"startLine": note.line}
            result["locations"] = [{"physicalLocation": physical}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pgshift", "version": __version__,
                                "informationUri": TOOL_URI,
                                "rules": [_rule(rule) for rule in rule_ids]}},
            "results": results,
        }],
    }


def _artifact(file: str) -> dict[str, str]:
    posix = PurePosixPath(file.replace("\\", "/"))
    if posix.is_absolute():
        return {"uri": "file://" + quote(str(posix))}
    return {"uri": quote(str(posix)), "uriBaseId": "%SRCROOT%"}


def _rule(rule_id: str) -> dict[str, Any]:
    lint = RULES_BY_ID.get(rule_id)
    if lint is None:
        return {"id": rule_id, "shortDescription": {"text": OTHER_RULES.get(rule_id, rule_id)}}
    return {
        "id": rule_id,
        "shortDescription": {"text": lint.summary},
        "fullDescription": {"text": lint.explanation},
        "help": {"text": f"{lint.explanation}\n\nSafe alternative:\n{lint.safe_alternative}"},
        "defaultConfiguration": {"level": lint.severity},
    }
