"""Opening connections: timeouts, keepalives, no prepared statements, clear failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pgshift.errors import ConnectionFailed, RunError, ServerError, Unreachable

if TYPE_CHECKING:
    import psycopg

# Server-side bounds set for each transaction pgshift opens (SET LOCAL, so they end with
# it and never leak to other clients of a pooler): the server ends a vanished client's
# transaction, and the locks it holds, after 60 s idle or when keepalives find the peer
# dead (about a minute).
TRANSACTION_BOUNDS = (
    ("idle_in_transaction_session_timeout", "60s"),
    ("tcp_keepalives_idle", "15"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "6"),
)

# pgshift's defaults, so that no network fault makes it hang: a 10 s connect timeout, TCP
# keepalives that give up after ~25 s of silence, and a 30 s bound on unacknowledged sends.
# Each applies only where neither the connection string nor libpq's own defaults (the PG*
# environment variables such as PGAPPNAME and PGCONNECT_TIMEOUT, and the service file that
# PGSERVICE names) set the key: see :func:`with_defaults`, the one place that decides.
CONNECTION_DEFAULTS = {
    "connect_timeout": "10",
    "application_name": "pgshift",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}


def describe_target(conninfo: str) -> str:
    """``host:port/dbname`` of a connection string, for messages (never the password)."""
    from psycopg import conninfo as ci

    try:
        params = ci.conninfo_to_dict(conninfo)
    except Exception:
        return "the server"
    host = str(params.get("host") or params.get("hostaddr") or "local socket")
    port = str(params.get("port") or "5432")
    dbname = str(params.get("dbname") or params.get("user") or "")
    return f"{host}:{port}/{dbname}" if dbname else f"{host}:{port}"


def with_defaults(conninfo: str) -> str:
    """``conninfo`` with pgshift's :data:`CONNECTION_DEFAULTS` added for the keys that
    neither it nor libpq's environment sets (libpq reads the environment at connect time
    and lets the connection string win, so a default written into the string would hide
    ``PGAPPNAME=myapp``).

    Raises:
        psycopg.ProgrammingError: ``conninfo`` cannot be parsed.
    """
    from psycopg import conninfo as ci
    from psycopg import pq

    given = ci.conninfo_to_dict(conninfo)
    from_libpq = {
        option.keyword.decode(): option.val
        for option in pq.Conninfo.get_defaults()
        if option.val is not None and option.val != option.compiled
    }
    extra = {
        key: value for key, value in CONNECTION_DEFAULTS.items()
        if key not in given and key not in from_libpq
    }
    return ci.make_conninfo(conninfo, **extra) if extra else conninfo


def connect(conninfo: str, *, autocommit: bool) -> Any:
    """A psycopg connection with pgshift's defaults for keys that neither the string nor
    the libpq environment sets (:func:`with_defaults`).

    ``prepare_threshold=None``: no server-side prepared statements, which transaction-mode
    poolers (PgBouncer < 1.21) cannot route.

    Raises:
        Unreachable: (a ConnectionFailed) names host:port/dbname and the server's reason.
        ConnectionFailed: the connection string is not valid.
    """
    import psycopg

    try:
        complete = with_defaults(conninfo)
    except psycopg.ProgrammingError:
        raise ConnectionFailed("the connection string is not valid") from None
    try:
        return psycopg.connect(complete, autocommit=autocommit, prepare_threshold=None)
    except psycopg.OperationalError as error:
        reason = str(error).strip()
        raise Unreachable(
            f"could not connect to {describe_target(conninfo)}: {reason}",
            hint="check DATABASE_URL / --database-url, and that the server is running",
        ) from None


PROBE_CONNECT_TIMEOUT = 10
ProbeState = Literal["ready", "down", "starting", "refused"]


class Probe(NamedTuple):
    """One connection attempt: ``ready`` (connected), ``down`` (nothing answers),
    ``starting`` (the server answers but does not accept connections yet: starting up,
    shutting down, recovering) or ``refused`` (the server runs and refused this connection:
    authentication, a missing database or role, pg_hba). ``reason`` is libpq's message for
    anything but ``ready`` (it never holds the password). A NamedTuple rather than a
    dataclass: this module is loaded by every command that connects, and a NamedTuple
    costs far less to define."""

    state: ProbeState
    reason: str = ""


def probe(conninfo: str, *, timeout: float) -> Probe:
    """Try once to connect within about ``timeout`` seconds (libpq counts whole seconds,
    at least 2; at most :data:`PROBE_CONNECT_TIMEOUT`) and say what happened; never raises
    for a server that is not there.

    Raises:
        ConnectionFailed: the connection string is not valid.
    """
    import math

    import psycopg
    from psycopg import conninfo as ci
    from psycopg import pq

    try:
        complete = with_defaults(conninfo)
    except psycopg.ProgrammingError:
        raise ConnectionFailed("the connection string is not valid") from None
    # Each attempt is bounded by the time left (at most the usual 10 s), whatever the
    # string or the environment says: the caller's timeout is the one that counts.
    seconds = max(2, min(PROBE_CONNECT_TIMEOUT, math.ceil(timeout)))
    full = ci.make_conninfo(complete, connect_timeout=str(seconds))
    reason = _connect_failure(full)
    if reason is None:
        return Probe("ready")
    # PQping tells a server that runs and refused us from one that is not there or not
    # ready, whatever language its messages are in.
    answer = pq.PGconn.ping(full.encode())
    if answer != pq.Ping.OK:
        return Probe("starting" if answer == pq.Ping.REJECT else "down", reason)
    # The server answers now, but the failure may date from a moment ago (it was still
    # starting up): only a second failure is a refusal.
    again = _connect_failure(full)
    return Probe("ready") if again is None else Probe("refused", again)


def _connect_failure(conninfo: str) -> str | None:
    """None when a connection to ``conninfo`` succeeds (it is closed at once), else
    libpq's reason on one line."""
    import psycopg

    try:
        psycopg.connect(conninfo, autocommit=True, prepare_threshold=None).close()
    except psycopg.OperationalError as error:
        return " ".join(str(error).split()).removeprefix("connection failed: ")
    return None


def _option_escape(text: str) -> str:
    # libpq splits ``options`` on white space; a backslash keeps the next character.
    return "".join("\\" + c if c.isspace() or c == "\\" else c for c in text)


def with_search_path(conninfo: str, schema: str) -> str:
    """``conninfo`` whose sessions start with ``search_path`` = ``schema``, ``public``.

    A startup option (``options=-c search_path=…``), not a ``SET``: the server applies it
    before the first statement, only to that connection, and nothing can reset it; it is
    what the statements a schema target runs outside a transaction (``CREATE INDEX
    CONCURRENTLY``, ``VACUUM``, a file's own ``BEGIN``/``COMMIT``) see. Options already
    in the string are kept.

    Raises:
        ConnectionFailed: the connection string is not valid.
    """
    import psycopg
    from psycopg import conninfo as ci

    try:
        given = ci.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        raise ConnectionFailed("the connection string is not valid") from None
    quoted = '"' + schema.replace('"', '""') + '"'
    option = "-c " + _option_escape(f"search_path={quoted}, public")
    existing = str(given.get("options") or "")
    return ci.make_conninfo(conninfo, options=f"{existing} {option}".strip())


def with_application_name(conninfo: str, name: str) -> str:
    """``conninfo`` with ``application_name`` = ``name`` (63 bytes at most), unless the
    string or libpq's environment (``PGAPPNAME``) names the application already."""
    from psycopg import conninfo as ci
    from psycopg import pq

    if "application_name" in ci.conninfo_to_dict(conninfo):
        return conninfo
    for option in pq.Conninfo.get_defaults():
        if option.keyword == b"application_name" and option.val:
            return conninfo
    short = name.encode()[:63].decode(errors="ignore")
    return ci.make_conninfo(conninfo, application_name=short)


def backend_words(pid: int, application_name: str | None, client: str | None) -> list[str]:
    """How pgshift names another server session in a message: its pid, then its
    application and client address when the server knows them."""
    parts = [f"pid {pid}"]
    if application_name:
        parts.append(f"application {application_name!r}")
    if client:
        parts.append(f"client {client}")
    return parts


# what pgshift was doing when a session that had changed nothing yet was ended
READING_FACTS = "reading the server's facts"
WAITING_FOR_LOCK = "taking the migration lock"
READING_TABLE = "reading the tracking table"
STARTING_ATOMIC_RUN = "starting the --atomic run's transaction"
_SESSION_ENDED = {
    "57P01": "the session was terminated (pg_terminate_backend, or a fast shutdown)",
    "57P02": "the server crashed",
    "57P03": "the server is starting up or shutting down",
    "57014": "the query was cancelled (pg_cancel_backend, or a statement_timeout)",
}


@contextmanager
def setting_up(step: str, conninfo: str) -> Iterator[None]:
    """Turn a server error while a session is being set up (nothing changed yet) into
    pgshift's own error: the step, the target, the cause and SQLSTATE (exit 1)."""
    import psycopg

    try:
        yield
    except psycopg.Error as error:
        raise session_failed(error, step, conninfo) from None


def session_failed(error: psycopg.Error, step: str, conninfo: str) -> RunError:
    import psycopg

    server = server_error(error)
    state = server.sqlstate or ""
    cause = _SESSION_ENDED.get(state)
    detail = f"{server.message}{', SQLSTATE ' + state if state else ''}"
    lost = isinstance(error, psycopg.OperationalError) or state.startswith(("08", "57P"))
    if lost:
        return ConnectionFailed(
            f"the connection to {describe_target(conninfo)} was closed by the server while "
            f"pgshift was {step} ({detail}){': ' + cause if cause else ''}; nothing was "
            "changed",
            hint="run the command again once the server accepts pgshift's session",
        )
    return RunError(
        f"the server refused pgshift's query while it was {step} ({detail})"
        f"{': ' + cause if cause else ''}; nothing was changed",
        hint="run the command again",
    )


def server_error(error: psycopg.Error) -> ServerError:
    diag = error.diag
    position = diag.statement_position
    return ServerError(
        message=diag.message_primary or str(error).strip(),
        sqlstate=diag.sqlstate or error.sqlstate,
        detail=diag.message_detail,
        hint=diag.message_hint,
        position=int(position) if position else None,
        context=diag.context,
    )
