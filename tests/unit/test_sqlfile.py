"""Unit tests for pgshift.files.sqlfile: one file's text → ParsedMigration. Pure, no database."""

from __future__ import annotations

import re

import pytest

from pgshift.errors import InputError, MigrationFileError
from pgshift.files import sqlfile
from pgshift.files.sqlfile import ParsedMigration

NAME = "001_x.sql"
CHECKSUM = re.compile(r"^sha256v1:[0-9a-f]{64}$")


def parse(text: str, name: str = NAME) -> ParsedMigration:
    return sqlfile.parse(text, name)


def refused(text: str, name: str = NAME) -> MigrationFileError:
    with pytest.raises(MigrationFileError) as caught:
        sqlfile.parse(text, name)
    return caught.value


def up(migration: ParsedMigration) -> list[str]:
    return [s.sql for s in migration.up.statements()]


def down(migration: ParsedMigration) -> list[str]:
    assert migration.down is not None
    return [s.sql for s in migration.down.statements()]


def lines(migration: ParsedMigration) -> list[int]:
    return [s.line for s in migration.up.statements()]


# --- markers ------------------------------------------------------------------------------


def test_up_and_down_markers_split_the_file() -> None:
    m = parse("-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n")
    assert up(m) == ["CREATE TABLE a (id int)"]
    assert down(m) == ["DROP TABLE a"]


@pytest.mark.parametrize("up_marker", ["-- UP", "-- up", "-- Up", "--UP", "--up", "  --  up  ",
                                       "\t--\tUP\t", "--   UP"])
@pytest.mark.parametrize("down_marker", ["-- DOWN", "-- Down", "-- down", "--DOWN",
                                         "  --  down  ", "--   DOWN"])
def test_marker_spellings_are_case_insensitive_and_allow_white_space(
    up_marker: str, down_marker: str
) -> None:
    m = parse(f"{up_marker}\nSELECT 1;\n{down_marker}\nSELECT 2;\n")
    assert up(m) == ["SELECT 1"]
    assert down(m) == ["SELECT 2"]


def test_up_marker_followed_by_words_is_a_plain_comment() -> None:
    m = parse("-- UP\nSELECT 1;\n-- UP now\nSELECT 2;\n")
    assert up(m) == ["SELECT 1", "SELECT 2"]
    assert m.down is None


def test_down_marker_followed_by_words_is_a_plain_comment() -> None:
    m = parse("-- UP\nSELECT 1;\n-- Down the road\nSELECT 2;\n")
    assert up(m) == ["SELECT 1", "SELECT 2"]
    assert m.down is None


def test_marker_after_sql_on_the_same_line_is_a_comment() -> None:
    m = parse("-- UP\nSELECT 1; -- DOWN\nSELECT 2;\n")
    assert up(m) == ["SELECT 1", "SELECT 2"]
    assert m.down is None


def test_comment_starting_with_update_is_not_a_marker() -> None:
    m = parse("-- Update users\n-- UP\n-- Update users\nUPDATE users SET a = 1;\n-- DOWN\n"
              "SELECT 1;\n")
    assert up(m) == ["UPDATE users SET a = 1"]


def test_string_containing_download_is_untouched() -> None:
    m = parse("-- UP\nINSERT INTO files (name) VALUES ('Download');\n-- DOWN\n"
              "DELETE FROM files WHERE name = 'Download';\n")
    assert up(m) == ["INSERT INTO files (name) VALUES ('Download')"]
    assert down(m) == ["DELETE FROM files WHERE name = 'Download'"]


FUNCTION_DOLLAR = """-- UP
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
-- DOWN
  RETURN 1;
END
$$;
-- DOWN
DROP FUNCTION f();
"""


def test_down_marker_inside_dollar_quotes_is_sql() -> None:
    m = parse(FUNCTION_DOLLAR)
    assert len(up(m)) == 1
    assert "\n-- DOWN\n  RETURN 1;" in up(m)[0]
    assert down(m) == ["DROP FUNCTION f()"]


def test_down_marker_inside_named_dollar_quotes_is_sql() -> None:
    m = parse(FUNCTION_DOLLAR.replace("$$", "$fn$"))
    assert len(up(m)) == 1
    assert "-- DOWN\n  RETURN 1;" in up(m)[0]
    assert down(m) == ["DROP FUNCTION f()"]


def test_up_marker_inside_dollar_quotes_is_not_a_second_up() -> None:
    m = parse("-- UP\nDO $$\nBEGIN\n-- UP\nPERFORM 1;\nEND\n$$;\n-- DOWN\nSELECT 1;\n")
    assert len(up(m)) == 1
    assert "-- UP" in up(m)[0]


def test_down_marker_inside_block_comment_is_not_a_marker() -> None:
    m = parse("-- UP\n/*\n-- DOWN\n*/\nSELECT 1;\n-- DOWN\nSELECT 2;\n")
    assert up(m) == ["SELECT 1"]
    assert down(m) == ["SELECT 2"]


def test_down_marker_inside_nested_block_comment_is_not_a_marker() -> None:
    m = parse("-- UP\n/* outer\n/* inner */\n-- DOWN\n*/\nSELECT 1;\n-- DOWN\nSELECT 2;\n")
    assert up(m) == ["SELECT 1"]
    assert down(m) == ["SELECT 2"]


def test_down_marker_inside_multi_line_string_literal_is_sql() -> None:
    m = parse("-- UP\nINSERT INTO t VALUES ('a\n-- DOWN\nb');\n-- DOWN\nDELETE FROM t;\n")
    assert up(m) == ["INSERT INTO t VALUES ('a\n-- DOWN\nb')"]
    assert down(m) == ["DELETE FROM t"]


def test_down_marker_inside_escape_string_is_sql() -> None:
    m = parse("-- UP\nSELECT E'it\\'s\n-- DOWN\nstill a string';\n-- DOWN\nSELECT 2;\n")
    assert up(m) == ["SELECT E'it\\'s\n-- DOWN\nstill a string'"]
    assert down(m) == ["SELECT 2"]


def test_backslash_ending_a_standard_string_does_not_hide_the_next_marker() -> None:
    m = parse("-- UP\nSELECT 'a\\';\n-- DOWN\nSELECT 2;\n")
    assert up(m) == ["SELECT 'a\\'"]
    assert down(m) == ["SELECT 2"]


def test_down_marker_inside_a_quoted_identifier_is_sql() -> None:
    m = parse('-- UP\nCREATE TABLE "a\n-- DOWN\nb" (id int);\n')
    assert len(up(m)) == 1
    assert m.down is None


def test_up_marker_inside_a_block_comment_in_the_header_is_not_a_marker() -> None:
    m = parse("/*\n-- UP\n*/\n-- UP\nSELECT 1;\n")
    assert up(m) == ["SELECT 1"]
    assert lines(m) == [5]


def test_down_marker_in_a_string_after_multibyte_text_is_sql() -> None:
    m = parse("-- UP\nSELECT '" + "é" * 40 + "', 'x\n-- DOWN\ny';\n-- DOWN\nSELECT 2;\n")
    assert len(up(m)) == 1
    assert down(m) == ["SELECT 2"]


def test_markers_with_crlf_line_endings_are_found() -> None:
    m = parse("-- UP\r\nSELECT 1;\r\n-- DOWN\r\nSELECT 2;\r\n")
    assert up(m) == ["SELECT 1"]
    assert down(m) == ["SELECT 2"]


def test_markers_after_a_bom_are_found() -> None:
    m = parse("\ufeff-- UP\nSELECT 1;\n")
    assert up(m) == ["SELECT 1"]


# --- marker errors ------------------------------------------------------------------------


def test_file_without_up_marker_is_an_error_naming_the_file() -> None:
    error = refused("CREATE TABLE a (id int);\n")
    assert error.file == NAME
    assert NAME in str(error)
    assert "UP" in str(error)


def test_missing_up_marker_with_migrate_up_line_gets_a_hint_naming_that_line() -> None:
    error = refused("-- Migration: x\n\n-- migrate:up\nCREATE TABLE a (id int);\n")
    assert error.hint is not None
    assert "line 3" in error.hint


def test_missing_up_marker_with_up_now_line_gets_a_near_marker_hint() -> None:
    error = refused("-- UP now\nSELECT 1;\n")
    assert error.hint is not None
    assert "line 1" in error.hint


def test_missing_up_marker_without_near_marker_still_says_how_to_fix_it() -> None:
    error = refused("SELECT 1;\n")
    assert error.hint is not None
    assert "-- UP" in error.hint


def test_second_up_marker_is_an_error_naming_its_line() -> None:
    error = refused("-- UP\nSELECT 1;\n-- UP\nSELECT 2;\n")
    assert error.line == 3
    assert f"{NAME}:3" in str(error)


def test_second_down_marker_is_an_error_naming_its_line() -> None:
    error = refused("-- UP\nSELECT 1;\n-- DOWN\nSELECT 2;\n\n-- down\n")
    assert error.line == 6


def test_down_before_up_is_an_error_naming_the_down_line() -> None:
    error = refused("-- header\n-- DOWN\nDROP TABLE a;\n-- UP\nCREATE TABLE a (id int);\n")
    assert error.line == 2
    assert NAME in str(error)


def test_up_section_with_only_comments_and_blank_lines_is_an_error() -> None:
    error = refused("-- UP\n\n-- nothing yet\n/* still nothing */\n\n")
    assert error.line == 1
    assert "UP" in error.problem


def test_up_section_with_only_comments_before_down_is_an_error() -> None:
    error = refused("-- header\n-- UP\n-- TODO\n\n-- DOWN\nDROP TABLE a;\n")
    assert error.line == 2


def test_up_section_with_only_a_semicolon_is_an_error() -> None:
    refused("-- UP\n;\n")


def test_missing_down_section_is_allowed() -> None:
    m = parse("-- UP\nSELECT 1;\n")
    assert m.down is None
    assert m.down_sql is None


def test_empty_down_section_is_allowed_and_has_no_down_sql() -> None:
    m = parse("-- UP\nSELECT 1;\n-- DOWN\n\n-- nothing to undo\n")
    assert m.down_sql is None


def test_down_sql_is_the_down_section_text() -> None:
    m = parse("-- UP\nSELECT 1;\n-- DOWN\nDROP TABLE b;\nDROP TABLE a;\n")
    assert m.down_sql is not None
    assert "DROP TABLE b;\nDROP TABLE a;" in m.down_sql


def test_every_file_error_is_an_input_error_with_exit_code_2() -> None:
    error = refused("SELECT 1;\n")
    assert isinstance(error, InputError)
    assert error.exit_code == 2


# --- header -------------------------------------------------------------------------------


def test_sql_in_the_header_is_refused_with_its_line() -> None:
    error = refused("-- Migration: x\n\nCREATE TABLE a (id int);\n-- UP\nSELECT 1;\n")
    assert error.line == 3


def test_header_metadata_is_read() -> None:
    m = parse(
        "-- Migration: 002_add_user_avatar.sql\n-- Created: 2026-01-20\n"
        "-- Description: add user avatar\n\n-- UP\nSELECT 1;\n"
    )
    assert dict(m.metadata) == {"migration": "002_add_user_avatar.sql",
                                "created": "2026-01-20", "description": "add user avatar"}


def test_header_free_text_comments_are_fine() -> None:
    m = parse("-- This migration adds things.\n-- Author: someone\n-- UP\nSELECT 1;\n")
    assert "description" not in dict(m.metadata)


def test_no_transaction_directive_forces_no_transaction() -> None:
    m = parse("-- Description: x\n-- pgshift: no-transaction\n-- UP\nSELECT 1;\n")
    assert m.no_transaction
    assert m.no_transaction_directive
    assert m.down_no_transaction()


def test_plain_file_runs_in_a_transaction() -> None:
    m = parse("-- UP\nCREATE TABLE a (id int);\n-- DOWN\nDROP TABLE a;\n")
    assert not m.no_transaction
    assert not m.down_no_transaction()


def test_allow_directive_lists_its_rules() -> None:
    m = parse("-- pgshift: allow rule-a, rule-b\n-- UP\nSELECT 1;\n")
    assert m.allowed_rules == frozenset({"rule-a", "rule-b"})
    assert not m.no_transaction


def test_unknown_directive_is_refused_with_its_line() -> None:
    error = refused("-- Description: x\n\n-- pgshift: no-transactions\n-- UP\nSELECT 1;\n")
    assert error.line == 3
    assert "no-transactions" in str(error)


def test_allow_directive_without_rules_is_refused() -> None:
    error = refused("-- pgshift: allow\n-- UP\nSELECT 1;\n")
    assert error.line == 1


# --- psql meta-commands -------------------------------------------------------------------


def test_psql_meta_command_is_refused_with_its_line() -> None:
    text = "-- Migration: x\n-- Created: y\n\n-- UP\nCREATE TABLE a (id int);\n\n\\i other.sql\n"
    error = refused(text)
    assert error.line == 7
    assert f"{NAME}:7" in str(error)


def test_psql_meta_command_in_the_down_section_is_the_down_sections_problem() -> None:
    m = parse("-- UP\nSELECT 1;\n-- DOWN\n\\set x 1\n")
    assert up(m) == ["SELECT 1"]
    assert m.down_problem is not None
    assert m.down_problem.line == 4
    assert m.down_problem.message == "psql meta-command is not SQL: '\\\\set x 1'"


def test_psql_meta_command_in_the_header_is_refused() -> None:
    error = refused("\\set ON_ERROR_STOP on\n-- UP\nSELECT 1;\n")
    assert error.line == 1


def test_indented_psql_meta_command_is_refused() -> None:
    error = refused("-- UP\nSELECT 1;\n  \\gset\n")
    assert error.line == 3


def test_backslash_inside_a_string_literal_is_fine() -> None:
    m = parse("-- UP\nSELECT '\\i x';\nSELECT 'a\n\\i b';\n")
    assert up(m) == ["SELECT '\\i x'", "SELECT 'a\n\\i b'"]


def test_backslash_line_inside_dollar_quotes_is_fine() -> None:
    m = parse("-- UP\nSELECT $$\n\\i x\n$$;\n")
    assert len(up(m)) == 1


def test_backslash_line_inside_a_block_comment_is_fine() -> None:
    m = parse("-- UP\n/*\n\\i x\n*/\nSELECT 1;\n")
    assert up(m) == ["SELECT 1"]


# --- statements and their lines -----------------------------------------------------------


def test_statement_line_is_the_line_of_its_first_token_not_of_leading_comments() -> None:
    m = parse("-- UP\n\n-- creates a\n\nCREATE TABLE a (id int);\n  -- then b\n\n  CREATE TABLE b\n"
              "  (id int);\n")
    assert lines(m) == [5, 8]


def test_statement_line_after_a_block_comment_is_the_line_of_its_first_token() -> None:
    m = parse("-- UP\n/* a\n   long\n   comment */\nSELECT 1;\n")
    assert lines(m) == [5]


def test_statement_lines_count_the_header() -> None:
    m = parse("-- Migration: x\n-- Created: y\n-- Description: z\n\n-- UP\nSELECT 1;\nSELECT 2;\n")
    assert lines(m) == [6, 7]


def test_down_statement_lines_are_lines_of_the_file() -> None:
    m = parse("-- UP\nSELECT 1;\n-- DOWN\n\n-- undo\nDROP TABLE a;\n")
    assert m.down is not None
    assert [s.line for s in m.down.statements()] == [6]


def test_statement_lines_are_the_same_with_crlf_and_bom() -> None:
    text = "-- UP\n\n-- c\nSELECT 1;\n\nSELECT\n  2;\n"
    assert lines(parse("\ufeff" + text.replace("\n", "\r\n"))) == lines(parse(text)) == [4, 6]


def test_statements_split_only_at_top_level_semicolons() -> None:
    m = parse("-- UP\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
              "SELECT ';';\n")
    assert len(up(m)) == 2
    assert up(m)[1] == "SELECT ';'"


def test_statement_head_is_its_first_line() -> None:
    m = parse("-- UP\nCREATE TABLE a (\n  id int\n);\n")
    assert next(m.up.statements()).head == "CREATE TABLE a ("


def test_last_statement_without_semicolon_is_a_statement() -> None:
    m = parse("-- UP\nSELECT 1;\nSELECT 2\n-- DOWN\nSELECT 3\n")
    assert up(m) == ["SELECT 1", "SELECT 2"]
    assert down(m) == ["SELECT 3"]


# --- syntax errors ------------------------------------------------------------------------


def test_syntax_error_names_its_line() -> None:
    error = refused("-- UP\nSELECT 1;\n\n\nCREATE TABLE (;\n")
    assert error.line == 5
    assert f"{NAME}:5" in str(error)


def test_syntax_error_on_a_later_line_of_a_statement_names_that_line() -> None:
    error = refused("-- UP\nSELECT 1;\nCREATE TABLE a (\n  id int,\n  name text text text\n);\n")
    assert error.line == 5


def test_syntax_error_in_the_down_section_is_the_down_sections_problem() -> None:
    m = parse("-- UP\nSELECT 1;\n-- DOWN\nSELECT 1;\nDROP TABLEx t;\n")
    assert up(m) == ["SELECT 1"]
    assert m.down is not None and m.down_problem is not None
    assert m.down_problem.line == 5
    assert m.down_problem.message.startswith("SQL syntax error: ")
    assert list(m.down.statements()) == []
    assert not m.down.is_empty
    assert m.down_sql == "SELECT 1;\nDROP TABLEx t;\n"


def test_down_missing_a_semicolon_between_statements_is_its_problem() -> None:
    m = parse("-- UP\nALTER TABLE d DROP COLUMN id;\n-- DOWN\n"
              "ALTER TABLE d ADD COLUMN id bigserial\nALTER TABLE d ADD PRIMARY KEY (id);\n")
    assert m.down_problem is not None
    assert m.down_problem.line == 5
    assert 'at or near "ALTER"' in m.down_problem.message
    assert m.checksum == sqlfile.checksum("ALTER TABLE d DROP COLUMN id;\n")


def test_unterminated_string_in_the_down_section_is_its_problem() -> None:
    m = parse("-- UP\nSELECT 1;\n-- DOWN\nSELECT 1;\nSELECT 'abc;\n-- x\n")
    assert up(m) == ["SELECT 1"]
    assert m.down_problem is not None and m.down_problem.line == 5
    assert "unterminated quoted string" in m.down_problem.message


def test_unterminated_comment_in_the_up_section_is_refused() -> None:
    error = refused("-- UP\nSELECT 1;\n/* no end\n-- DOWN\nSELECT 2;\n")
    assert error.line == 3
    assert "unterminated /* comment" in error.problem


def test_statement_pgshift_cannot_send_in_the_down_section_is_its_problem() -> None:
    m = parse("-- UP\nCREATE TABLE t (a int);\n-- DOWN\nCOPY t FROM STDIN;\n")
    assert m.down_problem is not None and m.down_problem.line == 4


def test_stray_directive_in_the_down_section_is_its_problem() -> None:
    m = parse("-- UP\nSELECT 1;\n-- DOWN\n-- pgshift: no-transaction\nSELECT 2;\n")
    assert m.down_problem is not None and m.down_problem.line == 4


def test_stray_directive_in_the_up_section_is_refused() -> None:
    error = refused("-- UP\n-- pgshift: no-transaction\nSELECT 1;\n-- DOWN\nSELECT 2;\n")
    assert error.line == 2


def test_a_good_down_section_has_no_problem() -> None:
    m = parse("-- UP\nSELECT 1;\n-- DOWN\nSELECT 2;\n")
    assert m.down_problem is None
    assert parse("-- UP\nSELECT 1;\n").down_problem is None


def test_stored_down_section_that_does_not_parse_carries_its_problem() -> None:
    section = sqlfile.parse_down("DROP TABLE a\nDROP TABLE b;\n", NAME)
    assert section.problem is not None and section.problem.line == 2
    meta = sqlfile.parse_down("DROP TABLE a;\n\\echo done\n", NAME)
    assert meta.problem is not None and meta.problem.line == 2
    good = sqlfile.parse_down("DROP TABLE a;\n", NAME)
    assert good.problem is None and len(good) == 1


def test_syntax_error_line_is_right_after_multibyte_text() -> None:
    error = refused("-- UP\nSELECT '" + "日本語" * 10 + "';\nSELECT 1;\nSELEC 2;\n")
    assert error.line == 4


def test_unterminated_string_is_a_syntax_error_with_its_line() -> None:
    error = refused("-- UP\nSELECT 1;\nSELECT 'never closed;\n")
    assert error.line == 3


def test_unterminated_block_comment_is_an_error() -> None:
    refused("-- UP\nSELECT 1;\n/* never closed\n")


# --- checksum -----------------------------------------------------------------------------

LF = ("-- Migration: 001_x.sql\n-- Description: x\n\n-- UP\nCREATE TABLE a (id int);\n\n"
      "INSERT INTO a VALUES (1);\n-- DOWN\nDROP TABLE a;\n")


def test_checksum_starts_with_the_algorithm_tag() -> None:
    assert CHECKSUM.match(parse(LF).checksum)


def test_crlf_and_bom_give_the_same_checksum_as_lf() -> None:
    windows = "\ufeff" + LF.replace("\n", "\r\n")
    assert parse(windows).checksum == parse(LF).checksum


def test_crlf_without_bom_gives_the_same_checksum_as_lf() -> None:
    assert parse(LF.replace("\n", "\r\n")).checksum == parse(LF).checksum


def test_editing_only_the_down_section_keeps_the_checksum() -> None:
    edited = LF.replace("DROP TABLE a;", "DROP TABLE IF EXISTS a CASCADE;\n-- more")
    assert parse(edited).checksum == parse(LF).checksum


def test_removing_the_down_section_keeps_the_checksum() -> None:
    assert parse(LF.split("-- DOWN")[0]).checksum == parse(LF).checksum


def test_editing_only_the_header_keeps_the_checksum() -> None:
    edited = LF.replace("-- Description: x", "-- Description: something else")
    assert parse(edited).checksum == parse(LF).checksum


def test_editing_the_up_section_changes_the_checksum() -> None:
    edited = LF.replace("VALUES (1)", "VALUES (2)")
    assert parse(edited).checksum != parse(LF).checksum


def test_checksum_ignores_bom_and_line_endings() -> None:
    assert parse("\ufeff" + LF.replace("\n", "\r\n")).checksum == parse(LF).checksum


# --- statements that cannot run in a transaction ------------------------------------------

OUTSIDE_TRANSACTION = [
    "CREATE INDEX CONCURRENTLY i ON t (a)",
    "create unique index concurrently if not exists i on t (a)",
    "DROP INDEX CONCURRENTLY i",
    "DROP INDEX CONCURRENTLY IF EXISTS i",
    "REINDEX INDEX CONCURRENTLY i",
    "REINDEX TABLE CONCURRENTLY t",
    "REINDEX (VERBOSE) TABLE CONCURRENTLY t",
    "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
    "VACUUM",
    "VACUUM t",
    "VACUUM (ANALYZE) t",
    "VACUUM FULL t",
    "vacuum analyze t",
    "CREATE DATABASE d",
    "DROP DATABASE d",
    "DROP DATABASE IF EXISTS d",
    "ALTER SYSTEM SET work_mem = '64MB'",
    "ALTER SYSTEM RESET work_mem",
    "CREATE TABLESPACE ts LOCATION '/tmp/ts'",
    "DROP TABLESPACE ts",
]


@pytest.mark.parametrize("statement", OUTSIDE_TRANSACTION)
def test_statement_that_cannot_run_in_a_transaction_is_detected(statement: str) -> None:
    m = parse(f"-- UP\nCREATE TABLE t (a int);\n{statement};\n")
    assert m.no_transaction
    assert m.up.outside_transaction
    assert m.no_transaction_reasons()


@pytest.mark.parametrize(
    "statement",
    [
        "REINDEX DATABASE d",
        "REINDEX SYSTEM d",
        "ALTER DATABASE d SET TABLESPACE ts",
    ],
)
def test_other_statements_postgresql_refuses_in_a_transaction_are_detected(
    statement: str,
) -> None:
    assert parse(f"-- UP\n{statement};\n").no_transaction


@pytest.mark.parametrize(
    "statements",
    [
        "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;",
        "START TRANSACTION;\nCREATE TABLE a (id int);\nEND;",
        "begin transaction;\ncreate table a (id int);\ncommit work;",
        "CREATE TABLE a (id int);\nCOMMIT;",
        "BEGIN;\nCREATE TABLE a (id int);\nROLLBACK;",
    ],
)
def test_file_with_its_own_begin_commit_runs_outside_a_transaction(statements: str) -> None:
    m = parse(f"-- UP\n{statements}\n")
    assert m.no_transaction


@pytest.mark.parametrize(
    "statement",
    [
        "ANALYZE t",
        "ANALYZE",
        "CREATE INDEX i ON t (a)",
        "DROP INDEX i",
        "REINDEX INDEX i",
        "REINDEX TABLE t",
        "ALTER TABLE p DETACH PARTITION c",
        "ALTER TABLE p ATTACH PARTITION c FOR VALUES IN (1)",
        "ALTER DATABASE d SET work_mem = '1MB'",
        "SAVEPOINT s",
        "RELEASE SAVEPOINT s",
        "ROLLBACK TO SAVEPOINT s",
        "CREATE TABLE vacuum_log (id int)",
        "SELECT 'VACUUM; CREATE INDEX CONCURRENTLY x ON y (z); BEGIN; COMMIT'",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$",
        "DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$",
        "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$",
        "SET statement_timeout = '5s'",
    ],
)
def test_ordinary_statement_runs_in_a_transaction(statement: str) -> None:
    m = parse(f"-- UP\n{statement};\n")
    assert not m.no_transaction
    assert not m.up.outside_transaction


def test_words_in_comments_do_not_make_a_file_non_transactional() -> None:
    m = parse("-- UP\n-- CREATE INDEX CONCURRENTLY later; VACUUM; BEGIN; COMMIT;\n"
              "/* DROP DATABASE d; */\nCREATE TABLE a (id int);\n")
    assert not m.no_transaction


def test_savepoints_alone_keep_the_file_transactional() -> None:
    m = parse("-- UP\nSAVEPOINT s;\nCREATE TABLE a (id int);\nRELEASE SAVEPOINT s;\n")
    assert not m.no_transaction


def test_detection_names_the_statement_that_needs_it() -> None:
    m = parse("-- UP\nCREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);\n")
    assert [index for index, _ in m.up.outside_transaction] == [1]
    assert any("CONCURRENTLY" in reason for reason in m.no_transaction_reasons())


def test_concurrent_index_in_the_down_section_affects_only_rollback() -> None:
    m = parse("-- UP\nCREATE INDEX i ON t (a);\n-- DOWN\nDROP INDEX CONCURRENTLY i;\n")
    assert not m.no_transaction
    assert m.down_no_transaction()


def test_directive_reason_is_listed_first() -> None:
    m = parse("-- pgshift: no-transaction\n-- UP\nVACUUM t;\n")
    assert m.no_transaction_reasons()[0] == "-- pgshift: no-transaction"


# --- header metadata without parsing ------------------------------------------------------


def test_header_metadata_is_the_parsed_metadata() -> None:
    text = ("\ufeff-- Migration: 002_x.sql\r\n-- Created: 2026-01-20\r\n-- Description: add x\r\n"
            "-- pgshift: no-transaction\r\n\r\n-- UP\r\nCREATE INDEX CONCURRENTLY i ON t (a);\r\n")
    assert sqlfile.header_metadata(text) == parse(text).metadata == (
        ("migration", "002_x.sql"), ("created", "2026-01-20"), ("description", "add x"))


def test_header_metadata_stops_at_the_up_marker_and_needs_no_valid_sql() -> None:
    text = "-- Description: wip\n-- UP\n-- Description: not metadata\nCREATE TABLE (;\n"
    assert sqlfile.header_metadata(text) == (("description", "wip"),)


def test_header_metadata_of_the_start_of_a_file() -> None:
    assert sqlfile.header_metadata("-- Created: 2026-01-20\n-- Descr") == (
        ("created", "2026-01-20"),)
