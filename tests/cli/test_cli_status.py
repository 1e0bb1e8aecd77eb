"""``pgshift status`` on a real database: the list and summary, plain text when piped, a table
on a terminal, ``--verbose``, warnings on stderr, drift states; it never creates the
tracking table.

In-process (``cli``), in a real subprocess (``run_pgshift``) and on a pseudo-terminal."""

from __future__ import annotations

from pathlib import Path

from cli.samples import ANSI, FILES, A, B, C
from pgtest import (
    Cli,
    Files,
    catalog_snapshot,
    ok,
    one_json,
    run,
    run_on_terminal,
    table_exists,
    terminal_env,
)


def test_status_lists_every_migration_and_a_summary(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"003_c.sql": C})
    result = ok(run(cli, db_url, folder, "status"))
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["name", "state", "batch", "executed_at"]
    assert rows[1].split()[:3] == ["001_a.sql", "executed", "1"]
    assert rows[2].split()[:3] == ["002_b.sql", "executed", "1"]
    assert rows[3].split() == ["003_c.sql", "pending"]
    assert rows[-1] == "3 migrations: 2 executed, 1 pending"


def test_status_never_creates_the_tracking_table(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    before = catalog_snapshot(db_url)
    result = ok(run(cli, db_url, migrations(FILES), "status"))
    assert "2 pending" in result.stdout
    assert not table_exists(db_url, "_migrations")
    assert catalog_snapshot(db_url) == before


def test_status_json_says_the_table_does_not_exist_yet(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    doc = one_json(ok(run(cli, db_url, migrations(FILES), "status", "--json")))
    assert doc["table_exists"] is False
    assert [m["state"] for m in doc["migrations"]] == ["pending", "pending"]
    assert not table_exists(db_url, "_migrations")


def test_status_piped_is_plain_aligned_text(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_a.sql": A, "002_a_much_longer_name.sql": B})
    ok(run(cli, db_url, folder, "migrate"))
    migrations({"003_c.sql": C})
    text = ok(run(cli, db_url, folder, "status")).stdout
    assert not ANSI.search(text)
    assert not set("│┃━─") & set(text)
    rows = text.splitlines()[:4]
    column = rows[0].index("state")
    assert [row.index(state) for row, state in
            zip(rows[1:], ("executed", "executed", "pending"), strict=True)] == [column] * 3


def test_status_verbose_shows_descriptions(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    text = ok(run(cli, db_url, folder, "status", "--verbose")).stdout
    assert "description" in text.splitlines()[0]
    assert "table a" in text


def test_status_warnings_go_to_stderr_not_stdout(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"002_a.sql": A, "002_b.sql": B, "notes.sql": C, "README.md": "x"})
    result = ok(run(cli, db_url, folder, "status"))
    assert "notes.sql" in result.stderr
    assert "002_a.sql" in result.stderr
    assert "notes.sql" not in result.stdout
    assert "README.md" not in result.stdout + result.stderr
    assert "warning" not in result.stdout


def test_status_shows_the_states_of_drift(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({**FILES, "003_c.sql": C})
    ok(run(cli, db_url, folder, "migrate"))
    (folder / "002_b.sql").write_text(B.replace("VALUES (1)", "VALUES (2)"), encoding="utf-8")
    (folder / "003_c.sql").unlink()
    result = ok(run(cli, db_url, folder, "status"))
    states = {row.split()[0]: row for row in result.stdout.splitlines()[1:4]}
    assert "modified" in states["002_b.sql"]
    assert "missing file" in states["003_c.sql"]
    assert "002_b.sql" in result.stderr
    assert "003_c.sql" in result.stderr


def test_status_on_a_terminal_shows_a_table_and_the_summary(
    db_url: str, migrations: Files, tmp_path: Path
) -> None:
    folder = migrations(FILES)
    env = terminal_env(db_url)
    assert run_on_terminal(["--dir", str(folder), "migrate"], env, tmp_path).exit_code == 0
    result = run_on_terminal(["--dir", str(folder), "status"], env, tmp_path)
    assert result.exit_code == 0
    assert "001_a.sql" in result.stdout
    assert "executed" in result.stdout
    assert "2 migrations: 2 executed" in result.stdout
