"""Connection settings have one owner: libpq's environment (``PGAPPNAME``,
``PGCONNECT_TIMEOUT``, …) wins over pgshift's connection defaults, and the connection
string wins over both. Checked on real connections: the server's ``pg_stat_activity``
and the parameters libpq connected with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pgshift.db.connect import connect
from pgtest import CliResult, fetch
from process.support import migration

RECORD_APPLICATION = migration(
    "CREATE TABLE seen AS SELECT application_name FROM pg_stat_activity "
    "WHERE pid = pg_backend_pid();",
    "DROP TABLE seen;",
)


def applied_as(run_pgshift: Callable[..., CliResult], migrations: Callable[..., Path],
               url: str, env: dict[str, str | None]) -> str:
    migrations({"001_seen.sql": RECORD_APPLICATION})
    result = run_pgshift("--database-url", url, "migrate", env=env)
    assert result.exit_code == 0, result.stderr
    return str(fetch(url, "SELECT application_name FROM seen")[0][0])


def test_pgappname_names_the_session_that_applies_migrations(
    db_url: str, run_pgshift: Callable[..., CliResult], migrations: Callable[..., Path]
) -> None:
    assert applied_as(run_pgshift, migrations, db_url, {"PGAPPNAME": "myapp"}) == "myapp"


def test_without_pgappname_the_session_is_named_pgshift(
    db_url: str, run_pgshift: Callable[..., CliResult], migrations: Callable[..., Path]
) -> None:
    assert applied_as(run_pgshift, migrations, db_url, {"PGAPPNAME": None}) == "pgshift"


def test_the_url_wins_over_pgappname(
    db_url: str, run_pgshift: Callable[..., CliResult], migrations: Callable[..., Path]
) -> None:
    sep = "&" if "?" in db_url else "?"
    url = f"{db_url}{sep}application_name=fromurl"
    assert applied_as(run_pgshift, migrations, url, {"PGAPPNAME": "myapp"}) == "fromurl"


def test_pgappname_from_dotenv_wins_over_the_default(
    db_url: str, tmp_path: Path, run_pgshift: Callable[..., CliResult],
    migrations: Callable[..., Path],
) -> None:
    (tmp_path / ".env").write_text("PGAPPNAME=dotenvapp\n", encoding="utf-8")
    assert applied_as(run_pgshift, migrations, db_url, {}) == "dotenvapp"


def test_pgconnect_timeout_is_the_timeout_libpq_connects_with(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "3")
    with connect(db_url, autocommit=True) as conn:
        assert conn.info.get_parameters()["connect_timeout"] == "3"
    monkeypatch.delenv("PGCONNECT_TIMEOUT")
    with connect(db_url, autocommit=True) as conn:
        assert conn.info.get_parameters()["connect_timeout"] == "10"
        # the other defaults still bound a dead network
        assert conn.info.get_parameters()["keepalives_idle"] == "10"


def test_the_url_connect_timeout_wins_over_pgconnect_timeout(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "3")
    sep = "&" if "?" in db_url else "?"
    with connect(f"{db_url}{sep}connect_timeout=7", autocommit=True) as conn:
        assert conn.info.get_parameters()["connect_timeout"] == "7"
