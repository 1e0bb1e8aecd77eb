"""The catalogue of pgshift's migration lint rules.

Each :class:`Rule` says what it catches, why that hurts a production database and what
to write instead. Severities follow one policy: ``error`` for statements that rewrite a
table, hold an ACCESS EXCLUSIVE lock for a long time, fail on a populated table or break
the application that is running during the deploy; ``warning`` for long locks that still
let reads through, or for a migration that cannot be rolled back or run atomically;
``note`` for style and habits (idempotency, type choices, one change per migration).
This module also holds the PostgreSQL facts the checks rely on (volatile functions,
rewrite-free type changes, statements that refuse a transaction) and small readers of
pglast parse trees; the checks themselves and the public entry point live in
:mod:`pgshift.lint`. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from pglast import ast
from pglast.enums import ConstrType, ObjectType

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Rule:
    """One lint rule: a kebab-case ``id``, its ``severity``, a one-line ``summary``,
    a paragraph ``explanation`` and a concrete ``safe_alternative`` (SQL, one statement
    per line)."""

    id: str
    severity: Severity
    summary: str
    explanation: str
    safe_alternative: str


RULES: tuple[Rule, ...] = (
    Rule("parse-error", "error", "SQL that PostgreSQL's parser rejects.",
         "The section cannot be parsed, so it would fail when applied and no other rule could "
         "look at it. The finding carries PostgreSQL's syntax error.",
         "-- fix the syntax; test with: psql -f file.sql on a scratch database"),
    Rule("missing-down", "warning", "The DOWN section is missing or contains no SQL.",
         "pgshift applies such a migration, but rolling back its batch is an error, so a bad "
         "deploy cannot be undone with `pgshift rollback`.",
         "-- DOWN\n"
         "DROP INDEX IF EXISTS idx_users_avatar;\n"
         "ALTER TABLE users DROP COLUMN IF EXISTS avatar_url;"),
    Rule("require-if-not-exists", "note", "CREATE … / ADD COLUMN / ADD VALUE without IF NOT "
         "EXISTS (or CREATE without OR REPLACE).",
         "Idempotent statements can be re-run after a partial failure, which matters most for "
         "migrations that run outside a transaction. Only flagged where PostgreSQL offers IF "
         "NOT EXISTS or OR REPLACE (not for CREATE TYPE, DOMAIN or ADD CONSTRAINT).",
         "CREATE TABLE IF NOT EXISTS notifications (id text PRIMARY KEY);\n"
         "CREATE INDEX IF NOT EXISTS idx_notifications_user_id ON notifications (user_id);\n"
         "CREATE OR REPLACE VIEW active_users AS SELECT * FROM users WHERE active;"),
    Rule("require-if-exists", "note", "DROP … / DROP COLUMN / DROP CONSTRAINT without IF "
         "EXISTS.",
         "A DROP that fails because the object is already gone stops the migration or the "
         "rollback; with IF EXISTS it is a no-op and the section can be re-run.",
         "DROP TABLE IF EXISTS notifications;\n"
         "ALTER TABLE users DROP COLUMN IF EXISTS avatar_url;"),
    Rule("multiple-tables", "note", "The UP section changes more than one unrelated table.",
         "One change per migration keeps rollbacks small and failures easy to place. Tables "
         "linked by a foreign key, partition or inheritance in the same migration count as "
         "related; unrelated ones belong in separate migrations.",
         "-- 002_add_user_avatar.sql\n"
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS avatar_url text;\n"
         "-- 003_add_generation_model.sql\n"
         "ALTER TABLE generations ADD COLUMN IF NOT EXISTS model text;"),
    Rule("require-concurrent-index", "warning", "CREATE INDEX without CONCURRENTLY on a table "
         "that already exists.",
         "A plain CREATE INDEX takes a SHARE lock for the whole build: reads go on, but every "
         "INSERT, UPDATE and DELETE on the table waits until the index is finished, minutes on "
         "a large table. An index on a table created in the same section is fine.",
         "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_avatar ON users (avatar_url);"),
    Rule("require-concurrent-index-drop", "warning", "DROP INDEX without CONCURRENTLY on an "
         "index the section did not create.",
         "DROP INDEX takes an ACCESS EXCLUSIVE lock on the index's table; queued behind a long "
         "query it blocks every read and write of that table while it waits.",
         "DROP INDEX CONCURRENTLY IF EXISTS idx_users_avatar;"),
    Rule("require-concurrent-reindex", "warning", "REINDEX without CONCURRENTLY.",
         "A plain REINDEX blocks writes to the table and, for the index being rebuilt, reads "
         "that would use it, for the whole rebuild.",
         "REINDEX INDEX CONCURRENTLY idx_users_avatar;"),
    Rule("add-column-volatile-default", "error", "ADD COLUMN with a volatile DEFAULT "
         "(random(), gen_random_uuid(), clock_timestamp(), …).",
         "Since PostgreSQL 11 a constant or stable default (now(), CURRENT_TIMESTAMP, 0, 'x') "
         "is stored once in the catalog; a volatile one must be evaluated per row, so the "
         "whole table is rewritten under an ACCESS EXCLUSIVE lock that blocks reads and "
         "writes.",
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS token uuid;\n"
         "ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();\n"
         "UPDATE users SET token = gen_random_uuid() WHERE token IS NULL;  -- in batches"),
    Rule("add-column-serial", "error", "Adding a serial/bigserial or identity column to an "
         "existing table.",
         "Filling the new column draws a sequence value for every row, which rewrites the "
         "table under an ACCESS EXCLUSIVE lock.",
         "ALTER TABLE events ADD COLUMN IF NOT EXISTS seq bigint;\n"
         "CREATE SEQUENCE IF NOT EXISTS events_seq_seq OWNED BY events.seq;\n"
         "ALTER TABLE events ALTER COLUMN seq SET DEFAULT nextval('events_seq_seq');\n"
         "-- backfill in batches, then add constraints"),
    Rule("add-column-generated-stored", "error", "Adding a GENERATED … STORED column to an "
         "existing table.",
         "A stored generated column is computed and written for every existing row: a full "
         "table rewrite under an ACCESS EXCLUSIVE lock.",
         "ALTER TABLE orders ADD COLUMN IF NOT EXISTS total numeric GENERATED ALWAYS AS (price "
         "* qty) VIRTUAL;  -- PG18\n"
         "-- or: a plain column, a trigger for new rows, and a batched backfill"),
    Rule("add-column-not-null-without-default", "error", "ADD COLUMN … NOT NULL without a "
         "DEFAULT on an existing table.",
         "Every existing row would get NULL, so the statement fails as soon as the table has a "
         "row: the migration passes on an empty development database and breaks the deploy.",
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS plan text NOT NULL DEFAULT 'free';"),
    Rule("set-not-null", "warning", "SET NOT NULL (or ADD CONSTRAINT … NOT NULL) on a column "
         "of an existing table.",
         "PostgreSQL scans the whole table to check for NULLs while holding an ACCESS "
         "EXCLUSIVE lock, blocking reads and writes. A valid CHECK (col IS NOT NULL) lets it "
         "skip the scan (PostgreSQL 12+); a new column can be added with NOT NULL DEFAULT.",
         "ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT "
         "VALID;\n"
         "ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;  -- next migration\n"
         "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
         "ALTER TABLE users DROP CONSTRAINT users_email_not_null;"),
    Rule("constraint-missing-not-valid", "warning", "ADD FOREIGN KEY / CHECK on an existing "
         "table without NOT VALID.",
         "Adding the constraint validates every row while holding a lock that blocks writes "
         "(for a foreign key, on both tables). NOT VALID adds it instantly for new rows; "
         "VALIDATE CONSTRAINT later checks old rows under a lock that lets writes through.",
         "ALTER TABLE generations ADD CONSTRAINT fk_generations_workspace FOREIGN KEY "
         "(workspace_id) REFERENCES workspaces (id) NOT VALID;\n"
         "ALTER TABLE generations VALIDATE CONSTRAINT fk_generations_workspace;  -- next "
         "migration"),
    Rule("add-unique-constraint", "error", "ADD UNIQUE / PRIMARY KEY / EXCLUDE on an existing "
         "table without USING INDEX.",
         "The constraint builds its index while holding an ACCESS EXCLUSIVE lock: the table "
         "can be neither read nor written until the build is done.",
         "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (email);\n"
         "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;"),
    Rule("column-type-change", "error", "ALTER COLUMN … TYPE that rewrites the table.",
         "Most type changes rewrite the table and its indexes under an ACCESS EXCLUSIVE lock, "
         "and running application code may not understand the new type. Rewrite-free changes "
         "are not flagged: varchar(n) to varchar(m ≥ n), varchar or text; text to varchar; "
         "numeric(p,s) to numeric(p2 ≥ p, s) or numeric; varbit(n) to varbit(m ≥ n); a higher "
         "timestamp/timestamptz precision. A USING clause always rewrites.",
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS credits_new numeric(20,8);\n"
         "-- backfill in batches, switch the application, then drop the old column"),
    Rule("column-type-change-unverified", "note", "ALTER COLUMN … TYPE to a type that is "
         "rewrite-free only from some old types.",
         "The new type (varchar, text, numeric, varbit, timestamp) can be reached without a "
         "rewrite, but the old type is not visible in the migration (the DOWN section is read "
         "for it). Check it against the list of rule column-type-change.",
         "-- confirm the old type first:\n"
         "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
         "'users'::regclass AND attname = 'credits';"),
    Rule("rename-column", "error", "ALTER TABLE … RENAME COLUMN.",
         "The application version that is still running during the deploy uses the old name "
         "and fails on every query that mentions it.",
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS display_name text;\n"
         "-- write both columns, backfill, switch reads, then drop the old column"),
    Rule("rename-table", "error", "ALTER TABLE … RENAME TO.",
         "Running application code still queries the old table name and fails until it is "
         "redeployed.",
         "-- pgshift: allow rename-table  (in the header, once the plan is agreed)\n"
         "ALTER TABLE users RENAME TO accounts;\n"
         "CREATE OR REPLACE VIEW users AS SELECT * FROM accounts;  -- until the old code is "
         "gone"),
    Rule("drop-column", "error", "ALTER TABLE … DROP COLUMN in the UP section.",
         "Running application code that selects or inserts the column fails, and the data is "
         "lost: the DOWN section can re-add the column but not its contents.",
         "-- first deploy code that no longer uses the column, then:\n"
         "ALTER TABLE users DROP COLUMN IF EXISTS legacy_flag;"),
    Rule("drop-table", "error", "DROP TABLE in the UP section.",
         "Running application code that uses the table fails and its data is gone; a rollback "
         "recreates an empty table at best.",
         "-- first deploy code that no longer uses the table, keep a backup, then:\n"
         "DROP TABLE IF EXISTS legacy_events;"),
    Rule("mixed-non-transactional", "warning", "A statement that cannot run in a transaction "
         "(CREATE INDEX CONCURRENTLY, VACUUM, …) mixed with other statements.",
         "pgshift then runs the whole section statement by statement outside a transaction, so "
         "a failure part-way leaves the earlier statements applied and not undone.",
         "-- 004_add_users_avatar.sql\n"
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS avatar_url text;\n"
         "-- 005_index_users_avatar.sql\n"
         "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_avatar ON users (avatar_url);"),
    Rule("non-transactional-in-transaction-block", "error", "CONCURRENTLY, VACUUM, CREATE "
         "DATABASE … between the file's own BEGIN and COMMIT.",
         "PostgreSQL refuses these statements inside a transaction block, so the migration "
         "fails every time it runs.",
         "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_avatar ON users (avatar_url);  -- "
         "outside BEGIN … COMMIT"),
    Rule("enum-value-used-in-same-migration", "error", "ALTER TYPE … ADD VALUE followed by a "
         "use of that value in the same section.",
         "A new enum value cannot be used in the transaction that added it (\"unsafe use of "
         "new value\"), so the migration fails.",
         "-- 006_add_status_archived.sql\n"
         "ALTER TYPE status ADD VALUE IF NOT EXISTS 'archived';\n"
         "-- 007_archive_old_rows.sql\n"
         "UPDATE posts SET status = 'archived' WHERE old;"),
    Rule("prefer-jsonb", "note", "A column of type json.",
         "json stores the text as written and re-parses it on every access; it has no equality "
         "operator and cannot be indexed with GIN. jsonb is the better default.",
         "ALTER TABLE events ADD COLUMN IF NOT EXISTS payload jsonb;"),
    Rule("prefer-timestamptz", "note", "A column of type timestamp (without time zone).",
         "timestamp drops the time zone, so the same instant reads differently from clients in "
         "different zones and DST changes make values ambiguous. timestamptz stores an "
         "absolute instant.",
         "ALTER TABLE events ADD COLUMN IF NOT EXISTS happened_at timestamptz;"),
    Rule("vacuum-full", "error", "VACUUM FULL.",
         "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock, blocking reads and "
         "writes for the whole rewrite; it also cannot run inside a transaction.",
         "VACUUM (ANALYZE) events;  -- or pg_repack for an online rewrite"),
    Rule("cluster", "error", "CLUSTER.",
         "CLUSTER rewrites the table in index order under an ACCESS EXCLUSIVE lock, blocking "
         "reads and writes for the whole rewrite.",
         "-- use pg_repack --order-by for an online reorder, outside migrations"),
    Rule("lock-table", "warning", "An explicit LOCK TABLE.",
         "The lock (ACCESS EXCLUSIVE unless a mode is given) is held until the migration "
         "commits; while it waits for a long query, every other session queues behind it.",
         "SET lock_timeout = '5s';  -- or pgshift --lock-timeout; lock only what you must"),
)

RULES_BY_ID: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in RULES})


def _cell(text: str, *, code: bool) -> str:
    lines = [line.replace("|", "\\|") for line in text.splitlines() if line.strip()]
    if code:
        lines = [f"`{line}`" for line in lines]
    return "<br>".join(lines)


def rules_table_markdown() -> str:
    """Return the rule table as GitHub Markdown: one row per rule in :data:`RULES` order,
    columns rule id, severity, what it catches, safe alternative. Ends with a newline."""
    rows = [
        "| rule | severity | what it catches | safe alternative |",
        "| --- | --- | --- | --- |",
    ]
    for rule in RULES:
        rows.append(
            f"| `{rule.id}` | {rule.severity} | {_cell(rule.summary, code=False)} "
            f"| {_cell(rule.safe_alternative, code=True)} |"
        )
    return "\n".join(rows) + "\n"


# --- PostgreSQL facts the checks rely on ------------------------------------------------

# Volatile functions commonly used as column defaults. Stable ones such as now() are
# evaluated once when the column is added, so they are deliberately absent.
VOLATILE_FUNCTIONS = frozenset({
    "random", "random_normal", "gen_random_uuid", "gen_random_bytes", "uuid_generate_v1",
    "uuid_generate_v1mc", "uuid_generate_v4", "uuidv4", "uuidv7", "clock_timestamp",
    "timeofday", "nextval", "setseed",
})
SERIAL_TYPES = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})
# Types an ALTER COLUMN … TYPE can reach without a rewrite from some other type.
_REWRITE_FREE_TARGETS = frozenset({"text", "varchar", "numeric", "varbit", "timestamp",
                                   "timestamptz"})

_TypeKey = tuple[str, tuple[int, ...], bool]


def walk(node: object) -> Iterator[ast.Node]:
    """Every pglast node below ``node`` (itself included), depth first."""
    if isinstance(node, tuple):
        for item in node:
            yield from walk(item)
    elif isinstance(node, ast.Node):
        yield node
        for attr in getattr(type(node), "__slots__", ()):
            yield from walk(getattr(node, attr, None))


def volatile_call(expr: ast.Node | None) -> str | None:
    """The name of a known volatile function called anywhere in ``expr``, else None."""
    for node in walk(expr):
        if isinstance(node, ast.FuncCall) and node.funcname:
            name = node.funcname[-1]
            if isinstance(name, ast.String) and name.sval in VOLATILE_FUNCTIONS:
                return name.sval
    return None


def _type_key(tn: ast.TypeName) -> _TypeKey:
    names = [n.sval or "" for n in tn.names or () if isinstance(n, ast.String)]
    if names[:1] == ["pg_catalog"]:
        names = names[1:]
    mods = tuple(m.val.ival or 0 for m in tn.typmods or ()
                 if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer))
    name = ".".join(names)
    if name == "numeric" and len(mods) == 1:
        mods = (mods[0], 0)
    return name, mods, bool(tn.arrayBounds)


def type_name(tn: ast.TypeName | None) -> str:
    """The type's name without ``pg_catalog.`` and modifiers (``varchar``, ``json``)."""
    return "?" if tn is None else _type_key(tn)[0]


def type_label(tn: ast.TypeName) -> str:
    """The type as PostgreSQL's catalog spells it, e.g. ``numeric(20,8)``, ``text[]``."""
    name, mods, array = _type_key(tn)
    return name + (f"({','.join(map(str, mods))})" if mods else "") + ("[]" if array else "")


def _rewrite_free(old: _TypeKey, new: _TypeKey) -> bool:
    (old_name, old_mods, old_array), (name, mods, array) = old, new
    if old == new:
        return True
    if old_array or array:
        return False
    if name == "text" or (name == "varchar" and old_name == "text"):
        return old_name in ("varchar", "text") and not mods
    if name != old_name or name not in _REWRITE_FREE_TARGETS:
        return False
    if not mods:
        return True
    if not old_mods:
        return False
    same_scale = name != "numeric" or mods[1:] == old_mods[1:]
    return same_scale and mods[0] >= old_mods[0]


def _rewrite_free_sources(new: _TypeKey) -> str:
    name, mods, _array = new
    if name in ("text", "varchar") and not mods:
        return "varchar or text"
    if not mods:
        return f"any {name}(…)"
    bound = f"{name}(n ≤ {mods[0]}"
    return bound + (f", {mods[1]})" if name == "numeric" else ")")


def column_type_change(old: ast.TypeName | None, new: ast.TypeName, *,
                       using: bool) -> tuple[str, str] | None:
    """Judge ALTER COLUMN … TYPE ``new`` of a column whose type is ``old`` (None when
    unknown): None when PostgreSQL needs no rewrite, else (rule id, reason)."""
    if using:
        return "column-type-change", "with USING rewrites the table"
    new_key = _type_key(new)
    if old is not None:
        if _rewrite_free(_type_key(old), new_key):
            return None
        return "column-type-change", f"from {type_label(old)} rewrites the table"
    if new_key[0] in _REWRITE_FREE_TARGETS and not new_key[2]:
        return ("column-type-change-unverified", f"is rewrite-free only from "
                f"{_rewrite_free_sources(new_key)}; the old type is not in this migration")
    return "column-type-change", "rewrites the table (no rewrite-free path to this type)"


# --- reading the parse tree -------------------------------------------------------------


def table_name(rv: ast.RangeVar | None) -> str:
    """A table's name as written, without the default ``public.`` schema."""
    if rv is None or rv.relname is None:
        return "?"
    return rv.relname if rv.schemaname in (None, "public") else f"{rv.schemaname}.{rv.relname}"


def object_name(obj: object) -> str:
    """A dropped object's name: a name list, a String, a TypeName or an ObjectWithArgs."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, ast.String):
        return obj.sval or "?"
    if isinstance(obj, ast.TypeName):
        return object_name(obj.names)
    if isinstance(obj, ast.ObjectWithArgs):
        return object_name(obj.objname)
    if isinstance(obj, tuple):
        names = [object_name(part) for part in obj]
        return ".".join(names[1:] if names[:1] == ["public"] and len(names) > 1 else names)
    return "?"


def object_kind(objtype: ObjectType | None) -> str:
    """The SQL words for an object type: ``TABLE``, ``MATERIALIZED VIEW``, …."""
    label = objtype.name.removeprefix("OBJECT_") if objtype is not None else "OBJECT"
    return "MATERIALIZED VIEW" if label == "MATVIEW" else label.replace("_", " ")


def constraints_of(col: ast.ColumnDef, *kinds: ConstrType) -> list[ast.Constraint]:
    """The constraints of column definition ``col`` whose type is one of ``kinds``."""
    return [c for c in col.constraints or () if isinstance(c, ast.Constraint)
            and c.contype in kinds]


def table_commands(node: ast.Node) -> Iterator[tuple[str, ast.AlterTableCmd]]:
    """(table, command) for each command of an ALTER TABLE on a table."""
    if isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE:
        for cmd in node.cmds or ():
            if isinstance(cmd, ast.AlterTableCmd):
                yield table_name(node.relation), cmd


def non_transactional(node: ast.Node) -> str | None:
    """How to name ``node`` if PostgreSQL refuses to run it inside a transaction."""
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return f"CREATE INDEX CONCURRENTLY {node.idxname or ''}".rstrip()
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return f"DROP INDEX CONCURRENTLY {', '.join(object_name(o) for o in node.objects or ())}"
    if isinstance(node, ast.ReindexStmt) and has_option(node.params, "concurrently"):
        return f"REINDEX CONCURRENTLY {table_name(node.relation) if node.relation else node.name}"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    for _table_name, cmd in table_commands(node):
        if isinstance(cmd.def_, ast.PartitionCmd) and cmd.def_.concurrent:
            return "DETACH PARTITION CONCURRENTLY"
    labels = {ast.CreatedbStmt: "CREATE DATABASE", ast.DropdbStmt: "DROP DATABASE",
              ast.AlterSystemStmt: "ALTER SYSTEM", ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
              ast.DropTableSpaceStmt: "DROP TABLESPACE"}
    return labels.get(type(node))


def has_option(params: tuple[Any, ...] | None, name: str) -> bool:
    """Whether a utility statement's option list (VACUUM, REINDEX) contains ``name``."""
    return any(isinstance(p, ast.DefElem) and p.defname == name for p in params or ())


def tables_touched(node: ast.Node) -> tuple[list[str], list[tuple[str, str]]]:
    """The tables ``node`` changes, and the (table, table) pairs it links by a foreign
    key, partition or inheritance."""
    links: list[tuple[str, str]] = []
    if isinstance(node, ast.CreateStmt):
        table = table_name(node.relation)
        links += [(table, table_name(p)) for p in node.inhRelations or ()
                  if isinstance(p, ast.RangeVar)]
        links += [(table, table_name(c.pktable)) for c in walk(node.tableElts)
                  if isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_FOREIGN]
        return [table], links
    if isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE:
        table = table_name(node.relation)
        for sub in walk(node.cmds):
            if isinstance(sub, ast.Constraint) and sub.contype == ConstrType.CONSTR_FOREIGN:
                links.append((table, table_name(sub.pktable)))
            elif isinstance(sub, ast.PartitionCmd):
                links.append((table, table_name(sub.name)))
        return [table], links
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
        return [object_name(obj) for obj in node.objects or ()], links
    relation = getattr(node, "relation", None) or getattr(node, "table", None)
    if isinstance(node, (ast.IndexStmt, ast.RenameStmt, ast.CreateTrigStmt, ast.RuleStmt,
                         ast.CreatePolicyStmt)) and isinstance(relation, ast.RangeVar):
        return [table_name(relation)], links
    return [], links


def unrelated_tables(nodes: Sequence[ast.Node]) -> tuple[int, str] | None:
    """When ``nodes`` change tables that fall into more than one group (tables are related
    when one of ``nodes`` links two changed tables), return (index of the first node that
    starts another group, message); else None."""
    touched = [tables_touched(node) for node in nodes]
    changed = {table for tables, _links in touched for table in tables}
    group = {table: table for table in changed}

    def root(table: str) -> str:
        while group[table] != table:
            table = group[table]
        return table

    for _tables, links in touched:
        for left, right in links:
            if left in changed and right in changed:
                group[root(left)] = root(right)
    starts: dict[str, int] = {}
    for index, (tables, _links) in enumerate(touched):
        for table in tables:
            starts.setdefault(root(table), index)
    if len(starts) < 2:
        return None
    members = sorted(", ".join(sorted(t for t in changed if root(t) == r)) for r in starts)
    return (sorted(starts.values())[1],
            f"changes unrelated tables ({'; '.join(members)}); one change per migration")
