"""Status floor: start Python, import psycopg, connect, run one query.

Usage: python bench/floor_status.py URL [--verify DIR]

Reads every row of the tracking table with one SELECT and prints a one-line summary.
With ``--verify DIR`` it also reads every ``*.sql`` file of DIR, hashes its UP section the
way pgshift does and counts the applied migrations whose checksum differs (the floor for
drift detection).

Imports nothing but the standard library and psycopg: its start-up time is part of the floor.
"""

from __future__ import annotations

import hashlib
import os
import sys

import psycopg

UP_MARKER = "-- UP\n"
DOWN_MARKER = "-- DOWN\n"


def file_checksums(directory: str) -> dict[str, str]:
    """Map each ``*.sql`` file name of ``directory`` to pgshift's checksum of its UP section."""
    sums: dict[str, str] = {}
    for name in os.listdir(directory):
        if not name.endswith(".sql"):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            text = handle.read()
        up_start = text.find(UP_MARKER) + len(UP_MARKER)
        down_at = text.find(DOWN_MARKER, up_start)
        up = text[up_start:down_at] if down_at >= 0 else text[up_start:]
        sums[name] = "sha256v1:" + hashlib.sha256(up.strip().encode("utf-8")).hexdigest()
    return sums


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--verify"):
        print(__doc__, file=sys.stderr)
        return 2
    with psycopg.connect(argv[0], autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name, batch, executed_at, checksum FROM _migrations ORDER BY id"
        ).fetchall()
    summary = f"{len(rows)} applied"
    if len(argv) == 3:
        sums = file_checksums(argv[2])
        modified = sum(1 for name, _, _, stored in rows if sums.get(name, stored) != stored)
        summary += f", {modified} modified"
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
