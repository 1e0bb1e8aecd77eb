"""Turning results and errors into text or JSON. Everything shown passes through
:func:`pgshift.config.redact`. Nothing here queries, exits or reads settings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from pgshift.config import redact
from pgshift.errors import (
    ErrorPlace,
    Interrupted,
    PgshiftError,
    StatementFailed,
)
from pgshift.results import MigrationStatus, RunResult, StatusReport

_STATE_STYLE = {"executed": "green", "pending": "yellow", "missing file": "red",
                "modified": "magenta", "partial": "red"}


def to_json(value: Any, secrets: Sequence[str] = ()) -> str:
    """One JSON document (dataclasses as objects, datetimes in ISO 8601); every string in
    it has its passwords masked before it is serialised, so the document stays valid."""
    hidden = tuple(secrets)

    def plain(obj: Any) -> Any:
        if is_dataclass(obj) and not isinstance(obj, type):
            obj = asdict(obj)
        if isinstance(obj, dict):
            return {str(k): plain(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [plain(v) for v in obj]
        if isinstance(obj, datetime):
            return obj.isoformat()
        if isinstance(obj, str):
            return redact(obj, hidden)
        if obj is None or isinstance(obj, bool | int | float):
            return obj
        return redact(str(obj), hidden)

    return json.dumps(plain(value), indent=2, ensure_ascii=False)


def _when(value: datetime | None) -> str:
    return value.isoformat(" ", "seconds")[:19] if value else ""


def _state_label(entry: MigrationStatus) -> str:
    return entry.label


def status_json(report: StatusReport) -> dict[str, Any]:
    return {
        "table": report.table,
        "table_exists": report.table_exists,
        "migrations": [
            {
                "name": e.name,
                "state": e.state,
                "batch": e.batch,
                "executed_at": e.executed_at,
                "checksum": e.checksum,
                "file_checksum": e.file_checksum,
                "duration_ms": e.duration_ms,
                "no_transaction": e.no_transaction,
                "statements_done": e.statements_done,
                "statements_total": e.statements_total,
                "metadata": dict(e.metadata),
            }
            for e in report.entries
        ],
        "summary": report.counts,
        "warnings": list(report.warnings),
    }


def summary_line(report: StatusReport) -> str:
    parts = [f"{count} {state}" for state, count in report.counts.items() if count]
    total = len(report.entries)
    return f"{total} migration{'s' if total != 1 else ''}: " + (", ".join(parts) or "none")


def _verbose_cells(entry: MigrationStatus) -> list[str]:
    """``duration_ms``, ``created`` and ``description`` (header metadata, pending
    migrations included)."""
    metadata = dict(entry.metadata)
    return ["" if entry.duration_ms is None else str(entry.duration_ms),
            metadata.get("created", ""), metadata.get("description", "")]


def status_text(report: StatusReport, *, verbose: bool) -> str:
    """Plain aligned columns (for pipes and files)."""
    entries = report.entries
    # built column by column (a list each, not one per migration), then line by line
    columns = [
        ["name", *[e.name for e in entries]],
        ["state", *[e.label for e in entries]],
        ["batch", *["" if e.batch is None else str(e.batch) for e in entries]],
        ["executed_at", *[_when(e.executed_at) for e in entries]],
    ]
    if verbose:
        cells = [_verbose_cells(e) for e in entries]
        columns += [[title, *[row[i] for row in cells]]
                    for i, title in enumerate(("duration_ms", "created", "description"))]
    widths = [max(map(len, column)) for column in columns]
    # each cell left-aligned to its column's width ("{:<N}" pads as str.ljust does)
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    lines = [line.format(*row).rstrip() for row in zip(*columns, strict=True)]
    return "\n".join([*lines, "", summary_line(report)])


def print_status_table(report: StatusReport, *, verbose: bool, color: bool) -> None:
    """A rich table on a terminal (colour unless ``color`` is False)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(no_color=not color, highlight=False)
    table = Table(show_edge=False, header_style="bold")
    for column in ("name", "state", "batch", "executed_at"):
        table.add_column(column)
    if verbose:
        table.add_column("duration_ms", justify="right")
        table.add_column("created")
        table.add_column("description")
    for e in report.entries:
        cells = [e.name, f"[{_STATE_STYLE[e.state]}]{_state_label(e)}[/]",
                 "" if e.batch is None else str(e.batch), _when(e.executed_at)]
        if verbose:
            cells += [escape(cell) for cell in _verbose_cells(e)]
        table.add_row(*cells)
    console.print(table)
    console.print(summary_line(report))


def run_json(result: RunResult) -> dict[str, Any]:
    return {
        "action": result.action,
        "ok": True,
        "batch": result.batch,
        "applied": [asdict(a) for a in result.applied],
        "rolled_back": [asdict(a) for a in result.rolled_back],
        "warnings": list(result.warnings),
        "findings": [asdict(f) for f in result.findings],
        "seconds": round(result.seconds, 3),
    }


def plural(count: int, word: str = "migration") -> str:
    """``1 migration``, ``2 migrations``: ``word`` with ``count``, plural unless one."""
    return f"{count} {word}{'s' if count != 1 else ''}"


def _bookkeeping_text(result: RunResult) -> str:
    if result.action == "unmark":
        names = ", ".join(a.name for a in result.rolled_back)
        return f"Forgot the record of {names} (its DOWN section was not run)."
    verb = "Would record" if "dry run" in result.action else "Recorded"
    lines = [f"{verb} {plural(len(result.applied))} as executed without running "
             f"{'it' if len(result.applied) == 1 else 'them'} (batch {result.batch}):"]
    lines += [f"  {a.name}" for a in result.applied]
    return "\n".join(lines)


def run_text(result: RunResult) -> str:
    if result.action.startswith(("baseline", "mark", "unmark")):
        return _bookkeeping_text(result)
    lines: list[str] = []
    if result.rolled_back:
        lines.append(f"Rolled back {len(result.rolled_back)} migration"
                     f"{'s' if len(result.rolled_back) != 1 else ''}:")
        lines += [f"  {a.name} (batch {a.batch}, {a.duration_ms} ms)" for a in result.rolled_back]
    elif result.action in ("rollback", "reset", "refresh"):
        lines.append("Nothing to roll back.")
    if result.applied:
        lines.append(f"Applied {len(result.applied)} migration"
                     f"{'s' if len(result.applied) != 1 else ''} in batch {result.batch}:")
        for a in result.applied:
            mode = ", outside a transaction" if a.no_transaction else ""
            lines.append(f"  {a.name} ({a.duration_ms} ms{mode})")
    elif result.action in ("migrate", "refresh"):
        lines.append("Nothing to migrate.")
    return "\n".join(lines)


def error_text(error: PgshiftError, secrets: Sequence[str] = ()) -> str:
    """The message block for stderr: psql-like for a failed statement."""
    lines = [f"error: {error.message}"]
    if isinstance(error, StatementFailed):
        lines = _statement_block(error)
    if error.hint:
        lines.append(f"hint: {error.hint}")
    return redact("\n".join(lines), tuple(secrets))


def _statement_block(error: StatementFailed) -> list[str]:
    server, statement = error.server, error.statement
    title = error.action
    where = f"{error.migration}: "
    if statement is not None:
        where = f"{statement.file}:{statement.place.line if statement.place else statement.line}: "
    lines = [f"error: {title} {error.migration} failed", f"{where}ERROR:  {server.message}"]
    if statement is not None and statement.place is not None:
        lines += error_position_lines(statement.place)
        lines.append(f"(statement {statement.index} of {statement.total}, "
                     f"from line {statement.line})")
    elif statement is not None:
        lines.append(f"LINE {statement.line}: {statement.head}")
        lines.append(f"(statement {statement.index} of {statement.total})")
    if server.detail:
        lines.append(f"DETAIL:  {server.detail}")
    if server.hint:
        lines.append(f"HINT:  {server.hint}")
    if server.context:
        lines.append(f"CONTEXT:  {server.context}")
    if server.sqlstate:
        lines.append(f"SQLSTATE: {server.sqlstate}")
    lines += [f"note: {n}" for n in error.notes]
    if error.ran_outside_transaction:
        ran = ", ".join(str(n) for n in error.ran_outside_transaction)
        lines.append(f"note: this migration runs outside a transaction: statement(s) {ran} "
                     "ran and were NOT undone")
    verb = "rolled back" if error.action == "rollback of" else "applied"
    done = ", ".join(error.applied) or "nothing"
    lines.append(f"{verb.capitalize()} earlier in this run (kept): {done}")
    if error.action != "hook":
        state = "not recorded" if error.action == "migration" else "still recorded"
        lines.append(f"{error.migration} is {state}.")
    return lines


# psql's reportErrorPosition: a line wider than this is cut around the caret
_DISPLAY_WIDTH = 60
_MIN_RIGHT = 10


def error_position_lines(place: ErrorPlace) -> list[str]:
    """``LINE n: <text>`` and a caret under the failing token, as psql draws them: tabs
    shown as spaces, wide characters counted as two columns, a long line cut around the
    caret with ``...``."""
    from bisect import bisect_left, bisect_right
    from itertools import accumulate

    # only the characters near the caret can be shown (a line may be megabytes long)
    first = max(0, place.column - 4 * _DISPLAY_WIDTH)
    text = place.text[first : place.column + 4 * _DISPLAY_WIDTH].replace("\t", " ")
    column = min(place.column - first, len(text))
    cut_left, cut_right = first > 0, first + len(text) < len(place.text)
    width = list(accumulate((_char_width(c) for c in text), initial=0))  # of text[:i]
    start, end = 0, len(text)
    if width[-1] > _DISPLAY_WIDTH or cut_left or cut_right:
        # the caret stays at least _MIN_RIGHT columns from the right edge, as in psql
        start = min(column, bisect_left(width, width[column] - (_DISPLAY_WIDTH - _MIN_RIGHT)))
        end = bisect_right(width, width[start] + _DISPLAY_WIDTH) - 1
    shown = text[start:end]
    prefix = f"LINE {place.line}: "
    if start > 0 or cut_left:
        shown = "..." + shown
    if end < len(text) or cut_right:
        shown += "..."
    lead = len(prefix) + (3 if start > 0 or cut_left else 0) + width[column] - width[start]
    return [prefix + shown, " " * lead + "^"]


def _char_width(char: str) -> int:
    import unicodedata

    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def error_json(error: PgshiftError) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error": type(error).__name__,
                            "message": error.message, "hint": error.hint,
                            "exit_code": error.exit_code}
    if isinstance(error, StatementFailed):
        body.update(migration=error.migration, server=error.server._asdict(),
                    statement=error.statement._asdict() if error.statement else None,
                    applied=error.applied, notes=error.notes,
                    ran_outside_transaction=error.ran_outside_transaction)
    if isinstance(error, Interrupted):
        body["applied"] = error.applied
    return body
