"""psql-like error positions: ``LINE n:`` with the file's line where the server's error
position points, that line's text, and a caret under the failing token. Real server
errors, in each way a section runs (one script, statement by statement, outside a
transaction), deep in a large file, after other statements on the same line and after
multi-byte UTF-8 text."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgshift import Migrator
from pgshift.errors import MigrationFailed, RollbackFailed
from pgtest import Cli, Files, table_exists

# (header lines, lock_timeout): the section as one script with pgshift's SET LOCAL prefix,
# without it, and statement by statement outside a transaction (with and without prefix)
MODES = {
    "script": ("", 5.0),
    "script-no-prefix": ("", 0.0),
    "outside": ("-- pgshift: no-transaction\n", 5.0),
    "outside-no-prefix": ("-- pgshift: no-transaction\n", 0.0),
}


def failing(db_url: str, directory: Path, lock_timeout: float) -> MigrationFailed:
    with pytest.raises(MigrationFailed) as caught:
        Migrator(db_url, directory, lock_timeout=lock_timeout).migrate()
    return caught.value


def caret_column(stderr: str, line: int) -> tuple[str, int]:
    """The ``LINE n:`` line of the output and the caret's column on the line below it."""
    lines = stderr.splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith(f"LINE {line}: "))
    caret = lines[at + 1]
    assert caret.strip() == "^", stderr
    return lines[at], caret.index("^")


@pytest.mark.parametrize("mode", MODES)
def test_caret_under_the_token_after_other_statements_and_multibyte_text_on_its_line(
    db_url: str, migrations: Files, cli: Cli, mode: str
) -> None:
    header, lock_timeout = MODES[mode]
    failing_line = "CREATE TABLE a (id int); SELECT 'ü 🎉 日本', nope FROM a;"
    directory = migrations({"001_pos.sql": (
        f"{header}-- UP\n"
        "-- Ünïcödé 🎉 on an earlier line\n"
        "CREATE TABLE b (label text DEFAULT 'ça va 🎉');\n"
        f"{failing_line}\n"
        "CREATE TABLE c (id int);\n")})
    line = 4 if not header else 5

    error = failing(db_url, directory, lock_timeout)

    assert error.server.sqlstate == "42703"
    assert error.statement is not None and error.statement.place is not None
    assert error.statement.place == (line, failing_line, failing_line.index("nope"))
    result = cli("--database-url", db_url, "--dir", str(directory), "migrate",
                 "--lock-timeout", str(lock_timeout))
    assert result.exit_code == 1
    shown, column = caret_column(result.stderr, line)
    assert shown == f"LINE {line}: {failing_line}"
    # the wide characters (🎉 日 本) take two columns each on a terminal, as psql counts
    before = failing_line[: failing_line.index("nope")]
    wide = sum(1 for c in before if c in "🎉日本")
    assert column == len(f"LINE {line}: ") + len(before) + wide
    assert f"001_pos.sql:{line}: ERROR:  column \"nope\" does not exist" in result.stderr
    assert not table_exists(db_url, "c")


@pytest.mark.parametrize("mode", ["script", "outside"])
def test_position_of_an_error_deep_in_a_large_file(
    db_url: str, migrations: Files, cli: Cli, mode: str
) -> None:
    header, lock_timeout = MODES[mode]
    body = "".join(f"CREATE TABLE t{i} (id int, note text DEFAULT 'é{i}');\n"
                   for i in range(500))
    bad = "INSERT INTO t499 (id, note)\n  VALUES (1, 'ok'), ('x', '🎉');\n"
    directory = migrations({"001_big.sql": f"{header}-- UP\n{body}{bad}"})
    line = body.count("\n") + 2 + header.count("\n") + 1  # the VALUES line

    error = failing(db_url, directory, lock_timeout)

    assert error.server.sqlstate == "22P02"
    statement = error.statement
    assert statement is not None and statement.place is not None
    assert statement.line == line - 1 and statement.index == 501
    values = "  VALUES (1, 'ok'), ('x', '🎉');"
    assert statement.place == (line, values, values.index("'x'"))
    result = cli("--database-url", db_url, "--dir", str(directory), "migrate",
                 "--lock-timeout", str(lock_timeout))
    shown, column = caret_column(result.stderr, line)
    assert shown == f"LINE {line}: {values}"
    assert column == len(f"LINE {line}: ") + values.index("'x'")


def test_position_in_a_down_section(db_url: str, migrations: Files) -> None:
    directory = migrations({"001_a.sql": (
        "-- UP\nCREATE TABLE a (id int);\n-- DOWN\n"
        "DROP TABLE a; SELECT 'ü' FROM missing_table;\n")})
    Migrator(db_url, directory).migrate()

    with pytest.raises(RollbackFailed) as caught:
        Migrator(db_url, directory).rollback()

    statement = caught.value.statement
    assert statement is not None and statement.place is not None
    down = "DROP TABLE a; SELECT 'ü' FROM missing_table;"
    assert statement.place == (4, down, down.index("missing_table"))
    assert table_exists(db_url, "a")


def test_no_caret_when_the_server_gives_no_position(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations({"001_a.sql": (
        "-- UP\nCREATE TABLE a (id int NOT NULL);\nINSERT INTO a VALUES (NULL);\n")})
    result = cli("--database-url", db_url, "--dir", str(directory), "migrate")
    assert result.exit_code == 1
    assert "LINE 3: INSERT INTO a VALUES (NULL)\n(statement 2 of 2)" in result.stderr
    assert "^" not in result.stderr
