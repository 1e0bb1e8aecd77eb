"""Unit tests for pgshift.analysis.lint.linter: pure, no database."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from pgshift.analysis.lint.catalog import RULES, RULES_BY_ID, rules_table_markdown
from pgshift.analysis.lint.linter import History, lint_migration
from pgshift.results import Finding

DOWN = "SELECT 1;\n"


def lint(up: str, down: str | None = DOWN, **kwargs: object) -> list[Finding]:
    return lint_migration("002_x.sql", up, down, **kwargs)  # type: ignore[arg-type]


def rules(up: str, down: str | None = DOWN) -> list[str]:
    return [f.rule for f in lint(up, down)]


def only(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


# --- the reference document's examples --------------------------------------------------

AVATAR_UP = """ALTER TABLE users ADD COLUMN avatar_url TEXT;
CREATE INDEX idx_users_avatar ON users(avatar_url) WHERE avatar_url IS NOT NULL;


"""
AVATAR_DOWN = """DROP INDEX IF EXISTS idx_users_avatar;
ALTER TABLE users DROP COLUMN IF EXISTS avatar_url;
"""
NOTIFICATIONS_UP = """CREATE TABLE IF NOT EXISTS notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    message TEXT,
    read BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_notifications_user_id ON notifications(user_id);
CREATE INDEX idx_notifications_unread ON notifications(user_id) WHERE read = FALSE;

"""
FOREIGN_KEY_UP = (  # trailing spaces as in the reference document
    "ALTER TABLE generations \n"
    "ADD CONSTRAINT fk_generations_workspace \n"
    "FOREIGN KEY (workspace_id) REFERENCES workspaces(id) ON DELETE SET NULL;\n\n"
)


def test_index_after_add_column_on_users_is_flagged_for_concurrency() -> None:
    found = only(lint(AVATAR_UP, AVATAR_DOWN, up_first_line=6, down_first_line=12),
                 "require-concurrent-index")
    assert [(f.line, f.section, f.severity) for f in found] == [(7, "up", "warning")]
    assert found[0].message == (
        "CREATE INDEX idx_users_avatar on existing table users without CONCURRENTLY")


def test_avatar_example_has_no_errors() -> None:
    assert all(f.severity != "error" for f in lint(AVATAR_UP, AVATAR_DOWN))


def test_concurrent_index_on_existing_table_is_not_flagged() -> None:
    up = "CREATE INDEX CONCURRENTLY idx_generations_model ON generations(model);\n\n"
    found = rules(up, "DROP INDEX IF EXISTS idx_generations_model;\n")
    assert "require-concurrent-index" not in found
    assert "mixed-non-transactional" not in found


def test_indexes_on_table_created_in_same_migration_are_not_flagged_for_concurrency() -> None:
    assert "require-concurrent-index" not in rules(NOTIFICATIONS_UP)


def test_indexes_without_if_not_exists_are_flagged_as_non_idempotent() -> None:
    found = only(lint(NOTIFICATIONS_UP), "require-if-not-exists")
    assert [(f.line, f.message) for f in found] == [
        (10, "CREATE INDEX idx_notifications_user_id without IF NOT EXISTS"),
        (11, "CREATE INDEX idx_notifications_unread without IF NOT EXISTS"),
    ]
    assert all(f.severity == "note" for f in found)


def test_notifications_down_dropping_its_table_is_fine() -> None:
    assert only(lint(NOTIFICATIONS_UP, "DROP TABLE IF EXISTS notifications CASCADE;\n"),
                "drop-table") == []


def test_numeric_precision_increase_with_same_scale_is_not_a_rewrite() -> None:
    up = "ALTER TABLE users ALTER COLUMN credits TYPE DECIMAL(20,8);\n"
    down = "ALTER TABLE users ALTER COLUMN credits TYPE DECIMAL(18,8);\n"
    assert [f for f in lint(up, down) if f.section == "up"] == []


def test_numeric_precision_decrease_in_down_is_a_rewrite() -> None:
    up = "ALTER TABLE users ALTER COLUMN credits TYPE DECIMAL(20,8);\n"
    down = "ALTER TABLE users ALTER COLUMN credits TYPE DECIMAL(18,8);\n"
    [found] = lint(up, down)
    assert (found.rule, found.section, found.severity) == ("column-type-change", "down", "error")
    assert "numeric(18,8) from numeric(20,8)" in found.message


def test_numeric_change_with_unknown_old_type_is_only_a_note() -> None:
    [found] = lint("ALTER TABLE users ALTER COLUMN credits TYPE DECIMAL(20,8);\n")
    assert (found.rule, found.severity) == ("column-type-change-unverified", "note")
    assert "numeric(n ≤ 20, 8)" in found.message


def test_foreign_key_without_not_valid_is_flagged() -> None:
    down = "ALTER TABLE generations DROP CONSTRAINT IF EXISTS fk_generations_workspace;\n"
    [found] = lint(FOREIGN_KEY_UP, down, up_first_line=3)
    assert (found.rule, found.line) == ("constraint-missing-not-valid", 3)
    assert "fk_generations_workspace" in found.message and "generations" in found.message


def test_foreign_key_with_not_valid_is_not_flagged() -> None:
    up = ("ALTER TABLE generations ADD CONSTRAINT fk FOREIGN KEY (workspace_id) "
          "REFERENCES workspaces(id) NOT VALID;")
    assert rules(up) == []


# --- DOWN section -----------------------------------------------------------------------


def test_missing_down_section_is_a_warning() -> None:
    [found] = lint("SELECT 1;\n", None)
    assert (found.rule, found.severity, found.section) == ("missing-down", "warning", "down")


def test_down_section_with_only_comments_counts_as_empty() -> None:
    [found] = lint("SELECT 1;\n", "\n-- nothing to undo\n\n", down_first_line=9)
    assert (found.rule, found.line) == ("missing-down", 8)


def test_down_section_with_sql_is_not_missing() -> None:
    assert rules("SELECT 1;", "SELECT 2;") == []


# --- idempotency ------------------------------------------------------------------------


@pytest.mark.parametrize("sql", [
    "CREATE TABLE t (id int);", "CREATE SEQUENCE s;", "CREATE SCHEMA app;",
    "CREATE EXTENSION pgcrypto;", "CREATE MATERIALIZED VIEW mv AS SELECT 1;",
    "CREATE VIEW v AS SELECT 1;", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
    "ALTER TABLE t ADD COLUMN c int;", "ALTER TYPE mood ADD VALUE 'ok';",
])
def test_create_without_if_not_exists_or_or_replace_is_a_note(sql: str) -> None:
    assert rules(sql) == ["require-if-not-exists"]


@pytest.mark.parametrize("sql", [
    "CREATE TABLE IF NOT EXISTS t (id int);", "CREATE SEQUENCE IF NOT EXISTS s;",
    "CREATE OR REPLACE VIEW v AS SELECT 1;", "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;",
    "CREATE TYPE mood AS ENUM ('a');", "CREATE DOMAIN posint AS int CHECK (VALUE > 0);",
    "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
])
def test_idempotent_or_unsupported_statements_are_not_flagged(sql: str) -> None:
    assert rules(sql) == []


@pytest.mark.parametrize("sql", [
    "DROP TABLE t;", "DROP INDEX CONCURRENTLY i;", "DROP TYPE mood;", "DROP FUNCTION f(int);",
    "ALTER TABLE t DROP COLUMN c;", "ALTER TABLE t DROP CONSTRAINT c;",
])
def test_drop_without_if_exists_is_flagged_in_down(sql: str) -> None:
    assert rules("SELECT 1;", sql) == ["require-if-exists"]


def test_drop_message_names_the_object() -> None:
    [found] = lint("SELECT 1;", "DROP TABLE public.a, b;")
    assert found.message == "DROP TABLE a, b without IF EXISTS"


# --- indexes ----------------------------------------------------------------------------


def test_index_on_table_created_earlier_in_section_is_fine() -> None:
    up = "CREATE TABLE IF NOT EXISTS t (a int);\nCREATE INDEX IF NOT EXISTS i ON t (a);"
    assert rules(up) == []


def test_index_on_schema_qualified_new_table_is_fine() -> None:
    up = "CREATE TABLE IF NOT EXISTS public.t (a int);\nCREATE INDEX IF NOT EXISTS i ON t (a);"
    assert rules(up) == []


def test_unique_index_on_existing_table_is_flagged() -> None:
    [found] = lint("CREATE UNIQUE INDEX IF NOT EXISTS u ON users (email);")
    assert found.message == "CREATE UNIQUE INDEX u on existing table users without CONCURRENTLY"


def test_drop_index_without_concurrently_is_flagged() -> None:
    assert rules("DROP INDEX IF EXISTS i;") == ["require-concurrent-index-drop"]


def test_drop_index_concurrently_is_not_flagged() -> None:
    assert rules("DROP INDEX CONCURRENTLY IF EXISTS i;") == []


def test_down_dropping_an_index_of_a_table_the_up_created_is_fine() -> None:
    up = "CREATE TABLE IF NOT EXISTS t (a int);\nCREATE INDEX IF NOT EXISTS i ON t (a);"
    assert rules(up, "DROP INDEX IF EXISTS i;\nDROP TABLE IF EXISTS t;") == []


def test_reindex_without_concurrently_is_flagged() -> None:
    assert rules("REINDEX TABLE users;") == ["require-concurrent-reindex"]


# --- adding columns ---------------------------------------------------------------------


@pytest.mark.parametrize("default", [
    "random()", "gen_random_uuid()", "clock_timestamp()", "(random() * 10)::int",
    "coalesce(uuid_generate_v4(), NULL)",
])
def test_volatile_default_on_existing_table_is_an_error(default: str) -> None:
    found = lint(f"ALTER TABLE users ADD COLUMN IF NOT EXISTS c text DEFAULT {default};")
    assert [(f.rule, f.severity) for f in found] == [("add-column-volatile-default", "error")]


@pytest.mark.parametrize("default", ["now()", "CURRENT_TIMESTAMP", "0", "'x'", "lower('A')"])
def test_constant_or_stable_default_is_fine(default: str) -> None:
    assert rules(f"ALTER TABLE users ADD COLUMN IF NOT EXISTS c text DEFAULT {default};") == []


def test_volatile_default_in_new_table_is_fine() -> None:
    assert rules("CREATE TABLE IF NOT EXISTS t (id uuid DEFAULT gen_random_uuid());") == []


@pytest.mark.parametrize("column", [
    "n bigserial", "n serial", "n int GENERATED ALWAYS AS IDENTITY",
])
def test_serial_or_identity_column_on_existing_table_is_an_error(column: str) -> None:
    assert rules(f"ALTER TABLE users ADD COLUMN IF NOT EXISTS {column};") == ["add-column-serial"]


def test_serial_column_in_new_table_is_fine() -> None:
    assert rules("CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY);") == [
        "prefer-identity"]  # a note: no rewrite in a new table


def test_stored_generated_column_on_existing_table_is_an_error() -> None:
    up = "ALTER TABLE o ADD COLUMN IF NOT EXISTS t int GENERATED ALWAYS AS (a * 2) STORED;"
    assert rules(up) == ["add-column-generated-stored"]


def test_virtual_generated_column_is_fine() -> None:
    up = "ALTER TABLE o ADD COLUMN IF NOT EXISTS t int GENERATED ALWAYS AS (a * 2) VIRTUAL;"
    assert rules(up) == []


def test_not_null_column_without_default_on_existing_table_is_an_error() -> None:
    [found] = lint("ALTER TABLE users ADD COLUMN IF NOT EXISTS plan text NOT NULL;")
    assert found.rule == "add-column-not-null-without-default"
    assert "users.plan" in found.message


def test_not_null_column_with_default_is_fine() -> None:
    assert rules("ALTER TABLE users ADD COLUMN IF NOT EXISTS plan text NOT NULL DEFAULT 'f';") == []


def test_unique_column_on_existing_table_is_flagged() -> None:
    assert rules("ALTER TABLE users ADD COLUMN IF NOT EXISTS e text UNIQUE;") == [
        "add-unique-constraint"]


# --- constraints and NOT NULL -----------------------------------------------------------


def test_set_not_null_on_existing_column_is_flagged() -> None:
    [found] = lint("ALTER TABLE users ALTER COLUMN email SET NOT NULL;")
    assert (found.rule, found.severity) == ("set-not-null", "warning")
    assert "users.email" in found.message


def test_set_not_null_on_column_just_added_suggests_not_null_default() -> None:
    up = ("ALTER TABLE users ADD COLUMN IF NOT EXISTS e text DEFAULT 'x';\n"
          "ALTER TABLE users ALTER COLUMN e SET NOT NULL;")
    [found] = lint(up)
    assert (found.rule, found.line) == ("set-not-null", 2)
    assert "NOT NULL DEFAULT" in found.message


def test_set_not_null_on_new_table_is_fine() -> None:
    up = ("CREATE TABLE IF NOT EXISTS t (a int);\n"
          "ALTER TABLE t ALTER COLUMN a SET NOT NULL;")
    assert rules(up) == []


def test_add_not_null_constraint_without_not_valid_is_flagged() -> None:
    assert rules("ALTER TABLE users ADD CONSTRAINT nn NOT NULL email;") == ["set-not-null"]


def test_check_without_not_valid_is_flagged() -> None:
    assert rules("ALTER TABLE users ADD CONSTRAINT c CHECK (credits >= 0);") == [
        "constraint-missing-not-valid"]


def test_constraint_on_new_table_is_fine() -> None:
    up = ("CREATE TABLE IF NOT EXISTS t (a int);\n"
          "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0), ADD CONSTRAINT u UNIQUE (a);")
    assert rules(up) == []


@pytest.mark.parametrize("constraint", ["UNIQUE (email)", "PRIMARY KEY (id)"])
def test_unique_or_primary_key_without_using_index_is_an_error(constraint: str) -> None:
    [found] = lint(f"ALTER TABLE users ADD CONSTRAINT k {constraint};")
    assert (found.rule, found.severity) == ("add-unique-constraint", "error")


def test_unique_constraint_using_index_is_fine() -> None:
    assert rules("ALTER TABLE users ADD CONSTRAINT k UNIQUE USING INDEX k_idx;") == []


# --- type changes -----------------------------------------------------------------------


def alter_type(new: str, old: str | None) -> list[Finding]:
    down = DOWN if old is None else f"ALTER TABLE t ALTER COLUMN c TYPE {old};"
    return [f for f in lint(f"ALTER TABLE t ALTER COLUMN c TYPE {new};", down)
            if f.section == "up"]


@pytest.mark.parametrize(("old", "new"), [
    ("varchar(10)", "varchar(20)"), ("varchar(10)", "text"), ("varchar(10)", "varchar"),
    ("text", "varchar"), ("numeric(10,2)", "numeric(12,2)"), ("numeric(10,2)", "numeric"),
    ("numeric(10)", "numeric(12,0)"), ("timestamptz(3)", "timestamptz"), ("varbit(3)", "varbit(8)"),
])
def test_rewrite_free_type_change_is_not_flagged(old: str, new: str) -> None:
    assert alter_type(new, old) == []


@pytest.mark.parametrize(("old", "new"), [
    ("varchar(20)", "varchar(10)"), ("text", "varchar(10)"), ("int", "bigint"),
    ("numeric(10,2)", "numeric(12,4)"), ("timestamp", "timestamptz"), ("varchar", "varchar(5)"),
    ("text[]", "varchar[]"),
])
def test_rewriting_type_change_is_an_error(old: str, new: str) -> None:
    assert [(f.rule, f.severity) for f in alter_type(new, old)] == [("column-type-change", "error")]


def test_type_change_to_int_with_unknown_old_type_is_an_error() -> None:
    assert [f.rule for f in alter_type("bigint", None)] == ["column-type-change"]


def test_type_change_to_text_with_unknown_old_type_is_a_note() -> None:
    [found] = alter_type("text", None)
    assert found.rule == "column-type-change-unverified"
    assert "varchar or text" in found.message


def test_type_change_with_using_is_always_an_error() -> None:
    up = "ALTER TABLE t ALTER COLUMN c TYPE varchar(20) USING c::varchar(20);"
    down = "ALTER TABLE t ALTER COLUMN c TYPE varchar(10);"
    assert [f.rule for f in lint(up, down) if f.section == "up"] == ["column-type-change"]


def test_type_of_a_column_added_earlier_in_the_section_is_known() -> None:
    up = ("ALTER TABLE t ADD COLUMN IF NOT EXISTS c varchar(10);\n"
          "ALTER TABLE t ALTER COLUMN c TYPE varchar(40);")
    assert rules(up) == []


def test_type_change_on_new_table_is_fine() -> None:
    up = "CREATE TABLE IF NOT EXISTS t (c int);\nALTER TABLE t ALTER COLUMN c TYPE bigint;"
    assert rules(up) == []


# --- renames and drops ------------------------------------------------------------------


def test_rename_column_is_an_error() -> None:
    [found] = lint("ALTER TABLE users RENAME COLUMN name TO full_name;")
    assert (found.rule, found.message) == ("rename-column",
                                           "RENAME COLUMN users.name to full_name")


def test_rename_table_is_an_error() -> None:
    assert rules("ALTER TABLE users RENAME TO accounts;") == ["rename-table"]


def test_rename_constraint_is_fine() -> None:
    assert rules("ALTER TABLE users RENAME CONSTRAINT a TO b;") == []


def test_drop_column_in_up_is_an_error() -> None:
    assert rules("ALTER TABLE users DROP COLUMN IF EXISTS legacy;") == ["drop-column"]


def test_drop_column_in_down_is_fine() -> None:
    assert rules("SELECT 1;", "ALTER TABLE users DROP COLUMN IF EXISTS legacy;") == []


def test_drop_table_in_up_is_an_error() -> None:
    [found] = lint("DROP TABLE IF EXISTS legacy_events;")
    assert (found.rule, found.severity) == ("drop-table", "error")


def test_drop_table_in_down_is_fine() -> None:
    assert rules("SELECT 1;", "DROP TABLE IF EXISTS notifications;") == []


def test_dropping_a_table_created_in_the_same_section_is_fine() -> None:
    up = "CREATE TABLE IF NOT EXISTS tmp (a int);\nDROP TABLE IF EXISTS tmp;"
    assert rules(up) == []


# --- transactions -----------------------------------------------------------------------


def test_concurrent_index_mixed_with_other_statements_is_flagged() -> None:
    up = ("ALTER TABLE users ADD COLUMN IF NOT EXISTS a text;\n"
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);")
    [found] = lint(up)
    assert (found.rule, found.line, found.severity) == ("mixed-non-transactional", 2, "warning")
    assert "CREATE INDEX CONCURRENTLY i" in found.message


def test_several_concurrent_indexes_alone_are_fine() -> None:
    up = ("SET lock_timeout = '5s';\n"
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);\n"
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS j ON users (b);")
    assert rules(up) == []


def test_vacuum_mixed_with_other_statements_is_flagged() -> None:
    assert rules("UPDATE t SET a = 1;\nVACUUM t;") == ["mixed-non-transactional"]


def test_concurrent_index_inside_begin_commit_is_an_error() -> None:
    up = "BEGIN;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);\nCOMMIT;"
    [found] = lint(up)
    assert (found.rule, found.line, found.severity) == (
        "non-transactional-in-transaction-block", 2, "error")


def test_concurrent_index_after_commit_is_fine() -> None:
    up = ("BEGIN;\nUPDATE t SET a = 1;\nCOMMIT;\n"
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);")
    assert rules(up) == []


# --- enum values ------------------------------------------------------------------------


def test_enum_value_used_after_adding_it_is_an_error() -> None:
    up = ("ALTER TYPE status ADD VALUE IF NOT EXISTS 'archived';\n"
          "UPDATE posts SET status = 'archived' WHERE old;")
    [found] = lint(up)
    assert (found.rule, found.line, found.severity) == (
        "enum-value-used-in-same-migration", 2, "error")


def test_enum_value_added_alone_is_fine() -> None:
    up = "ALTER TYPE status ADD VALUE IF NOT EXISTS 'archived';\nUPDATE posts SET n = 'other';"
    assert rules(up) == []


def test_enum_value_used_only_in_the_other_section_is_fine() -> None:
    up = "ALTER TYPE status ADD VALUE IF NOT EXISTS 'archived';"
    assert rules(up, "UPDATE posts SET status = 'draft' WHERE status = 'archived';") == []


# --- type choices -----------------------------------------------------------------------


def test_json_column_is_a_note() -> None:
    [found] = lint("CREATE TABLE IF NOT EXISTS e (payload json);")
    assert (found.rule, found.severity, found.message) == (
        "prefer-jsonb", "note", "column e.payload has type json; use jsonb")


def test_timestamp_without_time_zone_is_a_note() -> None:
    assert rules("ALTER TABLE e ADD COLUMN IF NOT EXISTS at timestamp;") == ["prefer-timestamptz"]


@pytest.mark.parametrize("type_", ["jsonb", "timestamptz", "timestamp with time zone"])
def test_jsonb_and_timestamptz_are_fine(type_: str) -> None:
    assert rules(f"CREATE TABLE IF NOT EXISTS e (c {type_});") == []


def test_timestamp_cast_in_a_query_is_not_a_column_choice() -> None:
    assert rules("UPDATE e SET n = 1 WHERE at > '2020-01-01'::timestamp;") == []


# --- maintenance and locks --------------------------------------------------------------


def test_vacuum_full_is_an_error() -> None:
    assert rules("VACUUM FULL events;") == ["vacuum-full"]


def test_cluster_is_an_error() -> None:
    assert rules("CLUSTER events USING events_pkey;") == ["cluster"]


def test_lock_table_is_a_warning() -> None:
    [found] = lint("LOCK TABLE events IN ACCESS EXCLUSIVE MODE;")
    assert (found.rule, found.severity, found.message) == ("lock-table", "warning",
                                                           "LOCK TABLE events")


# --- one change per migration -----------------------------------------------------------


def test_two_unrelated_tables_are_a_note() -> None:
    up = ("ALTER TABLE users ADD COLUMN IF NOT EXISTS a text;\n"
          "ALTER TABLE generations ADD COLUMN IF NOT EXISTS m text;")
    [found] = lint(up)
    assert (found.rule, found.line, found.severity) == ("multiple-tables", 2, "note")
    assert "generations; users" in found.message


def test_tables_linked_by_a_foreign_key_are_related() -> None:
    up = ("CREATE TABLE IF NOT EXISTS teams (id bigint PRIMARY KEY);\n"
          "CREATE TABLE IF NOT EXISTS members (team_id bigint REFERENCES teams (id));")
    assert rules(up) == []


def test_index_and_column_on_the_same_table_are_one_change() -> None:
    up = ("ALTER TABLE users ADD COLUMN IF NOT EXISTS a text;\n"
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);")
    assert "multiple-tables" not in rules(up)


def test_referencing_the_same_unchanged_table_does_not_relate_two_tables() -> None:
    up = ("CREATE TABLE IF NOT EXISTS a (u bigint REFERENCES users (id));\n"
          "CREATE TABLE IF NOT EXISTS b (u bigint REFERENCES users (id));")
    assert rules(up) == ["multiple-tables"]


# --- line numbers -----------------------------------------------------------------------


def test_line_is_the_first_token_after_leading_comments_and_blank_lines() -> None:
    up = "\n-- explain why\n/* block\n   comment */\n\n  ALTER TABLE users RENAME TO a;\n"
    [found] = lint(up, up_first_line=5)
    assert found.line == 10


def test_line_of_a_later_statement_after_a_trailing_comment() -> None:
    up = "SELECT 1; -- first\n-- second\nDROP TABLE IF EXISTS x;"
    assert [f.line for f in lint(up, up_first_line=3)] == [5]


def test_multi_line_statement_is_reported_at_its_first_line() -> None:
    up = "SELECT 1;\nALTER TABLE users\n  ADD COLUMN IF NOT EXISTS a int\n  DEFAULT random();"
    assert [f.line for f in lint(up)] == [2]


def test_down_findings_use_down_first_line() -> None:
    [found] = lint("SELECT 1;", "\n\nDROP TABLE x;", down_first_line=20)
    assert (found.section, found.line) == ("down", 22)


def test_non_ascii_text_does_not_shift_lines() -> None:
    up = "-- café ☕\nCOMMENT ON TABLE users IS 'ünïcødé\n€';\n\nDROP TABLE IF EXISTS x;"
    assert [f.line for f in lint(up)] == [5]


def test_findings_are_sorted_by_line() -> None:
    up = ("ALTER TABLE users RENAME TO a;\n"
          "ALTER TABLE generations ADD COLUMN IF NOT EXISTS x int DEFAULT random();")
    found = lint(up, "DROP TABLE x;", down_first_line=10)
    assert [f.line for f in found] == sorted(f.line for f in found)
    assert found[-1].section == "down"


# --- allow directives -------------------------------------------------------------------


def test_allowed_rules_are_silenced() -> None:
    up = "ALTER TABLE users RENAME COLUMN a TO b;\nDROP TABLE IF EXISTS legacy;"
    assert [f.rule for f in lint(up, allowed=frozenset({"rename-column"}))] == [
        "drop-table", "multiple-tables"]


def test_allowing_every_rule_of_a_file_leaves_nothing() -> None:
    assert lint("CREATE INDEX i ON users (a);", None, allowed=frozenset({
        "require-concurrent-index", "require-if-not-exists", "missing-down"})) == []


# --- SQL inside strings -----------------------------------------------------------------


def test_create_index_inside_a_function_body_is_not_flagged() -> None:
    up = """CREATE OR REPLACE FUNCTION make_idx() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE INDEX idx_x ON users (a);
    DROP TABLE users;
    EXECUTE 'ALTER TABLE users RENAME TO x';
END
$$;
"""
    assert rules(up) == []


def test_sql_in_a_string_literal_is_not_flagged() -> None:
    assert rules("INSERT INTO notes (body) VALUES ('DROP TABLE users; VACUUM FULL');") == []


# --- parse errors -----------------------------------------------------------------------


def test_unparsable_up_section_gives_one_parse_error_finding() -> None:
    up = "ALTER TABLE users ADD COLUMN a text;\n\nCREAT INDEX i ON users (a);\nSELEC 1;"
    [found] = [f for f in lint(up, up_first_line=4) if f.section == "up"]
    assert (found.rule, found.severity, found.line) == ("parse-error", "error", 6)
    assert "CREAT" in found.message


def test_error_at_end_of_input_points_at_the_unfinished_statement() -> None:
    up = "SELECT 1;\n\nCREATE TABLE t (\n  a int,\n"
    [found] = lint(up, up_first_line=2)
    assert (found.rule, found.line) == ("parse-error", 4)


def test_unterminated_string_is_a_parse_error() -> None:
    assert rules("SELECT 'abc;\n") == ["parse-error"]


def test_parse_error_in_down_still_lints_up() -> None:
    found = lint("ALTER TABLE users RENAME TO a;", "DROPP TABLE a;")
    assert sorted((f.section, f.rule) for f in found) == [
        ("down", "parse-error"), ("up", "rename-table")]


def test_psql_meta_command_is_a_parse_error_not_an_exception() -> None:
    assert rules("\\i other.sql\n") == ["parse-error"]


# --- the catalogue ----------------------------------------------------------------------


def test_rule_ids_are_unique_kebab_case() -> None:
    assert len(RULES_BY_ID) == len(RULES)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.id) for rule in RULES)


def test_every_rule_is_documented() -> None:
    for rule in RULES:
        assert rule.severity in ("error", "warning", "note")
        assert rule.summary and "\n" not in rule.summary
        assert len(rule.explanation) > 40 and rule.safe_alternative


def test_findings_are_frozen_values() -> None:
    [found] = lint("VACUUM FULL t;")
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.line = 3  # type: ignore[misc]


def test_rules_table_has_one_row_per_rule() -> None:
    table = rules_table_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [rule.id for rule in RULES]


def test_docs_page_shows_the_current_rules_table() -> None:
    page = Path(__file__).parents[2] / "docs" / "lint-rules.md"
    assert rules_table_markdown() in page.read_text(encoding="utf-8")


# --- issue 10: precision, each checked against PostgreSQL 15 and 18 (docs/lint-rules.md) -


def test_default_calling_a_volatile_user_function_rewrites() -> None:
    up = ("CREATE OR REPLACE FUNCTION random_string(n int) RETURNS text LANGUAGE plpgsql AS "
          "$$ BEGIN RETURN substr(md5(random()::text), 1, n); END $$;\n"
          "ALTER TABLE IF EXISTS users ADD COLUMN IF NOT EXISTS code text "
          "DEFAULT random_string(26);")
    found = only(lint(up), "add-column-volatile-default")
    assert [f.message for f in found] == [
        "ADD COLUMN users.code with volatile DEFAULT random_string() rewrites users"]


def test_volatility_comes_from_an_earlier_migration_through_the_history() -> None:
    history = History()
    lint_migration("001_fn.sql", "CREATE OR REPLACE FUNCTION random_smallint() RETURNS "
                   "smallint LANGUAGE plpgsql VOLATILE AS $$ BEGIN RETURN 1; END $$;\n"
                   "CREATE OR REPLACE FUNCTION stable_code() RETURNS text LANGUAGE plpgsql "
                   "STABLE AS $$ BEGIN RETURN 'x'; END $$;", DOWN, history=history)
    volatile = lint_migration("002_col.sql", "ALTER TABLE users ADD COLUMN IF NOT EXISTS n "
                              "smallint DEFAULT random_smallint();", DOWN, history=history)
    stable = lint_migration("003_col.sql", "ALTER TABLE users ADD COLUMN IF NOT EXISTS c "
                            "text DEFAULT stable_code();", DOWN, history=history)
    assert [f.rule for f in volatile] == ["add-column-volatile-default"]
    assert stable == []


def test_unknown_function_may_rewrite() -> None:
    unknown = lint("ALTER TABLE users ADD COLUMN IF NOT EXISTS c text DEFAULT make_code();")
    assert [f.rule for f in unknown] == ["add-column-default-may-rewrite"]
    assert only(unknown, "add-column-default-may-rewrite")[0].severity == "warning"


@pytest.mark.parametrize(("body", "expected"), [
    ("SELECT 7", []),  # inlined into a constant: no rewrite (observed)
    ("SELECT lower($1::text)", []),
    ("SELECT CAST(random() * 32767 AS smallint)", ["add-column-volatile-default"]),
    ("SELECT x FROM k", ["add-column-volatile-default"]),  # not inlined: per row
    ("SELECT 1; SELECT 2", ["add-column-volatile-default"]),
    ("SELECT make_code()", ["add-column-default-may-rewrite"]),
])
def test_volatile_sql_function_is_judged_by_its_body(body: str, expected: list[str]) -> None:
    up = (f"CREATE OR REPLACE FUNCTION f(n int) RETURNS int LANGUAGE sql AS $$ {body} $$;\n"
          "ALTER TABLE users ADD COLUMN IF NOT EXISTS c int DEFAULT f(1);")
    assert rules(up) == expected


@pytest.mark.parametrize("default", ["now()", "lower('X')", "CURRENT_TIMESTAMP", "0",
                                     "'{}'::jsonb", "pg_catalog.now()"])
def test_stable_or_immutable_builtin_defaults_pass(default: str) -> None:
    assert rules(f"ALTER TABLE users ADD COLUMN IF NOT EXISTS c text DEFAULT {default};") == []


def test_add_column_references_with_a_default_scans_the_table() -> None:
    flagged = "ALTER TABLE posts ADD COLUMN IF NOT EXISTS author_id bigint NOT NULL " \
              "DEFAULT 1 REFERENCES users (id);"
    nullable = "ALTER TABLE posts ADD COLUMN IF NOT EXISTS author_id bigint DEFAULT 1 " \
               "REFERENCES users (id);"
    no_default = "ALTER TABLE posts ADD COLUMN IF NOT EXISTS author_id bigint " \
                 "REFERENCES users (id);"
    assert rules(flagged) == ["add-column-foreign-key-default"]
    assert rules(nullable) == ["add-column-foreign-key-default"]
    assert rules(no_default) == []
    assert rules("CREATE TABLE IF NOT EXISTS posts (id bigint);\n" + flagged) == []


def test_validate_in_the_transaction_that_added_not_valid() -> None:
    add = "ALTER TABLE users ADD CONSTRAINT age_check CHECK (age >= 0) NOT VALID;\n"
    validate = "ALTER TABLE users VALIDATE CONSTRAINT age_check;\n"
    assert rules(add + validate) == ["validate-in-same-transaction"]
    assert rules(validate) == []
    # outside a transaction (the section runs statement by statement) each commits alone
    index = "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);\n"
    assert "validate-in-same-transaction" not in rules(add + validate + index)
    assert "validate-in-same-transaction" in rules(
        "BEGIN;\n" + add + validate + "COMMIT;\n" + index)


def test_set_not_null_after_a_validated_not_null_check_is_fine() -> None:
    step1 = "ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;"
    step2 = ("ALTER TABLE users VALIDATE CONSTRAINT email_nn;\n"
             "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
             "ALTER TABLE users DROP CONSTRAINT IF EXISTS email_nn;")
    history = History()
    lint_migration("001.sql", step1, DOWN, history=history)
    assert [f.rule for f in lint_migration("002.sql", step2, DOWN, history=history)] == []
    # without the validation, or for another column, the scan remains
    assert rules("ALTER TABLE users ALTER COLUMN email SET NOT NULL;") == ["set-not-null"]
    assert "set-not-null" in rules(step1 + "\nALTER TABLE users VALIDATE CONSTRAINT "
                                   "email_nn;\nALTER TABLE users ALTER COLUMN name SET NOT NULL;")


def test_reindex_system_is_not_asked_to_be_concurrent() -> None:
    assert rules("REINDEX SYSTEM;") == []
    assert rules("REINDEX DATABASE app;") == ["require-concurrent-reindex"]


def test_unnamed_concurrent_index_is_not_asked_for_if_not_exists() -> None:
    assert rules("CREATE INDEX CONCURRENTLY ON users (email);") == []
    assert rules("CREATE INDEX CONCURRENTLY users_email ON users (email);") == [
        "require-if-not-exists"]


def test_idempotency_is_a_warning_only_outside_a_transaction() -> None:
    plain = lint("CREATE TABLE t (id bigint);")
    outside = lint("CREATE TABLE t (id bigint);\n"
                   "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON u (a);")
    directive = lint("CREATE TABLE t (id bigint);", no_transaction=True)
    in_block = lint("BEGIN;\nCREATE TABLE t (id bigint);\nCOMMIT;\n")
    severity = [[f.severity for f in only(x, "require-if-not-exists")]
                for x in (plain, outside, directive, in_block)]
    assert severity == [["note"], ["warning"], ["warning"], ["note"]]


@pytest.mark.parametrize(("sql", "expected"), [
    ("CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);", ["prefer-bigint-key"]),
    ("CREATE TABLE IF NOT EXISTS t (id smallint, PRIMARY KEY (id));", ["prefer-bigint-key"]),
    ("CREATE TABLE IF NOT EXISTS t (u integer REFERENCES users (id));", ["prefer-bigint-key"]),
    ("CREATE TABLE IF NOT EXISTS t (u int, FOREIGN KEY (u) REFERENCES users);",
     ["prefer-bigint-key"]),
    ("CREATE TABLE IF NOT EXISTS t (id serial PRIMARY KEY);",
     ["prefer-identity", "prefer-bigint-key"]),
    ("CREATE TABLE IF NOT EXISTS t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
     "u bigint REFERENCES users (id), n int);", []),
])
def test_key_types_and_serial(sql: str, expected: list[str]) -> None:
    assert rules(sql) == expected


@pytest.mark.parametrize(("sql", "rule"), [
    ("DROP VIEW IF EXISTS active_users;", "drop-view"),
    ("DROP MATERIALIZED VIEW IF EXISTS stats;", "drop-view"),
    ("DROP FUNCTION IF EXISTS score(bigint);", "drop-function"),
    ("DROP TYPE IF EXISTS mood;", "drop-type"),
    ("DROP SCHEMA IF EXISTS legacy CASCADE;", "drop-schema"),
])
def test_drops_that_break_the_running_application(sql: str, rule: str) -> None:
    assert rules(sql) == [rule]
    assert rules("SELECT 1;", down=sql) == []  # what a DOWN section is for


def test_dropping_and_creating_again_is_a_replacement() -> None:
    assert rules("DROP VIEW IF EXISTS v;\nCREATE OR REPLACE VIEW v AS SELECT 1;") == []
    assert rules("DROP FUNCTION IF EXISTS f();\nCREATE OR REPLACE FUNCTION f() RETURNS int "
                 "LANGUAGE sql IMMUTABLE AS 'SELECT 1';") == []
    assert rules("DROP TYPE IF EXISTS mood;\nCREATE TYPE mood AS ENUM ('a');") == []
    assert rules("DROP VIEW IF EXISTS v;\nCREATE OR REPLACE VIEW w AS SELECT 1;") == [
        "drop-view"]


@pytest.mark.parametrize(("sql", "rule"), [
    ("ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_key;", "drop-constraint"),
    ("ALTER TABLE users ALTER COLUMN plan DROP DEFAULT;", "drop-default"),
    ("ALTER TABLE users ALTER COLUMN plan DROP NOT NULL;", "drop-not-null"),
])
def test_drops_of_column_properties(sql: str, rule: str) -> None:
    assert rules(sql) == [rule]
    assert rules("SELECT 1;", down=sql) == []
    created = "CREATE TABLE IF NOT EXISTS users (id bigint, plan text NOT NULL DEFAULT 'x', " \
              "CONSTRAINT users_email_key UNIQUE (id));\n"
    assert rules(created + sql) == []


def test_dropping_the_not_null_helper_after_set_not_null_is_fine() -> None:
    up = ("ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;\n"
          "ALTER TABLE users DROP CONSTRAINT IF EXISTS other_check;")
    assert "drop-constraint" in rules(up)
    history = History()
    lint_migration("001.sql", "ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT "
                   "NULL) NOT VALID;", DOWN, history=history)
    later = lint_migration("002.sql", "ALTER TABLE users VALIDATE CONSTRAINT email_nn;\n"
                           "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
                           "ALTER TABLE users DROP CONSTRAINT IF EXISTS email_nn;", DOWN,
                           history=history)
    assert later == []


def test_identifiers_over_63_bytes() -> None:
    long = "a" * 64
    found = only(lint(f"CREATE TABLE IF NOT EXISTS {long} (id bigint);"), "identifier-too-long")
    assert [f.message for f in found] == [
        f"identifier {long} is 64 bytes; PostgreSQL truncates it to {'a' * 63}"]
    assert only(lint(f'CREATE TABLE IF NOT EXISTS "{"é" * 32}" (id bigint);'),
                "identifier-too-long")  # 64 bytes in 32 characters
    assert rules(f"CREATE TABLE IF NOT EXISTS {'a' * 63} (id bigint);") == []
    assert rules(f"COMMENT ON TABLE t IS '{long}';") == []  # a string, not an identifier


def test_char_n_is_a_note_and_the_internal_char_type_is_not() -> None:
    assert rules("CREATE TABLE IF NOT EXISTS t (c char(2), d character(3));") == [
        "prefer-text-over-char", "prefer-text-over-char"]
    assert rules('CREATE TABLE IF NOT EXISTS t (c "char", d varchar(3), e text);') == []


def test_truncate_cascade() -> None:
    assert rules("TRUNCATE events CASCADE;") == ["truncate-cascade"]
    assert rules("TRUNCATE events;") == []


def test_enum_value_added_before_or_after_reorders() -> None:
    assert rules("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ok' BEFORE 'happy';") == [
        "enum-value-not-at-end"]
    assert rules("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ok' AFTER 'sad';") == [
        "enum-value-not-at-end"]
    assert rules("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ok';") == []


def test_detach_partition_without_concurrently() -> None:
    assert rules("ALTER TABLE events DETACH PARTITION events_2023;") == ["detach-partition"]
    assert rules("ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;") == []


@pytest.mark.parametrize("rule", [
    "add-column-default-may-rewrite", "add-column-foreign-key-default",
    "validate-in-same-transaction", "prefer-bigint-key", "prefer-identity", "drop-view",
    "drop-function", "drop-type", "drop-schema", "drop-constraint", "drop-default",
    "drop-not-null", "identifier-too-long", "prefer-text-over-char", "truncate-cascade",
    "enum-value-not-at-end", "detach-partition",
])
def test_new_rules_are_in_the_catalogue_and_can_be_allowed(rule: str) -> None:
    assert rule in RULES_BY_ID
    samples = {
        "add-column-default-may-rewrite":
            "ALTER TABLE u ADD COLUMN IF NOT EXISTS c int DEFAULT f();",
        "add-column-foreign-key-default":
            "ALTER TABLE u ADD COLUMN IF NOT EXISTS c bigint DEFAULT 1 REFERENCES v;",
        "validate-in-same-transaction": "ALTER TABLE u ADD CONSTRAINT c CHECK (a > 0) NOT "
            "VALID;\nALTER TABLE u VALIDATE CONSTRAINT c;",
        "prefer-bigint-key": "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);",
        "prefer-identity": "CREATE TABLE IF NOT EXISTS t (id bigserial);",
        "drop-view": "DROP VIEW IF EXISTS v;", "drop-function": "DROP FUNCTION IF EXISTS f;",
        "drop-type": "DROP TYPE IF EXISTS t;", "drop-schema": "DROP SCHEMA IF EXISTS s;",
        "drop-constraint": "ALTER TABLE u DROP CONSTRAINT IF EXISTS c;",
        "drop-default": "ALTER TABLE u ALTER COLUMN c DROP DEFAULT;",
        "drop-not-null": "ALTER TABLE u ALTER COLUMN c DROP NOT NULL;",
        "identifier-too-long": f"CREATE TABLE IF NOT EXISTS {'x' * 70} (id bigint);",
        "prefer-text-over-char": "CREATE TABLE IF NOT EXISTS t (c char(2));",
        "truncate-cascade": "TRUNCATE t CASCADE;",
        "enum-value-not-at-end": "ALTER TYPE e ADD VALUE IF NOT EXISTS 'v' BEFORE 'w';",
        "detach-partition": "ALTER TABLE p DETACH PARTITION c;",
    }
    assert rule in rules(samples[rule])
    assert rule not in [f.rule for f in lint(samples[rule], allowed=frozenset({rule}))]
