"""The sample project's tests: each one that asks for a database gets a fresh copy of the
migrated one, so rows written by one test are never seen by another."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest


def count_users(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM users").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("round_", [1, 2])
def test_insert_user(pgshift_conn: psycopg.Connection[Any], round_: int) -> None:
    pgshift_conn.execute("INSERT INTO users (email) VALUES (%s)", [f"u{round_}@example.com"])
    pgshift_conn.commit()
    assert count_users(pgshift_conn) == 1


def test_users_start_empty(pgshift_conn: psycopg.Connection[Any]) -> None:
    assert count_users(pgshift_conn) == 0


def test_rows_written_by_migrations_are_there(pgshift_conn: psycopg.Connection[Any]) -> None:
    rows = pgshift_conn.execute("SELECT name FROM roles ORDER BY name").fetchall()
    assert rows == [("admin",), ("member",)]


def test_database_url(pgshift_db: str) -> None:
    with psycopg.connect(pgshift_db, autocommit=True) as conn:
        conn.execute("INSERT INTO users (email, role) VALUES ('root@example.com', 'admin')")
        assert count_users(conn) == 1


def test_without_database() -> None:
    assert "pgshift".upper() == "PGSHIFT"
