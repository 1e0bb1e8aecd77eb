"""The PostgreSQL server the benchmark runs against, and its throw-away databases."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

SETTINGS_SHOWN = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "shared_buffers",
    "wal_level",
)


def url_with_database(url: str, database: str) -> str:
    """Return ``url`` (a ``postgresql://`` URL) pointing at ``database`` instead."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"the benchmark needs a postgresql:// URL, got {parts.scheme!r}")
    return urlunsplit(parts._replace(path="/" + database))


def dbmate_url(url: str) -> str:
    """Adapt a libpq URL for dbmate: no TLS unless asked, a socket directory as ``socket=``."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    host = query.pop("host", "")
    if host.startswith("/"):
        query["socket"] = host
    elif host:
        query["host"] = host
    query.setdefault("sslmode", "disable")
    return urlunsplit(parts._replace(query=urlencode(query)))


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class Server:
    """One PostgreSQL server; creates and drops the databases of the benchmark runs.

    Holds one autocommit connection to the server's maintenance database; database names
    carry this process's id so that concurrent benchmarks on one server do not collide.
    """

    def __init__(self, url: str, *, description: str, on_close: Callable[[], None] | None = None):
        self.url = url
        self.description = description
        self._on_close = on_close
        self._admin = psycopg.connect(url, autocommit=True)
        self._counter = itertools.count(1)
        self._created: set[str] = set()

    def url_for(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return url_with_database(self.url, database)

    def new_database(self, *, template: str = "template0", label: str = "run") -> str:
        """Create a database copied from ``template``; return its name."""
        name = f"bench_{os.getpid()}_{label}_{next(self._counter)}"
        self._admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        self._created.add(name)
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database this object created (closing any session still connected to it)."""
        self._admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        self._created.discard(name)

    def connect(self, database: str) -> psycopg.Connection[tuple[object, ...]]:
        """A new connection (not autocommit) to ``database``; the caller closes it."""
        return psycopg.connect(self.url_for(database))

    def settings(self) -> dict[str, str]:
        """The server settings that matter for these timings (version, durability)."""
        found: dict[str, str] = {}
        for name in SETTINGS_SHOWN:
            row = self._admin.execute("SELECT current_setting(%s)", (name,)).fetchone()
            found[name] = str(row[0]) if row else ""
        return found

    def close(self) -> None:
        """Drop every database still left over, close the connection, stop an own server."""
        try:
            for name in sorted(self._created):
                self.drop_database(name)
            self._admin.close()
        finally:
            if self._on_close is not None:
                self._on_close()


def connect_url(url: str) -> Server:
    """Use the server at ``url`` (its database is used only to create and drop others)."""
    return Server(url, description=f"external: {redact(url)}")


def start_embedded(base_dir: Path) -> Server:
    """Start pgshift's embedded PostgreSQL under ``base_dir``; it is stopped by ``close()``.

    Raises:
        RuntimeError: pgshift's embedded module is not available.
    """
    try:
        from pgshift.embedded import server as embedded
    except ImportError as error:
        raise RuntimeError(
            f"pgshift.embedded.server is not available ({error}); pass --database-url URL"
        ) from error
    server, _started = embedded.ensure_running(base_dir)

    def stop() -> None:
        embedded.stop(base_dir)

    return Server(server.url, description=f"embedded, under {base_dir}", on_close=stop)
