"""Waiting: until the server accepts connections, or until the database is current
(nothing pending), for containers and application replicas starting beside a database or
a migration job. Polls; never changes anything; never prints (progress goes to
``on_attempt``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgshift.db.connect import Probe, describe_target, probe
from pgshift.errors import ConnectionFailed, RunError

if TYPE_CHECKING:
    from pgshift.engine.migrator import Migrator

DEFAULT_TIMEOUT = 60.0
# Poll quickly at first (a server that is about to come up), then once a second.
FIRST_INTERVAL = 0.1
MAX_INTERVAL = 1.0


@dataclass(frozen=True)
class WaitResult:
    """The wait succeeded after ``seconds`` and ``attempts`` tries. ``database_exists`` is
    False when the server accepts connections but the URL's database is not created yet
    (only a plain wait succeeds then). ``current`` is True when the migrations were waited
    for (nothing was pending at the end)."""

    target: str
    seconds: float
    attempts: int
    database_exists: bool = True
    current: bool = False


class WaitTimeout(RunError):
    """The server (or the migrations) did not become ready within the timeout;
    ``last_reason`` says what the last attempt found."""

    def __init__(self, message: str, *, last_reason: str, seconds: float) -> None:
        super().__init__(message)
        self.last_reason = last_reason
        self.seconds = seconds


def wait(database_url: str, *, timeout: float = DEFAULT_TIMEOUT,
         migrator: Migrator | None = None,
         on_attempt: Callable[[str], None] | None = None) -> WaitResult:
    """Return as soon as the server of ``database_url`` accepts connections; with
    ``migrator``, as soon as its database has nothing pending (no pending or partial
    migration). A server that is down, starting or recovering is waited for; a database
    that does not exist yet counts as up for a plain wait, as not current otherwise.

    ``on_attempt`` receives, after each unsuccessful attempt, what it found (e.g.
    ``connection refused``, ``2 migrations pending``).

    Raises:
        WaitTimeout: not ready after ``timeout`` seconds (exit 1).
        ConnectionFailed: the server runs but refuses the user (authentication, pg_hba, a
            missing role): waiting would not help, so this is raised at once.
        TrackingTableError, MigrationFileError: from reading the migrations' state.
    """
    target = describe_target(database_url)
    started = time.monotonic()
    deadline = started + timeout
    interval = FIRST_INTERVAL
    attempts = 0
    while True:
        attempts += 1
        remaining = max(deadline - time.monotonic(), 0.0)
        found = probe(database_url, timeout=remaining)
        reason = _not_ready(database_url, found, target, migrator)
        elapsed = time.monotonic() - started
        if reason is None:
            return WaitResult(target, elapsed, attempts, database_exists=found.state == "ready",
                              current=migrator is not None)
        if on_attempt is not None:
            on_attempt(reason)
        if time.monotonic() >= deadline:
            what = "the migrations to be current" if migrator is not None else "the server"
            tries = f"{attempts} attempt{'' if attempts == 1 else 's'}"
            raise WaitTimeout(f"gave up waiting for {what} at {target} after {elapsed:.1f} s "
                              f"({tries}): {reason}", last_reason=reason, seconds=elapsed)
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
        interval = min(interval * 2, MAX_INTERVAL)


def _not_ready(database_url: str, found: Probe, target: str,
               migrator: Migrator | None) -> str | None:
    """None when the wait is over, else why not."""
    if found.state in ("down", "starting"):
        return found.reason or f"the server is {found.state}"
    if found.state == "refused":
        _require_missing_database(database_url, found, target)
        return None if migrator is None else "the database does not exist yet"
    if migrator is None:
        return None
    report = migrator.status()
    waiting = [e.name for e in report.entries if e.state in ("pending", "partial")]
    if not waiting:
        return None
    return f"{len(waiting)} migration{'' if len(waiting) == 1 else 's'} pending ({waiting[0]}…)"


def _require_missing_database(database_url: str, found: Probe, target: str) -> None:
    """Return when the refusal is only that the URL's database does not exist (asked on a
    maintenance database with the same credentials).

    Raises:
        ConnectionFailed: any other refusal (authentication, pg_hba, role, privileges).
    """
    from pgshift.lifecycle.database import database_exists

    try:
        missing = not database_exists(database_url)
    except ConnectionFailed:
        missing = False
    if missing:
        return
    raise ConnectionFailed(
        f"the server at {target} is up but refused the connection: {found.reason}",
        hint="this is not a server that is still starting: check the user, password and "
        "database of DATABASE_URL / --database-url",
    )
