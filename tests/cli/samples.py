"""Migration files and small helpers shared by the command-line tests."""

from __future__ import annotations

import re

from pgtest import fetch

A = (
    "-- Migration: 001_a.sql\n-- Description: table a\n\n"
    "-- UP\nCREATE TABLE a (id int);\n\n-- DOWN\nDROP TABLE a;\n"
)
B = "-- UP\nCREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n-- DOWN\nDROP TABLE b;\n"
C = "-- UP\nCREATE TABLE c (id int);\n-- DOWN\nDROP TABLE c;\n"
FILES = {"001_a.sql": A, "002_b.sql": B}
ANSI = re.compile(r"\x1b\[")


def tables(url: str) -> set[str]:
    """The table names of schema public."""
    rows = fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {name for (name,) in rows}
