"""Text and JSON for the lifecycle commands: ``wait``, ``db create``, ``db drop``, ``drift``,
``import``.
Nothing here queries, exits or reads settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgshift.lifecycle.database import DatabaseResult
    from pgshift.lifecycle.drift import DriftReport
    from pgshift.lifecycle.importing import ImportResult
    from pgshift.lifecycle.squash import SquashReport
    from pgshift.lifecycle.wait import WaitResult


def wait_text(result: WaitResult) -> str:
    """``ready: host:port/db accepts connections (0.4 s)`` and the variants."""
    if result.current:
        what = "the migrations are current (nothing pending)"
    elif result.database_exists:
        what = "the server accepts connections"
    else:
        what = ("the server accepts connections; the database does not exist yet "
                "(pgshift db create creates it)")
    return f"ready: {result.target}: {what} ({result.seconds:.1f} s, " \
           f"{result.attempts} attempt{'' if result.attempts == 1 else 's'})"


def wait_json(result: WaitResult) -> dict[str, Any]:
    return {"ok": True, "target": result.target, "seconds": round(result.seconds, 3),
            "attempts": result.attempts, "database_exists": result.database_exists,
            "current": result.current}


def database_text(result: DatabaseResult) -> str:
    """``created database "app" on host:port`` or ``database "app" already exists …``."""
    where = f"{result.database!r} on {result.server}"
    if result.action == "create":
        return (f"created database {where}" if result.changed
                else f"database {where} already exists: nothing to do")
    return (f"dropped database {where}" if result.changed
            else f"database {where} does not exist: nothing to drop")


def database_json(result: DatabaseResult) -> dict[str, Any]:
    return {"ok": True, "action": result.action, "database": result.database,
            "server": result.server, "changed": result.changed,
            "maintenance_database": result.via}


def drift_text(report: DriftReport) -> str:
    """The verdict, then one line per difference (``missing``/``extra``/``different``)."""
    count = len(report.replayed)
    lines = [f"drift: {report.target} (table {report.table}) against its {count} recorded "
             f"migration{'' if count == 1 else 's'} replayed on {report.scratch} "
             "(dropped afterwards)"]
    if any(d.kind == "different" for d in report.differences):
        lines.append("  (different: what the migrations build → what the database has)")
    lines += [f"  {difference.describe()}" for difference in report.differences]
    if report.ok:
        lines.append("no drift: the database matches its migrations")
    else:
        found = len(report.differences)
        lines.append(f"drift found: {found} difference{'' if found == 1 else 's'}")
    return "\n".join(lines)


def drift_json(report: DriftReport) -> dict[str, Any]:
    return {"ok": report.ok, "target": report.target, "table": report.table,
            "scratch": report.scratch, "replayed": list(report.replayed),
            "differences": [{"kind": d.kind, "object_type": d.object_type, "name": d.name,
                             "detail": d.detail} for d in report.differences],
            "warnings": list(report.warnings), "seconds": round(report.seconds, 3)}


def import_text(result: ImportResult) -> str:
    """One line per file (written, and recorded as executed or left pending), a summary."""
    verb = "would write" if result.dry_run else "wrote"
    lines = []
    for f in result.files:
        state = "executed (batch 0)" if f.applied else "pending"
        state += f": {f.note}" if f.note else ""
        extra = ", no transaction" if f.no_transaction else ""
        lines.append(f"  {f.name}  <- {', '.join(f.sources)}  [{state}{extra}]")
    recorded = len(result.recorded)
    record = "would record" if result.dry_run else "recorded"
    lines.append(f"import from {result.tool}: {verb} {len(result.files)} file"
                 f"{'' if len(result.files) == 1 else 's'} in {result.directory}, {record} "
                 f"{recorded} as executed in batch 0 (from {result.history_table}; "
                 "left unchanged)")
    return "\n".join(lines)


def import_json(result: ImportResult) -> dict[str, Any]:
    return {"ok": True, "tool": result.tool, "source": result.source,
            "directory": result.directory, "history_table": result.history_table,
            "dry_run": result.dry_run, "batch": 0,
            "files": [{"name": f.name, "sources": list(f.sources), "executed": f.applied,
                       "no_transaction": f.no_transaction, "checksum": f.checksum,
                       "note": f.note}
                      for f in result.files],
            "recorded": list(result.recorded), "warnings": list(result.warnings),
            "seconds": round(result.seconds, 3)}
def squash_text(report: SquashReport) -> str:
    """What was (or would be) written and removed, or the differences that stopped it."""
    first, last = report.replaced[0], report.replaced[-1]
    rows = sum(count for _table, count in report.tables)
    built = (f"{report.path.name}: squashes {first}..{last} ({len(report.replaced)} "
             f"migrations; {report.statements} statements, {rows} rows in "
             f"{len(report.tables)} tables), checked on {report.scratch}")
    if not report.ok:
        return "\n".join([f"squash: NOT written: the squash file builds a different "
                          f"database than {first}..{last}:",
                          *(f"  {d}" for d in report.differences)])
    if report.dry_run:
        gone = "moved to squashed/" if report.moved_to else "removed"
        return (f"squash (dry run, nothing written): would write {built}; the "
                f"{len(report.replaced)} files would be {gone}")
    where = f"moved to {report.moved_to}" if report.moved_to else "removed"
    return (f"squash: wrote {report.path} — {built}; {len(report.replaced)} files {where} "
            f"({report.seconds:.1f} s)")


def squash_json(report: SquashReport) -> dict[str, Any]:
    return {"ok": report.ok, "path": str(report.path), "written": report.written,
            "dry_run": report.dry_run, "replaced": list(report.replaced),
            "statements": report.statements,
            "tables": [{"table": t, "rows": n} for t, n in report.tables],
            "moved_to": str(report.moved_to) if report.moved_to else None,
            "differences": list(report.differences), "scratch": report.scratch,
            "seconds": round(report.seconds, 3)}
