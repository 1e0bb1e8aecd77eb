"""``create`` templates (SPEC 9.3): ``DIR/.template.sql`` or ``--template FILE``, its
fields filled; an unknown field refuses (exit 2) and writes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pgtest import Cli

TEMPLATE = (
    "-- Migration: {{filename}}\n-- Created: {{date}}\n-- Description: {{ description }}\n"
    "-- number {{number}}, name {{name}}\n\n-- UP\nSET lock_timeout = '2s';\n\n\n-- DOWN\n"
)


def test_directory_template_is_filled(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / ".template.sql").write_text(TEMPLATE)
    (folder / "0007_first.sql").write_text("-- UP\nSELECT 1;\n")
    result = cli("--dir", str(folder), "create", "Add user-avatar")
    assert result.exit_code == 0, result.stderr
    written = (folder / "0008_add_user_avatar.sql").read_text()
    assert written == (
        f"-- Migration: 0008_add_user_avatar.sql\n-- Created: {date.today().isoformat()}\n"
        "-- Description: add user avatar\n-- number 0008, name add_user_avatar\n\n"
        "-- UP\nSET lock_timeout = '2s';\n\n\n-- DOWN\n")
    status = cli("--dir", str(folder), "lint")
    assert ".template.sql" not in status.stdout + status.stderr


def test_template_option_wins_over_the_directory_template(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / ".template.sql").write_text("-- UP\n-- directory {{name}}\n")
    own = tmp_path / "mine.sql"
    own.write_text("-- UP\n-- mine {{name}}\n")
    result = cli("--dir", str(folder), "create", "x", "--template", str(own))
    assert result.exit_code == 0, result.stderr
    assert (folder / "001_x.sql").read_text() == "-- UP\n-- mine x\n"


def test_unknown_field_refuses_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    own = tmp_path / "bad.sql"
    own.write_text("-- Author: {{author}}\n-- UP\n")
    result = cli("--dir", str(folder), "create", "x", "--template", str(own))
    assert result.exit_code == 2
    assert "{{author}}" in result.stderr and "bad.sql:1" in result.stderr
    assert not folder.exists()
    folder.mkdir()
    (folder / ".template.sql").write_text("-- UP\n\n{{ nope }}\n")
    result = cli("--dir", str(folder), "create", "x")
    assert result.exit_code == 2 and ".template.sql:3" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == [".template.sql"]


def test_missing_template_file_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("--dir", str(tmp_path / "m"), "create", "x", "--template",
                 str(tmp_path / "absent.sql"))
    assert result.exit_code == 2 and "absent.sql" in result.stderr


def test_builtin_template_unchanged(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    assert cli("--dir", str(folder), "create", "add user avatar").exit_code == 0
    assert (folder / "001_add_user_avatar.sql").read_text() == (
        f"-- Migration: 001_add_user_avatar.sql\n-- Created: {date.today().isoformat()}\n"
        "-- Description: add user avatar\n\n-- UP\n\n\n-- DOWN\n")
