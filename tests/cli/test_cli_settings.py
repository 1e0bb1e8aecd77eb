"""Where ``pgshift`` finds its database (S44): ``--database-url`` > environment > ``.env``
(or ``--env-file``) > libpq variables such as ``PGSERVICE``.

In-process (``cli``) and in a real subprocess (``run_pgshift``)."""

from __future__ import annotations

import os
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from cli.samples import FILES
from pgtest import (
    Cli,
    Files,
    batches,
    ok,
)


def test_dotenv_url_is_used_when_the_environment_has_none(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    (tmp_path / ".env").write_text(f"DATABASE_URL={db_url}\n", encoding="utf-8")
    ok(cli("--dir", str(folder), "migrate"))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_environment_beats_dotenv(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://nobody@127.0.0.1:1/none\n",
                                   encoding="utf-8")
    ok(cli("--dir", str(folder), "migrate", env={"DATABASE_URL": db_url}))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_flag_beats_environment(cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations(FILES)
    ok(cli("--database-url", db_url, "--dir", str(folder), "migrate",
           env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_env_file_option_replaces_dotenv(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://nobody@127.0.0.1:1/none\n",
                                   encoding="utf-8")
    (tmp_path / "ci.env").write_text(f"DATABASE_URL={db_url}\n", encoding="utf-8")
    ok(cli("--env-file", "ci.env", "--dir", str(folder), "migrate"))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_dotenv_does_not_leak_into_the_environment_of_later_runs(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    (tmp_path / ".env").write_text(f"DATABASE_URL={db_url}\n", encoding="utf-8")
    ok(cli("--dir", str(folder), "status"))
    assert "DATABASE_URL" not in os.environ


def test_libpq_environment_variables_name_the_server(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path
) -> None:
    target = conninfo_to_dict(db_url)
    env = {"PGHOST": str(target["host"]), "PGPORT": str(target.get("port", "5432")),
           "PGUSER": str(target["user"]), "PGDATABASE": str(target["dbname"])}
    ok(cli("--dir", str(migrations(FILES)), "migrate", env=env))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert not (tmp_path / ".pgshift").exists()


def test_pgservice_names_the_server(
    cli: Cli, db_url: str, migrations: Files, tmp_path: Path
) -> None:
    target = conninfo_to_dict(db_url)
    service = tmp_path / "pg_service.conf"
    service.write_text(
        f"[app]\nhost={target['host']}\nport={target.get('port', '5432')}\n"
        f"user={target['user']}\ndbname={target['dbname']}\n", encoding="utf-8")
    ok(cli("--dir", str(migrations(FILES)), "migrate",
           env={"PGSERVICEFILE": str(service), "PGSERVICE": "app"}))
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]
    assert not (tmp_path / ".pgshift").exists()
