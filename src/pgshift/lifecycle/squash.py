"""``squash``: replace the migrations up to NAME by one file that builds the same schema
and rows.

The migrations are replayed on a scratch database (:mod:`pgshift.review.scratch`, as
``drift`` does), dumped with ``pg_dump`` in the order of a restore (pre-data, the rows,
post-data) and written as ``<NAME's number>_squashed.sql``. Before anything is written,
that file is applied through pgshift's own runner to a second, empty scratch database,
whose catalog (:mod:`pgshift.review.snapshot`), rows (count and checksum per table),
large objects and database properties (settings, comment, privileges: no squash file
holds them) must equal the replayed ones. Never prints.

pg_dump's session settings become transaction-local: every ``SET x = v`` becomes
``SET LOCAL x = v`` and ``set_config('search_path', '', false)`` becomes
``set_config('search_path', '', true)`` (pg_dump schema-qualifies every name), so the
session's settings are as they were once the migration's transaction ends; the values
they had are saved first and restored at the end of the UP section, so later migrations
of an ``--atomic`` run (one transaction) see them too. The time-out settings are left out
(pgshift sets its own lock_timeout). The DOWN section raises an
error: rolling back below a squash file is refused by the engine, and would be here too.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgshift.errors import StateError, UsageRefused

if TYPE_CHECKING:
    from pgshift.engine.migrator import Migrator
    from pgshift.files.directory import MigrationFile
    from pgshift.review.snapshot import Snapshot

# pg_dump settings left out: time-outs (pgshift sets its own), the client encoding.
_DROPPED_SETTINGS = frozenset({"statement_timeout", "lock_timeout", "transaction_timeout",
                               "idle_in_transaction_session_timeout", "client_encoding"})
_SET = re.compile(r"^SET (\w+) = (.*);$")
_SET_NAME = re.compile(r"^SET (\w+) = ", re.MULTILINE)
_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false);"
_SEARCH_PATH_LOCAL = "SELECT pg_catalog.set_config('search_path', '', true);"
NAMES_PER_LINE = 4

TableRows = dict[str, tuple[int, str]]
# What database_facts compares; the first three are properties of the database itself.
DATABASE_FACTS = ("settings of the database", "comment on the database",
                  "privileges on the database", "large objects")


@dataclass(frozen=True)
class SquashReport:
    """The squash of ``replaced`` into ``path`` (``written`` False: a dry run, or the
    proof failed). ``differences`` lists what the squash file built differently (empty:
    proven equal); ``tables`` the rows copied per table (count); ``moved_to`` the folder
    the replaced files went to with ``--keep`` (None: removed)."""

    path: Path
    replaced: tuple[str, ...]
    written: bool
    dry_run: bool
    differences: tuple[str, ...]
    tables: tuple[tuple[str, int], ...]
    moved_to: Path | None
    seconds: float
    statements: int = 0
    scratch: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.differences


def squash(migrator: Migrator, to: str, *, keep: bool = False, dry_run: bool = False,
           scratch_url: str | None = None, embedded_dir: Path | None = None) -> SquashReport:
    """Squash the migrations of ``migrator``'s directory up to and including ``to`` into
    one file, proven equal on scratch databases (server of ``scratch_url``, default the
    embedded server in ``embedded_dir``) before anything is written; the replaced files
    are then removed (``keep``: moved to ``DIR/squashed/``). ``dry_run``: build and prove,
    write nothing. The database of ``migrator`` is not used.

    Raises:
        UsageRefused: ``to`` is not a migration file; the file to write exists already.
        StateError: a migration fails to replay. MigrationFileError, RunError (pg_dump),
        ConnectionFailed.
    """
    from pgshift.files import directory

    started = time.perf_counter()
    discovery = directory.discover(migrator.directory)
    files = _replaced_files(discovery.files, to)
    number = files[-1].name.split("_", 1)[0]
    path = migrator.directory / f"{number}_squashed.sql"
    if path.exists() and path.name not in {f.name for f in files}:
        raise UsageRefused(f"squash --to {to}: {path} exists already; nothing was written")
    text, tables, differences, scratch = _build_and_prove(
        migrator, files, path.name, scratch_url, embedded_dir)
    names = tuple(f.name for f in files)
    statements = text.count(";\n")
    if differences or dry_run:
        planned = path.parent / "squashed" if keep else None
        return SquashReport(path, names, False, dry_run, differences, tables, planned,
                            time.perf_counter() - started, statements, scratch)
    moved_to = _replace(files, path, text, keep)
    return SquashReport(path, names, True, False, (), tables, moved_to,
                        time.perf_counter() - started, statements, scratch)


def _replaced_files(files: tuple[MigrationFile, ...] | list[MigrationFile],
                    to: str) -> list[MigrationFile]:
    names = [f.name for f in files]
    wanted = to if to in names else f"{to}.sql"
    if wanted not in names:
        raise UsageRefused(f"squash --to {to}: is not a migration file of the directory",
                           hint="name a file as pgshift status lists it, e.g. 007_x.sql")
    return list(files)[: names.index(wanted) + 1]


def _build_and_prove(migrator: Migrator, files: list[MigrationFile], filename: str,
                     scratch_url: str | None, embedded_dir: Path | None) -> tuple[
                         str, tuple[tuple[str, int], ...], tuple[str, ...], str]:
    """Replay, dump, apply the dump through the runner, compare: (file text, rows per
    table, differences, scratch server)."""
    from pgshift.db.connect import connect, describe_target
    from pgshift.files import directory, sqlfile
    from pgshift.lifecycle.drift import replay_one
    from pgshift.review import scratch, snapshot

    server = scratch.scratch_server(scratch_url, embedded_dir)
    parsed = [sqlfile.parse(directory.read_text(f), f.name) for f in files]
    with scratch.scratch_database(server, "pgshift_squash") as replay_url:
        with connect(replay_url, autocommit=True) as conn:
            for migration in parsed:
                replay_one(conn, migration, migrator.variables)
            expected = snapshot.take(conn)
            expected_rows = _table_rows(conn, ())
            expected_facts = database_facts(conn)
        text = _squash_text(replay_url, filename, [f.name for f in files],
                            [p.squashes for p in parsed])
    with scratch.scratch_database(server, "pgshift_squash_check") as check_url:
        actual, actual_rows, actual_facts = _apply_through_runner(
            check_url, filename, text, migrator)
    differences = _differences(expected, actual, expected_rows, actual_rows)
    differences += _fact_differences(expected_facts, actual_facts)
    tables = tuple((name, count) for name, (count, _sum) in sorted(expected_rows.items())
                   if count)
    return text, tables, differences, describe_target(server)


def _squash_text(url: str, filename: str, names: list[str],
                 squashes: list[tuple[str, ...]]) -> str:
    """The squash file: header, the schema in pg_dump's three sections (pre-data, the
    rows, post-data: indexes, constraints, triggers, rules, policies and materialized
    view contents come after the rows, as in a restore), a DOWN that refuses."""
    from pgshift.review.dump import run_pg_dump

    pre = run_pg_dump(url, ["--section=pre-data", "--no-owner"])
    data = run_pg_dump(url, ["--section=data", "--no-owner", "--no-privileges",
                             "--inserts", "--rows-per-insert=500"])
    post = run_pg_dump(url, ["--section=post-data", "--no-owner"])
    # a squash file squashed again: it stands for what it replaced
    replaced = list(dict.fromkeys(n for name, earlier in zip(names, squashes, strict=True)
                                  for n in (earlier or (name,))))
    lines = [f"-- Migration: {filename}",
             f"-- Description: squash of {replaced[0]}..{replaced[-1]} "
             f"({len(replaced)} migrations), written by pgshift squash",
             f"-- pgshift: squashes {replaced[0]}..{replaced[-1]}"]
    lines += [f"-- pgshift: replaces {' '.join(replaced[i:i + NAMES_PER_LINE])}"
              for i in range(0, len(replaced), NAMES_PER_LINE)]
    names_set = sorted({"search_path", *_SET_NAME.findall(pre + data + post)}
                       - _DROPPED_SETTINGS)
    values = ", ".join(f"('{n}')" for n in names_set)
    lines += ["-- pgshift: no-placeholders", "", "-- UP",
              "-- The settings below are transaction-local; saved here, restored at the end",
              "SELECT pg_catalog.set_config('pgshift.squash_' || name, "
              f"pg_catalog.current_setting(name), true) FROM (VALUES {values}) AS s(name);"]
    for title, section in (("", pre), ("-- Rows the squashed migrations inserted", data),
                           ("-- Indexes, constraints, triggers, rules, policies", post)):
        body = _transaction_local(section)
        if _has_statements(body):
            lines += [title, body] if title else [body]
    lines += ["", "SELECT pg_catalog.set_config(name, pg_catalog.current_setting("
              f"'pgshift.squash_' || name), true) FROM (VALUES {values}) AS s(name);",
              "", "-- DOWN",
              "DO $squash$ BEGIN RAISE EXCEPTION "
              f"'{filename} squashes {replaced[0]}..{replaced[-1]} and cannot be rolled "
              "back'; END $squash$;", ""]
    return "\n".join(lines)


def _has_statements(body: str) -> bool:
    """Whether a section of pg_dump's output holds more than its settings and comments."""
    return any(line and not line.startswith(("--", "SET LOCAL ", _SEARCH_PATH_LOCAL))
               for line in body.split("\n"))


def _transaction_local(dump: str) -> str:
    """pg_dump's output with its session settings made transaction-local and its psql
    meta-commands (``\\restrict``, ``\\connect``) left out, and the ``BEGIN``/``COMMIT``
    that wrap the contents of large objects (the migration's transaction holds them)."""
    out: list[str] = []
    blobs = False
    for line in dump.split("\n"):
        if line.startswith(("-- Name: ", "-- Data for Name: ")):
            blobs = line.endswith("; Type: BLOBS; Schema: -; Owner: -")
        if line.startswith("\\") or (blobs and line in {"BEGIN;", "COMMIT;"}):
            continue
        if line == _SEARCH_PATH:
            out.append(_SEARCH_PATH_LOCAL)
            continue
        setting = _SET.match(line)
        if setting:
            if setting.group(1) not in _DROPPED_SETTINGS:
                out.append(f"SET LOCAL {setting.group(1)} = {setting.group(2)};")
            continue
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _table_rows(conn: Any, exclude: tuple[tuple[str, str], ...]) -> TableRows:
    """Count and checksum of the rows of every user table (not of extensions)."""
    from psycopg import sql

    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' "
        "AND n.nspname NOT LIKE 'pg\\_%' AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d "
        "WHERE d.objid = c.oid AND d.deptype = 'e') ORDER BY 1, 2").fetchall()
    found: TableRows = {}
    for schema, name in tables:
        if (schema, name) in exclude:
            continue
        row = conn.execute(sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), "
            "'')) FROM ONLY {}.{} t").format(sql.Identifier(schema), sql.Identifier(name))
        ).fetchone()
        found[f"{schema}.{name}"] = (int(row[0]), str(row[1]))
    return found


def database_facts(conn: Any) -> dict[str, str]:
    """What the schema snapshot and the table rows leave out, by name: the properties of
    the database itself (its settings, comment and privileges, which pg_dump writes only
    with ``--create``, naming the database) and its large objects (count, checksum)."""
    row = conn.execute(
        "SELECT (SELECT pg_catalog.string_agg(coalesce(r.rolname, 'every role') || ': ' "
        "|| pg_catalog.array_to_string(s.setconfig, ', '), '; ' ORDER BY r.rolname) "
        "FROM pg_catalog.pg_db_role_setting s LEFT JOIN pg_catalog.pg_roles r "
        "ON r.oid = s.setrole WHERE s.setdatabase = d.oid), "
        "pg_catalog.shobj_description(d.oid, 'pg_database'), "
        "coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))::text, "
        "(SELECT count(*) || ' (checksum ' || md5(coalesce(pg_catalog.string_agg("
        "m.oid::text || ':' || md5(pg_catalog.lo_get(m.oid)), ',' ORDER BY m.oid), '')) "
        "|| ')' FROM pg_catalog.pg_largeobject_metadata m) "
        "FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()"
    ).fetchone()
    return {name: "none" if value is None else str(value)
            for name, value in zip(DATABASE_FACTS, row, strict=True)}


def _apply_through_runner(url: str, filename: str, text: str,
                          migrator: Migrator) -> tuple[Snapshot, TableRows, dict[str, str]]:
    """Migrate an empty database with the squash file alone; its catalog and rows,
    tracking tables left out; the facts of :func:`database_facts`."""
    from pgshift.db import catalog
    from pgshift.db.connect import connect
    from pgshift.engine.migrator import Migrator as Runner
    from pgshift.errors import PgshiftError
    from pgshift.review import snapshot

    with tempfile.TemporaryDirectory(prefix="pgshift-squash-") as folder:
        Path(folder, filename).write_text(text, encoding="utf-8")
        runner = Runner(url, folder, table=migrator.table.name)
        try:
            runner.migrate()
        except PgshiftError as error:
            raise StateError(f"the squash file does not apply to an empty database, so "
                             f"nothing was written: {error}") from None
    with connect(url, autocommit=True) as conn:
        schema, _in_recovery, _version = catalog.server_facts(conn)
        table = runner.table.qualified(schema or "")
        left_out = ((str(table.schema), table.name),
                    (str(table.progress.schema), table.progress.name))
        return (snapshot.take(conn, exclude=list(left_out)), _table_rows(conn, left_out),
                database_facts(conn))


def _differences(expected: Snapshot, actual: Snapshot, expected_rows: Mapping[str, Any],
                 actual_rows: Mapping[str, Any]) -> tuple[str, ...]:
    from pgshift.review import snapshot

    found = [f"{d.kind} {d.object_type} {d.name}" + (f": {d.detail}" if d.detail else "")
             for d in snapshot.diff(expected, actual)]
    for table in sorted(set(expected_rows) | set(actual_rows)):
        want, got = expected_rows.get(table), actual_rows.get(table)
        if want != got:
            found.append(f"rows of {table}: {want[0] if want else 0} replayed, "
                         f"{got[0] if got else 0} from the squash file"
                         + (" (same count, different contents)" if want and got
                            and want[0] == got[0] else ""))
    return tuple(found)


def _fact_differences(expected: Mapping[str, str],
                      actual: Mapping[str, str]) -> tuple[str, ...]:
    found = []
    for name in DATABASE_FACTS:
        if expected[name] != actual[name]:
            note = ("" if name == "large objects" else " (a squash file builds what is "
                    "inside a database, not the database's own settings, comment or "
                    "privileges)")
            found.append(f"{name}: {expected[name]} replayed, {actual[name]} from the "
                         f"squash file{note}")
    return tuple(found)


def _replace(files: list[MigrationFile], path: Path, text: str, keep: bool) -> Path | None:
    """Write the squash file, then remove the replaced files (``keep``: move them to
    ``DIR/squashed/``)."""
    from pgshift.review.dump import write_atomically

    moved_to = path.parent / "squashed" if keep else None
    if moved_to is not None:
        moved_to.mkdir(exist_ok=True)
    staged = path.with_name(f".{path.name}.new")
    write_atomically(staged, text)
    for file in files:
        if moved_to is not None:
            shutil.move(str(file.path), str(moved_to / file.name))
        else:
            file.path.unlink()
    staged.replace(path)
    return moved_to
