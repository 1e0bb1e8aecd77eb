"""Scratch databases: where ``verify`` runs migrations and ``dump`` proves its dump loads.

A scratch database ``<prefix>_<hex>`` is created on the server of ``--scratch-url``
(default: the embedded server in ``./.pgshift``) and always dropped afterwards; the
target database is never used for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def scratch_server(scratch_url: str | None, embedded_dir: Path | None) -> str:
    """``scratch_url``, else the URL of the embedded server in ``embedded_dir`` (default
    ``./.pgshift``), started if needed.

    Raises: ConnectionFailed — the embedded server could not be started.
    """
    if scratch_url:
        return scratch_url
    from pgshift.embedded import server as embedded

    server, _ = embedded.start_for(embedded_dir or Path(".pgshift"),
                                   purpose="for the scratch database",
                                   hint="pass --scratch-url URL")
    return server.url


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create database ``<prefix>_<hex>`` on the server of ``server_url``, yield its
    conninfo, and drop it afterwards (even after a failure).

    Raises: ConnectionFailed — the database could not be created (no CREATEDB right).
    """
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from pgshift.db.connect import connect, describe_target, server_error
    from pgshift.errors import ConnectionFailed

    dbname = f"{prefix}_{secrets.token_hex(6)}"
    name = sql.Identifier(dbname)
    with connect(server_url, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(name))
        except psycopg.Error as error:
            raise ConnectionFailed(
                f"cannot create a scratch database on {describe_target(server_url)}: "
                f"{server_error(error).message}",
                hint="the role needs the CREATEDB right; or pass --scratch-url for a server "
                "where it may create databases") from None
    try:
        yield make_conninfo(server_url, dbname=dbname)
    finally:
        with connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
