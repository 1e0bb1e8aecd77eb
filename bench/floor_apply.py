"""Apply floor: the least work a Python tool must do to apply trivial migrations.

Usage: python bench/floor_apply.py URL DIR [--atomic]

One process, one psycopg connection. For each ``*.sql`` file of DIR in name order: read
it, split the UP section at the ``-- DOWN`` line with a plain ``str.find``, and run the UP
SQL together with the tracking-table INSERT (name, batch, checksum, duration_ms,
down_sql) in one transaction. With ``--atomic`` every migration runs in one single
transaction instead. The checksum is computed the way pgshift computes it
(``sha256v1:`` + SHA-256 of the stripped UP text), so the database this leaves behind is
one pgshift reads as fully applied and unmodified.

This script deliberately imports nothing but the standard library and psycopg: its
start-up time is part of the floor.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import psycopg

UP_MARKER = "-- UP\n"
DOWN_MARKER = "-- DOWN\n"
CREATE_TRACKING_TABLE = """
CREATE TABLE IF NOT EXISTS _migrations (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    batch integer NOT NULL,
    executed_at timestamptz NOT NULL DEFAULT now(),
    checksum text,
    duration_ms integer,
    down_sql text
)
"""
INSERT_ROW = (
    "INSERT INTO _migrations (name, batch, checksum, duration_ms, down_sql)"
    " VALUES (%s, %s, %s, %s, %s)"
)


def split_sections(text: str) -> tuple[str, str]:
    """Return (up, down) of a file written as ``-- UP`` ... ``-- DOWN`` ...."""
    up_start = text.find(UP_MARKER) + len(UP_MARKER)
    down_at = text.find(DOWN_MARKER, up_start)
    if down_at < 0:
        return text[up_start:], ""
    return text[up_start:down_at], text[down_at + len(DOWN_MARKER) :]


def checksum(up: str) -> str:
    """pgshift's checksum of an UP section (files here are LF-only, without a BOM)."""
    return "sha256v1:" + hashlib.sha256(up.strip().encode("utf-8")).hexdigest()


def apply_one(conn: psycopg.Connection[tuple[object, ...]], path: str, batch: int) -> None:
    """Run one file's UP SQL and insert its tracking row (inside the caller's transaction)."""
    with open(path, encoding="utf-8") as handle:
        up, down = split_sections(handle.read())
    started = time.perf_counter()
    conn.execute(up)
    duration_ms = round((time.perf_counter() - started) * 1000)
    down_sql = down.strip("\n") + "\n" if down.strip() else None
    name = os.path.basename(path)
    conn.execute(INSERT_ROW, (name, batch, checksum(up), duration_ms, down_sql))


def apply_all(url: str, directory: str, *, atomic: bool) -> int:
    """Apply every file of ``directory``; return how many were applied."""
    names = sorted(name for name in os.listdir(directory) if name.endswith(".sql"))
    paths = [os.path.join(directory, name) for name in names]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(CREATE_TRACKING_TABLE)
        row = conn.execute("SELECT coalesce(max(batch), 0) + 1 FROM _migrations").fetchone()
        batch = int(row[0]) if row else 1
        if atomic:
            with conn.transaction():
                for path in paths:
                    apply_one(conn, path, batch)
        else:
            for path in paths:
                with conn.transaction():
                    apply_one(conn, path, batch)
    return len(names)


def main(argv: list[str]) -> int:
    atomic = "--atomic" in argv
    args = [arg for arg in argv if arg != "--atomic"]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    count = apply_all(args[0], args[1], atomic=atomic)
    print(f"applied {count} migrations")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
