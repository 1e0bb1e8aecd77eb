"""Catalog queries pgshift needs around migrations (not about the tracking table): the
server's facts, index validity, who holds locks on a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from pgshift.db.connect import backend_words


def server_facts(conn: psycopg.Connection[Any]) -> tuple[str | None, bool, int]:
    """(current_schema(), pg_is_in_recovery(), server_version_num)."""
    row = conn.execute(
        "SELECT current_schema(), pg_is_in_recovery(), "
        "current_setting('server_version_num')::int"
    ).fetchone()
    assert row is not None
    return row[0], bool(row[1]), int(row[2])


def lock_holders(
    conn: psycopg.Connection[Any], relations: Sequence[tuple[str | None, str]]
) -> list[str]:
    """Other sessions holding locks on these tables, described for a message."""
    names = [sql.Identifier(*[p for p in pair if p]).as_string(conn) for pair in relations]
    if not names:
        return []
    rows = conn.execute(
        "SELECT a.pid, a.application_name, a.state, a.xact_start, "
        "  split_part(a.query, E'\\n', 1), l.relation::regclass::text, "
        "  string_agg(DISTINCT l.mode, ', ') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.granted AND l.pid <> pg_backend_pid() "
        "  AND l.relation IN (SELECT to_regclass(n) FROM unnest(%s::text[]) AS n) "
        "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 4 NULLS LAST LIMIT 10",
        (names,),
    ).fetchall()
    return [
        f"pid {pid} (application {app!r}, {state}"
        + (f" since {since:%H:%M:%S}" if since else "")
        + f", query: {query[:80]!r}) holds {modes} on {relation}"
        for pid, app, state, since, query, relation, modes in rows
    ]


_CHECK_TAG = "$pgshift_check$"


def invalid_index_check(names: Sequence[tuple[str | None, str]],
                        conn: psycopg.Connection[Any]) -> str:
    """A statement that fails when one of the given indexes exists and is INVALID, to end
    a transaction in the same query as the statements that create them ("" for no index).
    It is a ``DO`` block: SQL alone cannot raise an error."""
    if not names:
        return ""
    regclasses = ", ".join(
        sql.Literal(sql.Identifier(*[p for p in pair if p]).as_string(conn)).as_string(conn)
        for pair in names
    )
    body = (
        "BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_index i WHERE NOT i.indisvalid AND "
        "i.indexrelid IN (SELECT pg_catalog.to_regclass(n) FROM "
        f"pg_catalog.unnest(ARRAY[{regclasses}]::text[]) AS n)) THEN "
        "RAISE EXCEPTION 'pgshift: an index this migration creates is INVALID'; END IF; END"
    )
    tag, number = _CHECK_TAG, 0
    while tag in body:  # an index name holding the dollar-quote tag: pick another tag
        number += 1
        tag = f"$pgshift_check{number}$"
    return f"DO {tag}{body}{tag}"


def index_exists(conn: psycopg.Connection[Any], index: tuple[str | None, str]) -> bool:
    regclass = sql.Identifier(*[p for p in index if p]).as_string(conn)
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (regclass,)).fetchone()
    return bool(row and row[0])


def drop_index_concurrently(conn: psycopg.Connection[Any], qualified: str) -> None:
    """Drop an index given as a quoted, possibly qualified name (autocommit connection)."""
    row = conn.execute("SELECT to_regclass(%s)::oid", (qualified,)).fetchone()
    if row is None or row[0] is None:
        return
    names = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = %s", (row[0],)
    ).fetchone()
    assert names is not None
    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(*names)))


def invalid_indexes(
    conn: psycopg.Connection[Any], names: Sequence[tuple[str | None, str] | str]
) -> list[str]:
    """Which of the given indexes exist and are INVALID; each is a (schema, name) pair or
    an already quoted, possibly qualified name."""
    if not names:
        return []
    regclasses = [
        pair if isinstance(pair, str) else sql.Identifier(*[p for p in pair if p]).as_string(conn)
        for pair in names
    ]
    rows = conn.execute(
        "SELECT c.relname FROM unnest(%s::text[]) AS n(name) "
        "JOIN pg_index i ON i.indexrelid = to_regclass(n.name) "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid",
        (regclasses,),
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class IndexBuild:
    """Another session still building an INVALID index (a ``CREATE INDEX CONCURRENTLY``
    whose client may be gone: its backend goes on until the build ends)."""

    index: str
    pid: int
    application_name: str | None
    client: str | None
    since: datetime | None
    phase: str | None

    def describe(self) -> str:
        parts = backend_words(self.pid, self.application_name, self.client)
        if self.since:
            parts.append(f"running since {self.since:%H:%M:%S}")
        if self.phase:
            parts.append(f"phase {self.phase!r}")
        return ", ".join(parts)


def index_builds(
    conn: psycopg.Connection[Any], names: Sequence[tuple[str | None, str] | str]
) -> list[IndexBuild]:
    """Sessions other than this one still building (or otherwise holding a lock on) one of
    these INVALID indexes: ``pg_stat_progress_create_index`` names the index a build is
    creating, and ``pg_locks`` the sessions that hold a lock on it."""
    if not names:
        return []
    regclasses = [
        pair if isinstance(pair, str) else sql.Identifier(*[p for p in pair if p]).as_string(conn)
        for pair in names
    ]
    rows = conn.execute(
        "SELECT DISTINCT ON (c.oid, a.pid) c.relname, a.pid, a.application_name, "
        "  CASE WHEN a.client_addr IS NULL THEN 'local socket' "
        "       ELSE host(a.client_addr) || ':' || a.client_port END, "
        "  a.query_start, b.phase "
        "FROM unnest(%s::text[]) AS n(name) "
        "JOIN pg_index i ON i.indexrelid = to_regclass(n.name) AND NOT i.indisvalid "
        "JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN LATERAL ("
        "  SELECT p.pid, p.phase FROM pg_stat_progress_create_index p "
        "  WHERE p.index_relid = i.indexrelid "
        "  UNION ALL "
        "  SELECT l.pid, NULL FROM pg_locks l "
        "  WHERE l.relation = i.indexrelid AND l.granted AND l.locktype = 'relation'"
        ") b ON true "
        "JOIN pg_stat_activity a ON a.pid = b.pid AND a.backend_type = 'client backend' "
        "WHERE a.pid <> pg_backend_pid() "
        "ORDER BY c.oid, a.pid, b.phase NULLS LAST",
        (regclasses,),
    ).fetchall()
    return [IndexBuild(*row) for row in rows]


def qualified(index: tuple[str | None, str]) -> str:
    """``"schema"."name"`` (or ``"name"``) of an index, quoted for to_regclass."""
    schema, name = index
    return sql.Identifier(*([schema] if schema else []), name).as_string(None)


# pg_* (pg_catalog, pg_toast, temporary schemas) and information_schema are never targets.
_USER_SCHEMAS = (
    "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s "
    "AND nspname NOT LIKE 'pg\\_%%' AND nspname <> 'information_schema' ORDER BY nspname"
)


def schemas_like(conn: psycopg.Connection[Any], pattern: str) -> list[str]:
    """The user schemas whose name matches the SQL ``LIKE`` ``pattern``, sorted."""
    return [r[0] for r in conn.execute(_USER_SCHEMAS, (pattern,)).fetchall()]


def schemas_from_query(conn: psycopg.Connection[Any], query: str) -> list[str]:
    """The first column of every row of ``query``, run in a read-only transaction (so a
    query that writes fails instead of changing anything). NULLs are dropped.

    Raises:
        psycopg.Error: the query failed; TypeError: its first column is not text.
    """
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        cursor = conn.execute(sql.SQL(query))  # the user's own query, run as it is
        description = cursor.description or []
        if not description:
            raise TypeError("it returns no rows")
        if description[0].type_code not in (25, 1043, 19):  # text, varchar, name
            raise TypeError(f"its first column {description[0].name!r} is not text")
        return [str(r[0]) for r in cursor.fetchall() if r[0] is not None]


def schema_exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = %s)",
                       (schema,)).fetchone()
    return bool(row and row[0])
