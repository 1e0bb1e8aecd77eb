"""Passwords are never printed (RELIABILITY S40-S42, S44).

The shared test servers use trust authentication on 127.0.0.1, where a wrong password
still connects; so the wrong-password tests run against a throw-away cluster with SCRAM
authentication (``faultkit.Cluster``). The other tests need no authentication: a closed
port, a malformed URL, and ``.env`` values.

A leak is any run of three consecutive characters of the password (raw, or decoded once
more) appearing in stdout or stderr, or five of its percent-encoded form.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import psycopg
import pytest
from psycopg import sql

from faultkit import Cluster
from pgtest import Cli, CliResult, Files, table_exists, tracking_rows

WRONG = "p@ss:w/rd%2Fx#1"
RIGHT = "Qz8Vw3LkJ5"
MALFORMED = "Kq7@Zx#w2"
FILES = {"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n"}
OUTPUT_MODES = {"plain": [], "verbose": ["--verbose"], "json": ["--json"]}


def leaks(text: str, secret: str) -> set[str]:
    """The pieces of ``secret`` found in ``text``."""
    found: set[str] = set()
    for form, size in ((secret, 3), (unquote(secret), 3), (quote(secret, safe=""), 5)):
        found |= {form[i : i + size] for i in range(len(form) - size + 1)
                  if form[i : i + size] in text}
    return found


def assert_no_leak(result: CliResult, secret: str) -> None:
    shown = result.stdout + result.stderr
    assert leaks(shown, secret) == set(), shown


def check_output_mode(result: CliResult, mode: str) -> None:
    if mode == "json":
        doc = json.loads(result.stdout)
        assert doc["ok"] is False
        assert doc["exit_code"] == result.exit_code
    else:
        assert result.stdout == ""
    if mode == "verbose":
        assert "Traceback" in result.stderr
    else:
        assert "Traceback" not in result.stderr


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def scram() -> Iterator[Cluster]:
    """A cluster whose superuser ``postgres`` must give the password RIGHT."""
    # Not under pytest's basetemp: another pytest run makes that 0700 again, which would
    # lock the server's OS user out of its data directory.
    base = Path(tempfile.mkdtemp(prefix="pgshift-scram-"))
    try:
        with Cluster(base, auth="scram", password=RIGHT) as cluster:
            yield cluster
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def scram_db(scram: Cluster) -> Iterator[str]:
    """The name of a fresh database on the SCRAM cluster, dropped afterwards."""
    name = f"secrets_{id(object()):x}"
    with psycopg.connect(scram.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(scram.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def wrong_password_targets(cluster: Cluster, dbname: str) -> dict[str, str]:
    encoded = quote(WRONG, safe="")
    escaped = WRONG.replace("\\", "\\\\").replace("'", "\\'")
    return {
        "url": f"postgresql://postgres:{encoded}@127.0.0.1:{cluster.port}/{dbname}",
        "query": f"postgresql://postgres@127.0.0.1:{cluster.port}/{dbname}?password={encoded}",
        "key_value": f"host=127.0.0.1 port={cluster.port} dbname={dbname} user=postgres "
                     f"password='{escaped}'",
    }


# --- wrong password (S40) -----------------------------------------------------------------


@pytest.mark.parametrize("mode", list(OUTPUT_MODES))
@pytest.mark.parametrize("form", ["url", "query", "key_value"])
def test_wrong_password_exits_1_says_why_and_never_shows_the_password(
    cli: Cli, migrations: Files, scram: Cluster, scram_db: str, form: str, mode: str
) -> None:
    target = wrong_password_targets(scram, scram_db)[form]
    result = cli("--database-url", target, "--dir", str(migrations(FILES)), "migrate",
                 *OUTPUT_MODES[mode])
    assert result.exit_code == 1
    assert 'password authentication failed for user "postgres"' in result.stderr
    assert f"127.0.0.1:{scram.port}" in result.stderr
    assert scram_db in result.stderr
    assert_no_leak(result, WRONG)
    check_output_mode(result, mode)
    assert not table_exists(scram.url(scram_db), "_migrations")


@pytest.mark.parametrize("command", ["status", "rollback"])
def test_wrong_password_on_other_commands_is_masked(
    cli: Cli, migrations: Files, scram: Cluster, scram_db: str, command: str
) -> None:
    target = wrong_password_targets(scram, scram_db)["url"]
    result = cli("--dir", str(migrations(FILES)), command, "--verbose",
                 env={"DATABASE_URL": target})
    assert result.exit_code == 1
    assert "password authentication failed" in result.stderr
    assert_no_leak(result, WRONG)


@pytest.mark.parametrize("mode", list(OUTPUT_MODES))
def test_wrong_password_in_a_subprocess_is_masked(
    run_pgshift: Callable[..., CliResult], migrations: Files, scram: Cluster,
    scram_db: str, mode: str,
) -> None:
    target = wrong_password_targets(scram, scram_db)["url"]
    result = run_pgshift("migrate", "--dir", str(migrations(FILES)), *OUTPUT_MODES[mode],
                         env={"DATABASE_URL": target}, input="", timeout=60)
    assert result.exit_code == 1
    assert "password authentication failed" in result.stderr
    assert_no_leak(result, WRONG)
    check_output_mode(result, mode)


def test_wrong_pgpassword_from_dotenv_is_masked(
    cli: Cli, migrations: Files, scram: Cluster, scram_db: str, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        f"DATABASE_URL=postgresql://postgres@127.0.0.1:{scram.port}/{scram_db}\n"
        f"PGPASSWORD={WRONG}\n", encoding="utf-8")
    result = cli("--dir", str(migrations(FILES)), "migrate", "--verbose")
    assert result.exit_code == 1
    assert "password authentication failed" in result.stderr
    assert_no_leak(result, WRONG)


def test_right_password_works_and_is_never_shown(
    cli: Cli, migrations: Files, scram: Cluster, scram_db: str
) -> None:
    url = scram.url(scram_db)
    folder = migrations(FILES)
    result = cli("--database-url", url, "--dir", str(folder), "migrate", "--verbose")
    assert result.exit_code == 0, result
    assert_no_leak(result, RIGHT)
    assert [row["name"] for row in tracking_rows(url)] == ["001_a.sql"]
    status = cli("--database-url", url, "--dir", str(folder), "status", "--json", "--verbose")
    assert status.exit_code == 0
    assert_no_leak(status, RIGHT)


def test_password_from_a_pgpass_file_is_used(
    cli: Cli, migrations: Files, scram: Cluster, scram_db: str, tmp_path: Path
) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{scram.port}:*:postgres:{RIGHT}\n", encoding="utf-8")
    passfile.chmod(0o600)
    url = f"postgresql://postgres@127.0.0.1:{scram.port}/{scram_db}"
    result = cli("--database-url", url, "--dir", str(migrations(FILES)), "migrate",
                 env={"PGPASSFILE": str(passfile)})
    assert result.exit_code == 0, result
    assert_no_leak(result, RIGHT)
    assert table_exists(scram.url(scram_db), "a")


def test_home_pgpass_is_used_in_a_subprocess(
    run_pgshift: Callable[..., CliResult], migrations: Files, scram: Cluster,
    scram_db: str, tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    passfile = home / ".pgpass"
    passfile.write_text(f"127.0.0.1:{scram.port}:{scram_db}:postgres:{RIGHT}\n",
                        encoding="utf-8")
    passfile.chmod(0o600)
    result = run_pgshift("migrate", "--dir", str(migrations(FILES)), input="", timeout=60,
                         env={"HOME": str(home), "DATABASE_URL":
                              f"postgresql://postgres@127.0.0.1:{scram.port}/{scram_db}"})
    assert result.exit_code == 0, result
    assert table_exists(scram.url(scram_db), "a")


def test_failure_after_connecting_with_a_password_never_shows_it(
    cli: Cli, migrations: Files, scram: Cluster, scram_db: str
) -> None:
    folder = migrations({"001_bad.sql": "-- UP\nSELECT * FROM nope;\n"})
    for extra in OUTPUT_MODES.values():
        result = cli("--database-url", scram.url(scram_db), "--dir", str(folder), "migrate",
                     *extra)
        assert result.exit_code == 1
        assert 'relation "nope" does not exist' in result.stderr
        assert_no_leak(result, RIGHT)


# --- unreachable server (S41) -------------------------------------------------------------


def closed_port_urls(port: int) -> dict[str, str]:
    encoded = quote(WRONG, safe="")
    return {
        "url": f"postgresql://app:{encoded}@127.0.0.1:{port}/appdb",
        "query": f"postgresql://app@127.0.0.1:{port}/appdb?password={encoded}",
        "key_value": f"host=127.0.0.1 port={port} dbname=appdb user=app password='{WRONG}'",
    }


@pytest.mark.parametrize("mode", list(OUTPUT_MODES))
@pytest.mark.parametrize("form", ["url", "query", "key_value"])
def test_closed_port_exits_1_naming_host_and_port_without_the_password(
    cli: Cli, migrations: Files, form: str, mode: str
) -> None:
    port = closed_port()
    result = cli("--database-url", closed_port_urls(port)[form], "--dir",
                 str(migrations(FILES)), "migrate", *OUTPUT_MODES[mode])
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert_no_leak(result, WRONG)
    check_output_mode(result, mode)


@pytest.mark.parametrize("command", ["migrate", "status", "rollback", "reset", "refresh"])
def test_closed_port_in_a_subprocess_exits_1_quickly(
    run_pgshift: Callable[..., CliResult], migrations: Files, command: str
) -> None:
    port = closed_port()
    extra = ["--yes"] if command in ("reset", "refresh") else []
    result = run_pgshift(command, *extra, "--dir", str(migrations(FILES)),
                         env={"DATABASE_URL": closed_port_urls(port)["url"]},
                         input="", timeout=60)
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert_no_leak(result, WRONG)


# --- malformed URL (S42) ------------------------------------------------------------------

MALFORMED_URLS = [
    f"postgresql://app:{MALFORMED}@db.example.com:5432/app",
    f"postgres://app:{MALFORMED}@127.0.0.1/app",
    f"postgresql://app:{MALFORMED}@127.0.0.1:5432/app?sslmode=disable",
]


def where_given(url: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    (tmp_path / ".env").write_text(f"DATABASE_URL={url}\n", encoding="utf-8")
    (tmp_path / "url.env").write_text(f"DATABASE_URL={url}\n", encoding="utf-8")
    return {
        "flag": {"args": ["--database-url", url]},
        "environment": {"env": {"DATABASE_URL": url}},
        "dotenv": {},
        "env_file": {"args": ["--env-file", "url.env"]},
    }


@pytest.mark.parametrize("mode", list(OUTPUT_MODES))
@pytest.mark.parametrize("source", ["flag", "environment", "dotenv", "env_file"])
@pytest.mark.parametrize("url", MALFORMED_URLS, ids=["plain", "postgres_scheme", "query"])
def test_malformed_url_exits_2_without_a_single_piece_of_the_password(
    cli: Cli, migrations: Files, tmp_path: Path, url: str, source: str, mode: str
) -> None:
    given = where_given(url, tmp_path)[source]
    result = cli(*given.get("args", []), "--dir", str(migrations(FILES)), "migrate",
                 *OUTPUT_MODES[mode], env=given.get("env"))
    assert result.exit_code == 2
    assert "URL" in result.stderr or "url" in result.stderr
    assert_no_leak(result, MALFORMED)
    check_output_mode(result, mode)


@pytest.mark.parametrize("command", ["status", "migrate", "rollback", "reset", "refresh"])
def test_malformed_url_in_a_subprocess_exits_2_without_the_password(
    run_pgshift: Callable[..., CliResult], migrations: Files, command: str
) -> None:
    extra = ["--yes"] if command in ("reset", "refresh") else []
    result = run_pgshift(command, *extra, "--verbose", "--dir", str(migrations(FILES)),
                         env={"DATABASE_URL": MALFORMED_URLS[0]}, input="", timeout=60)
    assert result.exit_code == 2
    assert_no_leak(result, MALFORMED)


# --- .env values are never echoed (S44) ---------------------------------------------------


@pytest.mark.parametrize("mode", list(OUTPUT_MODES))
def test_dotenv_values_are_never_echoed(
    cli: Cli, migrations: Files, tmp_path: Path, mode: str
) -> None:
    port = closed_port()
    (tmp_path / ".env").write_text(
        f"DATABASE_URL=postgresql://app:Xq9Uy7Bm4@127.0.0.1:{port}/appdb\n"
        "PGPASSWORD=Jw4Hn2Tz6\n"
        "APP_SECRET_KEY=Kp6Rd8Vf3\n",
        encoding="utf-8",
    )
    result = cli("--dir", str(migrations(FILES)), "migrate", *OUTPUT_MODES[mode])
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.stderr
    for secret in ("Xq9Uy7Bm4", "Jw4Hn2Tz6", "Kp6Rd8Vf3"):
        assert_no_leak(result, secret)


def test_dotenv_pgpassword_is_never_echoed_on_success(
    cli: Cli, migrations: Files, db_url: str, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_URL={db_url}\nPGPASSWORD=Jw4Hn2Tz6\n",
                                   encoding="utf-8")
    folder = migrations(FILES)
    for args in (["migrate", "--verbose"], ["status", "--verbose"], ["status", "--json"]):
        result = cli("--dir", str(folder), *args)
        assert result.exit_code == 0, result
        assert_no_leak(result, "Jw4Hn2Tz6")


def test_environment_url_beats_a_dotenv_url_with_a_password(
    cli: Cli, migrations: Files, db_url: str, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        f"DATABASE_URL=postgresql://app:Xq9Uy7Bm4@127.0.0.1:{closed_port()}/appdb\n",
        encoding="utf-8")
    result = cli("--dir", str(migrations(FILES)), "migrate", env={"DATABASE_URL": db_url})
    assert result.exit_code == 0, result
    assert_no_leak(result, "Xq9Uy7Bm4")
    assert table_exists(db_url, "a")
