"""pgshift.analysis.parsing builds the same trees as pglast.parse_sql, faster."""

from __future__ import annotations

from pathlib import Path

import pytest
from pglast import ast, parse_sql
from pglast.parser import ParseError

from pgshift.analysis.parsing import parse_statements

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [
    "SELECT 1, 'x', true, 1.5, NULL, 0, B'101', -2147483649",
    "CREATE TABLE IF NOT EXISTS t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "a text NOT NULL DEFAULT '', b numeric(12,2)[] CHECK (b IS NOT NULL), "
    "c int REFERENCES u (id) ON DELETE CASCADE) PARTITION BY RANGE (id)",
    "ALTER TABLE ONLY t ADD COLUMN IF NOT EXISTS d timestamptz DEFAULT now(), "
    "ALTER COLUMN a TYPE varchar(10) USING a::varchar, DROP CONSTRAINT IF EXISTS c CASCADE",
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t USING gin (lower(a) DESC "
    "NULLS LAST) INCLUDE (b) WHERE c > 0",
    "INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b') ON CONFLICT (a) DO UPDATE SET b = "
    "excluded.b RETURNING *",
    "CREATE FUNCTION f(a int DEFAULT 1, OUT b text) RETURNS SETOF record LANGUAGE plpgsql "
    "STABLE AS $$ BEGIN RETURN QUERY SELECT 1; END $$",
    "DO $$ BEGIN RAISE NOTICE 'x'; END $$",
    "VACUUM (FULL, ANALYZE) t; REINDEX (CONCURRENTLY) INDEX i; CLUSTER t USING i",
    "ALTER TYPE e ADD VALUE IF NOT EXISTS 'v' BEFORE 'w'",
    "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
    "WITH x AS MATERIALIZED (SELECT * FROM t ORDER BY a USING <) SELECT count(*) "
    "FILTER (WHERE a) OVER (PARTITION BY b) FROM x",
    "GRANT SELECT ON ALL TABLES IN SCHEMA s TO r; COMMENT ON TABLE t IS 'é'",
    "-- lead\n/* block */ CREATE VIEW v AS SELECT 'café' AS c;\nSELECT 2",
    "BEGIN; LOCK TABLE t IN SHARE MODE; COMMIT",
    "",
    "-- only a comment",
]


def equal(sql: str) -> None:
    expected = [raw for raw in parse_sql(sql) if raw.stmt is not None]
    found = parse_statements(sql)
    assert len(found) == len(expected)
    for raw, statement in zip(expected, found, strict=True):
        assert statement.kind == type(raw.stmt).__name__
        assert (statement.location, statement.length) == (raw.stmt_location or 0,
                                                          raw.stmt_len or 0)
        assert statement.node() == raw.stmt()  # the serialized trees, class names included
        assert isinstance(statement.node, type(raw.stmt))


@pytest.mark.parametrize("sql", SAMPLES)
def test_same_trees_as_pglast(sql: str) -> None:
    equal(sql)


def test_same_trees_for_every_sql_file_of_the_repository() -> None:
    paths = sorted([*ROOT.glob("tests/**/*.sql"), *ROOT.glob("examples/**/*.sql")])
    assert paths
    for path in paths:
        text = path.read_text(encoding="utf-8-sig")
        try:
            parse_sql(text)
        except ParseError:
            continue
        equal(text)


def test_nodes_are_built_when_asked_and_keep_pglast_classes() -> None:
    statements = parse_statements("INSERT INTO t VALUES (1); CREATE INDEX i ON t (a)")
    node = statements[1].node
    assert isinstance(node, ast.IndexStmt)
    assert type(node).__name__ == "IndexStmt"
    assert node.concurrent is False and node.if_not_exists is False
    assert statements[1].node is node


def test_a_syntax_error_raises_pglast_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_statements("CREATE TABLE (")
