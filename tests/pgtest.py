"""Helpers shared by pgshift's test files: running the command line (:func:`run`,
:func:`ok`, :func:`one_json`, the :data:`Cli` and :data:`Files` fixture types), short
queries on a URL, tracking rows, advisory locks and catalog facts.

Every database helper opens its own autocommit connection and closes it, so a test can
call them between pgshift runs without holding locks or transactions open.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row


@dataclass(frozen=True)
class CliResult:
    """What a pgshift run returned: exit code and the two output streams."""

    exit_code: int
    stdout: str
    stderr: str


Env = Mapping[str, "str | None"]
"""Environment changes for a pgshift run: name → value, or None to remove the variable."""

Cli = Callable[..., CliResult]
"""The ``cli`` fixture: ``cli(*args, input=None, env=None) -> CliResult`` (in-process)."""

Files = Callable[..., Path]
"""The ``migrations`` fixture: ``migrations({name: text}) -> directory``."""

OWN_DATABASE = "(SELECT oid FROM pg_database WHERE datname = current_database())"
"""SQL for the oid of the connection's database (locks of other tests' databases differ)."""


def run(cli: Cli, url: str, directory: Path, *args: str, **kwargs: Any) -> CliResult:
    """``pgshift --database-url URL --dir DIRECTORY ARGS...`` through the ``cli`` fixture."""
    return cli("--database-url", url, "--dir", str(directory), *args, **kwargs)


def ok(result: CliResult) -> CliResult:
    """``result``, after checking that it exited 0 (its output shown otherwise)."""
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def one_json(result: CliResult) -> dict[str, Any]:
    """stdout parsed as exactly one JSON document (json.loads rejects trailing text)."""
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def fetch(url: str, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """All rows of ``query`` run with ``params`` on an autocommit connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(_sql(query), params or None).fetchall()


def execute(url: str, query: str, params: Sequence[object] = ()) -> None:
    """Run ``query`` (one or more statements when there are no params) in autocommit."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_sql(query), params or None)


def queries_sent(db_url: str, directory: Path, *, atomic: bool = False) -> int:
    """Query messages (simple or extended) pgshift sends to apply what is pending."""
    from faultkit import FaultProxy
    from pgshift import Migrator

    target = conninfo_to_dict(db_url)
    with FaultProxy(str(target.get("host", "127.0.0.1")), int(target.get("port", 5432))) as proxy:
        Migrator(proxy.rewrite_url(db_url), directory, atomic=atomic).migrate()
        sent = proxy.stats().client_messages
    return sent.get("Q", 0) + sent.get("E", 0)


def tracking_rows(url: str, table: str = "_migrations") -> list[dict[str, Any]]:
    """The rows of the tracking table ``table`` (may be ``schema.name``) ordered by id;
    ``[]`` when the table does not exist."""
    if not table_exists(url, table):
        return []
    ident = sql.Identifier(*table.split("."))
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(sql.SQL("SELECT * FROM {} ORDER BY id").format(ident)).fetchall()


def table_exists(url: str, name: str) -> bool:
    """Whether relation ``name`` (resolved like in SQL, ``schema.name`` allowed) exists."""
    return fetch(url, "SELECT to_regclass(%s) IS NOT NULL", [name])[0][0] is True


def columns(url: str, table: str) -> dict[str, str]:
    """Column name → ``format_type`` of ``table`` in column order; ``{}`` if it is missing."""
    rows = fetch(
        url,
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum",
        [table],
    )
    return {name: type_ for name, type_ in rows}


def index_info(url: str, name: str) -> tuple[bool, str] | None:
    """``(indisvalid, pg_get_indexdef)`` of index ``name``, or None if there is none."""
    rows = fetch(
        url,
        "SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indexrelid = to_regclass(%s)",
        [name],
    )
    return (rows[0][0], rows[0][1]) if rows else None


def advisory_locks(url: str) -> list[tuple[int, bool]]:
    """(pid, granted) of every advisory lock held or awaited in the database of ``url``
    (advisory locks are per database; other databases belong to tests running in
    parallel)."""
    return [(r[0], r[1]) for r in fetch(
        url, "SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory'"
        f" AND database = {OWN_DATABASE}")]


def clean_environ(extra: Env | None = None) -> dict[str, str]:
    """This process's environment without the database variables, plus ``extra``
    (where ``None`` removes a variable)."""
    env = {name: value for name, value in os.environ.items() if not is_database_variable(name)}
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def url_for_database(url: str, dbname: str) -> str:
    """``url`` (a URL or a key=value string) pointing at database ``dbname`` instead."""
    if "://" not in url:
        return make_conninfo(url, dbname=dbname)
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))


def is_database_variable(name: str) -> bool:
    """Whether environment variable ``name`` could point pgshift at another database."""
    return name in ("DATABASE_URL", "DATABASE_SSL") or name.startswith("PG")


_USER_SCHEMA = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
)

_CATALOG_QUERIES: dict[str, str] = {
    "schemas": "SELECT n.nspname FROM pg_namespace n WHERE {schemas}",
    "extensions": "SELECT extname, extversion FROM pg_extension",
    "relations": """
        SELECT n.nspname, c.relname, c.relkind, a.attnum, a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c') AND {schemas}""",
    "views": """
        SELECT n.nspname, c.relname, pg_get_viewdef(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {schemas}""",
    "indexes": """
        SELECT n.nspname, c.relname, i.indisvalid, i.indisready, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {schemas}""",
    "constraints": """
        SELECT n.nspname, co.conrelid::regclass::text, co.contypid::regtype::text,
               co.conname, co.contype, co.convalidated, pg_get_constraintdef(co.oid)
        FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE {schemas}""",
    "types": """
        SELECT n.nspname, t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod),
               (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                FROM pg_enum e WHERE e.enumtypid = t.oid)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE {schemas}
          AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
          AND (t.typrelid = 0
               OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')""",
    "functions": """
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
               pg_get_function_result(p.oid), p.prosrc
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {schemas}""",
    "triggers": """
        SELECT n.nspname, c.relname, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {schemas}""",
    "tables": """
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND {schemas}""",
}


def catalog_snapshot(url: str) -> dict[str, Any]:
    """Everything a test compares for "the database is unchanged": schemas, extensions,
    relations with their columns, views, indexes (with validity), constraints, types,
    functions and triggers outside the system schemas, and the rows of every ordinary
    table there (which include all tracking tables). Sequence values are left out: they
    advance even in rolled-back transactions.
    """
    snapshot: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for key, query in _CATALOG_QUERIES.items():
            text = _sql(query.format(schemas=_USER_SCHEMA))
            snapshot[key] = sorted(conn.execute(text).fetchall(), key=repr)
        data: dict[str, list[str]] = {}
        for schema, name in snapshot.pop("tables"):
            ident = sql.Identifier(schema, name)
            rows = conn.execute(sql.SQL("SELECT * FROM {}").format(ident)).fetchall()
            data[f"{schema}.{name}"] = sorted(repr(row) for row in rows)
        snapshot["data"] = data
    return snapshot


def _sql(text: str) -> sql.SQL:
    """A query text the tests wrote themselves, marked as trusted SQL."""
    return sql.SQL(text)


def batches(url: str, table: str = "_migrations") -> list[tuple[str, int]]:
    """(name, batch) of every row of tracking table ``table``, in order of execution."""
    return [(row["name"], row["batch"]) for row in tracking_rows(url, table)]


def terminal_env(url: str) -> dict[str, str]:
    """The environment of a pgshift run on a terminal: :func:`clean_environ` with
    ``DATABASE_URL`` set to ``url``, a 120-column xterm."""
    return clean_environ({"DATABASE_URL": url, "COLUMNS": "120", "TERM": "xterm"})


def run_on_terminal(
    args: list[str], env: dict[str, str], cwd: Path, answer: str | None = None
) -> CliResult:
    """``python -m pgshift`` with stdin and stdout on a pseudo-terminal, stderr piped;
    ``answer`` is typed in first."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pgshift", *args], stdin=terminal, stdout=terminal,
        stderr=subprocess.PIPE, env=env, cwd=cwd, close_fds=True,
    )
    os.close(terminal)
    if answer is not None:
        os.write(controller, answer.encode())
    output = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert process.stderr is not None
    stderr = process.stderr.read().decode("utf-8", "replace")
    process.stderr.close()
    return CliResult(process.returncode, output.decode("utf-8", "replace"), stderr)
