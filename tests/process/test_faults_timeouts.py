"""Timeouts set by the user, on the role or in the file (RELIABILITY S18, S21).

pgshift runs as a real program (``python -m pgshift``) in subprocesses, as a role of its
own that owns a fresh database, so ``ALTER ROLE … IN DATABASE … SET`` touches nothing
else on the shared test server. Assertions are on the database afterwards: tracking rows,
``pg_index.indisvalid``, no advisory lock left, no pgshift backend idle in transaction, and
no password in any output.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from pgtest import batches, execute, fetch, index_info, table_exists, url_for_database
from process.support import (
    Procs,
    assert_no_leak,
    assert_released,
    migration,
    write_files,
)

pytestmark = pytest.mark.faults

SECRET = "Jm5Tc9Bw3Yq"
INDEX_DEF = "CREATE INDEX big_v_idx ON public.big USING btree (v)"


# --- helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleDb:
    """A fresh database owned by a fresh login role: ``url`` connects as the role (with
    a password in the URL), ``admin`` as the suite's superuser."""

    url: str
    admin: str
    role: str
    dbname: str

    def set_for_role(self, setting: str, value: str) -> None:
        execute(self.admin, sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
            sql.Identifier(self.role), sql.Identifier(self.dbname), sql.Identifier(setting),
            sql.Literal(value)).as_string(None))

    def reset_for_role(self, setting: str) -> None:
        execute(self.admin, sql.SQL("ALTER ROLE {} IN DATABASE {} RESET {}").format(
            sql.Identifier(self.role), sql.Identifier(self.dbname),
            sql.Identifier(setting)).as_string(None))


@pytest.fixture
def role_db(pg_url: str) -> Iterator[RoleDb]:
    role, dbname = f"pgshift_r_{secrets.token_hex(5)}", f"pgshift_t_{secrets.token_hex(6)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(SECRET)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
            sql.Identifier(dbname), sql.Identifier(role)))
    parts = urlsplit(pg_url)
    admin = url_for_database(pg_url, dbname)
    as_role = urlunsplit(parts._replace(
        path="/" + dbname, netloc=f"{role}:{SECRET}@{parts.hostname}:{parts.port or 5432}"))
    try:
        yield RoleDb(as_role, admin, role, dbname)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(dbname)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def make_table(url: str, rows: int) -> None:
    execute(url, "CREATE TABLE big (id int PRIMARY KEY, v text);"
                 f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {rows}) g;")


def cic_waiting(url: str) -> tuple[int, float] | None:
    """(pid, seconds waited) of pgshift's CREATE INDEX CONCURRENTLY waiting on a lock."""
    found = fetch(url, "SELECT pid, extract(epoch FROM clock_timestamp() - query_start)::float8 "
                       "FROM pg_stat_activity WHERE datname = current_database() "
                       "AND application_name = 'pgshift' AND wait_event_type = 'Lock' "
                       "AND query ILIKE '%CREATE INDEX CONCURRENTLY%'")
    return (found[0][0], found[0][1]) if found else None


# --- S18: CREATE INDEX CONCURRENTLY cancelled by the user's own timeout ---------------------


CIC = "CREATE INDEX CONCURRENTLY big_v_idx ON big (v);"
DOWN = "DROP INDEX CONCURRENTLY big_v_idx;"


@pytest.mark.parametrize(("where", "sqlstate"), [
    ("role lock_timeout", "55P03"),
    ("role statement_timeout", "57014"),
    ("file SET lock_timeout", "55P03"),
])
def test_s18_cic_cancelled_by_the_users_timeout_leaves_no_record_and_is_rebuilt(
    role_db: RoleDb, tmp_path: Path, procs: Procs, where: str, sqlstate: str
) -> None:
    make_table(role_db.url, 20_000)
    up = CIC
    if where == "role lock_timeout":
        role_db.set_for_role("lock_timeout", "1s")
    elif where == "role statement_timeout":
        role_db.set_for_role("statement_timeout", "2s")
    else:
        up = "SET lock_timeout = '1s';\n" + CIC
    directory = write_files(tmp_path / "migrations", {
        "001_t1.sql": migration("CREATE TABLE t1 (id int);", "DROP TABLE t1;"),
        "002_big_v_idx.sql": migration(up, DOWN),
    })
    # An application transaction that wrote to the table: CIC waits for it.
    with psycopg.connect(role_db.admin) as blocker:
        blocker.execute("INSERT INTO big VALUES (0, 'x')")
        result = procs.run(role_db.url, directory, tmp_path, "migrate", timeout=60)
        blocker.rollback()

    assert result.exit_code == 1, result.stderr
    assert f"SQLSTATE: {sqlstate}" in result.stderr, result.stderr
    assert "big_v_idx" in result.stderr and "INVALID" in result.stderr, result.stderr
    assert "DROP INDEX CONCURRENTLY big_v_idx" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert index_info(role_db.admin, "big_v_idx") == (False, INDEX_DEF)
    assert batches(role_db.admin) == [("001_t1.sql", 1)]
    assert_released(role_db.admin)
    assert_no_leak(result, SECRET)

    again = procs.run(role_db.url, directory, tmp_path, "migrate", timeout=60)
    assert again.exit_code == 0, again.stderr
    assert index_info(role_db.admin, "big_v_idx") == (True, INDEX_DEF)
    assert batches(role_db.admin) == [("001_t1.sql", 1), ("002_big_v_idx.sql", 2)]
    assert_released(role_db.admin)
    assert_no_leak(again, SECRET)


def test_s18_pgshifts_own_lock_timeout_never_applies_to_cic(
    role_db: RoleDb, tmp_path: Path, procs: Procs
) -> None:
    make_table(role_db.url, 20_000)
    directory = write_files(tmp_path / "migrations", {
        "001_big_v_idx.sql": migration(CIC, DOWN)})
    with psycopg.connect(role_db.admin) as blocker:
        blocker.execute("INSERT INTO big VALUES (0, 'x')")
        run = procs.start(role_db.url, directory, tmp_path, "migrate", "--lock-timeout", "1")
        # Waited well past pgshift's --lock-timeout: the CIC is still waiting, not failed.
        run.wait_for(lambda: (cic_waiting(role_db.admin) or (0, 0.0))[1] > 3, 60,
                     "CIC waiting for more than 3 s")
        blocker.commit()
        result = run.result(60)

    assert result.exit_code == 0, result.stderr
    assert index_info(role_db.admin, "big_v_idx") == (True, INDEX_DEF)
    assert batches(role_db.admin) == [("001_big_v_idx.sql", 1)]
    assert_released(role_db.admin)
    assert_no_leak(result, SECRET)


# --- S21: statement_timeout hit -------------------------------------------------------------


@pytest.mark.parametrize("where", ["role", "file SET LOCAL"])
def test_s21_statement_timeout_fails_the_migration_and_releases_the_lock(
    role_db: RoleDb, tmp_path: Path, procs: Procs, where: str
) -> None:
    sleep = "SELECT pg_sleep(2);"
    if where == "role":
        role_db.set_for_role("statement_timeout", "1s")
    else:
        sleep = "SET LOCAL statement_timeout = '1s';\n" + sleep
    files = {
        "001_t1.sql": migration("CREATE TABLE t1 (id int);", "DROP TABLE t1;"),
        "002_slow.sql": migration(f"CREATE TABLE t2 (id int);\n{sleep}", "DROP TABLE t2;"),
        "003_t3.sql": migration("CREATE TABLE t3 (id int);", "DROP TABLE t3;"),
    }
    directory = write_files(tmp_path / "migrations", files)

    result = procs.run(role_db.url, directory, tmp_path, "migrate", timeout=60)

    assert result.exit_code == 1, result.stderr
    assert "SQLSTATE: 57014" in result.stderr, result.stderr
    assert "002_slow.sql" in result.stderr and "statement timeout" in result.stderr
    assert "Traceback" not in result.stderr
    assert batches(role_db.admin) == [("001_t1.sql", 1)]
    assert table_exists(role_db.admin, "t1")
    assert not table_exists(role_db.admin, "t2") and not table_exists(role_db.admin, "t3")
    assert_released(role_db.admin)
    assert_no_leak(result, SECRET)

    if where == "role":
        role_db.reset_for_role("statement_timeout")
    else:
        write_files(directory, {"002_slow.sql": migration(
            "CREATE TABLE t2 (id int);\nSELECT pg_sleep(2);", "DROP TABLE t2;")})
    again = procs.run(role_db.url, directory, tmp_path, "migrate", timeout=60)
    assert again.exit_code == 0, again.stderr
    assert batches(role_db.admin) == [("001_t1.sql", 1), ("002_slow.sql", 2), ("003_t3.sql", 2)]
    assert_released(role_db.admin)
    assert_no_leak(again, SECRET)
