"""Running one section of SQL: in a transaction, or statement by statement outside one.

The happy path of a transactional section is one round trip: ``BEGIN``, pgshift's
``SET LOCAL``s, a guard statement, the section, the tracking-table statement and
``COMMIT`` are sent as one simple query (inside an enclosing transaction: the section
and the tracking-table statement only, without ``BEGIN``, guard or ``COMMIT``, and
without the ``SET LOCAL``s when the caller sent them when that transaction began). The
server answers each statement with its own result until the first error, so the count of
results names the failing statement without running anything again; an error stops the
server before ``COMMIT``, and the transaction is rolled back. Only an "already exists"
error (skipped one statement at a time, each behind a savepoint) or an error that cannot
be placed runs the section again, statement by statement.

Consecutive migrations may also travel together (:func:`run_together`): one query of
several such parts, each in its own transaction (inside an enclosing one: each after the
other in it), each marking its own start for its ``duration_ms``.

Because ``COMMIT`` travels with the section, a connection lost without a word from the
server while the query runs leaves an open question: the server may still finish the
query and commit it (the ``client_connection_check_interval`` of the prefix makes it
stop soon after a client that closed its socket, not after a silent network). Such a
transaction holds the guard, a transaction-level advisory lock (:func:`pgshift.db.lock.
commit_guard`): whoever asks what became of it (this run, or the next run before it
reads the tracking table) first waits for the guard, so the answer is the server's
final one and a migration is never applied twice.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import psycopg

from pgshift.db import catalog
from pgshift.db.connect import TRANSACTION_BOUNDS, server_error
from pgshift.db.store import MARKS_START
from pgshift.errors import ServerError
from pgshift.files.sqlfile import Section, Statement

ALREADY_EXISTS = frozenset({"42P07", "42701", "42710", "42P06", "42723", "42P04"})
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")

Hook = Callable[[psycopg.Connection[Any]], None]


class StatementError(Exception):
    """A statement failed. ``statement`` is None when it cannot be known (lost connection).
    ``offset`` is the character offset in the section's text where the server's error
    position points (None: the server gave none). ``during_commit``: the connection was
    lost when the transaction may have committed; ``guarded``: that transaction held the
    commit guard (see the module docstring), so its outcome can be waited for."""

    def __init__(
        self,
        server: ServerError,
        statement: Statement | None,
        *,
        offset: int | None = None,
        connection_lost: bool = False,
        during_commit: bool = False,
        guarded: bool = False,
        ran_before: Sequence[int] = (),
        notes: Sequence[str] = (),
    ) -> None:
        super().__init__(server.message)
        self.server = server
        self.statement = statement
        self.offset = offset
        self.connection_lost = connection_lost
        self.during_commit = during_commit
        self.guarded = guarded
        self.ran_before = list(ran_before)
        self.notes = list(notes)


@dataclass(frozen=True)
class Outcome:
    """What running a section produced besides success: warnings to show."""

    warnings: tuple[str, ...] = ()


def error_offset(error: psycopg.Error, sent_from: int) -> int | None:
    """Where the server's error position points, as a character offset in the section's
    text, for a query whose first character was character ``sent_from`` of it (negative
    when a prefix of that many characters preceded the section). The server counts the
    position in characters, as Python indexes a str."""
    position = error.diag.statement_position
    if not position or not position.isdigit():
        return None
    return sent_from + int(position) - 1


def is_connection_error(error: psycopg.Error, conn: psycopg.Connection[Any]) -> bool:
    state = error.sqlstate or ""
    if conn.closed or conn.broken or state.startswith(_CONNECTION_STATES):
        return True
    return isinstance(error, psycopg.OperationalError) and (
        not state or state.startswith(_CONNECTION_STATES)
    )


class NeedsSavepoints(Exception):
    """The one-query form of a section failed inside an enclosing transaction (now aborted)
    in a way only the statement-by-statement form handles: an "already exists" error to
    skip, or an error that could not be placed. The enclosing transaction must be rolled
    back and run again with a savepoint per section."""

    def __init__(self, server: ServerError) -> None:
        super().__init__(server.message)
        self.server = server


class InterruptedAfterCommit(Exception):
    """Ctrl-C / SIGTERM arrived during the one-query form and the connection is idle
    again: its ``COMMIT`` may have completed (psycopg drops the result it was reading when
    interrupted), so the caller asks the tracking table."""

    def __init__(self, interrupt: BaseException) -> None:
        super().__init__("interrupted; the transaction may have committed")
        self.interrupt = interrupt


def run_in_transaction(
    conn: psycopg.Connection[Any], section: Section, *, prefix: str = "",
    setup: Hook | None = None, finish: Hook | None = None, record: str = "",
    guard: str = "", strict: bool = False,
) -> Outcome:
    """Run ``setup``, the section, an INVALID-index check and ``finish`` in one transaction.

    ``prefix`` (e.g. ``SET LOCAL lock_timeout …;``) is sent in the same query as the section.
    ``record`` is ``finish`` as SQL text with its values inlined: given it and no ``setup``,
    the transaction is one query with ``guard`` (taking the commit guard) and ``COMMIT``
    (module docstring); inside an enclosing transaction, one query without them.

    Raises:
        StatementError: the transaction was rolled back; the error names the statement.
        NeedsSavepoints: only inside an enclosing transaction (see the class).
        InterruptedAfterCommit: see the class; the KeyboardInterrupt is in ``interrupt``.
    """
    if record and setup is None:
        done = _run_as_one_query(conn, section, prefix, record, guard, strict)
        if done is not None:
            return done
        return _run_one_by_one(conn, section, prefix=prefix, setup=setup, finish=finish,
                               strict=strict)
    committing = False
    try:
        with conn.transaction():
            if setup:
                setup(conn)
            run_script(conn, prefix + section.text)
            _refuse_invalid_indexes(conn, section, None)
            if finish:
                finish(conn)
            committing = True
        return Outcome()
    except ScriptFailed as failed:
        error = failed.error
        if is_connection_error(error, conn):
            raise StatementError(server_error(error), None, connection_lost=True) from error
        index = failed.completed - prefix.count(";")
        located = section.statement(index) if 0 <= index < len(section) else None
        if located is not None and (error.sqlstate or "") not in ALREADY_EXISTS:
            raise StatementError(server_error(error), located,
                                 offset=error_offset(error, -len(prefix))) from error
    except psycopg.Error as error:
        if is_connection_error(error, conn):
            raise StatementError(
                server_error(error), None, connection_lost=True, during_commit=committing
            ) from error
        located = _locate(section, error, len(prefix))
        if located is not None and (error.sqlstate or "") not in ALREADY_EXISTS:
            raise StatementError(server_error(error), located,
                                 offset=error_offset(error, -len(prefix))) from error
    # Only "already exists" (skipped one statement at a time behind savepoints) or an error
    # that could not be placed runs the section again, statement by statement.
    return _run_one_by_one(conn, section, prefix=prefix, setup=setup, finish=finish, strict=strict)


class Member(NamedTuple):
    """One migration's part of a query that runs several (:func:`run_together`): its
    section (values substituted), its tracking-table statement (``INSERT … RETURNING
    duration_ms``) and its INVALID-index check ("" for none)."""

    section: Section
    record: str
    check: str


class Stopped(Exception):
    """:func:`run_together` stopped at member ``at``: ``cause`` is a :class:`StatementError`
    (the server's error, or the lost connection), a :class:`NeedsSavepoints` or the
    interrupt. Without an enclosing transaction, the members before ``at`` committed (their
    ``duration_ms`` in ``durations``) and member ``at``'s transaction was rolled back; after
    a connection lost without the server saying why, member ``at`` and those after it may
    have committed too (the server goes on with the query). After an interrupt ``at`` is 0
    and ``durations`` empty: which members committed is the tracking table's to tell.
    Inside an enclosing transaction that transaction is aborted and nothing of the query
    stays."""

    def __init__(self, at: int, cause: BaseException, durations: list[int]) -> None:
        super().__init__(str(cause))
        self.at = at
        self.cause = cause
        self.durations = durations


class _Layout(NamedTuple):
    """A query running members one after the other: its text and, for each member, the
    number (among the query's statements) of its first statement, of its section's first
    statement and of its tracking-table statement, and the character offset of its
    section's text."""

    text: str
    firsts: list[int]
    places: list[tuple[int, int]]
    records: list[int]


def _compose(members: Sequence[Member], prefix: str, guard: str, enclosed: bool) -> _Layout:
    """Each member as ``BEGIN``, ``prefix``, the start marker, ``guard``, its section, its
    check, its record and ``COMMIT``; inside an enclosing transaction as ``prefix``, the
    marker, its section, its check and its record. The newline and ``;`` after a section
    end its last statement and any comment after it."""
    lead = [prefix, MARKS_START + ";\n"] if enclosed else [
        "BEGIN;\n", prefix, MARKS_START + ";\n", *([guard + ";\n"] if guard else [])]
    lead_text = "".join(lead)
    lead_count = sum(part.count(";") for part in lead)  # each ends with its only ';'
    layout = _Layout("", [], [], [])
    parts: list[str] = []
    statements = chars = 0
    for member in members:
        layout.firsts.append(statements)
        statements += lead_count
        chars += len(lead_text)
        layout.places.append((statements, chars))
        tail = [*([member.check + ";\n"] if member.check else []), member.record + ";\n",
                *([] if enclosed else ["COMMIT;\n"])]
        statements += len(member.section)
        layout.records.append(statements + (1 if member.check else 0))
        statements += len(tail)
        chars += len(member.section.text) + 3 + sum(map(len, tail))
        parts += [lead_text, member.section.text, "\n;\n", *tail]
    return layout._replace(text="".join(parts))


def _send(conn: psycopg.Connection[Any], layout: _Layout, progress: ScriptProgress, *,
          enclosed: bool, guarded: bool) -> psycopg.Error | None:
    """Send the query; the server's error (None: every statement ran).

    Raises:
        StatementError: the connection broke before the server said why
            (``during_commit``: outside an enclosing transaction, a ``COMMIT`` may have run).
        InterruptedAfterCommit: interrupted, and the connection is idle again.
        BaseException: interrupted, the transaction rolled back (or left to the enclosing
            one's owner).
    """
    try:
        run_script(conn, layout.text, progress)
    except ScriptFailed as failed:
        error = failed.error
    except psycopg.Error as lost:  # the connection broke before the server said why
        raise StatementError(server_error(lost), None, connection_lost=True,
                             during_commit=not enclosed,
                             guarded=guarded and not enclosed) from lost
    except BaseException as interrupt:
        if not enclosed and _idle(conn):
            raise InterruptedAfterCommit(interrupt) from None
        if not enclosed:
            _roll_back(conn)
        raise
    else:
        return None
    if is_connection_error(error, conn):
        # The server said why it ended the session (e.g. 57P01) before the COMMIT ran.
        raise StatementError(server_error(error), None, connection_lost=True) from error
    if not enclosed:
        _roll_back(conn)
    return error


def _placed(error: psycopg.Error, section: Section, index: int, offset: int, *,
            strict: bool) -> StatementError | None:
    """The error of statement ``index`` of ``section`` (whose text began at character
    ``offset`` of the query), unless it is one the statement-by-statement form handles
    (an "already exists" to skip without ``strict``, or a statement outside the section)."""
    if 0 <= index < len(section) and (strict or (error.sqlstate or "") not in ALREADY_EXISTS):
        return StatementError(server_error(error), section.statement(index),
                              offset=error_offset(error, -offset))
    return None


def _run_as_one_query(conn: psycopg.Connection[Any], section: Section, prefix: str,
                      record: str, guard: str, strict: bool) -> Outcome | None:
    """The one-query form, ``COMMIT`` included (see the module docstring); None when the
    section must run statement by statement.

    Raises:
        StatementError: ``during_commit`` when the connection was lost without the server
            saying why: the transaction may have committed (or may still).
        InterruptedAfterCommit: interrupted, and the connection is idle again: the
            ``COMMIT`` ran or the transaction ended; the tracking table tells which.
    """
    enclosed = _enclosed(conn)
    check = catalog.invalid_index_check([name[1:] for name in section.index_names], conn)
    layout = _compose([Member(section, record, check)], prefix, guard, enclosed)
    progress = ScriptProgress()
    error = _send(conn, layout, progress, enclosed=enclosed, guarded=bool(guard))
    if error is None:
        return Outcome()
    start, offset = layout.places[0]
    index = progress.completed - start
    placed = _placed(error, section, index, offset, strict=strict)
    if placed is not None:
        raise placed from error
    if check and index == len(section) and not enclosed:
        with conn.transaction():
            bad = catalog.invalid_indexes(conn, [name[1:] for name in section.index_names])
        if bad:
            raise InvalidIndex(bad, None) from error
    if enclosed:
        raise NeedsSavepoints(server_error(error)) from error
    return None


def run_together(conn: psycopg.Connection[Any], members: Sequence[Member], *, prefix: str,
                 guard: str, strict: bool) -> list[int]:
    """Run ``members`` one after the other as one simple query: outside a transaction each
    in its own (``BEGIN`` … ``COMMIT``, with ``prefix`` and ``guard``), inside one each
    after the other in it (``prefix`` as given: "" when the transaction began with it).
    Every member starts by marking its start (:data:`MARKS_START`), so that its record
    measures its own ``duration_ms``. Returns each member's ``duration_ms``.

    Raises:
        Stopped: a member failed, the connection was lost or the run was interrupted (see
            the class). A server error is placed as :func:`run_in_transaction` places it
            for a single section (a :class:`StatementError` naming the statement);
            what only the statement-by-statement form handles is a
            :class:`NeedsSavepoints` inside an enclosing transaction, else a
            :class:`StatementError` without a statement.
    """
    enclosed = _enclosed(conn)
    layout = _compose(members, prefix, guard, enclosed)
    progress = ScriptProgress(keep=frozenset(layout.records))

    def durations(count: int) -> list[int]:  # of the first ``count`` members
        return [int(progress.kept.get(i, 0)) for i in layout.records[:count]]

    def stopped_at() -> int:
        return bisect.bisect_right(layout.firsts, progress.completed) - 1

    try:
        error = _send(conn, layout, progress, enclosed=enclosed, guarded=bool(guard))
    except InterruptedAfterCommit as late:
        raise Stopped(0, late.interrupt, []) from None
    except StatementError as lost:  # the results read so far are in order, if not all
        raise Stopped(stopped_at(), lost, durations(stopped_at())) from None
    except BaseException as interrupt:
        # psycopg drops the result it was reading when interrupted (often the query's
        # first: the server sends results as the query ends), so the count says nothing
        raise Stopped(0, interrupt, []) from None
    if error is None:
        return durations(len(members))
    at = stopped_at()
    start, offset = layout.places[at]
    placed = _placed(error, members[at].section, progress.completed - start, offset,
                     strict=strict)
    why: BaseException = placed or (NeedsSavepoints(server_error(error)) if enclosed
                                    else StatementError(server_error(error), None))
    raise Stopped(at, why, durations(at)) from error


def _enclosed(conn: psycopg.Connection[Any]) -> bool:
    """Inside a transaction its caller owns (an ``--atomic`` run's)."""
    return conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def _idle(conn: psycopg.Connection[Any]) -> bool:
    """Usable and outside a transaction (after a COMMIT that may or may not have run)."""
    from psycopg.pq import TransactionStatus

    return (not conn.closed and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE)


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End the failed one-query transaction (nothing to do on a broken connection)."""
    if not conn.closed and not conn.broken:
        conn.rollback()


@dataclass
class ScriptProgress:
    """What :func:`run_script` has read so far: statements completed, whether one failed,
    and the first value returned by each statement whose number is in ``keep``."""

    completed: int = 0
    failed: bool = False
    keep: frozenset[int] = frozenset()
    kept: dict[int, str] = field(default_factory=dict)


class ScriptFailed(Exception):
    """A statement of a script failed after ``completed`` statements had succeeded."""

    def __init__(self, completed: int, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.completed = completed
        self.error = error


def run_script(conn: psycopg.Connection[Any], text: str,
               progress: ScriptProgress | None = None) -> None:
    """Send ``text`` (several statements) as one simple query: one round trip.

    The server answers each statement with its own result before the first error, so
    the number of results tells which statement failed without running anything again.
    ``progress`` is kept up to date as results arrive, also while an interrupted query's
    remaining results are read.

    Raises:
        ScriptFailed: a statement failed. psycopg.OperationalError: the connection broke.
    """
    from psycopg import errors, generators, pq

    pgconn = conn.pgconn
    seen = ScriptProgress() if progress is None else progress
    failure: psycopg.Error | None = None

    def count(result: pq.abc.PGresult) -> None:
        nonlocal failure
        if result.status == pq.ExecStatus.FATAL_ERROR:
            seen.failed = True
            if failure is None:
                failure = errors.error_from_result(result, encoding=conn.info.encoding)
        elif not seen.failed:
            if seen.completed in seen.keep and result.ntuples:
                value = result.get_value(0, 0)
                if value is not None:
                    seen.kept[seen.completed] = value.decode()
            seen.completed += 1

    with conn.lock:
        pgconn.send_query(text.encode(conn.info.encoding))
        try:
            # Flush what the non-blocking connection could not send at once (a large
            # script does not fit the socket buffer), then read the results one at a time:
            # only their count is kept.
            conn.wait(generators.send(pgconn))
            while (result := conn.wait(generators.fetch(pgconn))) is not None:
                count(result)
        except psycopg.OperationalError:
            if failure is None:  # e.g. 57P01: the server said why before it hung up
                raise
        except BaseException:
            # Ctrl-C / SIGTERM: psycopg has cancelled the query; read what the server still
            # sends so that the transaction can be rolled back on this connection.
            with contextlib.suppress(Exception):
                for result in conn.wait(generators.fetch_many(pgconn)):
                    count(result)
            raise
    if failure is not None:
        raise ScriptFailed(seen.completed, failure)


def _locate(section: Section, error: psycopg.Error, shift: int) -> Statement | None:
    offset = error_offset(error, -shift)
    if offset is None or offset < 0 or offset >= len(section.text):
        return None
    return section.statement(section.statement_at(offset))


def _run_one_by_one(
    conn: psycopg.Connection[Any],
    section: Section,
    *,
    prefix: str,
    setup: Hook | None,
    finish: Hook | None,
    strict: bool,
) -> Outcome:
    warnings: list[str] = []
    committing = False
    try:
        with conn.transaction():
            if setup:
                setup(conn)
            if prefix:
                conn.execute(prefix)
            for statement in section.statements():
                try:
                    with conn.transaction():
                        conn.execute(statement.sql)
                except psycopg.Error as error:
                    if is_connection_error(error, conn):
                        raise
                    warning = _skippable(conn, section, statement, error, strict)
                    if warning is None:
                        raise StatementError(
                            server_error(error), statement,
                            offset=error_offset(error, section.starts[statement.index]),
                        ) from error
                    warnings.append(warning)
            _refuse_invalid_indexes(conn, section, None)
            if finish:
                finish(conn)
            committing = True
    except psycopg.Error as error:
        lost = is_connection_error(error, conn)
        raise StatementError(
            server_error(error), None, connection_lost=lost, during_commit=committing and lost
        ) from error
    return Outcome(tuple(warnings))


def _skippable(
    conn: psycopg.Connection[Any],
    section: Section,
    statement: Statement,
    error: psycopg.Error,
    strict: bool,
) -> str | None:
    """The warning for a skippable "already exists" error, or None when it must fail."""
    if strict or (error.sqlstate or "") not in ALREADY_EXISTS:
        return None
    index = section.index_created_by(statement.index)
    if index is not None and catalog.invalid_indexes(conn, [index]):
        return None
    message = error.diag.message_primary or str(error)
    return f"line {statement.line}: {message}; statement skipped"


class InvalidIndex(Exception):
    def __init__(self, names: list[str], statement: Statement | None) -> None:
        super().__init__(", ".join(names))
        self.names = names
        self.statement = statement


def _refuse_invalid_indexes(
    conn: psycopg.Connection[Any], section: Section, statement: Statement | None
) -> None:
    """An index the section creates must not be left INVALID (IF NOT EXISTS can skip one)."""
    names = [(schema, name) for _, schema, name in section.index_names]
    bad = catalog.invalid_indexes(conn, names)
    if bad:
        raise InvalidIndex(bad, statement)


OWN_TRANSACTION = "its own BEGIN/COMMIT"


def run_outside_transaction(
    conn: psycopg.Connection[Any],
    section: Section,
    *,
    start_at: int = 0,
    strict: bool = False,
    prefix: str = "",
    before_statement: Callable[[int], None] | None = None,
    on_statement_done: Callable[[int], None] | None = None,
) -> Outcome:
    """Run statements ``start_at…`` one by one on an autocommit connection.

    A statement that may run in a transaction gets one of its own with ``prefix`` (e.g.
    pgshift's ``SET LOCAL lock_timeout``) — unless the file manages its own transactions.
    Statements inside the file's own ``BEGIN … COMMIT`` count as done only once committed.

    Raises:
        StatementError: ``ran_before`` lists the (0-based) statements of this call that
            completed and stay applied; ``notes`` name an INVALID index left behind.
    """
    warnings: list[str] = []
    with client_checked(conn, warnings):
        _run_each(conn, section, start_at=start_at, strict=strict, prefix=prefix,
                  before_statement=before_statement, on_statement_done=on_statement_done,
                  warnings=warnings)
    return Outcome(tuple(warnings))


def _run_each(
    conn: psycopg.Connection[Any],
    section: Section,
    *,
    start_at: int,
    strict: bool,
    prefix: str,
    before_statement: Callable[[int], None] | None,
    on_statement_done: Callable[[int], None] | None,
    warnings: list[str],
) -> None:
    done: list[int] = []
    in_block: list[int] = []  # run inside the file's own open BEGIN, not committed yet
    outside = {index for index, _ in section.outside_transaction}
    own_transactions = any(r == OWN_TRANSACTION for _, r in section.outside_transaction)
    for statement in section.statements():
        if statement.index < start_at:
            continue
        if before_statement:
            before_statement(statement.index)
        own_prefix = prefix if not own_transactions and statement.index not in outside else ""
        try:
            _execute_alone(conn, statement, own_prefix)
        except psycopg.Error as error:
            warnings.append(_skip_or_raise(conn, section, statement, error, strict=strict,
                                           sent_prefix=own_prefix, done=done,
                                           in_block=in_block))
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            in_block.append(statement.index)
            continue
        for index in (*in_block, statement.index):
            done.append(index)
            if on_statement_done:
                on_statement_done(index)
        in_block.clear()
    _refuse_invalid_indexes(conn, section, None)


CLIENT_CHECK_INTERVAL = "2s"


@contextlib.contextmanager
def client_checked(conn: psycopg.Connection[Any], warnings: list[str]) -> Iterator[None]:
    """Statements outside a transaction get no ``SET LOCAL``: on PostgreSQL 14+ set
    ``client_connection_check_interval`` for the session while they run (unless the
    role, database or server already set it), so that the server ends such a statement
    (e.g. a ``CREATE INDEX CONCURRENTLY``) soon after its client vanished, instead of
    letting it run on. RESET afterwards, also after a failure or an interruption (a
    transaction block the file left open is rolled back first). Behind a transaction
    pooler the RESET may reach another server connection than the SET did: that is
    detected by the backend pid and reported in ``warnings``."""
    if conn.info.server_version < 140000:
        yield
        return
    row = conn.execute(
        "SELECT pg_backend_pid(), CASE WHEN current_setting("
        "'client_connection_check_interval') = '0' THEN set_config("
        f"'client_connection_check_interval', '{CLIENT_CHECK_INTERVAL}', false) END"
    ).fetchone()
    if row is None or row[1] is None:
        yield
        return
    failed = True
    try:
        yield
        failed = False
    finally:
        pid = _reset_client_check(conn, failed=failed)
        if pid is not None and pid != row[0]:
            warnings.append(
                f"client_connection_check_interval was set on server connection pid {row[0]} "
                f"but reset on pid {pid}: a transaction-mode pooler sits between pgshift and "
                "the server, and that server connection may keep the setting (run "
                "migrations with statements outside a transaction on a direct connection, "
                "or set it for the role: ALTER ROLE … SET client_connection_check_interval)"
            )


def _reset_client_check(conn: psycopg.Connection[Any], *, failed: bool) -> int | None:
    """RESET the setting; the backend pid that did it (None: the session is gone). After a
    failure a block the file left open is rolled back first; after success such a block is
    left to the caller and the RESET joins it."""
    if failed:
        _end_open_block(conn)
    if conn.closed or conn.broken:
        return None
    try:
        cursor = conn.execute("RESET client_connection_check_interval; SELECT pg_backend_pid()")
        cursor.nextset()
        row = cursor.fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def _execute_alone(conn: psycopg.Connection[Any], statement: Statement, prefix: str) -> None:
    """One statement on an autocommit connection: in a transaction of its own with
    ``prefix`` when one is given, else as it is."""
    if prefix:
        with conn.transaction():
            conn.execute(prefix + statement.sql)
    else:
        conn.execute(statement.sql)


def _skip_or_raise(conn: psycopg.Connection[Any], section: Section, statement: Statement,
                   error: psycopg.Error, *, strict: bool, sent_prefix: str, done: list[int],
                   in_block: list[int]) -> str:
    """After ``statement`` failed outside a transaction: the warning when it may be
    skipped ("already exists" without ``strict``, not inside the file's own transaction
    block); otherwise the :class:`StatementError` to raise, with what ran before it.

    Raises:
        StatementError: always, unless the failure may be skipped.
    """
    _end_open_block(conn)
    if is_connection_error(error, conn):
        raise StatementError(
            server_error(error), statement, connection_lost=True, ran_before=done
        ) from error
    warning = None if in_block else _skippable(conn, section, statement, error, strict)
    if warning is not None:
        return warning
    notes = _invalid_left_behind(conn, section, statement)
    if in_block:
        notes.append(f"statement(s) {', '.join(str(i + 1) for i in in_block)} ran inside "
                     "the file's own transaction block and were rolled back with it")
    sent_from = section.starts[statement.index] - len(sent_prefix)
    raise StatementError(
        server_error(error), statement, offset=error_offset(error, sent_from),
        ran_before=done, notes=notes,
    ) from error


def _end_open_block(conn: psycopg.Connection[Any]) -> None:
    """Roll back a transaction block the file opened itself and left failed or open."""
    if conn.closed or conn.broken:
        return
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            return


def _invalid_left_behind(
    conn: psycopg.Connection[Any], section: Section, statement: Statement
) -> list[str]:
    index = section.index_created_by(statement.index)
    if index is None or conn.closed or conn.broken:
        return []
    try:
        bad = catalog.invalid_indexes(conn, [index])
    except psycopg.Error:
        return []
    return [
        f"index {name} was left INVALID by the failed statement: the next pgshift migrate "
        f"drops and rebuilds it (or drop it yourself: DROP INDEX CONCURRENTLY {name};)"
        for name in bad
    ]


def transaction_prefix(server_version: int, lock_timeout: float,
                       schema: str | None = None) -> str:
    """SET LOCALs sent with each transactional section, in the same round trip:
    pgshift's lock_timeout, bounds that end a vanished client's transaction on the server
    (idle for 60 s, or a dead peer seen by keepalives), and on PostgreSQL 14+ a check that
    ends a running statement soon after its client vanished. With ``schema`` (a fleet's
    schema target), ``search_path`` is that schema, then ``public``, for the transaction."""
    parts = [] if schema is None else [f"SET LOCAL search_path = {unicode_identifier(schema)}, "
                                       "public;"]
    parts += [f"SET LOCAL {name} = '{value}';" for name, value in TRANSACTION_BOUNDS]
    if lock_timeout:
        parts.append(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms';")
    if server_version >= 140000:
        parts.append("SET LOCAL client_connection_check_interval = '2s';")
    return "\n".join(parts) + "\n"


def unicode_identifier(name: str) -> str:
    """``name`` as a quoted identifier in which every character but ASCII letters, digits
    and ``_`` is a Unicode escape (``U&"a\\003Bb"``), so the text holds no ``;``, quote or
    line break: callers count a prefix's statements by its semicolons."""
    if name.isascii() and name.replace("_", "a").isalnum():
        return '"' + name + '"'
    escaped = "".join(
        c if c.isascii() and (c.isalnum() or c == "_")
        else (f"\\{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\+{ord(c):06X}")
        for c in name
    )
    return 'U&"' + escaped + '"'
