"""Opening connections: timeouts, keepalives, no prepared statements, clear failures."""

from __future__ import annotations

from typing import Any

from pgshift.errors import ConnectionFailed

# Applied where the connection string sets nothing, so no network fault makes pgshift hang:
# a 10 s connect timeout, TCP keepalives that give up after ~25 s of silence, and a 30 s
# bound on unacknowledged sends.
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


def connect(conninfo: str, *, autocommit: bool) -> Any:
    """A psycopg connection with pgshift's defaults for keys the string does not set.

    ``prepare_threshold=None``: no server-side prepared statements, which transaction-mode
    poolers (PgBouncer < 1.21) cannot route.

    Raises:
        ConnectionFailed: names host:port/dbname and the server's reason.
    """
    import psycopg
    from psycopg import conninfo as ci

    try:
        given = ci.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        raise ConnectionFailed("the connection string is not valid") from None
    extra = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
    try:
        return psycopg.connect(
            ci.make_conninfo(conninfo, **extra), autocommit=autocommit, prepare_threshold=None
        )
    except psycopg.OperationalError as error:
        reason = str(error).strip()
        raise ConnectionFailed(
            f"could not connect to {describe_target(conninfo)}: {reason}",
            hint="check DATABASE_URL / --database-url, and that the server is running",
        ) from None
