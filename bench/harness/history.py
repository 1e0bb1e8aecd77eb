"""W8's migration history: a generated project of real size and mix.

A web application's schema grown over a few years, about 248 files, 1,800 statements and
2 MB: tables with constraints and foreign keys, indexes, PL/pgSQL trigger and helper
functions of a few kilobytes, triggers, views and materialized views over several tables,
DO blocks, ALTER TABLEs with backfills, seed data and comments. Deterministic (a fixed
seed), so every run and every tool applies the same files. Nothing of it is third-party
SQL.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from harness.files import MigrationSet

FILES = 248
SEED = 8

_TYPES = ("text", "integer", "bigint", "boolean", "timestamptz", "varchar(200)", "numeric(12,2)",
          "jsonb", "date", "smallint")
_WORDS = ("person", "post", "comment", "community", "site", "message", "report", "vote",
          "follower", "moderator", "ban", "image", "tag", "language", "instance", "token",
          "session", "setting", "activity", "notification", "mention", "block", "save",
          "aggregate", "ledger", "invoice", "order", "product", "category", "review")


@dataclass
class _Table:
    name: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    indexes: int = 0


class _History:
    """The schema as it grows, so every statement refers to what exists."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tables: list[_Table] = []
        self.views: list[str] = []
        self.functions: list[str] = []
        self.serial = 0

    def _name(self, prefix: str = "") -> str:
        self.serial += 1
        return f"{prefix}{self.rng.choice(_WORDS)}_{self.serial}"

    def _table(self) -> _Table:
        return self.rng.choice(self.tables)

    # --- statements -------------------------------------------------------------------

    def create_table(self) -> tuple[list[str], list[str]]:
        rng = self.rng
        table = _Table(self._name())
        cols = ["    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
        for i in range(rng.randint(5, 14)):
            kind = rng.choice(_TYPES)
            name = f"{rng.choice(_WORDS)}_{i}"
            table.columns.append((name, kind))
            extra = ""
            if kind == "boolean":
                extra = " NOT NULL DEFAULT false"
            elif kind == "timestamptz":
                extra = " NOT NULL DEFAULT now()"
            elif kind.startswith("varchar") and rng.random() < 0.3:
                extra = f" CHECK (char_length({name}) > 0)"
            cols.append(f"    {name} {kind}{extra}")
        refs = []
        for parent in rng.sample(self.tables, min(len(self.tables), rng.randint(0, 2))):
            column = f"{parent.name}_id"
            table.columns.append((column, "bigint"))
            refs.append(column)
            cols.append(f"    {column} bigint REFERENCES {parent.name} (id) ON UPDATE CASCADE "
                        "ON DELETE CASCADE")
        cols.append("    published timestamptz NOT NULL DEFAULT now()")
        cols.append("    updated timestamptz")
        table.columns += [("published", "timestamptz"), ("updated", "timestamptz")]
        if rng.random() < 0.4:
            cols.append(f"    CONSTRAINT {table.name}_uq UNIQUE (id, published)")
        up = [f"CREATE TABLE {table.name} (\n" + ",\n".join(cols) + "\n)"]
        up.append(f"COMMENT ON TABLE {table.name} IS 'The {table.name.replace('_', ' ')} of "
                  "the application, one row each; see the documentation for its lifecycle.'")
        for column in refs:
            up.append(self._index(table, [column]))
        self.tables.append(table)
        return up, [f"DROP TABLE {table.name} CASCADE"]

    def _index(self, table: _Table, columns: list[str]) -> str:
        table.indexes += 1
        name = f"idx_{table.name}_{table.indexes}"
        unique = ""
        if self.rng.random() < 0.1:  # seed rows share defaults: unique only with the key
            unique, columns = "UNIQUE ", ["id", *columns]
        where = " WHERE updated IS NULL" if self.rng.random() < 0.2 else ""
        return f"CREATE {unique}INDEX {name} ON {table.name} ({', '.join(columns)}){where}"

    def indexes(self) -> tuple[list[str], list[str]]:
        up, down = [], []
        for _ in range(self.rng.randint(1, 4)):
            table = self._table()
            picked = self.rng.sample(table.columns, min(len(table.columns), self.rng.randint(1, 3)))
            statement = self._index(table, [c for c, _ in picked])
            up.append(statement)
            down.append(f"DROP INDEX {statement.split()[2 if 'UNIQUE' not in statement else 3]}")
        return up, down[::-1]

    def function(self) -> tuple[list[str], list[str]]:
        rng = self.rng
        table = self._table()
        name = self._name("fn_")
        body = []
        for step in range(rng.randint(35, 125)):
            column = rng.choice(table.columns)[0]
            body.append(self._plpgsql_step(table, column, step))
        text = (
            f"CREATE OR REPLACE FUNCTION {name}(p_id bigint, p_flag boolean DEFAULT false)\n"
            "RETURNS bigint\nLANGUAGE plpgsql\nAS $$\nDECLARE\n    v_count bigint := 0;\n"
            "    v_row record;\n    v_text text;\nBEGIN\n" + "\n".join(body)
            + "\n    RETURN v_count;\nEND;\n$$"
        )
        self.functions.append(name)
        up = [text, f"COMMENT ON FUNCTION {name}(bigint, boolean) IS 'Keeps {table.name} "
              "consistent after changes; called from triggers and jobs.'"]
        down = [f"DROP FUNCTION {name}(bigint, boolean)"]
        if rng.random() < 0.5:
            trigger_fn = self._name("trg_")
            up.append(
                f"CREATE FUNCTION {trigger_fn}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "BEGIN\n    IF TG_OP = 'DELETE' THEN\n"
                f"        PERFORM {name}(OLD.id, true);\n        RETURN OLD;\n    END IF;\n"
                "    NEW.updated := now();\n"
                f"    PERFORM {name}(NEW.id, false);\n    RETURN NEW;\nEND;\n$$")
            up.append(f"CREATE TRIGGER {trigger_fn}_t BEFORE INSERT OR UPDATE OR DELETE ON "
                      f"{table.name} FOR EACH ROW EXECUTE FUNCTION {trigger_fn}()")
            down = [f"DROP TRIGGER {trigger_fn}_t ON {table.name}",
                    f"DROP FUNCTION {trigger_fn}()", *down]
        return up, down

    def _plpgsql_step(self, table: _Table, column: str, step: int) -> str:
        kind = self.rng.randrange(4)
        if kind == 0:
            return (f"    -- step {step}: count the rows this one touches\n"
                    f"    SELECT count(*) INTO v_count FROM {table.name} t\n"
                    f"     WHERE t.id = p_id AND t.{column} IS NOT NULL;")
        if kind == 1:
            return (f"    IF p_flag AND v_count > {step} THEN\n"
                    f"        UPDATE {table.name} SET updated = now() WHERE id = p_id;\n"
                    "    ELSIF v_count = 0 THEN\n"
                    f"        RAISE NOTICE 'nothing to do for % in step {step}', p_id;\n"
                    "    END IF;")
        if kind == 2:
            return (f"    FOR v_row IN SELECT id, {column} FROM {table.name} "
                    f"WHERE id > p_id ORDER BY id LIMIT {10 + step} LOOP\n"
                    "        v_count := v_count + 1;\n"
                    f"        v_text := coalesce(v_row.{column}::text, '') || '-{step}';\n"
                    "    END LOOP;")
        return (f"    v_text := format('%s:%s', '{table.name}', p_id);\n"
                f"    PERFORM pg_notify('{table.name}_changes', v_text);")

    def view(self) -> tuple[list[str], list[str]]:
        rng = self.rng
        picked = rng.sample(self.tables, min(len(self.tables), rng.randint(1, 4)))
        base = picked[0]
        name = self._name("v_")
        lines = [f"    b.id AS {base.name}_id"]
        for table in picked:
            alias = "b" if table is base else f"j{picked.index(table)}"
            for column, _ in table.columns[: rng.randint(4, 12)]:
                lines.append(f"    {alias}.{column} AS {alias}_{column}")
        joins = "".join(
            f"\n    LEFT JOIN {t.name} j{i} ON j{i}.id = b.id" for i, t in enumerate(picked) if i
        )
        materialized = rng.random() < 0.25
        kind = "MATERIALIZED VIEW" if materialized else "VIEW"
        select = ("SELECT\n" + ",\n".join(lines) + f",\n    count(*) OVER () AS total\n"
                  f"FROM {base.name} b{joins}\nWHERE b.published > now() - interval '5 years'")
        up = [f"CREATE {kind} {name} AS\n{select}"]
        if materialized:
            up.append(f"CREATE UNIQUE INDEX {name}_id ON {name} ({base.name}_id)")
        self.views.append(name)
        return up, [f"DROP {kind} {name}"]

    def do_block(self) -> tuple[list[str], list[str]]:
        table = self._table()
        column = f"extra_{self.serial}"
        self.serial += 1
        up = [
            "DO $$\nBEGIN\n    IF NOT EXISTS (\n        SELECT 1 FROM information_schema.columns\n"
            f"        WHERE table_name = '{table.name}' AND column_name = '{column}'\n    ) THEN\n"
            f"        ALTER TABLE {table.name} ADD COLUMN {column} text;\n    END IF;\n"
            f"    UPDATE {table.name} SET {column} = 'migrated' WHERE {column} IS NULL;\n"
            "EXCEPTION WHEN undefined_table THEN\n"
            f"    RAISE NOTICE 'table {table.name} is gone';\nEND\n$$"
        ]
        table.columns.append((column, "text"))
        return up, [f"ALTER TABLE {table.name} DROP COLUMN {column}"]

    def alter(self) -> tuple[list[str], list[str]]:
        rng = self.rng
        table = self._table()
        up, down = [], []
        for _ in range(rng.randint(1, 4)):
            column = f"added_{self.serial}"
            self.serial += 1
            kind = rng.choice(_TYPES)
            up.append(f"ALTER TABLE {table.name} ADD COLUMN {column} {kind}")
            if kind == "text":
                up.append(f"UPDATE {table.name} SET {column} = 'none' WHERE {column} IS NULL")
                up.append(f"ALTER TABLE {table.name} ALTER COLUMN {column} SET DEFAULT 'none'")
            table.columns.append((column, kind))
            down.insert(0, f"ALTER TABLE {table.name} DROP COLUMN {column}")
        return up, down

    def seed(self) -> tuple[list[str], list[str]]:
        table = self._table()
        texts = [c for c, k in table.columns if k == "text"][:2]
        if not texts:
            return self.alter()
        values = ",\n".join(
            "(" + ", ".join(f"'{self.rng.choice(_WORDS)} {i} {t}'" for t in texts) + ")"
            for i in range(self.rng.randint(5, 40))
        )
        up = [f"INSERT INTO {table.name} ({', '.join(texts)}) VALUES\n{values}"]
        return up, [f"DELETE FROM {table.name} WHERE {texts[0]} LIKE '% {texts[0]}'"]


_KINDS = (("table", 5), ("indexes", 4), ("function", 4), ("view", 3), ("do", 2), ("alter", 3),
          ("seed", 1))


def history_migrations(files: int = FILES, seed: int = SEED) -> list[tuple[str, str, str]]:
    """(file name, up SQL, down SQL) of the generated history."""
    h = _History(seed)
    makers = {"table": h.create_table, "indexes": h.indexes, "function": h.function,
              "view": h.view, "do": h.do_block, "alter": h.alter, "seed": h.seed}
    kinds = [k for k, weight in _KINDS for _ in range(weight)]
    migrations = []
    for number in range(1, files + 1):
        ups: list[str] = []
        downs: list[str] = []
        for _ in range(h.rng.randint(1, 4) if number > 3 else 3):
            kind = "table" if number <= 3 or len(h.tables) < 3 else h.rng.choice(kinds)
            up, down = makers[kind]()
            ups += up
            downs = down + downs
        if h.rng.random() < 0.5:  # most files do a bit more than one thing
            up, down = makers[h.rng.choice(("indexes", "function", "alter", "view"))]()
            ups += up
            downs = down + downs
        name = f"{number:05d}_{h.rng.choice(_WORDS)}_{number}.sql"
        migrations.append((name, "".join(s + ";\n\n" for s in ups),
                           "".join(s + ";\n" for s in downs)))
    return migrations


def write_history(root: Path, files: int = FILES) -> MigrationSet:
    """Write the generated history under ``root`` in both formats."""
    from harness.files import write_set

    return write_set(root, history_migrations(files))
