"""The database named by a connection string: its name, whether it exists, creating and
dropping it. The statements run on a maintenance database of the same server (``postgres``,
else ``template1``), with the same user and password. Owns every ``CREATE DATABASE`` and
``DROP DATABASE`` pgshift sends; identifiers are composed with :mod:`psycopg.sql`.
Never prints, never asks: confirmation is the caller's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pgshift.db.connect import connect, describe_target
from pgshift.errors import ConnectionFailed, RunError

# Tried in this order; template1 exists on every server, postgres on nearly every one.
MAINTENANCE_DATABASES = ("postgres", "template1")
# SQLSTATE of CREATE DATABASE for a name that exists (a concurrent create won the race).
DUPLICATE_DATABASE = "42P04"


@dataclass(frozen=True)
class DatabaseResult:
    """What ``create``/``drop`` did: ``changed`` is False when the database already
    existed (create) or did not exist (drop). ``via`` is the maintenance database used."""

    action: str
    database: str
    server: str
    changed: bool
    via: str


class DatabaseCommandFailed(RunError):
    """``CREATE DATABASE`` or ``DROP DATABASE`` failed; ``sqlstate`` is the server's."""

    def __init__(self, message: str, *, sqlstate: str | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sqlstate = sqlstate


def target_database(conninfo: str) -> str:
    """The database a connection string names, as libpq resolves it: ``dbname``, else
    ``PGDATABASE``, else the user name (``user``, ``PGUSER``, the operating-system user).

    Raises:
        ConnectionFailed: the connection string is not valid.
    """
    import psycopg
    from psycopg import pq

    try:
        given = {o.keyword: o.val for o in pq.Conninfo.parse(conninfo.encode())}
    except psycopg.Error:
        raise ConnectionFailed("the connection string is not valid") from None
    defaults = {o.keyword: o.val for o in pq.Conninfo.get_defaults()}
    for value in (given.get(b"dbname"), defaults.get(b"dbname"), given.get(b"user"),
                  defaults.get(b"user")):
        if value:
            return bytes(value).decode()
    raise ConnectionFailed("the connection string names no database and no user")


@contextmanager
def maintenance_connection(conninfo: str, *, avoid: str) -> Iterator[tuple[Any, str]]:
    """An autocommit connection to ``postgres``, else ``template1`` (never to ``avoid``),
    with the rest of ``conninfo`` unchanged; yields ``(connection, database name)``.

    Raises:
        ConnectionFailed: neither answered; names both and the server's reason.
    """
    from psycopg import conninfo as ci

    reasons: list[str] = []
    for name in MAINTENANCE_DATABASES:
        if name == avoid:
            continue
        try:
            conn = connect(ci.make_conninfo(conninfo, dbname=name), autocommit=True)
        except ConnectionFailed as error:
            reasons.append(str(error))
            continue
        with conn:
            yield conn, name
        return
    tried = " and ".join(n for n in MAINTENANCE_DATABASES if n != avoid)
    raise ConnectionFailed(
        f"could not connect to the maintenance database ({tried}) to manage database "
        f"{avoid!r}: " + "; ".join(reasons),
        hint="the user of DATABASE_URL needs to be able to connect to postgres or template1",
    )


def exists(conn: Any, name: str) -> bool:
    """Whether database ``name`` exists on the server of ``conn``."""
    row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def database_exists(conninfo: str) -> bool:
    """Whether the database of ``conninfo`` exists (asked on a maintenance database).

    Raises:
        ConnectionFailed: no maintenance database answered.
    """
    name = target_database(conninfo)
    with maintenance_connection(conninfo, avoid=name) as (conn, _):
        return exists(conn, name)


def create_database(conninfo: str) -> DatabaseResult:
    """``CREATE DATABASE`` for the database of ``conninfo``, owned by its user; nothing
    when it exists (also when a concurrent create made it first).

    Raises:
        ConnectionFailed; DatabaseCommandFailed: e.g. the user may not create databases.
    """
    import psycopg
    from psycopg import sql

    name = target_database(conninfo)
    server = describe_target(conninfo).rsplit("/", 1)[0]
    with maintenance_connection(conninfo, avoid=name) as (conn, via):
        if exists(conn, name):
            return DatabaseResult("create", name, server, False, via)
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as error:
            if error.sqlstate == DUPLICATE_DATABASE:
                return DatabaseResult("create", name, server, False, via)
            raise _failed("create", name, error) from None
    return DatabaseResult("create", name, server, True, via)


def drop_database(conninfo: str, *, force: bool = False) -> DatabaseResult:
    """``DROP DATABASE`` for the database of ``conninfo``; nothing when it does not exist.
    ``force`` ends the other sessions connected to it first (``WITH (FORCE)``,
    PostgreSQL 13 and later); without it, a database in use is an error.

    Raises:
        ConnectionFailed; DatabaseCommandFailed: in use, not the owner, a template.
    """
    import psycopg
    from psycopg import sql

    name = target_database(conninfo)
    server = describe_target(conninfo).rsplit("/", 1)[0]
    statement = sql.SQL("DROP DATABASE IF EXISTS {}" + (" WITH (FORCE)" if force else ""))
    with maintenance_connection(conninfo, avoid=name) as (conn, via):
        if not exists(conn, name):
            return DatabaseResult("drop", name, server, False, via)
        try:
            conn.execute(statement.format(sql.Identifier(name)))
        except psycopg.Error as error:
            raise _failed("drop", name, error) from None
    return DatabaseResult("drop", name, server, True, via)


def _failed(action: str, name: str, error: Any) -> DatabaseCommandFailed:
    diag = error.diag
    message = (diag.message_primary or str(error)).strip()
    hint = diag.message_hint
    if action == "drop" and error.sqlstate == "55006":
        hint = "stop the sessions using it, or pass --force to end them"
    detail = f" ({diag.message_detail})" if diag.message_detail else ""
    return DatabaseCommandFailed(f"could not {action} database {name!r}: {message}{detail}",
                                 sqlstate=error.sqlstate, hint=hint)
