"""The catalogue of pgshift's migration lint rules.

Each :class:`Rule` says what it catches, why that hurts a production database and what
to write instead. Severities follow one policy: ``error`` for statements that rewrite a
table, hold an ACCESS EXCLUSIVE lock for a long time, fail on a populated table or break
the application that is running during the deploy; ``warning`` for long locks that still
let reads through, or for a migration that cannot be rolled back or run atomically;
``note`` for style and habits (idempotency, type choices, one change per migration).
The checks that raise these rules live in :mod:`pgshift.analysis.lint.checks`. Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pgshift.results import Severity

__all__ = ["RULES", "RULES_BY_ID", "Rule", "Severity", "rules_table_markdown"]

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
         "EXISTS (or CREATE without OR REPLACE); a warning outside a transaction.",
         "Idempotent statements can be re-run after a partial failure. In a transactional "
         "migration a failure undoes everything, so this is a note; a statement that runs "
         "outside a transaction (the section holds CONCURRENTLY or VACUUM, the header says "
         "no-transaction, or the file's own BEGIN … COMMIT does not enclose it) stays applied "
         "when a later one fails, and re-running the file then fails on it: a warning. Only "
         "flagged where PostgreSQL offers IF NOT EXISTS or OR REPLACE (not for CREATE TYPE, "
         "DOMAIN, ADD CONSTRAINT or an unnamed CREATE INDEX, which PostgreSQL rejects with IF "
         "NOT EXISTS).",
         "CREATE TABLE IF NOT EXISTS notifications (id text PRIMARY KEY);\n"
         "CREATE INDEX IF NOT EXISTS idx_notifications_user_id ON notifications (user_id);\n"
         "CREATE OR REPLACE VIEW active_users AS SELECT * FROM users WHERE active;"),
    Rule("require-if-exists", "note", "DROP … / DROP COLUMN / DROP CONSTRAINT without IF "
         "EXISTS; a warning outside a transaction.",
         "A DROP that fails because the object is already gone stops the migration or the "
         "rollback; with IF EXISTS it is a no-op and the section can be re-run. A note in a "
         "transactional migration, a warning for a statement that runs outside a transaction "
         "(as for require-if-not-exists).",
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
         "that would use it, for the whole rebuild. REINDEX SYSTEM is not flagged: system "
         "catalogs cannot be reindexed concurrently.",
         "REINDEX INDEX CONCURRENTLY idx_users_avatar;"),
    Rule("add-column-volatile-default", "error", "ADD COLUMN with a volatile DEFAULT "
         "(random(), gen_random_uuid(), clock_timestamp(), a function of the migrations "
         "declared VOLATILE or without a volatility, …).",
         "Since PostgreSQL 11 a constant or stable default (now(), CURRENT_TIMESTAMP, 0, 'x') "
         "is stored once in the catalog; a volatile one must be evaluated per row, so the "
         "whole table is rewritten under an ACCESS EXCLUSIVE lock that blocks reads and "
         "writes. Functions created by this or an earlier migration count with the "
         "volatility they were declared with (none means VOLATILE).",
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS token uuid;\n"
         "ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();\n"
         "UPDATE users SET token = gen_random_uuid() WHERE token IS NULL;  -- in batches"),
    Rule("add-column-default-may-rewrite", "warning", "ADD COLUMN with a DEFAULT calling a "
         "function whose volatility is unknown.",
         "A function that no migration declares and PostgreSQL does not ship (an extension's, "
         "or one created outside the migrations) may be volatile, and then the table is "
         "rewritten as for add-column-volatile-default. (A volatile LANGUAGE sql function of "
         "the migrations is judged by its body: PostgreSQL inlines a body of one SELECT "
         "expression, which then decides; any other body is evaluated per row.)",
         "-- declare the function STABLE or IMMUTABLE if it is, or:\n"
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS code text;\n"
         "ALTER TABLE users ALTER COLUMN code SET DEFAULT make_code();\n"
         "UPDATE users SET code = make_code() WHERE code IS NULL;  -- in batches"),
    Rule("add-column-foreign-key-default", "error", "ADD COLUMN … REFERENCES with a "
         "non-NULL DEFAULT on an existing table.",
         "Every existing row gets the default, so PostgreSQL checks every row against the "
         "referenced table while holding the ACCESS EXCLUSIVE lock of ADD COLUMN: reads and "
         "writes wait for the whole scan. Without a default (all rows NULL) nothing is "
         "scanned.",
         "ALTER TABLE posts ADD COLUMN IF NOT EXISTS author_id bigint NOT NULL DEFAULT 1;\n"
         "ALTER TABLE posts ADD CONSTRAINT posts_author_fk FOREIGN KEY (author_id) REFERENCES "
         "users (id) NOT VALID;\n"
         "ALTER TABLE posts VALIDATE CONSTRAINT posts_author_fk;  -- next migration"),
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
         "skip the scan (PostgreSQL 12+), so SET NOT NULL after such a constraint was "
         "validated (in this or an earlier migration) is not flagged; a new column can be "
         "added with NOT NULL DEFAULT.",
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
    Rule("validate-in-same-transaction", "warning", "VALIDATE CONSTRAINT in the transaction "
         "that added the constraint NOT VALID.",
         "NOT VALID exists to split the work: the ADD takes its lock only for a moment, the "
         "VALIDATE scans under a lock that lets reads and writes go on. In one transaction the "
         "ADD's lock (ACCESS EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE for a foreign key) is "
         "held until COMMIT, through the whole scan: nothing is gained.",
         "-- 010_add_check.sql\n"
         "ALTER TABLE users ADD CONSTRAINT users_age_check CHECK (age >= 0) NOT VALID;\n"
         "-- 011_validate_check.sql\n"
         "ALTER TABLE users VALIDATE CONSTRAINT users_age_check;"),
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
    Rule("drop-view", "warning", "DROP VIEW / MATERIALIZED VIEW in the UP section, not "
         "created again by it.",
         "Running application code that queries the view fails until it is redeployed. "
         "Replacing a view (DROP then CREATE in the same section) is not flagged.",
         "-- first deploy code that no longer uses the view, then:\n"
         "DROP VIEW IF EXISTS active_users;"),
    Rule("drop-function", "warning", "DROP FUNCTION / PROCEDURE in the UP section, not "
         "created again by it.",
         "Running application code, triggers and defaults that call the function fail until "
         "they are changed. Replacing it in the same section is not flagged.",
         "-- first remove its callers, then:\n"
         "DROP FUNCTION IF EXISTS legacy_score(bigint);"),
    Rule("drop-type", "warning", "DROP TYPE / DOMAIN in the UP section, not created again "
         "by it.",
         "Running application code that casts to the type or uses its values fails, and "
         "columns of the type must be dropped with it (CASCADE).",
         "-- first move the columns and code off the type, then:\n"
         "DROP TYPE IF EXISTS legacy_status;"),
    Rule("drop-schema", "warning", "DROP SCHEMA in the UP section.",
         "Everything in the schema goes (with CASCADE) or the statement fails; running "
         "application code that uses it breaks.",
         "-- first move or drop its objects one by one, then:\n"
         "DROP SCHEMA IF EXISTS legacy;"),
    Rule("drop-constraint", "warning", "ALTER TABLE … DROP CONSTRAINT in the UP section.",
         "The running application may rely on the constraint (ON CONFLICT needs its unique "
         "index; code may assume a CHECK or foreign key holds), and dropping it takes an "
         "ACCESS EXCLUSIVE lock. Dropping a constraint the section added, or the CHECK "
         "(col IS NOT NULL) helper after SET NOT NULL, is not flagged.",
         "-- first deploy code that no longer needs it, then:\n"
         "ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_key;"),
    Rule("drop-default", "warning", "ALTER COLUMN … DROP DEFAULT in the UP section.",
         "INSERTs of the running application that leave the column out get NULL instead of "
         "the default, and fail on a NOT NULL column.",
         "-- first deploy code that always sets the column, then:\n"
         "ALTER TABLE users ALTER COLUMN plan DROP DEFAULT;"),
    Rule("drop-not-null", "warning", "ALTER COLUMN … DROP NOT NULL in the UP section.",
         "The column may hold NULLs from now on, which the running application (and its "
         "readers) may not handle.",
         "-- first deploy code that handles NULL in the column, then:\n"
         "ALTER TABLE users ALTER COLUMN plan DROP NOT NULL;"),
    Rule("identifier-too-long", "warning", "An identifier over 63 bytes.",
         "PostgreSQL truncates identifiers to 63 bytes with only a NOTICE: the object gets "
         "another name than the one written, and two long names that share their first 63 "
         "bytes are the same name (the second CREATE fails with \"already exists\").",
         "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_customer_created ON orders "
         "(customer_id, created_at);"),
    Rule("truncate-cascade", "error", "TRUNCATE … CASCADE.",
         "CASCADE also empties every table with a foreign key to the named ones, and their "
         "referencing tables in turn: data loss in tables the statement does not name.",
         "TRUNCATE events;  -- name every table to empty"),
    Rule("enum-value-not-at-end", "warning", "ALTER TYPE … ADD VALUE … BEFORE / AFTER.",
         "A value added in the middle changes the order of the enum: ORDER BY, comparisons "
         "and range checks on the type give other results to the running application, and "
         "PostgreSQL compares such values more slowly (it looks the order up in pg_enum).",
         "ALTER TYPE status ADD VALUE IF NOT EXISTS 'archived';  -- at the end"),
    Rule("detach-partition", "warning", "ALTER TABLE … DETACH PARTITION without "
         "CONCURRENTLY.",
         "A plain DETACH takes an ACCESS EXCLUSIVE lock on the partitioned table: every read "
         "and write of every partition waits. DETACH PARTITION … CONCURRENTLY (PostgreSQL "
         "14+) takes SHARE UPDATE EXCLUSIVE; it cannot run in a transaction, so it belongs in "
         "a migration of its own.",
         "ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;"),
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
    Rule("prefer-text-over-char", "note", "A column of type char(n) / character(n).",
         "char(n) pads values with spaces to n characters, compares and stores the padding "
         "and is never faster than text or varchar.",
         "ALTER TABLE users ADD COLUMN IF NOT EXISTS country_code text CHECK "
         "(char_length(country_code) = 2);"),
    Rule("prefer-bigint-key", "note", "A new primary key or foreign key column of type "
         "integer or smallint (serial, smallserial).",
         "A 4-byte key runs out at 2,147,483,647 rows (a 2-byte one at 32,767); changing "
         "its type later rewrites the table and every referencing one. bigint costs 4 bytes "
         "more per row.",
         "CREATE TABLE IF NOT EXISTS orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY "
         "KEY, customer_id bigint REFERENCES customers (id));"),
    Rule("prefer-identity", "note", "A serial / bigserial / smallserial column.",
         "serial creates a sequence with its own owner and privileges that pg_dump and "
         "copies of the table handle separately; an identity column (SQL standard) keeps "
         "the sequence tied to the column and can refuse explicit values (ALWAYS).",
         "CREATE TABLE IF NOT EXISTS orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY "
         "KEY);"),
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
