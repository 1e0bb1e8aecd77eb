"""The tracking table on a real database (SPEC 3; RELIABILITY S27, S28, S39, S45): its
shape, the in-place upgrade of the 4-column table of the Node.js tool, refusal of tables
of another shape, ``--table`` names, and roles without the CREATE privilege."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgshift import Migrator
from pgshift.errors import MigrationFailed, RunError, TrackingTableError
from pgtest import (
    Cli,
    Files,
    catalog_snapshot,
    columns,
    execute,
    fetch,
    run,
    table_exists,
    tracking_rows,
)

FULL_SHAPE = {
    "id": "integer",
    "name": "text",
    "batch": "integer",
    "executed_at": "timestamp with time zone",
    "checksum": "text",
    "duration_ms": "integer",
    "down_sql": "text",
}
FILES = {
    "001_users.sql": "-- UP\nCREATE TABLE users (id int PRIMARY KEY, email text);\n"
    "INSERT INTO users VALUES (1, 'a@example.com');\n-- DOWN\nDROP TABLE users;\n",
    "002_avatar.sql": "-- UP\nALTER TABLE users ADD COLUMN avatar text;\n"
    "-- DOWN\nALTER TABLE users DROP COLUMN avatar;\n",
    "003_phone.sql": "-- UP\nALTER TABLE users ADD COLUMN phone text;\n"
    "-- DOWN\nALTER TABLE users DROP COLUMN phone;\n",
}
NEXT = {"004_bio.sql": "-- UP\nALTER TABLE users ADD COLUMN bio text;\n"
        "-- DOWN\nALTER TABLE users DROP COLUMN bio;\n"}


def attributes(url: str, table: str) -> list[tuple[object, ...]]:
    """Every pg_attribute fact of ``table`` a rewrite or ALTER would change."""
    return fetch(
        url,
        "SELECT attnum, attname, atttypid, atttypmod, attnotnull, atthasdef, attisdropped"
        " FROM pg_attribute WHERE attrelid = to_regclass(%s) ORDER BY attnum",
        [table],
    )


def test_first_migrate_creates_the_table_of_the_spec(db_url: str, migrations: Files) -> None:
    Migrator(db_url, migrations(FILES)).migrate()

    assert columns(db_url, "_migrations") == FULL_SHAPE
    constraints = fetch(
        db_url,
        "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = '_migrations'::regclass AND contype IN ('p', 'u') ORDER BY contype",
    )
    assert constraints == [("p", "PRIMARY KEY (id)"), ("u", "UNIQUE (name)")]
    not_null = fetch(
        db_url,
        "SELECT attname FROM pg_attribute WHERE attrelid = '_migrations'::regclass"
        " AND attnum > 0 AND attnotnull ORDER BY attnum",
    )
    assert [r[0] for r in not_null] == ["id", "name", "batch", "executed_at"]
    defaults = dict(fetch(
        db_url,
        "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d"
        " JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
        " WHERE d.adrelid = '_migrations'::regclass",
    ))
    assert defaults["executed_at"] == "now()"
    assert defaults["id"].startswith("nextval(")


# --- S27: the Node.js tool's 4-column table ---------------------------------------------

LEGACY_SHAPES = {
    "node": "id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE,"
    " batch INTEGER NOT NULL, executed_at TIMESTAMP DEFAULT NOW()",
    "spec": "id serial PRIMARY KEY, name text NOT NULL UNIQUE, batch integer NOT NULL,"
    " executed_at timestamptz NOT NULL DEFAULT now()",
}


@pytest.fixture(params=sorted(LEGACY_SHAPES))
def legacy(request: pytest.FixtureRequest, db_url: str, migrations: Files) -> Path:
    """001 to 003 applied by the Node.js tool (its table, 3 rows, in batches 1, 2, 2)."""
    directory = migrations({**FILES, **NEXT})
    execute(db_url, "CREATE TABLE users (id int PRIMARY KEY, email text, avatar text,"
            " phone text)")
    execute(db_url, f"CREATE TABLE _migrations ({LEGACY_SHAPES[request.param]})")
    execute(db_url, "INSERT INTO _migrations (name, batch, executed_at) VALUES"
            " ('001_users.sql', 1, '2026-01-20 10:00:00'),"
            " ('002_avatar.sql', 2, '2026-01-20 11:00:00'),"
            " ('003_phone.sql', 2, '2026-01-20 11:00:01')")
    return directory


def test_status_reads_a_legacy_table(db_url: str, legacy: Path, cli: Cli) -> None:
    before = attributes(db_url, "_migrations")

    report = Migrator(db_url, legacy).status()
    result = run(cli, db_url, legacy, "status")

    assert [(e.name, e.state, e.batch, e.checksum) for e in report.entries] == [
        ("001_users.sql", "executed", 1, None),
        ("002_avatar.sql", "executed", 2, None),
        ("003_phone.sql", "executed", 2, None),
        ("004_bio.sql", "pending", None, None),
    ]
    assert report.warnings == ()
    assert result.exit_code == 0, result.stderr
    assert "3 executed" in result.stdout
    assert attributes(db_url, "_migrations") == before


def test_migrate_upgrades_a_legacy_table_in_place(db_url: str, legacy: Path) -> None:
    rows_before = tracking_rows(db_url)

    result = Migrator(db_url, legacy).migrate()

    assert [a.name for a in result.applied] == ["004_bio.sql"]
    assert result.batch == 3
    assert list(columns(db_url, "_migrations")) == list(FULL_SHAPE)
    rows = tracking_rows(db_url)
    for old, new in zip(rows_before, rows[:3], strict=True):
        assert {k: new[k] for k in old} == old
        assert (new["checksum"], new["duration_ms"], new["down_sql"]) == (None, None, None)
    assert (rows[3]["name"], rows[3]["batch"]) == ("004_bio.sql", 3)
    assert rows[3]["checksum"].startswith("sha256v1:")
    assert "DROP COLUMN bio" in rows[3]["down_sql"]
    assert "bio" in columns(db_url, "users")
    states = {e.name: e.state for e in Migrator(db_url, legacy).status().entries}
    assert set(states.values()) == {"executed"}


def test_legacy_upgrade_shares_the_first_migrations_transaction(
    db_url: str, legacy: Path
) -> None:
    (legacy / "004_bio.sql").write_text("-- UP\nALTER TABLE users ADD COLUMN bio text;\n"
                                        "ALTER TABLE nope ADD COLUMN x int;\n")
    before = catalog_snapshot(db_url)

    with pytest.raises(MigrationFailed):
        Migrator(db_url, legacy).migrate()

    assert catalog_snapshot(db_url) == before
    assert len(columns(db_url, "_migrations")) == 4


def test_legacy_rows_roll_back_from_their_files(db_url: str, legacy: Path) -> None:
    result = Migrator(db_url, legacy).rollback()

    assert [r.name for r in result.rolled_back] == ["003_phone.sql", "002_avatar.sql"]
    assert list(columns(db_url, "users")) == ["id", "email"]
    assert [r["name"] for r in tracking_rows(db_url)] == ["001_users.sql"]


# --- S28: a tracking table of another shape ---------------------------------------------

FOREIGN_SHAPES = {
    "laravel": ("id serial PRIMARY KEY, migration text NOT NULL, batch int NOT NULL",
                "INSERT INTO _migrations (migration, batch) VALUES ('2014_create_users', 1)",
                "name"),
    "name_integer": ("id serial PRIMARY KEY, name integer NOT NULL, batch int NOT NULL,"
                     " executed_at timestamptz NOT NULL DEFAULT now()",
                     "INSERT INTO _migrations (name, batch) VALUES (1, 1)",
                     "name"),
    "checksum_integer": ("id serial PRIMARY KEY, name text NOT NULL, batch int NOT NULL,"
                         " executed_at timestamptz NOT NULL DEFAULT now(), checksum int,"
                         " duration_ms int, down_sql text",
                         "INSERT INTO _migrations (name, batch) VALUES ('001_users.sql', 1)",
                         "checksum"),
    "half_upgraded": ("id serial PRIMARY KEY, name text NOT NULL, batch int NOT NULL,"
                      " executed_at timestamptz NOT NULL DEFAULT now(), checksum text",
                      "INSERT INTO _migrations (name, batch) VALUES ('001_users.sql', 1)",
                      "duration_ms"),
}


@pytest.mark.parametrize("shape", sorted(FOREIGN_SHAPES))
@pytest.mark.parametrize("command", ["migrate", "status", "rollback"])
def test_table_of_another_shape_is_refused_untouched(
    db_url: str, migrations: Files, cli: Cli, shape: str, command: str
) -> None:
    definition, insert, column = FOREIGN_SHAPES[shape]
    execute(db_url, f"CREATE TABLE _migrations ({definition})")
    execute(db_url, insert)
    directory = migrations(FILES)
    attrs = attributes(db_url, "_migrations")
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, command)

    assert result.exit_code == 1, result.stdout + result.stderr
    assert column in result.stderr
    assert "--table" in result.stderr
    assert "Traceback" not in result.stderr
    assert attributes(db_url, "_migrations") == attrs
    assert catalog_snapshot(db_url) == before
    with pytest.raises(TrackingTableError):
        Migrator(db_url, directory).status()


# --- --table names ----------------------------------------------------------------------


def test_schema_qualified_table(db_url: str, migrations: Files, cli: Cli) -> None:
    execute(db_url, "CREATE SCHEMA ops")
    directory = migrations(FILES)

    result = run(cli, db_url, directory, "--table", "ops.schema_log", "migrate")

    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in tracking_rows(db_url, "ops.schema_log")] == list(FILES)
    assert not table_exists(db_url, "_migrations")
    assert not table_exists(db_url, "public.schema_log")
    status = run(cli, db_url, directory, "--table", "ops.schema_log", "status")
    assert "3 executed" in status.stdout
    plain = run(cli, db_url, directory, "status")
    assert "3 pending" in plain.stdout
    back = run(cli, db_url, directory, "--table", "ops.schema_log", "rollback")
    assert back.exit_code == 0, back.stderr
    assert tracking_rows(db_url, "ops.schema_log") == []


def test_table_in_a_missing_schema_fails_cleanly(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    directory = migrations(FILES)
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "--table", "nosuch.log", "migrate")

    assert result.exit_code in (1, 2)
    assert "nosuch" in result.stderr
    assert "Traceback" not in result.stderr
    assert catalog_snapshot(db_url) == before


@pytest.mark.parametrize("name, schema, relname", [
    ('"odd name; DROP TABLE users; --"', "public", "odd name; DROP TABLE users; --"),
    ('"a"."b"', "a", "b"),
    ('"Weird ""Quoted"" Name"', "public", 'Weird "Quoted" Name'),
])
def test_quoted_table_names_are_identifiers(
    db_url: str, migrations: Files, cli: Cli, name: str, schema: str, relname: str
) -> None:
    execute(db_url, "CREATE SCHEMA a")
    execute(db_url, "CREATE TABLE users_keep (id int)")
    directory = migrations(FILES)

    result = run(cli, db_url, directory, "--table", name, "migrate")

    assert result.exit_code == 0, result.stderr
    found = fetch(
        db_url,
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname IN ('public', 'a')"
        " ORDER BY 1, 2",
    )
    # pgshift may keep a companion "<table>_progress" next to its tracking table.
    assert sorted(f for f in found if f != (schema, relname + "_progress")) == sorted(
        [(schema, relname), ("public", "users"), ("public", "users_keep")]
    )
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT name, batch FROM {} ORDER BY id").format(
                sql.Identifier(schema, relname))
        ).fetchall()
    assert rows == [(n, 1) for n in FILES]
    assert run(cli, db_url, directory, "--table", name, "rollback").exit_code == 0
    assert not table_exists(db_url, "users")
    assert table_exists(db_url, "users_keep")


@pytest.mark.parametrize("name", [
    "x; DROP TABLE users; --",
    "a.b.c",
    "bad-name",
    "",
])
def test_bad_table_names_are_refused(
    db_url: str, migrations: Files, cli: Cli, name: str
) -> None:
    directory = migrations(FILES)
    execute(db_url, "CREATE TABLE users (id int)")
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "--table", name, "migrate")

    assert result.exit_code == 2
    assert "--table" in result.stderr
    assert catalog_snapshot(db_url) == before


def test_unquoted_table_name_folds_to_lower_case(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    result = run(cli, db_url, migrations(FILES), "--table", "Schema_Log", "migrate")

    assert result.exit_code == 0, result.stderr
    assert table_exists(db_url, "schema_log")


# --- S45: a role without CREATE on the schema -------------------------------------------


@pytest.fixture
def limited_role(db_url: str, pg_url: str) -> Iterator[str]:
    """A login role with USAGE but no CREATE on schema public; yields its URL."""
    role = f"pgshift_limited_{secrets.token_hex(4)}"
    execute(pg_url, f"CREATE ROLE {role} LOGIN")
    execute(db_url, f"REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
            f"GRANT USAGE ON SCHEMA public TO {role}")
    try:
        yield make_conninfo(db_url, user=role)
    finally:
        execute(db_url, f"DROP OWNED BY {role}")
        execute(pg_url, f"DROP ROLE {role}")


def test_role_without_create_privilege_cannot_migrate(
    db_url: str, migrations: Files, cli: Cli, limited_role: str
) -> None:
    directory = migrations(FILES)
    before = catalog_snapshot(db_url)

    result = run(cli, limited_role, directory, "migrate")

    assert result.exit_code == 1
    assert "42501" in result.stderr
    assert "permission denied for schema public" in result.stderr
    assert "Traceback" not in result.stderr
    assert catalog_snapshot(db_url) == before
    with pytest.raises(RunError, match="42501") as caught:
        Migrator(limited_role, directory).migrate()
    assert caught.value.exit_code == 1
    assert catalog_snapshot(db_url) == before


def test_role_without_create_privilege_gets_a_hint(
    db_url: str, migrations: Files, cli: Cli, limited_role: str
) -> None:
    result = run(cli, limited_role, migrations(FILES), "migrate")

    assert result.exit_code == 1
    assert "hint" in result.stderr.lower()


def test_role_with_select_can_read_status(
    db_url: str, migrations: Files, cli: Cli, limited_role: str
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()
    migrations(NEXT)
    role = fetch(limited_role, "SELECT current_user")[0][0]
    execute(db_url, f"GRANT SELECT ON _migrations TO {role}")
    before = catalog_snapshot(db_url)

    result = run(cli, limited_role, directory, "status")

    assert result.exit_code == 0, result.stderr
    assert "3 executed" in result.stdout and "1 pending" in result.stdout
    report = Migrator(limited_role, directory).status()
    assert [e.state for e in report.entries] == ["executed"] * 3 + ["pending"]
    assert catalog_snapshot(db_url) == before


def test_role_with_select_only_cannot_apply(
    db_url: str, migrations: Files, limited_role: str
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()
    migrations({"004_t.sql": "-- UP\nSELECT 1;\n"})
    role = fetch(limited_role, "SELECT current_user")[0][0]
    execute(db_url, f"GRANT SELECT ON _migrations TO {role}")
    before = catalog_snapshot(db_url)

    with pytest.raises(RunError, match=r"42501|permission denied"):
        Migrator(limited_role, directory).migrate()

    assert catalog_snapshot(db_url) == before


NO_TRANSACTION_FILES = {
    "001_t1.sql": "-- UP\nCREATE TABLE t1 (id int);\n-- DOWN\nDROP TABLE t1;\n",
    "002_cic.sql": "-- UP\nCREATE INDEX CONCURRENTLY t1_i ON t1 (id);\n"
    "-- DOWN\nDROP INDEX CONCURRENTLY t1_i;\n",
}


def test_longest_table_name_runs_no_transaction_migrations(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    name = "m" * 63
    result = run(cli, db_url, migrations(NO_TRANSACTION_FILES), "--table", name, "migrate")

    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in tracking_rows(db_url, name)] == list(NO_TRANSACTION_FILES)


def test_application_table_named_like_the_progress_table_is_left_alone(
    db_url: str, migrations: Files, cli: Cli
) -> None:
    execute(db_url, "CREATE TABLE upload_progress (id serial, name text, percent int)")
    execute(db_url, "INSERT INTO upload_progress (name, percent) VALUES ('002_cic.sql', 40)")
    attrs = attributes(db_url, "upload_progress")

    result = run(cli, db_url, migrations(NO_TRANSACTION_FILES), "--table", "upload", "migrate")

    assert attributes(db_url, "upload_progress") == attrs
    assert fetch(db_url, "SELECT id, name, percent FROM upload_progress") == [
        (1, "002_cic.sql", 40)
    ]
    if result.exit_code != 0:
        assert "upload_progress" in result.stderr and "--table" in result.stderr
    else:
        assert [r["name"] for r in tracking_rows(db_url, "upload")] == list(
            NO_TRANSACTION_FILES)


@pytest.mark.parametrize("command", ["status", "migrate", "rollback"])
def test_role_without_select_on_the_table_gets_a_clear_error(
    db_url: str, migrations: Files, cli: Cli, limited_role: str, command: str
) -> None:
    directory = migrations(FILES)
    Migrator(db_url, directory).migrate()
    before = catalog_snapshot(db_url)

    result = run(cli, limited_role, directory, command)

    assert result.exit_code == 1, result.stdout
    assert "42501" in result.stderr or "permission denied" in result.stderr
    assert "_migrations" in result.stderr
    assert "Traceback" not in result.stderr
    assert catalog_snapshot(db_url) == before
