"""Text and JSON for the lifecycle commands: ``wait``, ``db create``, ``db drop``.
Nothing here queries, exits or reads settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgshift.lifecycle.database import DatabaseResult
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
