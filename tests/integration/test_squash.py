"""``pgshift squash``: the examples and a generated history of 200 migrations (functions,
triggers, enums with ADD VALUE, views, partitions, grants, seed rows) squashed into one
file; databases migrated from the squashed and the original directories compared (catalog
and rows); adoption by databases that applied every original, refusal of partial ones and
of rollback below the squash file; ``--dry-run`` and ``--keep``."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgshift import Migrator
from pgshift.lifecycle.squash import squash
from pgshift.review import snapshot
from pgtest import Cli, batches, fetch, ok, one_json, run, table_exists, tracking_rows

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "migrations"
LAST = "200_step.sql"
TRACKING = ("_migrations", "_migrations_progress")

BASE = """-- UP
CREATE TYPE status AS ENUM ('new');
CREATE TABLE audit (id bigserial PRIMARY KEY, tbl text NOT NULL, row_id int NOT NULL);
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit (tbl, row_id) VALUES (TG_TABLE_NAME, NEW.id);
  RETURN NEW;
END $$;
CREATE TABLE events (id int NOT NULL, kind text NOT NULL) PARTITION BY RANGE (id);
CREATE TRIGGER events_audit AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE SCHEMA reporting;
-- DOWN
DROP SCHEMA reporting CASCADE;
DROP TABLE events;
DROP FUNCTION audit_row() CASCADE;
DROP TABLE audit;
DROP TYPE status;
"""


def step(i: int) -> str:
    """Migration ``i`` of the generated history: one of eight kinds of change."""
    kind = (i - 1) % 8  # t_N is created by step N, 1 + 8k
    if kind == 0:
        body = (f"CREATE TABLE t_{i} (id int PRIMARY KEY, label text NOT NULL,\n"
                "  state status NOT NULL DEFAULT 'new');\n"
                f"INSERT INTO t_{i} (id, label) VALUES (1, 'one {i}'), (2, 'two {i}');")
    elif kind == 1:
        body = (f"ALTER TABLE t_{i - 1} ADD COLUMN extra_{i} int DEFAULT {i};\n"
                f"CREATE INDEX t_{i - 1}_label ON t_{i - 1} (label);")
    elif kind == 2:
        body = (f"CREATE FUNCTION f_{i}(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$\n"
                f"BEGIN\n  RETURN x + {i};\nEND $$;")
    elif kind == 3:
        body = (f"CREATE VIEW reporting.v_{i} AS SELECT id, label, f_{i - 1}(id) AS n "
                f"FROM t_{i - 3} WHERE id > 0;")
    elif kind == 4:
        body = f"ALTER TYPE status ADD VALUE 's_{i}';"
    elif kind == 5:
        body = (f"CREATE TABLE events_{i} PARTITION OF events "
                f"FOR VALUES FROM ({i * 1000}) TO ({(i + 1) * 1000});\n"
                f"INSERT INTO events VALUES ({i * 1000 + 1}, 'seed {i}');")
    elif kind == 6:
        body = (f"CREATE TRIGGER t_{i - 6}_audit AFTER INSERT ON t_{i - 6}\n"
                "  FOR EACH ROW EXECUTE FUNCTION audit_row();\n"
                f"INSERT INTO t_{i - 6} (id, label, state)\n"
                f"  VALUES ({100 + i}, 'audited', 's_{i - 2}');")
    else:
        body = (f"UPDATE t_{i - 7} SET label = label || '!' WHERE id = 1;\n"
                f"COMMENT ON TABLE t_{i - 7} IS 'table of step {i - 7}';\n"
                f"GRANT SELECT ON t_{i - 7} TO PUBLIC;")
    return f"-- UP\n{body}\n"


def history() -> dict[str, str]:
    files = {"000_base.sql": BASE}
    files.update({f"{i:03d}_step.sql": step(i) for i in range(1, 201)})
    return files


LATER = {"201_later.sql": "-- UP\nCREATE TABLE later (id int PRIMARY KEY);\n"
                          "INSERT INTO later VALUES (1);\n-- DOWN\nDROP TABLE later;\n",
         "202_later_view.sql": "-- UP\nCREATE VIEW later_ids AS SELECT id FROM later;\n"
                               "-- DOWN\nDROP VIEW later_ids;\n"}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> tuple[Path, Path]:
    """(original, squashed) directories of the generated history plus two later files;
    squashed once per module."""
    root = tmp_path_factory.mktemp("squash")
    original, squashed = root / "original", root / "squashed"
    original.mkdir()
    for name, text in {**history(), **LATER}.items():
        (original / name).write_text(text, encoding="utf-8")
    shutil.copytree(original, squashed)
    report = squash(Migrator("", squashed), LAST, scratch_url=pg_url)
    assert report.ok and report.written, report.differences
    return original, squashed


def schema_and_rows(url: str) -> tuple[snapshot.Snapshot, dict[str, list[str]]]:
    """The catalog snapshot and the rows of every user table, tracking tables left out."""
    left_out = [("public", name) for name in TRACKING]
    with psycopg.connect(url, autocommit=True) as conn:
        taken = snapshot.take(conn, exclude=left_out)
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
        ).fetchall()
        rows: dict[str, list[str]] = {}
        for schema, name in tables:
            if (schema, name) in left_out:
                continue
            found = conn.execute(sql.SQL("SELECT * FROM {}").format(
                sql.Identifier(schema, name))).fetchall()
            rows[f"{schema}.{name}"] = sorted(repr(r) for r in found)
    return taken, rows


def same_database(left: str, right: str) -> None:
    one, two = schema_and_rows(left), schema_and_rows(right)
    assert not snapshot.diff(one[0], two[0]), snapshot.diff(one[0], two[0])
    assert one[1] == two[1]


def test_squash_file_replaces_the_history(dirs: tuple[Path, Path]) -> None:
    _original, squashed = dirs
    assert sorted(p.name for p in squashed.glob("*.sql")) == [
        "200_squashed.sql", "201_later.sql", "202_later_view.sql"]
    text = (squashed / "200_squashed.sql").read_text()
    assert "-- pgshift: squashes 000_base.sql..200_step.sql" in text
    assert "SET LOCAL check_function_bodies = false;" in text
    assert "set_config('search_path', '', false)" not in text
    assert "\\restrict" not in text and "\nSET statement_timeout" not in text


def test_fresh_database_from_squashed_dir_equals_the_original(
        cli: Cli, dirs: tuple[Path, Path], db_url: str, second_db: str) -> None:
    original, squashed = dirs
    ok(run(cli, db_url, original, "migrate"))
    ok(run(cli, second_db, squashed, "migrate"))
    same_database(db_url, second_db)
    assert batches(second_db) == [("200_squashed.sql", 1), ("201_later.sql", 1),
                                  ("202_later_view.sql", 1)]
    assert fetch(second_db, "SHOW search_path") == [('"$user", public',)]
    # rolling back the batch would go below the squash file: refused, nothing changed
    result = run(cli, second_db, squashed, "rollback")
    assert result.exit_code == 1
    assert "below the squash file 200_squashed.sql" in result.stderr
    assert len(tracking_rows(second_db)) == 3


def test_database_with_every_original_adopts_the_squash_file(
        cli: Cli, dirs: tuple[Path, Path], db_url: str) -> None:
    original, squashed = dirs
    ok(run(cli, db_url, original, "migrate", "--to", LAST))
    result = ok(run(cli, db_url, squashed, "migrate"))
    assert "missing" not in result.stderr
    rows = batches(db_url)
    assert ("200_squashed.sql", 0) in rows
    assert [r for r in rows if r[1] == 2] == [("201_later.sql", 2), ("202_later_view.sql", 2)]
    assert fetch(db_url, "SELECT count(*) FROM later") == [(1,)]
    status = one_json(ok(run(cli, db_url, squashed, "--json", "status")))
    states = {m["name"]: m["state"] for m in status["migrations"]}
    assert states["200_squashed.sql"] == "executed"
    assert set(states.values()) == {"executed"} and len(states) == 204
    assert status["warnings"] == []
    ok(run(cli, db_url, squashed, "rollback"))  # the later files: fine
    result = run(cli, db_url, squashed, "rollback")
    assert result.exit_code == 1
    assert "below the squash file 200_squashed.sql" in result.stderr
    assert ("001_step.sql", 1) in batches(db_url)


def test_partially_applied_database_is_refused_by_name(
        cli: Cli, dirs: tuple[Path, Path], db_url: str) -> None:
    original, squashed = dirs
    ok(run(cli, db_url, original, "migrate", "--to", "197_step.sql"))
    before = tracking_rows(db_url)
    result = run(cli, db_url, squashed, "migrate")
    assert result.exit_code == 1
    assert "only 198 of those 201 recorded" in result.stderr
    assert "missing: 198_step.sql, 199_step.sql, 200_step.sql" in result.stderr
    assert tracking_rows(db_url) == before


def copy_examples(tmp_path: Path) -> Path:
    directory = tmp_path / "ex"
    shutil.copytree(EXAMPLES, directory)
    return directory


def test_examples_dry_run_writes_nothing(cli: Cli, tmp_path: Path, pg_url: str) -> None:
    directory = copy_examples(tmp_path)
    before = sorted(p.name for p in directory.rglob("*"))
    result = ok(cli("--dir", str(directory), "squash", "--to",
                    "007_add_generations_workspace_fk", "--dry-run", "--scratch-url", pg_url))
    assert "dry run, nothing written" in result.stdout
    assert "would write 007_squashed.sql" in result.stdout
    assert sorted(p.name for p in directory.rglob("*")) == before


def test_examples_keep_moves_files_and_builds_the_same_database(
        cli: Cli, tmp_path: Path, pg_url: str, db_url: str, second_db: str) -> None:
    directory = copy_examples(tmp_path)
    result = ok(cli("--dir", str(directory), "--json", "squash", "--to",
                    "007_add_generations_workspace_fk.sql", "--keep", "--scratch-url", pg_url))
    assert '"written": true' in result.stdout
    assert sorted(p.name for p in directory.glob("*.sql")) == ["007_squashed.sql"]
    assert sorted(p.name for p in (directory / "squashed").glob("*.sql")) == sorted(
        p.name for p in EXAMPLES.glob("*.sql"))
    ok(run(cli, db_url, EXAMPLES, "migrate"))
    ok(run(cli, second_db, directory, "migrate"))
    same_database(db_url, second_db)


def test_unknown_name_is_refused(cli: Cli, tmp_path: Path, pg_url: str) -> None:
    directory = copy_examples(tmp_path)
    result = cli("--dir", str(directory), "squash", "--to", "999_nope.sql",
                 "--scratch-url", pg_url)
    assert result.exit_code == 2
    assert "999_nope.sql" in result.stderr


# --- the proof fails: nothing written --------------------------------------------------

REFUSED = {
    "001_people.sql": "-- UP\nCREATE TABLE people (id int PRIMARY KEY, name text);\n"
                      "INSERT INTO people VALUES (1, 'Ada');\n-- DOWN\nDROP TABLE people;\n",
    # a property of the database itself: pg_dump writes it only with --create (naming the
    # database), so no squash file reproduces it, and the proof must say so
    "002_work_mem.sql": "-- UP\nALTER DATABASE \"${pgshift:database}\" SET work_mem = '8MB';\n"
                        "-- DOWN\nALTER DATABASE \"${pgshift:database}\" RESET work_mem;\n",
    "003_later.sql": "-- UP\nCREATE TABLE later (id int);\n-- DOWN\nDROP TABLE later;\n",
}


def files_of(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("extra", [(), ("--keep",), ("--dry-run",), ("--json",)])
def test_proof_failure_writes_nothing_and_names_the_difference(
        cli: Cli, tmp_path: Path, pg_url: str, db_url: str, extra: tuple[str, ...]) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    for name, text in REFUSED.items():
        (directory / name).write_text(text, encoding="utf-8")
    before = files_of(directory)
    settings = ("SELECT count(*) FROM pg_db_role_setting "
                "WHERE 'work_mem=8MB' = ANY(setconfig)")
    result = run(cli, db_url, directory, *[e for e in extra if e == "--json"], "squash",
                 "--to", "002_work_mem", "--scratch-url", pg_url,
                 *[e for e in extra if e != "--json"])
    assert result.exit_code == 1, result.stdout + result.stderr
    if "--json" in extra:
        doc = one_json(result)
        assert doc["written"] is False
        assert any(d.startswith("settings of the database: every role: work_mem=8MB "
                                "replayed, none from the squash file")
                   for d in doc["differences"]), doc
    else:
        assert "NOT written" in result.stdout
        assert ("settings of the database: every role: work_mem=8MB replayed, none from "
                "the squash file") in result.stdout
    # byte-identical directory: no squash file, no staged file, no squashed/ folder
    assert files_of(directory) == before
    assert sorted(p.name for p in directory.iterdir()) == sorted(REFUSED)
    # the target database is not used; the scratch databases are gone with their setting
    assert not table_exists(db_url, "_migrations")
    assert fetch(db_url, "SELECT count(*) FROM pg_class WHERE relname = 'people'") == [(0,)]
    assert fetch(pg_url, settings) == [(0,)]


# what pg_dump writes after the rows in a restore (post-data) comes after them here too
RESTORE_ORDER = {
    "001_kinds.sql": """-- UP
CREATE TABLE nodes (id int PRIMARY KEY, parent int REFERENCES nodes, n int);
INSERT INTO nodes VALUES (1, NULL, -1), (2, 1, 2);
UPDATE nodes SET parent = 2 WHERE id = 1;
ALTER TABLE nodes ADD CONSTRAINT positive CHECK (n > 0) NOT VALID;
CREATE TABLE refs (node int);
INSERT INTO refs VALUES (99);
ALTER TABLE refs ADD CONSTRAINT refs_node FOREIGN KEY (node) REFERENCES nodes NOT VALID;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.n := NEW.n + 1000; RETURN NEW; END $$;
CREATE TRIGGER nodes_touch BEFORE INSERT ON nodes FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE nodes ENABLE ALWAYS TRIGGER nodes_touch;
INSERT INTO nodes VALUES (3, NULL, 3);
CREATE MATERIALIZED VIEW node_count AS SELECT count(*) AS c FROM nodes;
CREATE MATERIALIZED VIEW node_count_twice AS SELECT c * 2 AS c FROM node_count;
SELECT lo_from_bytea(0, 'large object contents');
""",
    "002_later.sql": "-- UP\nCREATE TABLE later (id int);\n",
}


def test_restore_order_kinds_are_squashed_equal(
        cli: Cli, tmp_path: Path, pg_url: str, db_url: str, second_db: str) -> None:
    original, squashed = tmp_path / "original", tmp_path / "squashed"
    original.mkdir()
    for name, text in RESTORE_ORDER.items():
        (original / name).write_text(text, encoding="utf-8")
    shutil.copytree(original, squashed)
    report = squash(Migrator("", squashed), "001_kinds.sql", scratch_url=pg_url)
    assert report.ok and report.written, report.differences
    ok(run(cli, db_url, original, "migrate"))
    ok(run(cli, second_db, squashed, "migrate"))
    same_database(db_url, second_db)
    for url in (db_url, second_db):
        assert fetch(url, "SELECT tgenabled FROM pg_trigger WHERE tgname = 'nodes_touch'"
                     ) == [("A",)]
        assert fetch(url, "SELECT c FROM node_count_twice") == [(6,)]
        assert fetch(url, "SELECT convert_from(lo_get(oid), 'UTF8') "
                     "FROM pg_largeobject_metadata") == [("large object contents",)]
        assert fetch(url, "SELECT n FROM nodes ORDER BY id") == [(-1,), (2,), (1003,)]
