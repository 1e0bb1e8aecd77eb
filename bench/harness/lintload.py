"""W9's migration history: a generated mix like a real project's, for the linters.

About 340 files and 5,000 statements (UP and DOWN) in the proportions of a real history
of that size: tables with foreign keys and indexes, a variety of ALTER TABLE, plain and
concurrent indexes, PL/pgSQL functions with long bodies and their triggers, DO blocks,
long views, enums and data changes. Deterministic for a seed; all of it generated here,
none copied from any project. The files are plain SQL with pgshift's ``-- UP`` / ``-- DOWN``
markers, which other linters read as comments.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FILES = 340
TYPES = ("text", "varchar(255)", "integer", "bigint", "boolean", "timestamptz", "jsonb",
         "numeric(12,2)", "smallint", "uuid", "timestamp", "real", "text[]")
DEFAULTS = {"text": "''", "integer": "0", "bigint": "0", "boolean": "false",
            "timestamptz": "now()", "smallint": "0", "jsonb": "'{}'::jsonb"}


@dataclass
class _History:
    """What earlier files created, so later ones change existing objects."""

    rng: random.Random
    tables: list[str] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    enums: dict[str, list[str]] = field(default_factory=dict)
    functions: list[str] = field(default_factory=list)
    counter: int = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def table(self) -> str:
        return self.rng.choice(self.tables)

    def column(self, table: str) -> str:
        return self.rng.choice(self.columns[table])


def _create_tables(h: _History) -> tuple[list[str], list[str]]:
    up, down = [], []
    for _ in range(h.rng.randint(1, 3)):
        name = h.fresh("item")
        cols = ["id serial PRIMARY KEY" if h.rng.random() < 0.6 else
                "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
        names = []
        for _ in range(h.rng.randint(4, 11)):
            col, kind = h.fresh("c"), h.rng.choice(TYPES)
            extra = f" NOT NULL DEFAULT {DEFAULTS[kind]}" if kind in DEFAULTS and \
                h.rng.random() < 0.5 else ""
            cols.append(f"{col} {kind}{extra}")
            names.append(col)
        if h.tables and h.rng.random() < 0.7:
            parent = h.table()
            cols.append(f"{parent}_id int REFERENCES {parent} ON UPDATE CASCADE "
                        "ON DELETE CASCADE NOT NULL")
            names.append(f"{parent}_id")
        cols.append("published timestamp NOT NULL DEFAULT now()")
        up.append(f"CREATE TABLE {name} (\n    " + ",\n    ".join(cols) + "\n);\n")
        for col in h.rng.sample(names, min(len(names), h.rng.randint(1, 3))):
            up.append(f"CREATE INDEX idx_{name}_{col} ON {name} ({col});\n")
        if h.rng.random() < 0.3:
            a, b = h.rng.sample(names, 2) if len(names) > 1 else (names[0], "id")
            up.append(f"ALTER TABLE {name} ADD CONSTRAINT {name}_{a}_{b}_key "
                      f"UNIQUE ({a}, {b});\n")
        down.insert(0, f"DROP TABLE {name};\n")
        h.tables.append(name)
        h.columns[name] = names or ["id"]
    return up, down


def _alter_tables(h: _History) -> tuple[list[str], list[str]]:
    up, down = [], []
    for _ in range(h.rng.randint(3, 10)):
        table = h.table()
        pick = h.rng.randrange(9)
        if pick <= 2:
            col, kind = h.fresh("added"), h.rng.choice(TYPES)
            default = f" NOT NULL DEFAULT {DEFAULTS[kind]}" if kind in DEFAULTS else ""
            up.append(f"ALTER TABLE {table} ADD COLUMN {col} {kind}{default};\n")
            down.append(f"ALTER TABLE {table} DROP COLUMN {col};\n")
            h.columns[table].append(col)
        elif pick == 3:
            col = h.column(table)
            up.append(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE varchar(300);\n")
            down.append(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE text;\n")
        elif pick == 4:
            col = h.column(table)
            up.append(f"ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL;\n")
            down.append(f"ALTER TABLE {table} ALTER COLUMN {col} DROP NOT NULL;\n")
        elif pick == 5:
            col = h.column(table)
            up.append(f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT now();\n")
            down.append(f"ALTER TABLE {table} ALTER COLUMN {col} DROP DEFAULT;\n")
        elif pick == 6 and len(h.tables) > 1:
            other, con = h.table(), h.fresh("fk")
            up.append(f"ALTER TABLE {table} ADD CONSTRAINT {con} FOREIGN KEY ({h.column(table)}) "
                      f"REFERENCES {other} (id) ON DELETE CASCADE;\n")
            down.append(f"ALTER TABLE {table} DROP CONSTRAINT {con};\n")
        elif pick == 7:
            col, new = h.column(table), h.fresh("renamed")
            up.append(f"ALTER TABLE {table} RENAME COLUMN {col} TO {new};\n")
            down.append(f"ALTER TABLE {table} RENAME COLUMN {new} TO {col};\n")
            h.columns[table][h.columns[table].index(col)] = new
        else:
            con = h.fresh("chk")
            up.append(f"ALTER TABLE {table} ADD CONSTRAINT {con} CHECK "
                      f"(char_length({h.column(table)}::text) < 1000);\n")
            down.append(f"ALTER TABLE {table} DROP CONSTRAINT {con};\n")
    down.reverse()
    return up, down


def _plpgsql_body(h: _History, lines: int) -> str:
    table = h.table()
    body = ["DECLARE", "    total bigint := 0;", "    r record;", "BEGIN"]
    while len(body) < lines:
        col = h.column(table)
        body += [
            "    IF (TG_OP = 'INSERT') THEN",
            f"        UPDATE {table} SET {col} = {col} WHERE id = NEW.id;",
            "        total := total + 1;",
            "    ELSIF (TG_OP = 'DELETE') THEN",
            f"        DELETE FROM {table} WHERE id = OLD.id AND {col} IS NOT NULL;",
            "    END IF;",
            f"    FOR r IN SELECT id, {col} FROM {table} WHERE id > total ORDER BY id LOOP",
            f"        total := total + r.id;  -- running count of {col}",
            "    END LOOP;",
        ]
    body += ["    RETURN NULL;", "END"]
    return "\n".join(body)


def _functions(h: _History) -> tuple[list[str], list[str]]:
    up, down = [], []
    for _ in range(h.rng.randint(1, 3)):
        name, table = h.fresh("trigger_fn"), h.table()
        body = _plpgsql_body(h, h.rng.randint(30, 120))
        up.append(f"CREATE OR REPLACE FUNCTION {name}()\n    RETURNS TRIGGER\n"
                  f"    LANGUAGE plpgsql\n    AS $$\n{body}\n$$;\n")
        up.append(f"CREATE TRIGGER {name}_trg\n    AFTER INSERT OR DELETE ON {table}\n"
                  f"    FOR EACH ROW\n    EXECUTE FUNCTION {name}();\n")
        down.insert(0, f"DROP TRIGGER IF EXISTS {name}_trg ON {table};\n")
        down.insert(1, f"DROP FUNCTION {name}();\n")
        h.functions.append(name)
    return up, down


def _views(h: _History) -> tuple[list[str], list[str]]:
    name = h.fresh("view")
    joined = [h.table() for _ in range(h.rng.randint(2, 6))]
    select = [f"t0.{h.column(joined[0])}"]
    joins = [f"FROM {joined[0]} t0"]
    for i, table in enumerate(joined[1:], 1):
        select += [f"t{i}.{c} AS t{i}_{c}" for c in h.columns[table][:6]]
        joins.append(f"    LEFT JOIN {table} t{i} ON t{i}.id = t{i - 1}.id")
    query = "SELECT\n    " + ",\n    ".join(select) + "\n" + "\n".join(joins) + \
        "\nWHERE t0.id > 0\nORDER BY t0.id"
    up = [f"DROP VIEW IF EXISTS {name};\n", f"CREATE VIEW {name} AS\n{query};\n"]
    return up, [f"DROP VIEW {name};\n"]


def _enums(h: _History) -> tuple[list[str], list[str]]:
    name = h.fresh("kind")
    values = [h.fresh("v") for _ in range(h.rng.randint(3, 8))]
    quoted = ", ".join(f"'{v}'" for v in values)
    up = [f"CREATE TYPE {name} AS ENUM ({quoted});\n"]
    table = h.table()
    up.append(f"ALTER TABLE {table} ADD COLUMN {name} {name} NOT NULL DEFAULT '{values[0]}';\n")
    up.append(f"ALTER TYPE {name} ADD VALUE '{h.fresh('v')}';\n")
    h.enums[name] = values
    return up, [f"ALTER TABLE {table} DROP COLUMN {name};\n", f"DROP TYPE {name};\n"]


def _data(h: _History) -> tuple[list[str], list[str]]:
    table = h.table()
    up, down = [], []
    cols = h.columns[table][:3]
    rows = ",\n    ".join(
        "(" + ", ".join(f"'{h.fresh('value')}'" for _ in cols) + ")"
        for _ in range(h.rng.randint(5, 40)))
    up.append(f"INSERT INTO {table} ({', '.join(cols)})\n    VALUES\n    {rows};\n")
    up.append(f"UPDATE {table} SET {cols[0]} = {cols[0]} WHERE id IN (SELECT id FROM {table} "
              "ORDER BY id LIMIT 100);\n")
    up.append(f"DO $$\nDECLARE\n    r record;\nBEGIN\n    FOR r IN SELECT id FROM {table} LOOP\n"
              f"        PERFORM pg_notify('migrated', r.id::text);\n    END LOOP;\n"
              "    RAISE NOTICE 'done';\nEND\n$$;\n")
    down.append(f"DELETE FROM {table} WHERE {cols[0]} IS NULL;\n")
    return up, down


def _concurrent(h: _History) -> tuple[list[str], list[str]]:
    table = h.table()
    index = h.fresh(f"idx_{table}")
    return ([f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} "
             f"({h.column(table)}, published DESC);\n"],
            [f"DROP INDEX CONCURRENTLY IF EXISTS {index};\n"])


KINDS: tuple[tuple[float, Callable[[_History], tuple[list[str], list[str]]]], ...] = (
    (0.26, _create_tables), (0.26, _alter_tables), (0.14, _functions), (0.08, _views),
    (0.05, _enums), (0.12, _data), (0.09, _concurrent),
)


def lint_history(files: int = FILES, seed: int = 9) -> list[tuple[str, str, str]]:
    """(file name, UP SQL, DOWN SQL) of the generated history, oldest first."""
    h = _History(random.Random(seed))
    weights = [w for w, _ in KINDS]
    result = []
    for i in range(1, files + 1):
        # two changes per file: about 15 statements, as in real histories
        makes = [_create_tables] if not h.tables else []
        while len(makes) < 2:
            makes.append(h.rng.choices([k for _, k in KINDS], weights)[0])
        if _concurrent in makes:  # a concurrent index gets a file of its own
            makes = [_concurrent]
        up, down = [], []
        for make in makes:
            more_up, more_down = make(h)
            up += more_up
            down[:0] = more_down
        name = f"{i:05d}_{makes[0].__name__.strip('_')}.sql"
        result.append((name, "".join(s + "\n" for s in up), "".join(s + "\n" for s in down)))
    return result


def write_lint_history(directory: Path, files: int = FILES) -> int:
    """Write the history as pgshift files into ``directory``; return its statement count."""
    directory.mkdir(parents=True, exist_ok=True)
    statements = 0
    for name, up, down in lint_history(files):
        (directory / name).write_text(f"-- UP\n{up}-- DOWN\n{down}", encoding="utf-8")
        statements += up.count(";\n\n") + down.count(";\n\n")
    return statements
