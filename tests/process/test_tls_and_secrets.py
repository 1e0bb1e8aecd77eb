"""Credentials and TLS against throw-away servers (RELIABILITY S40, S42, S43).

pgshift runs as a real program (``python -m pgshift``) in subprocesses, from a temporary
directory, with no ``DATABASE_URL``/``DATABASE_SSL``/``PG*`` variable except those a test
sets. The servers are ``faultkit.Cluster`` instances with SCRAM authentication: one without
TLS (the wheel's build has none; on a PostgreSQL 15 run, Debian's 15 with ``ssl`` off) and
one with TLS and a self-signed certificate (Debian's PostgreSQL 15 binaries, the only build
here with OpenSSL; skipped with the kit's reason when missing).

A password leaks when any run of ``LEAK_RUN`` consecutive characters of it (as written,
percent-decoded, or percent-encoded) appears in stdout or stderr.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, unquote

import psycopg
import pytest
from psycopg import sql

from faultkit import Cluster, matching_bin_dir, ssl_unavailable
from pgtest import CliResult, clean_environ, fetch, table_exists

pytestmark = pytest.mark.faults

CLUSTER_PASSWORD = "Tr7:ux@Pw/9#k"
WRONG = "p@ss:w/rd%2Fx#1"
LEAK_RUN = 4
FILES = {
    "001_t1.sql": "-- UP\nCREATE TABLE t1 (id int);\n-- DOWN\nDROP TABLE t1;\n",
    "002_pause.sql": "-- UP\nSELECT pg_sleep(1.5);\n-- DOWN\nSELECT 1;\n",
}


# --- helpers ----------------------------------------------------------------------------


def start_cluster(**options: object) -> tuple[Cluster, Path]:
    base = Path(tempfile.mkdtemp(prefix="pgshift-tls-"))
    server = Cluster(base, auth="scram", password=CLUSTER_PASSWORD, **options)  # type: ignore[arg-type]
    try:
        server.start()
    except BaseException:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server, base


@pytest.fixture(scope="module")
def plain_cluster(pg_url: str) -> Iterator[Cluster]:
    """SCRAM, no TLS."""
    server, base = start_cluster(bin_dir=matching_bin_dir(pg_url))
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[Cluster]:
    """SCRAM and TLS with a self-signed certificate (``ca_cert_path``)."""
    reason = ssl_unavailable()
    if reason is not None:
        pytest.skip(f"TLS tests need a PostgreSQL build with OpenSSL: {reason}")
    server, base = start_cluster(ssl=True)
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(server: Cluster) -> str:
    name = f"pgshift_t_{secrets.token_hex(6)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


@pytest.fixture
def plain_db(plain_cluster: Cluster) -> str:
    return fresh_database(plain_cluster)


@pytest.fixture
def tls_db(tls_cluster: Cluster) -> str:
    return fresh_database(tls_cluster)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """cwd of the runs, with the migrations in ``migrations/``."""
    (tmp_path / "migrations").mkdir()
    for name, text in FILES.items():
        (tmp_path / "migrations" / name).write_text(text)
    return tmp_path


def start(cwd: Path, *args: str, env: Mapping[str, str | None] | None = None
          ) -> subprocess.Popen[str]:
    """``python -m pgshift --dir migrations ARGS`` from ``cwd``; HOME is ``cwd`` so no
    ~/.postgresql or ~/.pgpass of the machine is used."""
    return subprocess.Popen(
        [sys.executable, "-m", "pgshift", "--dir", str(cwd / "migrations"), *args],
        cwd=cwd, env=clean_environ({"HOME": str(cwd), **(env or {})}),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        encoding="utf-8", errors="replace",
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> CliResult:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"pgshift did not exit within {timeout} s\n{out}\n{err}")
    return CliResult(proc.returncode, out, err)


def pgshift(cwd: Path, *args: str, env: Mapping[str, str | None] | None = None) -> CliResult:
    return finish(start(cwd, *args, env=env))


def leaks(result: CliResult, password: str) -> set[str]:
    shown = result.stdout + result.stderr
    found: set[str] = set()
    for form in {password, unquote(password), quote(password, safe="")}:
        size = LEAK_RUN if form != quote(password, safe="") else LEAK_RUN + 2
        found |= {form[i:i + size] for i in range(len(form) - size + 1)
                  if form[i:i + size] in shown}
    return found


def assert_no_leak(result: CliResult, password: str = CLUSTER_PASSWORD) -> None:
    assert leaks(result, password) == set(), result.stdout + result.stderr


def assert_untouched(server: Cluster, dbname: str) -> None:
    url = server.url(dbname)
    assert not table_exists(url, "_migrations")
    assert not table_exists(url, "t1")
    locks = fetch(url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
    assert locks == [(0,)]


def ssl_of_pgshift(proc: subprocess.Popen[str], server: Cluster, dbname: str) -> set[bool]:
    """The ``pg_stat_ssl.ssl`` values of every pgshift connection seen while ``proc`` runs."""
    seen: set[bool] = set()
    with psycopg.connect(server.url(dbname), autocommit=True) as conn:
        while proc.poll() is None:
            seen |= {r[0] for r in conn.execute(
                "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                "WHERE a.datname = current_database() AND a.application_name = 'pgshift'")}
            time.sleep(0.05)
    return seen


# --- S40: wrong password ------------------------------------------------------------------


def wrong_password_urls(server: Cluster, dbname: str) -> dict[str, str]:
    port, encoded = server.port, quote(WRONG, safe="")
    return {
        "url": f"postgresql://postgres:{encoded}@127.0.0.1:{port}/{dbname}",
        "query": f"postgresql://postgres@127.0.0.1:{port}/{dbname}?password={encoded}",
        "keyvalue": f"host=127.0.0.1 port={port} dbname={dbname} user=postgres "
                    f"password='{WRONG}'",
    }


MODES = {"plain": (), "verbose": ("--verbose",), "json": ("--json",)}


@pytest.mark.parametrize("form", ["url", "query", "keyvalue"])
def test_s40_wrong_password_exits_1_and_is_never_shown(
    plain_cluster: Cluster, plain_db: str, workdir: Path, form: str
) -> None:
    url = wrong_password_urls(plain_cluster, plain_db)[form]
    runs = {(command, mode): start(workdir, "--database-url", url, command, *flags)
            for command in ("migrate", "status", "rollback")
            for mode, flags in MODES.items()}
    results = {key: finish(proc) for key, proc in runs.items()}

    for (command, mode), result in results.items():
        where = f"{command} {mode}: {result.stdout}\n{result.stderr}"
        assert result.exit_code == 1, where
        assert 'password authentication failed for user "postgres"' in result.stderr, where
        assert f"127.0.0.1:{plain_cluster.port}/{plain_db}" in result.stderr, where
        assert leaks(result, WRONG) == set(), where
        if mode == "json":
            doc = json.loads(result.stdout)
            assert doc["ok"] is False and doc["exit_code"] == 1
        else:
            assert result.stdout == "", where
        if mode != "verbose":
            assert "Traceback" not in result.stderr, where
    assert_untouched(plain_cluster, plain_db)


@pytest.mark.parametrize("form", ["url", "query", "keyvalue"])
def test_s40_right_password_with_reserved_characters_works_and_is_never_shown(
    plain_cluster: Cluster, plain_db: str, workdir: Path, form: str
) -> None:
    port, encoded = plain_cluster.port, quote(CLUSTER_PASSWORD, safe="")
    url = {
        "url": plain_cluster.url(plain_db),
        "query": f"postgresql://postgres@127.0.0.1:{port}/{plain_db}?password={encoded}",
        "keyvalue": f"host=127.0.0.1 port={port} dbname={plain_db} user=postgres "
                    f"password='{CLUSTER_PASSWORD}'",
    }[form]
    migrated = pgshift(workdir, "--database-url", url, "--verbose", "--json", "migrate")
    status = pgshift(workdir, "--database-url", url, "--verbose", "status")

    assert migrated.exit_code == 0, migrated.stderr
    assert status.exit_code == 0, status.stderr
    assert json.loads(migrated.stdout)["ok"] is True
    assert table_exists(plain_cluster.url(plain_db), "t1")
    assert_no_leak(migrated)
    assert_no_leak(status)


# --- S42: malformed URL containing a password ---------------------------------------------


MALFORMED = {
    # password as the user meant it → the URL as written, without percent-encoding
    "at": ("Kq7@Zx9w2", "postgresql://postgres:Kq7@Zx9w2@127.0.0.1:{port}/postgres"),
    "hash": ("Kq7#Zx9w2", "postgresql://postgres:Kq7#Zx9w2@127.0.0.1:{port}/postgres"),
    "slash": ("Kq7/Zx9w2", "postgresql://postgres:Kq7/Zx9w2@127.0.0.1:{port}/postgres"),
    "question-then-at": ("Kq?7@Zx9w2",
                         "postgresql://postgres:Kq?7@Zx9w2@127.0.0.1:{port}/postgres"),
    # a password starting with a digit looks like a port before its '/' or '?'
    "digit-first-slash": ("9Kq/Zx9w2",
                          "postgresql://postgres:9Kq/Zx9w2@127.0.0.1:{port}/postgres"),
    "digit-first-question-then-at": (
        "8Kq?Zx@9w2", "postgresql://postgres:8Kq?Zx@9w2@127.0.0.1:{port}/postgres"),
    "keyvalue-unterminated": ("Kq7@Zx9w2",
                              "host=127.0.0.1 port={port} password='Kq7@Zx9w2"),
}


@pytest.mark.parametrize("source", ["flag", "environment", "dotenv"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_s42_malformed_url_exits_2_without_any_piece_of_the_password(
    plain_cluster: Cluster, workdir: Path, case: str, source: str
) -> None:
    password, template = MALFORMED[case]
    url = template.format(port=plain_cluster.port)
    args: tuple[str, ...] = ()
    env: dict[str, str | None] = {}
    if source == "flag":
        args = ("--database-url", url)
    elif source == "environment":
        env["DATABASE_URL"] = url
    else:
        (workdir / ".env").write_text(f'DATABASE_URL="{url}"\n')
    results = [pgshift(workdir, *args, *flags, "migrate", env=env)
               for flags in MODES.values()]

    for result in results:
        shown = result.stdout + result.stderr
        pieces = {password[i:i + 3] for i in range(len(password) - 2)}
        assert [p for p in pieces if p in shown] == [], shown
        assert result.exit_code == 2, shown
    assert not table_exists(plain_cluster.url(), "_migrations")


# --- S43: TLS required, refused, verified -------------------------------------------------


def test_s43_ssl_required_by_database_ssl_but_server_has_none(
    plain_cluster: Cluster, plain_db: str, workdir: Path
) -> None:
    url = plain_cluster.url(plain_db)
    (workdir / "dotenv").write_text("DATABASE_SSL=yes\n")
    from_env = pgshift(workdir, "--database-url", url, "migrate", env={"DATABASE_SSL": "true"})
    from_dotenv = pgshift(workdir, "--database-url", url, "--env-file", "dotenv", "migrate")

    for result in (from_env, from_dotenv):
        assert result.exit_code == 1, result.stderr
        assert "server does not support SSL, but SSL was required" in result.stderr
        assert f"127.0.0.1:{plain_cluster.port}" in result.stderr
        assert_no_leak(result)
    assert_untouched(plain_cluster, plain_db)


def test_s43_sslmode_in_the_url_wins_over_database_ssl(
    plain_cluster: Cluster, plain_db: str, workdir: Path
) -> None:
    url = plain_cluster.url(plain_db, sslmode="disable")
    result = pgshift(workdir, "--database-url", url, "migrate", env={"DATABASE_SSL": "1"})

    assert result.exit_code == 0, result.stderr
    assert table_exists(plain_cluster.url(plain_db), "t1")
    assert_no_leak(result)


def test_s43_database_ssl_with_another_value_is_bad_input(
    plain_cluster: Cluster, plain_db: str, workdir: Path
) -> None:
    result = pgshift(workdir, "--database-url", plain_cluster.url(plain_db), "migrate",
                     env={"DATABASE_SSL": "maybe"})

    assert result.exit_code == 2, result.stderr
    assert "DATABASE_SSL" in result.stderr
    assert_no_leak(result)
    assert_untouched(plain_cluster, plain_db)


def test_s43_database_ssl_on_a_tls_server_encrypts_every_connection(
    tls_cluster: Cluster, tls_db: str, workdir: Path
) -> None:
    proc = start(workdir, "--database-url", tls_cluster.url(tls_db), "migrate",
                 env={"DATABASE_SSL": "true"})
    seen = ssl_of_pgshift(proc, tls_cluster, tls_db)
    result = finish(proc)

    assert result.exit_code == 0, result.stderr
    assert seen == {True}
    assert_no_leak(result)


def test_s43_sslmode_disable_in_the_url_wins_on_a_tls_server(
    tls_cluster: Cluster, tls_db: str, workdir: Path
) -> None:
    proc = start(workdir, "--database-url", tls_cluster.url(tls_db, sslmode="disable"),
                 "migrate", env={"DATABASE_SSL": "true"})
    seen = ssl_of_pgshift(proc, tls_cluster, tls_db)
    result = finish(proc)

    assert result.exit_code == 0, result.stderr
    assert seen == {False}


@pytest.mark.parametrize(("root", "expected"), [
    (None, "root certificate"),
    ("system", "certificate verify failed"),
])
def test_s43_verify_full_refuses_a_self_signed_certificate(
    tls_cluster: Cluster, tls_db: str, workdir: Path, root: str | None, expected: str
) -> None:
    params = {"sslmode": "verify-full", **({"sslrootcert": root} if root else {})}
    result = pgshift(workdir, "--database-url", tls_cluster.url(tls_db, **params), "migrate")

    assert result.exit_code == 1, result.stderr
    assert expected in result.stderr, result.stderr
    assert f"127.0.0.1:{tls_cluster.port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert_no_leak(result)
    assert_untouched(tls_cluster, tls_db)


def test_s43_verify_full_with_the_right_root_certificate_works(
    tls_cluster: Cluster, tls_db: str, workdir: Path
) -> None:
    url = tls_cluster.url(tls_db, sslmode="verify-full",
                          sslrootcert=str(tls_cluster.ca_cert_path))
    proc = start(workdir, "--database-url", url, "migrate")
    seen = ssl_of_pgshift(proc, tls_cluster, tls_db)
    result = finish(proc)

    assert result.exit_code == 0, result.stderr
    assert seen == {True}
    assert table_exists(tls_cluster.url(tls_db), "t1")
    assert_no_leak(result)
