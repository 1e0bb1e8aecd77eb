"""The exceptions pgshift raises.

Every error is a :class:`PgshiftError`. Its ``exit_code`` is the one SPEC §4 gives the
command-line program: ``2`` for bad usage or bad input (:class:`InputError`), ``1`` for a
failure while running or a state that forbids the command (:class:`RunError`). Errors
carry their facts as attributes; ``str(error)`` is the one-paragraph message the CLI
prints. This module is a leaf: it imports nothing from pgshift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class PgshiftError(Exception):
    """Root of every error pgshift raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# --- exit code 2: bad usage or bad input -------------------------------------------


class InputError(PgshiftError):
    """Bad usage or bad input: exit code 2. Nothing was changed."""

    exit_code = 2


class MigrationFileError(InputError):
    """A migration file is malformed (name, encoding, markers, SQL syntax).

    ``file`` is the file name, ``line`` the 1-based line (or ``None``) and
    ``byte_offset`` the 0-based offset of an invalid byte (or ``None``).
    """

    def __init__(
        self,
        file: str,
        problem: str,
        *,
        line: int | None = None,
        byte_offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = file
        if line is not None:
            where = f"{file}:{line}"
        elif byte_offset is not None:
            where = f"{file} (byte offset {byte_offset})"
        super().__init__(f"{where}: {problem}", hint=hint)
        self.file = file
        self.line = line
        self.byte_offset = byte_offset
        self.problem = problem


class ConfigError(InputError):
    """A setting is invalid: names the setting and where it came from."""


class UsageRefused(InputError):
    """The command was refused as used (e.g. ``reset`` without ``--yes`` and no terminal)."""


# --- exit code 1: a run failed, or the state forbids the command --------------------


class RunError(PgshiftError):
    """A migration, a rollback or the database failed, or the state forbids the command."""

    exit_code = 1


class ServerError(NamedTuple):
    """What PostgreSQL said about a failed statement (psql's fields). A NamedTuple (not a
    dataclass) so that importing this module stays cheap for ``pgshift --help``."""

    message: str
    sqlstate: str | None = None
    detail: str | None = None
    hint: str | None = None
    position: int | None = None
    context: str | None = None


class ErrorPlace(NamedTuple):
    """Where in its file the server's error position points: the 1-based file ``line``,
    that line's ``text`` and the 0-based ``column`` (in characters) of the failing token."""

    line: int
    text: str
    column: int


class FailedStatement:
    """Where a statement that failed stands in its file: ``index`` of ``total`` (1-based);
    ``place`` is where the server's error position points (None when it gave none)."""

    __slots__ = ("file", "head", "index", "line", "place", "sql", "total")

    def __init__(self, file: str, line: int, head: str, index: int, total: int,
                 sql: str = "", place: ErrorPlace | None = None) -> None:
        self.file = file
        self.line = line
        self.head = head
        self.index = index
        self.total = total
        self.sql = sql
        self.place = place

    def _asdict(self) -> dict[str, object]:
        fields: dict[str, object] = {
            name: getattr(self, name) for name in ("file", "line", "head", "index", "total")}
        fields["position"] = self.place._asdict() if self.place else None
        return fields

    def __repr__(self) -> str:
        return f"FailedStatement({self.file!r}, line={self.line}, {self.index}/{self.total})"


class StatementFailed(RunError):
    """A statement of a migration's UP or DOWN section failed.

    ``applied`` lists the migrations completed earlier in the same run (and kept);
    ``ran_outside_transaction`` lists 1-based statement numbers that ran outside a
    transaction before the failure and were not undone.
    """

    action = "migration"

    def __init__(
        self,
        migration: str,
        *,
        server: ServerError,
        statement: FailedStatement | None,
        applied: Sequence[str] = (),
        ran_outside_transaction: Sequence[int] = (),
        notes: Sequence[str] = (),
    ) -> None:
        where = migration
        if statement is not None:
            line = statement.place.line if statement.place else statement.line
            where = f"{statement.file}:{line}"
        super().__init__(f"{self.action} {migration} failed at {where}: {server.message}")
        self.migration = migration
        self.server = server
        self.statement = statement
        self.applied = list(applied)
        self.ran_outside_transaction = list(ran_outside_transaction)
        self.notes = list(notes)


class MigrationFailed(StatementFailed):
    """An UP section failed; the migration is not recorded."""

    action = "migration"


class RollbackFailed(StatementFailed):
    """A DOWN section failed; the migration stays recorded."""

    action = "rollback of"


class HookFailed(MigrationFailed):
    """A hook of ``DIR/hooks/`` failed; ``migration`` is the hook's file. ``applied`` lists
    what this run applied and kept; the notes say what stays applied."""

    action = "hook"


class StateError(RunError):
    """The recorded state forbids the command (no DOWN section, drift under --strict, ...)."""


class LockTimeout(RunError):
    """The migration lock was not obtained within ``--lock-wait`` seconds, or another
    session's build of an index a migration creates did not end within it."""


class TrackingTableError(RunError):
    """The tracking table exists with a shape pgshift does not recognise."""


class ConnectionFailed(RunError):
    """The server could not be reached or refused the connection, or the connection was lost."""


class Unreachable(ConnectionFailed):
    """No connection could be opened at all (refused, timed out, authentication failed):
    nothing was sent to the server."""


class ReadOnlyServer(RunError):
    """The server is a read-only standby (in recovery)."""


class Interrupted(RunError):
    """SIGINT or SIGTERM arrived during a run; ``exit_code`` is 130 or 143."""

    def __init__(self, message: str, *, signal_number: int, applied: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number
        self.applied = list(applied)


class Terminated(KeyboardInterrupt):
    """Raised by the CLI's SIGTERM handler; treated like Ctrl-C (the running query is
    cancelled and the transaction rolled back)."""

    signal_number = 15
