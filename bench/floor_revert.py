"""Revert floor: the least work a Python tool must do to roll back every migration.

Usage: python bench/floor_revert.py URL DIR

One process, one psycopg connection. One query lists the applied migrations newest first;
for each, the file is read, its DOWN section split off with a plain ``str.find``, and the
DOWN SQL runs together with the DELETE of its tracking row in one transaction.

Imports nothing but the standard library and psycopg: its start-up time is part of the floor.
"""

from __future__ import annotations

import os
import sys

import psycopg

DOWN_MARKER = "-- DOWN\n"


def revert_all(url: str, directory: str) -> int:
    """Roll back every applied migration, newest first; return how many were rolled back."""
    with psycopg.connect(url, autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY id DESC")]
        for name in names:
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                text = handle.read()
            down = text[text.find(DOWN_MARKER) + len(DOWN_MARKER) :]
            with conn.transaction():
                conn.execute(down)
                conn.execute("DELETE FROM _migrations WHERE name = %s", (name,))
    return len(names)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    count = revert_all(argv[0], argv[1])
    print(f"rolled back {count} migrations")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
