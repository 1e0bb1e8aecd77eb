"""``pgshift create``: the path printed, the template written, numbering, no database needed.

In-process (``cli``) and once in a real subprocess (``run_pgshift``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from cli.samples import A
from pgtest import (
    Cli,
    CliResult,
    Files,
    ok,
    one_json,
    table_exists,
)


def test_create_prints_the_path_and_writes_the_template(cli: Cli, tmp_path: Path) -> None:
    result = ok(cli("create", "add user avatar"))
    path = tmp_path / "migrations" / "001_add_user_avatar.sql"
    assert result.stdout.strip() == str(Path("migrations") / "001_add_user_avatar.sql")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("-- Migration: 001_add_user_avatar.sql\n-- Created: ")
    assert "-- Description: add user avatar\n\n-- UP\n\n\n-- DOWN\n" in text
    assert re.search(r"^-- Created: \d{4}-\d{2}-\d{2}$", text, re.MULTILINE)


def test_create_numbers_after_the_existing_files(
    cli: Cli, migrations: Files, tmp_path: Path
) -> None:
    folder = migrations({"0007_x.sql": A}, subdir="db/sql")
    result = ok(cli("create", "Add-Index", "--dir", "db/sql"))
    assert (folder / "0008_add_index.sql").is_file()
    assert result.stdout.strip().endswith("0008_add_index.sql")


def test_create_accepts_the_dir_before_the_command(cli: Cli, tmp_path: Path) -> None:
    ok(cli("--dir", "elsewhere", "create", "x"))
    assert (tmp_path / "elsewhere" / "001_x.sql").is_file()


def test_create_reads_the_dir_from_pyproject(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pgshift]\ndir = "db/migrations"\n',
                                             encoding="utf-8")
    ok(cli("create", "x"))
    assert (tmp_path / "db" / "migrations" / "001_x.sql").is_file()


def test_create_joins_several_words(cli: Cli, tmp_path: Path) -> None:
    ok(cli("create", "add", "user", "avatar"))
    assert (tmp_path / "migrations" / "001_add_user_avatar.sql").is_file()


def test_create_needs_no_database(cli: Cli, tmp_path: Path) -> None:
    result = cli("create", "x", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    ok(result)
    assert (tmp_path / "migrations" / "001_x.sql").is_file()


def test_create_json_prints_the_path(cli: Cli, tmp_path: Path) -> None:
    doc = one_json(ok(cli("create", "x", "--json")))
    assert doc["path"].endswith("001_x.sql")


def test_created_file_is_refused_until_its_up_section_has_sql(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    ok(cli("create", "x"))
    result = cli("--database-url", db_url, "migrate")
    assert result.exit_code == 2
    assert "001_x.sql" in result.stderr
    assert not table_exists(db_url, "_migrations")


def test_create_in_a_subprocess(run_pgshift: Callable[..., CliResult], tmp_path: Path) -> None:
    result = run_pgshift("migrate:create", "first one", input="")
    assert result.exit_code == 0, result
    assert (tmp_path / "migrations" / "001_first_one.sql").is_file()
    assert result.stdout.strip() == str(Path("migrations") / "001_first_one.sql")
