"""Every SQL statement about the tracking table.

The table is named by :class:`TrackingTable`; identifiers are always composed with
``psycopg.sql.Identifier`` and values always bound as parameters. Nothing here commits or
decides policy: callers own the transactions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

# Catalog queries that are not about the tracking table live in pgshift.db.catalog.
from pgshift.errors import TrackingTableError

# Columns of the full table, in order; the first four are the legacy (Node.js tool) shape.
LEGACY_COLUMNS = ("id", "name", "batch", "executed_at")
EXTRA_COLUMNS = ("checksum", "duration_ms", "down_sql")
_TEXT_TYPES = {"text", "character varying", "varchar"}
_INT_TYPES = {"integer", "bigint", "smallint"}
_EXPECTED = {
    "id": _INT_TYPES,
    "name": _TEXT_TYPES,
    "batch": _INT_TYPES,
    "executed_at": {"timestamp with time zone", "timestamp without time zone"},
    "checksum": _TEXT_TYPES,
    "duration_ms": _INT_TYPES,
    "down_sql": _TEXT_TYPES,
}
# type OIDs of the result columns, to check a table's shape from the one status query
_OID_NAMES = {
    20: "bigint", 21: "smallint", 23: "integer", 25: "text", 1043: "character varying",
    1114: "timestamp without time zone", 1184: "timestamp with time zone",
}


class TrackingTable(NamedTuple):
    """The tracking table's name; ``schema`` is None for "the current schema".

    A NamedTuple rather than a dataclass, as are the other values of this module: they
    are defined when ``status`` starts, and a NamedTuple costs far less to define."""

    schema: str | None
    name: str

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name) if self.schema else sql.Identifier(self.name)

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def qualified(self, current_schema: str) -> TrackingTable:
        return self if self.schema else TrackingTable(current_schema, self.name)

    @property
    def versions(self) -> TrackingTable:
        """The companion table keeping the UP section of each applied version of a
        repeatable migration, so that rolling back a batch restores the version before it
        (the tracking table keeps the shape SPEC 3 defines)."""
        name = self.name + "_versions"
        if len(name.encode()) > 63:
            digest = hashlib.sha256(self.name.encode()).hexdigest()[:8]
            name = self.name.encode()[:40].decode(errors="ignore") + f"_{digest}_versions"
        return TrackingTable(self.schema, name)

    @property
    def progress(self) -> TrackingTable:
        """The companion table recording statement progress of non-transactional runs.
        Its name stays within PostgreSQL's 63-byte limit, so it never truncates to the
        tracking table's own name."""
        name = self.name + "_progress"
        if len(name.encode()) > 63:
            digest = hashlib.sha256(self.name.encode()).hexdigest()[:8]
            name = self.name.encode()[:40].decode(errors="ignore") + f"_{digest}_progress"
        return TrackingTable(self.schema, name)


class AppliedRow(NamedTuple):
    """One row of the tracking table. ``checksum``/``duration_ms`` are None for legacy rows.

    A NamedTuple rather than a dataclass: ``status`` builds one per row, and this is the
    cheapest immutable value to define and build."""

    id: int
    name: str
    batch: int
    executed_at: datetime
    checksum: str | None
    duration_ms: int | None


class Progress(NamedTuple):
    """A migration run outside a transaction that has not completed: ``applied`` of
    ``total`` statements ran, with these per-statement ``checksums``. ``pending_index`` is
    the index a ``CREATE INDEX CONCURRENTLY`` of pgshift's was building when it stopped.
    A NamedTuple rather than a dataclass: cheap to define at start-up (see
    :class:`TrackingTable`)."""

    name: str
    total: int
    applied: int
    checksums: tuple[str, ...] = ()
    pending_index: str | None = None
    updated_at: datetime | None = None


class TableState(NamedTuple):
    """What :func:`read` found: ``exists``, ``legacy`` (4 columns only), the rows by id,
    and the partially applied migrations (``partial``, by name). A NamedTuple rather than
    a dataclass: cheap to define at start-up (see :class:`TrackingTable`)."""

    exists: bool
    legacy: bool
    rows: tuple[AppliedRow, ...]
    partial: tuple[Progress, ...] = ()
    has_progress_table: bool = False
    progress_clash: bool = False

    @property
    def max_batch(self) -> int:
        return max((r.batch for r in self.rows), default=0)


_PROGRESS_COLUMNS = {"name", "total", "applied", "checksums", "pending_index"}
_FULL_SELECT = "SELECT id, name, batch, executed_at, checksum, duration_ms FROM {} ORDER BY id"
# Rows and partial runs in one round trip: status costs one query whatever the count.
_WITH_PROGRESS = (
    "SELECT id, name, batch, executed_at, checksum, duration_ms, "
    "NULL::int, NULL::int, NULL::text[], NULL::text FROM {0} "
    "UNION ALL SELECT NULL, name, NULL, updated_at, NULL, NULL, total, applied, checksums, "
    "pending_index FROM {1} ORDER BY 1 NULLS LAST, 2"
)
_LEGACY_SELECT = "SELECT id, name, batch, executed_at, NULL::text, NULL::int FROM {} ORDER BY id"


def read(conn: psycopg.Connection[Any], table: TrackingTable) -> TableState:
    """Read every row with one query on the usual path; inspect the shape only when needed.

    The connection must be in autocommit mode or inside a transaction the caller owns.

    Raises:
        TrackingTableError: the table exists with a shape pgshift does not recognise.
    """
    both = sql.SQL(_WITH_PROGRESS).format(table.identifier, table.progress.identifier)
    try:
        with _savepoint(conn):
            cursor = conn.execute(both)
            _check_result_types(cursor, table)
            return _split_rows(cursor.fetchall())
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn,
            psycopg.errors.DatatypeMismatch, psycopg.errors.InsufficientPrivilege):
        pass
    try:
        with _savepoint(conn):
            cursor = conn.execute(sql.SQL(_FULL_SELECT).format(table.identifier))
            _check_result_types(cursor, table)
            rows = tuple(AppliedRow(*r) for r in cursor.fetchall())
            progress_columns = set(inspect(conn, table.progress))
            ours = progress_columns >= _PROGRESS_COLUMNS
            return TableState(True, False, rows, has_progress_table=ours,
                              progress_clash=bool(progress_columns) and not ours)
    except psycopg.errors.UndefinedTable:
        return TableState(False, False, ())
    except psycopg.errors.UndefinedColumn:
        pass
    except psycopg.errors.InsufficientPrivilege as error:
        raise TrackingTableError(
            f"cannot read the tracking table {table.display}: {error.diag.message_primary} "
            "(SQLSTATE 42501)",
            hint=f"GRANT SELECT ON {table.display} to this role (and INSERT, DELETE for "
            "commands that change the database)",
        ) from None
    columns = inspect(conn, table)
    _check_shape(columns, table)
    cursor = conn.execute(sql.SQL(_LEGACY_SELECT).format(table.identifier))
    return TableState(True, True, tuple(AppliedRow(*r) for r in cursor.fetchall()))


def _savepoint(conn: psycopg.Connection[Any]) -> AbstractContextManager[Any]:
    """A transaction (or savepoint) so a failed probe leaves the caller's state intact."""
    return nullcontext() if conn.autocommit else conn.transaction()


def _split_rows(rows: list[tuple[Any, ...]]) -> TableState:
    applied = tuple(AppliedRow(*r[:6]) for r in rows if r[0] is not None)
    partial = tuple(
        Progress(name=r[1], total=r[6], applied=r[7], checksums=tuple(r[8] or ()),
                 pending_index=r[9], updated_at=r[3])
        for r in rows if r[0] is None
    )
    return TableState(True, False, applied, partial, has_progress_table=True)


def _check_result_types(cursor: psycopg.Cursor[Any], table: TrackingTable) -> None:
    description = cursor.description or []
    for column in description[:6]:
        type_name = _OID_NAMES.get(column.type_code, f"type oid {column.type_code}")
        if type_name not in _EXPECTED[column.name]:
            _raise_shape(table, f"column {column.name} has type {type_name}")


def inspect(conn: psycopg.Connection[Any], table: TrackingTable) -> dict[str, str]:
    """Column name → type of the tracking table ({} when it does not exist)."""
    regclass = table.identifier.as_string(conn)
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (regclass,),
    ).fetchall()
    return {name: type_name for name, type_name in rows}


def _check_shape(columns: dict[str, str], table: TrackingTable) -> None:
    missing = [c for c in LEGACY_COLUMNS if c not in columns]
    if missing:
        _raise_shape(table, f"column {', '.join(missing)} is missing")
    for column, type_name in columns.items():
        expected = _EXPECTED.get(column)
        base = type_name.split("(")[0]
        if expected is not None and base not in expected:
            _raise_shape(table, f"column {column} has type {type_name}")
    partial = [c for c in EXTRA_COLUMNS if c in columns]
    if partial and len(partial) != len(EXTRA_COLUMNS):
        absent = [c for c in EXTRA_COLUMNS if c not in columns]
        _raise_shape(table, f"column {', '.join(absent)} is missing")


def _raise_shape(table: TrackingTable, problem: str) -> None:
    raise TrackingTableError(
        f"tracking table {table.display} has an unexpected shape: {problem}",
        hint="pgshift never changes a table it does not recognise; use --table NAME for "
        "pgshift's own table (expected columns: id, name, batch, executed_at, "
        "checksum, duration_ms, down_sql)",
    )


def create_or_upgrade(conn: psycopg.Connection[Any], table: TrackingTable, state: TableState) -> (
    None
):
    """Create the table, or add the three new columns to a legacy one (rows kept)."""
    if not state.exists:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "id serial PRIMARY KEY, name text NOT NULL UNIQUE, batch integer NOT NULL, "
                "executed_at timestamptz NOT NULL DEFAULT now(), checksum text, "
                "duration_ms integer, down_sql text)"
            ).format(table.identifier)
        )
    elif state.legacy:
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS checksum text, "
                "ADD COLUMN IF NOT EXISTS duration_ms integer, "
                "ADD COLUMN IF NOT EXISTS down_sql text"
            ).format(table.identifier)
        )
    existing = set() if state.has_progress_table else set(inspect(conn, table.progress))
    if state.progress_clash or (existing and not existing >= _PROGRESS_COLUMNS):
        raise TrackingTableError(
            f"table {table.progress.display} exists but is not pgshift's progress table "
            f"(pgshift keeps it next to {table.display})",
            hint="rename that table, or pass --table NAME so that pgshift uses other names",
        )
    if not state.has_progress_table and not existing:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "name text PRIMARY KEY, total integer NOT NULL, applied integer NOT NULL, "
                "checksums text[] NOT NULL DEFAULT '{{}}', pending_index text, "
                "started_at timestamptz NOT NULL DEFAULT now(), "
                "updated_at timestamptz NOT NULL DEFAULT now())"
            ).format(table.progress.identifier)
        )


def progress_start(conn: psycopg.Connection[Any], table: TrackingTable, name: str, total: int) -> (
    None
):
    """Record that ``name`` starts running outside a transaction (no statement done yet)."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (name, total, applied) VALUES (%s, %s, 0) "
            "ON CONFLICT (name) DO UPDATE SET total = EXCLUDED.total, updated_at = now()"
        ).format(table.progress.identifier),
        (name, total),
    )


def progress_step(
    conn: psycopg.Connection[Any], table: TrackingTable, name: str, applied: int, checksum: str
) -> None:
    """Statement number ``applied`` (1-based) of ``name`` completed."""
    conn.execute(
        sql.SQL(
            "UPDATE {} SET applied = %s, checksums = checksums[1:%s] || %s::text, "
            "pending_index = NULL, updated_at = now() WHERE name = %s"
        ).format(table.progress.identifier),
        (applied, applied - 1, checksum, name),
    )


def progress_index(
    conn: psycopg.Connection[Any], table: TrackingTable, name: str, index: str | None
) -> None:
    """Record the index a CREATE INDEX CONCURRENTLY of ``name`` is about to build."""
    conn.execute(
        sql.SQL("UPDATE {} SET pending_index = %s, updated_at = now() WHERE name = %s").format(
            table.progress.identifier
        ),
        (index, name),
    )


def progress_delete(conn: psycopg.Connection[Any], table: TrackingTable, name: str) -> None:
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE name = %s").format(table.progress.identifier), (name,)
    )


def insert(
    conn: psycopg.Connection[Any],
    table: TrackingTable,
    *,
    name: str,
    batch: int,
    checksum: str,
    duration_ms: int,
    down_sql: str | None,
) -> None:
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (name, batch, checksum, duration_ms, down_sql) "
            "VALUES (%s, %s, %s, %s, %s)"
        ).format(table.identifier),
        (name, batch, checksum, duration_ms, down_sql),
    )


# A one-query migration starts by marking the time (seconds since the epoch, as text: no
# DateStyle or TimeZone a migration sets can change how it reads back) in a setting of its
# transaction; its INSERT takes the time since then as its duration_ms. Several migrations
# may go in one query, so statement_timestamp() (when the query arrived) only stands in
# when the mark is gone (a RESET ALL in the migration).
MARKS_START = ("SELECT pg_catalog.set_config('pgshift.started', "
               "pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())::text, true)")
_STARTED = ("coalesce(NULLIF(pg_catalog.current_setting('pgshift.started', true), '')"
            "::float8, pg_catalog.date_part('epoch', pg_catalog.statement_timestamp()))")
_ELAPSED_MS = ("(1000 * (pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) - "
               f"{_STARTED}))::integer")


def insert_sql(conn: psycopg.Connection[Any], table: TrackingTable, *, name: str, batch: int,
               checksum: str, down_sql: str | None, enclosed: bool = False) -> str:
    """:func:`insert` as SQL text with its values inlined (quoted by libpq), to end the
    migration's part of the query that runs it: ``executed_at`` is the start of its
    transaction, the migration's :data:`MARKS_START` (``now()`` is the query's start for
    every transaction of a query of several), or inside an ``enclosed`` transaction that
    transaction's start; ``duration_ms`` is the time the server spent since the mark, i.e.
    on its UP section. The statement returns it."""
    quote = _literals(conn)
    # inside an enclosing transaction (--atomic) now(), the column's default, as for rows
    # written one by one: the run's one start
    started = "now()" if enclosed else f"pg_catalog.to_timestamp({_STARTED})"
    return (f"INSERT INTO {table.identifier.as_string(conn)} "
            f"(name, batch, checksum, executed_at, duration_ms, down_sql) VALUES "
            f"({quote(name)}, {int(batch)}, {quote(checksum)}, {started}, {_ELAPSED_MS}, "
            f"{quote(down_sql)}) RETURNING duration_ms")


def delete_sql(conn: psycopg.Connection[Any], table: TrackingTable, name: str) -> str:
    """:func:`delete` as SQL text with the name inlined (quoted by libpq)."""
    return f"DELETE FROM {table.identifier.as_string(conn)} WHERE name = {_literals(conn)(name)}"


def _literals(conn: psycopg.Connection[Any]) -> Callable[[str | None], str]:
    """Quotes a text value as a literal the way libpq does (``PQescapeLiteral``, in the
    connection's encoding); None is ``NULL``."""
    escape = psycopg.pq.Escaping(conn.pgconn).escape_literal
    encoding = conn.info.encoding

    def quote(value: str | None) -> str:
        return "NULL" if value is None else escape(value.encode(encoding)).decode(encoding)

    return quote


def recorded_durations(conn: psycopg.Connection[Any], table: TrackingTable,
                       names: Sequence[str]) -> dict[str, int]:
    """The ``duration_ms`` of each of ``names`` that has a row (a NULL one as 0); names
    without a row are left out."""
    rows = conn.execute(
        sql.SQL("SELECT name, duration_ms FROM {} WHERE name = ANY(%s)").format(
            table.identifier),
        (list(names),),
    ).fetchall()
    return {str(name): int(ms or 0) for name, ms in rows}


def delete(conn: psycopg.Connection[Any], table: TrackingTable, name: str) -> int:
    cursor = conn.execute(
        sql.SQL("DELETE FROM {} WHERE name = %s").format(table.identifier), (name,)
    )
    return cursor.rowcount


def stored_down_sql(
    conn: psycopg.Connection[Any], table: TrackingTable, names: Sequence[str]
) -> dict[str, str | None]:
    """name → stored ``down_sql`` for the given names (legacy tables have none)."""
    if not names:
        return {}
    rows = conn.execute(
        sql.SQL("SELECT name, down_sql FROM {} WHERE name = ANY(%s)").format(table.identifier),
        (list(names),),
    ).fetchall()
    return {name: down for name, down in rows}



# --- repeatable migrations -------------------------------------------------------------


class RepeatableVersion(NamedTuple):
    """An applied version of a repeatable migration: its batch, checksum, UP and DOWN as
    written, and when it was applied. A NamedTuple rather than a dataclass: cheap to
    define at start-up (see :class:`TrackingTable`)."""

    batch: int
    checksum: str | None
    up_sql: str
    down_sql: str | None
    executed_at: Any


def record_repeatable(conn: psycopg.Connection[Any], table: TrackingTable, *, name: str,
                      batch: int, checksum: str, duration_ms: int, up_sql: str,
                      down_sql: str | None) -> None:
    """Record the version of repeatable ``name`` just applied: its tracking row (replacing
    the row of an earlier version) and its UP in the versions table."""
    versions = table.versions.identifier
    conn.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (name text NOT NULL, batch integer NOT NULL, "
        "checksum text, up_sql text NOT NULL, down_sql text, "
        "executed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (name, batch))"
    ).format(versions))
    delete(conn, table, name)  # a new row: ids stay in the order things ran
    insert(conn, table, name=name, batch=batch, checksum=checksum, duration_ms=duration_ms,
           down_sql=down_sql)
    conn.execute(sql.SQL(
        "INSERT INTO {} (name, batch, checksum, up_sql, down_sql) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (name, batch) DO UPDATE SET checksum = EXCLUDED.checksum, "
        "up_sql = EXCLUDED.up_sql, down_sql = EXCLUDED.down_sql, executed_at = now()"
    ).format(versions), (name, batch, checksum, up_sql, down_sql))


def previous_version(conn: psycopg.Connection[Any], table: TrackingTable, name: str,
                     batch: int) -> RepeatableVersion | None:
    """The version of repeatable ``name`` applied before ``batch`` (None: none is kept)."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                          (table.versions.identifier.as_string(conn),)).fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(sql.SQL(
        "SELECT batch, checksum, up_sql, down_sql, executed_at FROM {} "
        "WHERE name = %s AND batch < %s ORDER BY batch DESC LIMIT 1"
    ).format(table.versions.identifier), (name, batch)).fetchone()
    return None if row is None else RepeatableVersion(*row)


def restore_repeatable(conn: psycopg.Connection[Any], table: TrackingTable, name: str,
                       undone: int, previous: RepeatableVersion | None) -> None:
    """After the version of batch ``undone`` was rolled back: the tracking row becomes
    ``previous``'s (None: the row and every kept version are deleted)."""
    if previous is None:
        delete(conn, table, name)
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                              (table.versions.identifier.as_string(conn),)).fetchone()
        if exists and exists[0]:
            conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(
                table.versions.identifier), (name,))
        return
    conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s AND batch >= %s").format(
        table.versions.identifier), (name, undone))
    conn.execute(sql.SQL(
        "UPDATE {} SET batch = %s, checksum = %s, down_sql = %s, executed_at = %s "
        "WHERE name = %s").format(table.identifier),
        (previous.batch, previous.checksum, previous.down_sql, previous.executed_at, name))


# --- many schemas of one database at once ------------------------------------------------

# Schemas per transaction of the many-schema read: its SELECTs lock each table (and its
# indexes) until the transaction ends, so a COMMIT every so many schemas keeps the number
# of locks held at once far below the server's lock table.
SCHEMAS_PER_TRANSACTION = 100
# Which schemas have pgshift's full tracking table and its progress table, readable.
_SHAPES = """
SELECT s.nspname, t.oid IS NOT NULL, t.columns, p.columns, t.readable AND p.readable
FROM unnest(%s::text[]) AS s(nspname)
LEFT JOIN LATERAL (
  SELECT c.oid, has_table_privilege(c.oid, 'SELECT') AS readable,
    ARRAY(SELECT a.attname || ' ' || format_type(a.atttypid, NULL) FROM pg_attribute a
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = s.nspname AND c.relname = %s AND c.relkind IN ('r', 'p')
) t ON true
LEFT JOIN LATERAL (
  SELECT has_table_privilege(c.oid, 'SELECT') AS readable,
    ARRAY(SELECT a.attname FROM pg_attribute a
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = s.nspname AND c.relname = %s AND c.relkind IN ('r', 'p')
) p ON true
"""


def read_many(conn: psycopg.Connection[Any], schemas: Sequence[str], name: str) -> (
    dict[str, TableState | None]
):
    """The state of tracking table ``<schema>.<name>`` of every schema in ``schemas``.

    One query message when every schema has pgshift's tables: one SELECT per schema (as
    :func:`read`'s), all sent at once by the simple query protocol. When some schema
    lacks them or has another shape, one catalog query says which, and the others are
    read the same way. A schema whose table has another shape than pgshift's full one
    (legacy, unknown, unreadable) maps to None: read it with :func:`read`, which says
    what is wrong. ``conn`` must be in autocommit mode.

    Raises:
        psycopg.Error: the server failed the read.
    """
    table = TrackingTable(None, name)
    try:
        return dict(zip(schemas, _read_each(conn, schemas, table), strict=True))
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn,
            psycopg.errors.DatatypeMismatch, psycopg.errors.InsufficientPrivilege,
            TrackingTableError):
        pass
    found: dict[str, TableState | None] = {}
    readable: list[str] = []
    rows = conn.execute(_SHAPES, (list(schemas), name, table.progress.name)).fetchall()
    for schema, exists, columns, progress_columns, can_read in rows:
        if not exists:
            found[schema] = TableState(False, False, ())
        elif (can_read and _full_shape(columns)
              and set(progress_columns or ()) >= _PROGRESS_COLUMNS):
            readable.append(schema)
        else:
            found[schema] = None
    if readable:
        found.update(zip(readable, _read_each(conn, readable, table), strict=True))
    return found


def _read_each(conn: psycopg.Connection[Any], schemas: Sequence[str],
               table: TrackingTable) -> list[TableState]:
    """One query message: :data:`_WITH_PROGRESS` for each schema, a COMMIT every
    :data:`SCHEMAS_PER_TRANSACTION` schemas."""
    parts: list[sql.Composable] = []
    for position, schema in enumerate(schemas, start=1):
        own = TrackingTable(schema, table.name)
        parts.append(sql.SQL(_WITH_PROGRESS).format(own.identifier, own.progress.identifier))
        if position % SCHEMAS_PER_TRANSACTION == 0 and position < len(schemas):
            parts.append(sql.SQL("COMMIT"))
    if not parts:
        return []
    cursor = conn.execute(sql.SQL(";\n").join(parts))
    states: list[TableState] = []
    while True:
        if cursor.description is not None:
            _check_result_types(cursor, table)
            states.append(_split_rows(cursor.fetchall()))
        if not cursor.nextset():
            return states


def _full_shape(columns: Sequence[str] | None) -> bool:
    shape = dict(column.split(" ", 1) for column in columns or ())
    return all(shape.get(column) in expected for column, expected in _EXPECTED.items())
