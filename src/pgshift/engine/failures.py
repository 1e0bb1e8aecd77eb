"""Turning what went wrong while applying or reverting into pgshift's errors, with what
the run had done, psql's fields, and the notes that tell the user what to do."""

from __future__ import annotations

from typing import Any

import psycopg

from pgshift.db import catalog, runner
from pgshift.errors import (
    ConnectionFailed,
    ErrorPlace,
    FailedStatement,
    Interrupted,
    MigrationFailed,
    RollbackFailed,
    ServerError,
    TrackingTableError,
)
from pgshift.files import placeholders, sqlfile

LOCK_NOT_AVAILABLE = "55P03"
UNSAFE_NEW_ENUM_VALUE = "55P04"
_TABLE_SETUP_STATES = ("42501", "3F000")


def interrupted(interrupt: KeyboardInterrupt, done: list[str], remaining: list[str], verb: str,
                *, outside_done: int | None) -> Interrupted:
    """Ctrl-C / SIGTERM during ``remaining[0]``; ``outside_done`` is how many statements of
    it completed when it runs outside a transaction (None: it runs in one)."""
    number = int(getattr(interrupt, "signal_number", 2))
    if outside_done is None:
        current = f"{remaining[0]} not {verb} (its transaction was rolled back)"
    else:
        ran = (f"statement(s) 1-{outside_done}" if outside_done > 1 else
               "statement 1" if outside_done == 1 else "no statement")
        current = (
            f"{remaining[0]} was interrupted part-way: it runs outside a transaction, so "
            f"{ran} of it completed and stay applied, not undone (pgshift status shows "
            "how far it got; the next migrate resumes it)"
        )
    return Interrupted(
        f"interrupted: {current}; {verb} before the interruption: "
        f"{', '.join(done) or 'nothing'}; not {verb}: {', '.join(remaining)}",
        signal_number=number,
        applied=done,
    )


def failure(kind: type[MigrationFailed] | type[RollbackFailed], name: str,
            section: sqlfile.Section, error: runner.StatementError, *, done: list[str],
            creating_table: str | None, blocking: list[str],
            masking: list[tuple[str, str]] | None = None,
            committed: bool | None = None) -> Exception:
    """The error for a failed section. ``creating_table`` names the tracking table when
    this transaction was also creating it. The statement is quoted as written in the file
    and every placeholder value in ``masking`` is shown as its placeholder in what the
    server said, so no value (a password) reaches the message. ``committed``: what the
    server said, asked again, of a transaction the lost connection left open to doubt
    (None: not asked, or no answer)."""
    if masking:
        error.server = masked(error.server, masking)
        error.notes = [placeholders.mask(n, masking) or "" for n in error.notes]
    if error.connection_lost:
        return _connection_lost(kind, name, error, done, committed)
    if (error.statement is None and creating_table
            and error.server.sqlstate in _TABLE_SETUP_STATES):
        return TrackingTableError(
            f"cannot create the tracking table {creating_table}: "
            f"{error.server.message} (SQLSTATE {error.server.sqlstate}); nothing was applied",
            hint="grant CREATE on that schema to this role, let an owner run the first "
            "migrate, or pass --table schema.name for a schema this role can write to",
        )
    statement = None
    if error.statement is not None:
        s = section.shown(error.statement.index)
        statement = FailedStatement(name, s.line, s.head, s.index + 1, len(section), s.sql,
                                    place=error_place(section, error))
    notes = list(error.notes)
    if error.server.sqlstate == UNSAFE_NEW_ENUM_VALUE:
        notes.append("a value added with ALTER TYPE … ADD VALUE cannot be used in the same "
                     "transaction: move its use to a later migration file, or mark this "
                     "file '-- pgshift: no-transaction'")
    notes += blocking
    return kind(name, server=error.server, statement=statement, applied=done,
                ran_outside_transaction=[i + 1 for i in error.ran_before], notes=notes)


def _connection_lost(kind: type[MigrationFailed] | type[RollbackFailed], name: str,
                     error: runner.StatementError, done: list[str],
                     committed: bool | None) -> ConnectionFailed:
    verb = "applied" if kind is MigrationFailed else "rolled back"
    label = "Done before it in this run"
    if error.during_commit and committed is None:
        outcome = ("it may or may not have been committed: run pgshift status to see "
                   "whether it is recorded")
    elif error.during_commit and committed:
        outcome = (f"the server finished {name} and committed it: it is {verb} "
                   "(the tracking table says so)")
        done, label = [*done, name], "Done in this run"
    else:
        outcome = f"{name} was not {verb}"
    state = error.server.sqlstate
    return ConnectionFailed(
        f"the connection was lost during {name} ({error.server.message}"
        f"{', SQLSTATE ' + state if state else ''}); {outcome}. "
        f"{label}: {', '.join(done) or 'nothing'}",
        hint="run the command again once the server is reachable",
    )


def masked(server: ServerError, masking: list[tuple[str, str]]) -> ServerError:
    """``server`` with each placeholder value of ``masking`` shown as its placeholder."""
    return server._replace(
        message=placeholders.mask(server.message, masking) or "",
        detail=placeholders.mask(server.detail, masking),
        hint=placeholders.mask(server.hint, masking),
        context=placeholders.mask(server.context, masking),
    )


def error_place(section: sqlfile.Section, error: runner.StatementError) -> ErrorPlace | None:
    """Where in the file the server's error position points, when it points into the
    failed statement (from its first character to just past its last)."""
    if error.offset is None or error.statement is None:
        return None
    index = error.statement.index
    if not section.starts[index] <= error.offset <= section.ends[index]:
        return None
    return section.place(error.offset)


def blockers(conn: Any, error: runner.StatementError, retries: int,
             lock_timeout: float) -> list[str]:
    """Notes naming the sessions that hold locks on the failed statement's tables."""
    from pgshift.analysis.classify import relations

    tables = relations(error.statement.sql) if error.statement else []
    holders: list[str] = []
    try:
        with conn.transaction():
            holders = catalog.lock_holders(conn, tables)
    except psycopg.Error:  # the diagnosis is best effort; the failure is what matters
        holders = []
    tries = f" after {retries} retries" if retries else ""
    first = (f"gave up{tries}: another session holds a lock on a table this statement "
             "needs; the migration was not applied and nothing waited on the table "
             f"for more than {lock_timeout:g} s")
    return [first, *(f"blocking: {h}" for h in holders)]


def invalid_index(kind: type[MigrationFailed] | type[RollbackFailed], name: str,
                  error: runner.InvalidIndex, done: list[str]) -> Exception:
    listed = ", ".join(error.names)
    server = ServerError(
        message=f"index {listed} exists but is INVALID (left by a failed or interrupted "
                "CREATE INDEX CONCURRENTLY); an invalid index never counts as existing",
        hint="; ".join(f"DROP INDEX CONCURRENTLY {n};" for n in error.names)
        + " then run the command again",
    )
    return kind(name, server=server, statement=None, applied=done)
