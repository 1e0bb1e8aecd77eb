"""The verify engine: DOWN must undo UP, and UP must be repeatable after DOWN."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pglast.parser import split

from pgshift.review.verify import VerifyInput, VerifyReport, verify


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def run_section(conn: psycopg.Connection[Any], text: str, no_transaction: bool) -> None:
    """Run a section: one transaction, or statement by statement outside one."""
    if no_transaction:
        for statement in split(text):
            conn.execute(statement)
    else:
        with conn.transaction():
            conn.execute(text)


def check(conn: psycopg.Connection[Any], *migrations: tuple[str, str, str | None]) -> VerifyReport:
    inputs = [VerifyInput(name, up, down, False) for name, up, down in migrations]
    return verify(conn, inputs, run_section=run_section)


def problems(report: VerifyReport) -> dict[str, tuple[str, ...]]:
    return {verdict.name: verdict.problems for verdict in report.verdicts}


def tables(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind = 'r' ORDER BY relname"
    )
    return [row[0] for row in rows]


USERS = (
    "001_users.sql",
    "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE,"
    " status text NOT NULL DEFAULT 'new');",
    "DROP TABLE users;",
)
WORKSPACES = (
    "002_workspaces.sql",
    "CREATE TABLE workspaces (id serial PRIMARY KEY, name text NOT NULL);\n"
    "COMMENT ON TABLE workspaces IS 'tenants';",
    "DROP TABLE workspaces;",
)
AVATAR = (
    "003_add_user_avatar.sql",
    "ALTER TABLE users ADD COLUMN avatar_url text;\n"
    "CREATE INDEX idx_users_avatar ON users (avatar_url) WHERE avatar_url IS NOT NULL;",
    "DROP INDEX idx_users_avatar;\nALTER TABLE users DROP COLUMN avatar_url;",
)
NOTIFICATIONS = (
    "004_notifications.sql",
    "CREATE TYPE notification_kind AS ENUM ('mention', 'invite');\n"
    "CREATE TABLE notifications (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  user_id integer NOT NULL,\n"
    "  kind notification_kind NOT NULL,\n"
    "  body text NOT NULL,\n"
    "  created_at timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "CREATE INDEX idx_notifications_user ON notifications (user_id, created_at DESC);",
    "DROP TABLE notifications;\nDROP TYPE notification_kind;",
)
FOREIGN_KEY = (
    "005_notifications_fk.sql",
    "ALTER TABLE notifications ADD CONSTRAINT notifications_user_fk\n"
    "  FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;",
    "ALTER TABLE notifications DROP CONSTRAINT notifications_user_fk;",
)


def test_correct_migrations_pass_and_stay_applied(conn: psycopg.Connection[Any]) -> None:
    steps: list[str] = []
    inputs = [
        VerifyInput(name, up, down, False)
        for name, up, down in (USERS, WORKSPACES, AVATAR, NOTIFICATIONS, FOREIGN_KEY)
    ]
    report = verify(conn, inputs, run_section=run_section, on_progress=steps.append)
    assert report.ok, problems(report)
    assert [v.name for v in report.verdicts] == [m.name for m in inputs]
    assert all(v.ok and v.problems == () for v in report.verdicts)
    assert steps[:3] == ["001_users.sql: UP", "001_users.sql: DOWN", "001_users.sql: UP again"]
    assert len(steps) == 15
    assert tables(conn) == ["notifications", "users", "workspaces"]
    fk = conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'notifications_user_fk'")
    assert fk.fetchone() == (1,)
    avatar = conn.execute("SELECT to_regclass('idx_users_avatar') IS NOT NULL").fetchone()
    assert avatar == (True,)


def test_down_that_forgets_an_index(conn: psycopg.Connection[Any]) -> None:
    forgets = (
        "002_add_bio.sql",
        "ALTER TABLE users ADD COLUMN bio text;\nCREATE INDEX idx_users_status ON users (status);",
        "ALTER TABLE users DROP COLUMN bio;",
    )
    report = check(conn, USERS, forgets)
    assert not report.ok
    assert problems(report) == {
        "001_users.sql": (),
        "002_add_bio.sql": (
            "DOWN of 002_add_bio.sql leaves index idx_users_status"
            " (CREATE INDEX idx_users_status ON public.users USING btree (status))",
            "UP of 002_add_bio.sql failed when run again after DOWN:"
            ' relation "idx_users_status" already exists (SQLSTATE 42P07)',
        ),
    }


def test_down_that_forgets_a_column_default_and_leaves_a_column(
    conn: psycopg.Connection[Any],
) -> None:
    change = (
        "002_status_default.sql",
        "ALTER TABLE users ALTER status SET DEFAULT 'active';\n"
        "ALTER TABLE users ADD COLUMN bio text;",
        "ALTER TABLE users ALTER status DROP DEFAULT;",
    )
    report = check(conn, USERS, change)
    assert problems(report)["002_status_default.sql"] == (
        "DOWN of 002_status_default.sql leaves column users.bio (text)",
        "DOWN of 002_status_default.sql changes column users.status: default: 'new'::text → (none)",
        "UP of 002_status_default.sql failed when run again after DOWN:"
        ' column "bio" of relation "users" already exists (SQLSTATE 42701)',
    )


def test_down_that_removes_what_up_did_not_create(conn: psycopg.Connection[Any]) -> None:
    greedy = (
        "002_tags.sql",
        "CREATE TABLE tags (name text PRIMARY KEY);",
        "DROP TABLE tags;\nALTER TABLE users DROP CONSTRAINT users_email_key;",
    )
    report = check(conn, USERS, greedy)
    assert problems(report)["002_tags.sql"] == (
        "DOWN of 002_tags.sql removes constraint users.users_email_key (UNIQUE (email))",
    )


def test_enum_value_that_down_does_not_remove(conn: psycopg.Connection[Any]) -> None:
    mood = (
        "001_mood.sql",
        "CREATE TYPE mood AS ENUM ('sad', 'happy');",
        "DROP TYPE mood;",
    )
    add_value = (
        "002_mood_ok.sql",
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ok' BEFORE 'happy';\n"
        "CREATE TABLE moods (m mood);",
        "DROP TABLE moods;",
    )
    report = check(conn, mood, add_value)
    assert problems(report) == {
        "001_mood.sql": (),
        "002_mood_ok.sql": (
            "DOWN of 002_mood_ok.sql changes enum mood: values: sad, happy → sad, ok, happy",
        ),
    }
    labels = conn.execute("SELECT enum_range(NULL::mood)::text").fetchone()
    assert labels == ("{sad,ok,happy}",)


def test_function_left_behind_or_changed(conn: psycopg.Connection[Any]) -> None:
    create = (
        "001_fn.sql",
        "CREATE FUNCTION answer() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 42';",
        "DROP FUNCTION answer();",
    )
    replace = (
        "002_fn_v2.sql",
        "CREATE OR REPLACE FUNCTION answer() RETURNS integer LANGUAGE sql IMMUTABLE"
        " AS 'SELECT 43';\n"
        "CREATE FUNCTION helper(x integer) RETURNS integer LANGUAGE sql AS 'SELECT x';",
        "CREATE OR REPLACE FUNCTION answer() RETURNS integer LANGUAGE sql AS 'SELECT 42';",
    )
    report = check(conn, create, replace)
    assert problems(report)["002_fn_v2.sql"] == (
        "DOWN of 002_fn_v2.sql changes function answer(): volatility: immutable → volatile",
        "DOWN of 002_fn_v2.sql leaves function helper(x integer)",
        "UP of 002_fn_v2.sql failed when run again after DOWN:"
        ' function "helper" already exists with same argument types (SQLSTATE 42723)',
    )


def test_up_that_is_not_repeatable(conn: psycopg.Connection[Any]) -> None:
    unnamed_index = (
        "002_email_index.sql",
        "CREATE INDEX ON users (lower(email));",
        "SELECT 1;",
    )
    report = check(conn, USERS, unnamed_index)
    assert problems(report)["002_email_index.sql"] == (
        "DOWN of 002_email_index.sql leaves index users_lower_idx"
        " (CREATE INDEX users_lower_idx ON public.users USING btree (lower(email)))",
        "UP of 002_email_index.sql is not repeatable: the second run also creates index"
        " users_lower_idx1 (CREATE INDEX users_lower_idx1 ON public.users USING btree"
        " (lower(email)))",
    )


def test_up_guarded_by_if_not_exists_that_skips_work_the_second_time(
    conn: psycopg.Connection[Any],
) -> None:
    guarded = (
        "001_events.sql",
        "CREATE TABLE IF NOT EXISTS events (id integer);\n"
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS kind text DEFAULT 'x';",
        "ALTER TABLE events ALTER kind SET DEFAULT 'y';",
    )
    report = check(conn, guarded)
    assert problems(report)["001_events.sql"] == (
        "DOWN of 001_events.sql leaves table events (id integer, kind text)",
        "UP of 001_events.sql is not repeatable:"
        " column events.kind: default: 'x'::text → 'y'::text",
    )


def test_missing_down_is_reported_and_verification_goes_on(conn: psycopg.Connection[Any]) -> None:
    no_down = ("002_seed.sql", "CREATE TABLE seeds (id integer);", None)
    empty_down = ("003_more.sql", "CREATE TABLE more (id integer);", "-- nothing to undo\n")
    report = check(conn, USERS, no_down, empty_down, WORKSPACES)
    assert problems(report) == {
        "001_users.sql": (),
        "002_seed.sql": ("has no DOWN section",),
        "003_more.sql": ("has no DOWN section",),
        "002_workspaces.sql": (),
    }
    assert tables(conn) == ["more", "seeds", "users", "workspaces"]


def test_statement_error_in_up_stops_verification(conn: psycopg.Connection[Any]) -> None:
    broken = ("002_broken.sql", "ALTER TABLE nosuch ADD COLUMN x integer;", "SELECT 1;")
    report = check(conn, USERS, broken, WORKSPACES)
    assert problems(report) == {
        "001_users.sql": (),
        "002_broken.sql": (
            'UP of 002_broken.sql failed: relation "nosuch" does not exist (SQLSTATE 42P01)',
        ),
        "002_workspaces.sql": ("not verified: verification stopped at 002_broken.sql",),
    }
    assert [v.ok for v in report.verdicts] == [True, False, False]
    assert tables(conn) == ["users"]


def test_statement_error_in_down_stops_verification(conn: psycopg.Connection[Any]) -> None:
    broken = ("002_tags.sql", "CREATE TABLE tags (name text);", "DROP TABLE tag;")
    report = check(conn, USERS, broken, WORKSPACES)
    assert problems(report)["002_tags.sql"] == (
        'DOWN of 002_tags.sql failed: table "tag" does not exist (SQLSTATE 42P01)',
    )
    assert problems(report)["002_workspaces.sql"] == (
        "not verified: verification stopped at 002_tags.sql",
    )
    assert tables(conn) == ["tags", "users"]


def test_no_transaction_migration_runs_statement_by_statement(
    conn: psycopg.Connection[Any],
) -> None:
    concurrent = VerifyInput(
        "002_email_idx.sql",
        "CREATE INDEX CONCURRENTLY idx_users_status ON users (status);",
        "DROP INDEX CONCURRENTLY idx_users_status;",
        True,
    )
    inputs = [VerifyInput(*USERS, False), concurrent]
    report = verify(conn, inputs, run_section=run_section)
    assert report.ok, problems(report)
    valid = conn.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_users_status'::regclass"
    )
    assert valid.fetchone() == (True,)


def test_excluded_tracking_table_is_not_compared(conn: psycopg.Connection[Any]) -> None:
    recording = (
        "001_record.sql",
        "CREATE TABLE IF NOT EXISTS _migrations (id serial PRIMARY KEY, name text);\n"
        "CREATE TABLE items (id integer);",
        "DROP TABLE items;",
    )
    inputs = [VerifyInput(*recording, False)]
    report = verify(conn, inputs, run_section=run_section, exclude=[("public", "_migrations")])
    assert report.ok, problems(report)
    assert tables(conn) == ["_migrations", "items"]
