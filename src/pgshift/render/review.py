"""Text and JSON for the review commands: plans, lint findings, check, verify, renumber,
dump. Nothing here queries, exits or reads settings; JSON goes through
:func:`pgshift.render.results.to_json` (which masks passwords)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pgshift.render.results import plural

if TYPE_CHECKING:
    from pgshift.analysis.locks.statement import Lock
    from pgshift.results import Finding
    from pgshift.review.dump import DumpResult
    from pgshift.review.plan import CheckReport, Plan, PlannedMigration, PlannedStatement
    from pgshift.review.renumber import Rename
    from pgshift.review.verify import VerifyRun

# Statement lines shown per statement in text plans (all with verbose).
SHOWN_SQL_LINES = 6
SEVERITIES = ("error", "warning", "note")
# What each lock mode keeps other sessions from doing, in a few words.
BLOCKS = {
    "ACCESS SHARE": "blocks only ACCESS EXCLUSIVE",
    "ROW SHARE": "blocks EXCLUSIVE and ACCESS EXCLUSIVE",
    "ROW EXCLUSIVE": "blocks SHARE and stronger (CREATE INDEX, most DDL); reads and writes "
                     "go on",
    "SHARE UPDATE EXCLUSIVE": "blocks DDL, VACUUM and other SHARE UPDATE EXCLUSIVE; reads "
                              "and writes go on",
    "SHARE": "blocks writes; reads go on",
    "SHARE ROW EXCLUSIVE": "blocks writes; reads go on",
    "EXCLUSIVE": "blocks writes and SELECT … FOR UPDATE; plain reads go on",
    "ACCESS EXCLUSIVE": "blocks reads and writes",
}


# --- plans ------------------------------------------------------------------------------


def plan_text(plan: Plan, *, verbose: bool = False) -> str:
    """The plan for people: a headline, then each migration with its mode, statements,
    locks and lint findings; the refusal, if any, last."""
    lines = [headline(plan)]
    if plan.hooks and plan.migrations:
        lines += ["", "Hooks:"]
        lines += [f"  {h.file}: {h.runs} ({plural(h.statements, 'statement')})"
                  for h in plan.hooks]
    for migration in plan.migrations:
        lines += ["", *_migration_lines(migration, verbose=verbose)]
    if plan.refusal:
        lines += ["", f"refused: {plan.refusal}"]
    return "\n".join(lines)


def headline(plan: Plan) -> str:
    where = f"{plan.target}, table {plan.table}" if plan.target else f"table {plan.table}"
    count = plural(len(plan.migrations), "migration")
    if not plan.migrations:
        nothing = "Nothing to migrate" if plan.action == "migrate" else "Nothing to roll back"
        return f"{nothing} ({where}). Dry run: nothing was changed."
    if plan.action == "migrate":
        what = f"migrate would apply {count} as batch {plan.batch}"
    else:
        batches = sorted({m.batch for m in plan.migrations if m.batch is not None}, reverse=True)
        what = (f"{plan.action} would roll back {count} (batch"
                f"{'es' if len(batches) > 1 else ''} {', '.join(map(str, batches))}), newest first")
    atomic = "; all in one transaction (--atomic)" if plan.atomic else ""
    return f"{what} ({where}){atomic}. Dry run: nothing was changed."


def mode_text(migration: PlannedMigration) -> str:
    """``in a transaction`` or ``outside a transaction (reasons), statement by statement``."""
    if not migration.no_transaction:
        return "in a transaction"
    reasons = ", ".join(migration.reasons) or "no-transaction"
    return f"outside a transaction ({reasons}), statement by statement"


def _migration_lines(migration: PlannedMigration, *, verbose: bool) -> list[str]:
    title = migration.name
    if migration.section == "down":
        if migration.problem is not None:
            return [f"{title} (batch {migration.batch}): its DOWN section cannot run: "
                    f"{migration.problem}"]
        if not migration.statements:
            return [f"{title} (batch {migration.batch}) has no DOWN section: it cannot be "
                    "rolled back"]
        source = "DOWN from the file" if migration.source == "file" else (
            "DOWN stored in the tracking table (file missing)")
        title += f" (batch {migration.batch}): {source},"
    lines = [f"{title} {mode_text(migration)}"]
    if migration.resume_at:
        lines.append(f"  resumes at statement {migration.resume_at} (an earlier run stopped "
                     "part-way)")
    for statement in migration.statements:
        lines += _statement_lines(statement, verbose=verbose)
    if migration.findings:
        lines.append("  lint:")
        lines += [f"    {finding_line(f)}" for f in migration.findings
                  if verbose or f.severity != "note"]
        notes = sum(1 for f in migration.findings if f.severity == "note")
        if notes and not verbose:
            lines.append(f"    ({plural(notes, 'note')} not shown; --verbose shows them)")
    return lines


def _statement_lines(statement: PlannedStatement, *, verbose: bool) -> list[str]:
    sql_lines = statement.sql.splitlines() or [""]
    shown = sql_lines if verbose else sql_lines[:SHOWN_SQL_LINES]
    lines = [f"  line {statement.line}: {shown[0]}", *(f"      {s}" for s in shown[1:])]
    if len(shown) < len(sql_lines):
        lines.append(f"      … ({plural(len(sql_lines) - len(shown), 'more line')})")
    if statement.outside_transaction:
        lines.append(f"    cannot run in a transaction: {statement.outside_transaction}")
    if not statement.locks:
        lines.append("    locks: none on existing tables")
    lines += [f"    locks: {lock_text(lock)}" for lock in statement.locks]
    lines += [f"    note: {note}" for note in statement.notes]
    return lines


def lock_text(lock: Lock) -> str:
    """``ACCESS EXCLUSIVE on users (ADD COLUMN): blocks reads and writes``."""
    target = lock.relation if lock.kind == "table" else f"{lock.kind} {lock.relation}"
    reason = f" ({lock.reason})" if lock.reason else ""
    return f"{lock.mode} on {target}{reason}: {BLOCKS[lock.mode]}"


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as one JSON object; ``dry_run`` is always true."""
    return {
        "action": plan.action, "dry_run": True, "ok": plan.refusal is None,
        "batch": plan.batch, "atomic": plan.atomic, "target": plan.target,
        "table": plan.table, "refusal": plan.refusal, "warnings": list(plan.warnings),
        "migrations": [_migration_json(m) for m in plan.migrations],
        "hooks": [{"file": h.file, "runs": h.runs, "statements": h.statements}
                  for h in plan.hooks],
    }


def _migration_json(migration: PlannedMigration) -> dict[str, Any]:
    return {
        "name": migration.name, "section": migration.section, "batch": migration.batch,
        "mode": "no-transaction" if migration.no_transaction else "transaction",
        "reasons": list(migration.reasons), "source": migration.source,
        "resume_at": migration.resume_at, "problem": migration.problem,
        "statements": [{
            "number": s.number, "line": s.line, "sql": s.sql,
            "outside_transaction": s.outside_transaction, "notes": list(s.notes),
            "locks": [{**asdict(lock), "blocks": BLOCKS[lock.mode]} for lock in s.locks],
        } for s in migration.statements],
        "findings": [asdict(f) for f in migration.findings],
    }


# --- lint -------------------------------------------------------------------------------


def finding_line(finding: Finding) -> str:
    """``file:line: severity rule-id: message``."""
    return f"{finding.file}:{finding.line}: {finding.severity} {finding.rule}: {finding.message}"


def lint_lines(findings: Sequence[Finding], *, verbose: bool = False) -> list[str]:
    """One line per error and warning; a file's notes each on a line with ``verbose``,
    else folded into one line after the file's other findings."""
    if verbose:
        return [finding_line(f) for f in findings]
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.file, []).append(finding)
    lines: list[str] = []
    for file, found in by_file.items():
        lines += [finding_line(f) for f in found if f.severity != "note"]
        rules = Counter(f.rule for f in found if f.severity == "note")
        if rules:
            listed = ", ".join(f"{rule} x{count}" if count > 1 else rule
                               for rule, count in rules.most_common())
            lines.append(f"{file}: {plural(rules.total(), 'note')} ({listed}); "
                         "--verbose lists them")
    return lines


def severity_counts(findings: Sequence[Finding]) -> dict[str, int]:
    found = Counter(str(f.severity) for f in findings)
    return {severity: found.get(severity, 0) for severity in SEVERITIES}


def lint_summary(files: int, findings: Sequence[Finding]) -> str:
    counts = severity_counts(findings)
    parts = ", ".join(plural(counts[s], s) for s in SEVERITIES)
    return f"{plural(files, 'file')} linted: {parts}"


def lint_json(files: Sequence[str], findings: Sequence[Finding]) -> dict[str, Any]:
    counts = severity_counts(findings)
    return {"ok": counts["error"] == 0, "files": list(files), "summary": counts,
            "findings": [asdict(f) for f in findings]}


# --- check ------------------------------------------------------------------------------


def check_text(report: CheckReport, *, verbose: bool = False) -> str:
    """Problems first (each fails the gate), then lint warnings, then the verdict."""
    if report.offline:
        scope = f"{plural(report.files, 'migration file')} (offline: tracking table not read)"
    else:
        scope = (f"{plural(report.files, 'migration file')}, {report.applied} applied, "
                 f"{len(report.pending or ())} pending")
    lines = [f"check: {scope}"]
    lines += [f"problem {p.kind}: {p.message}" for p in report.problems]
    lines += _renumber_lines(report)
    lines += [finding_line(f) for f in report.findings
              if f.severity == "warning" or (verbose and f.severity == "note")]
    verdict = (f"check failed: {plural(len(report.problems), 'problem')}" if report.problems
               else "check passed")
    return "\n".join([*lines, verdict])


def _renumber_lines(report: CheckReport) -> list[str]:
    """The fix check suggests for shared numbers and late files."""
    plan = report.renumber
    if plan.refusal is not None:
        return [f"fix: pgshift renumber needs the database here: {plan.refusal}"]
    if not plan.renames:
        return []
    return ["fix: pgshift renumber renames (pending files keep their order):",
            *(f"  {r.old} → {r.new}" for r in plan.renames)]


def check_json(report: CheckReport) -> dict[str, Any]:
    return {"ok": report.ok, "offline": report.offline, "files": report.files,
            "applied": report.applied,
            "pending": None if report.pending is None else list(report.pending),
            "problems": [asdict(p) for p in report.problems],
            "findings": [asdict(f) for f in report.findings],
            "warnings": list(report.warnings),
            "renumber": {"renames": [asdict(r) for r in report.renumber.renames],
                         "refusal": report.renumber.refusal}}


# --- verify -----------------------------------------------------------------------------


def verify_text(run: VerifyRun) -> str:
    lines = [f"verify on the scratch database {run.scratch} (dropped afterwards)"]
    if run.applied_first:
        lines.append(f"applied first, not verified: {', '.join(run.applied_first)}")
    for verdict in run.report.verdicts:
        lines.append(f"{'ok  ' if verdict.ok else 'FAIL'}  {verdict.name} "
                     f"({verdict.seconds:.2f} s)")
        lines += [f"      {problem}" for problem in verdict.problems]
    bad = sum(1 for v in run.report.verdicts if not v.ok)
    total = len(run.report.verdicts)
    lines.append(f"verified {plural(total, 'migration')} in {run.report.seconds:.2f} s: "
                 f"{total - bad} ok, {bad} with problems")
    return "\n".join(lines)


def verify_json(run: VerifyRun) -> dict[str, Any]:
    return {"ok": run.ok, "seconds": round(run.report.seconds, 3), "scratch": run.scratch,
            "applied_first": list(run.applied_first),
            "migrations": [{"name": v.name, "ok": v.ok, "problems": list(v.problems),
                            "seconds": round(v.seconds, 3)} for v in run.report.verdicts]}


# --- renumber, dump ---------------------------------------------------------------------


def renames_text(renames: Sequence[Rename], *, dry_run: bool) -> str:
    if not renames:
        return "Nothing to renumber."
    verb = "would rename" if dry_run else "renamed"
    return "\n".join(
        f"{verb} {r.old} → {r.new} ({r.reason})"
        + ("; -- Migration: header updated" if r.header_rewritten else "")
        for r in renames)


def renames_json(renames: Sequence[Rename], *, dry_run: bool) -> dict[str, Any]:
    return {"dry_run": dry_run, "renames": [asdict(r) for r in renames]}


def dump_text(result: DumpResult) -> str:
    where = str(result.path) if result.path is not None else "stdout"
    return (f"schema of a PostgreSQL {result.server_major} server dumped with "
            f"{result.pg_dump} ({result.pg_dump_major}), checked to load into "
            f"{result.checked_on}, written to {where}")


def dump_json(result: DumpResult) -> dict[str, Any]:
    return {"ok": True, "path": None if result.path is None else str(result.path),
            "pg_dump": result.pg_dump, "pg_dump_major": result.pg_dump_major,
            "server_major": result.server_major, "checked_on": result.checked_on,
            "bytes": len(result.text.encode("utf-8"))}
