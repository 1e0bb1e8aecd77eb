"""The migration corpus (tests/corpus) through the CLI, on a real database.

Each corpus directory is an ordered set of migrations written the way teams write them
(PL/pgSQL, enums, CONCURRENTLY, BOM/CRLF files, views/RLS/grants); ``many`` is generated
here. Every set must apply on an empty database, leave the catalog facts it promises,
and reset back to an empty catalog.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgtest import (
    Cli,
    catalog_snapshot,
    columns,
    execute,
    fetch,
    index_info,
    ok,
    run,
    table_exists,
    tracking_rows,
    url_for_database,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
DIRECTORIES = ("plpgsql", "enums", "concurrently", "crlf_bom", "misc")
BOM = b"\xef\xbb\xbf"
REPORTING_ROLE = "pgshift_corpus_reporting"



def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.sql"))


def copy_files(source: Path, target: Path, selected: list[str]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in selected:
        shutil.copyfile(source / name, target / name)
    return target


def status(cli: Cli, url: str, directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ok(run(cli, url, directory, "--json", "status")).stdout)
    return document


def states(document: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["state"] for entry in document["migrations"]}


def without_tracking_table(url: str) -> dict[str, Any]:
    """The catalog snapshot once pgshift's own tables (the tracking table and its
    companion ``_migrations_progress``, when there is one) are checked empty and dropped."""
    assert tracking_rows(url) == []
    if table_exists(url, "_migrations_progress"):
        assert fetch(url, "SELECT name FROM _migrations_progress") == []
    execute(url, "DROP TABLE IF EXISTS _migrations_progress, _migrations")
    return catalog_snapshot(url)


def prosrc(url: str, name: str) -> str:
    rows = fetch(url, "SELECT prosrc FROM pg_proc WHERE proname = %s", [name])
    assert len(rows) == 1, f"function {name}: {rows}"
    text: str = rows[0][0]
    return text


def enum_labels(url: str, type_name: str) -> list[str]:
    rows = fetch(
        url,
        "SELECT enumlabel FROM pg_enum WHERE enumtypid = to_regtype(%s) ORDER BY enumsortorder",
        [type_name],
    )
    return [label for (label,) in rows]


def invalid_indexes(url: str) -> list[str]:
    rows = fetch(url, "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
    return [name for (name,) in rows]


@pytest.fixture
def second_db_url(pg_url: str) -> Iterator[str]:
    """Another new, empty database on the test server, dropped after the test."""
    name = f"pgshift_t_{secrets.token_hex(6)}"
    ident = sql.Identifier(name)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
    try:
        yield url_for_database(pg_url, name)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


# --- every directory -----------------------------------------------------------------


@pytest.mark.parametrize("corpus", DIRECTORIES)
def test_corpus_migrates_and_resets_to_an_empty_catalog(cli: Cli, db_url: str, corpus: str) -> None:
    directory = CORPUS / corpus
    baseline = catalog_snapshot(db_url)

    ok(run(cli, db_url, directory, "migrate"))
    rows = tracking_rows(db_url)
    assert [row["name"] for row in rows] == names(directory)
    assert {row["batch"] for row in rows} == {1}
    assert set(states(status(cli, db_url, directory)).values()) == {"executed"}
    assert invalid_indexes(db_url) == []
    applied = catalog_snapshot(db_url)

    ok(run(cli, db_url, directory, "reset", "--yes"))
    assert tracking_rows(db_url) == []
    assert invalid_indexes(db_url) == []

    # The down sections leave nothing behind that would stop the set applying again.
    ok(run(cli, db_url, directory, "migrate"))
    assert catalog_snapshot(db_url)["functions"] == applied["functions"]
    assert catalog_snapshot(db_url)["indexes"] == applied["indexes"]
    ok(run(cli, db_url, directory, "reset", "--yes"))

    assert without_tracking_table(db_url) == baseline


@pytest.mark.parametrize("corpus", DIRECTORIES)
def test_corpus_rolls_back_one_migration_at_a_time(
    cli: Cli, db_url: str, corpus: str, tmp_path: Path
) -> None:
    """Applied one batch per file, each rollback restores the catalog of the step before."""
    source = CORPUS / corpus
    directory = tmp_path / corpus
    snapshots = [_catalog_without_tracking(db_url)]
    for name in names(source):
        copy_files(source, directory, [name])
        ok(run(cli, db_url, directory, "migrate"))
        assert tracking_rows(db_url)[-1]["name"] == name
        snapshots.append(_catalog_without_tracking(db_url))

    for expected in reversed(snapshots[:-1]):
        ok(run(cli, db_url, directory, "rollback"))
        assert _catalog_without_tracking(db_url) == expected

    assert tracking_rows(db_url) == []


def _catalog_without_tracking(url: str) -> dict[str, Any]:
    """The catalog snapshot without table rows (down sections need not undo data the
    triggers wrote) and without the tracking table's relation, sequence and indexes."""
    snapshot = catalog_snapshot(url)
    del snapshot["data"]
    return {
        key: [entry for entry in entries if "_migrations" not in repr(entry)]
        for key, entries in snapshot.items()
    }


# --- plpgsql ---------------------------------------------------------------------------


def test_plpgsql_bodies_arrive_intact(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, CORPUS / "plpgsql", "migrate"))

    move = prosrc(db_url, "move_issues")
    lines = [line.strip() for line in move.splitlines()]
    assert "-- DOWN" in lines and "-- UP" in lines
    assert "$$, v_label_table)" in move
    assert "outcome := 'skipped; locked';" in move
    assert move.rstrip().endswith("END move;")
    assert len(move.splitlines()) > 100

    traversal = prosrc(db_url, "namespace_traversal_ids").splitlines()
    assert "-- DOWN" in traversal and "-- UP" in traversal

    assert "COMMIT;" in prosrc(db_url, "backfill_projects_issues_count")
    assert "issues_count + 1" in prosrc(db_url, "trigger_projects_issues_count")
    assert fetch(
        db_url,
        "SELECT proname, prokind FROM pg_proc"
        " WHERE proname IN ('backfill_projects_issues_count', 'close_stale_issues',"
        " 'issue_reference', 'namespace_descendant_ids') ORDER BY proname",
    ) == [
        ("backfill_projects_issues_count", "p"),
        ("close_stale_issues", "p"),
        ("issue_reference", "f"),
        ("namespace_descendant_ids", "f"),
    ]


def test_plpgsql_triggers_and_do_blocks_took_effect(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, CORPUS / "plpgsql", "migrate"))

    triggers = fetch(
        db_url,
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal"
        " ORDER BY 1, 2",
    )
    assert triggers == [
        ("issues", "trigger_audit_issues"),
        ("issues", "trigger_audit_issues_truncate"),
        ("issues", "trigger_issues_updated_at"),
        ("issues", "trigger_projects_issues_count"),
        ("namespaces", "trigger_namespaces_traversal_ids"),
        ("projects", "trigger_audit_projects"),
        ("projects", "trigger_projects_updated_at"),
        ("users", "trigger_audit_users"),
        ("users", "trigger_users_updated_at"),
    ]
    assert columns(db_url, "projects")["issues_count"] == "integer"
    for table in ("users", "projects", "issues"):
        info = index_info(db_url, f"index_{table}_on_created_at")
        assert info is not None and info[0] is True

    # The audit trigger and the counters work on real rows.
    execute(
        db_url,
        "INSERT INTO namespaces (id, name, path) VALUES (1, 'Group', 'group');"
        "INSERT INTO users (id, username, email) VALUES (10, 'alice', 'alice@example.com');"
        "INSERT INTO projects (id, namespace_id, creator_id, name, path)"
        " VALUES (1, 1, 10, 'A', 'a'), (2, 1, 10, 'B', 'b');"
        "INSERT INTO issues (project_id, author_id, iid, title) VALUES (1, 10, 1, 'one');",
    )
    moved = fetch(db_url, "SELECT new_iid, outcome FROM move_issues(1, 2, 10)")
    assert moved == [(1, "moved")]
    assert fetch(db_url, "SELECT id, issues_count FROM projects ORDER BY id") == [(1, 0), (2, 1)]
    assert fetch(db_url, "SELECT issue_reference(id) FROM issues") == [("group/b#1",)]
    assert fetch(db_url, "SELECT traversal_ids FROM namespaces") == [([1],)]
    assert fetch(db_url, "SELECT count(*) FROM audit_events WHERE table_name = 'users'") == [
        (2,)
    ]  # the ghost user of 006, then alice


def test_plpgsql_strings_and_comments_that_look_like_markers(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, CORPUS / "plpgsql", "migrate"))

    labels = dict(fetch(db_url, "SELECT title, description FROM label_templates"))
    assert set(labels) == {"Download", "Upload", "UP", "Down", "database::migration", "escapes"}
    assert "\n-- UP\n-- DOWN\n" in labels["database::migration"]
    assert labels["escapes"] == (
        "It's tab\tseparated;\nsecond line with a backslash \\ and a quote '\n-- DOWN\n"
    )
    assert fetch(
        db_url, "SELECT default_projects_limit, after_sign_up_text FROM application_settings"
    ) == [(100000, "Welcome; read the docs at /help -- or ask in #support")]
    assert fetch(db_url, "SELECT username FROM users") == [("ghost",)]

    stored = {row["name"]: row["down_sql"] for row in tracking_rows(db_url)}
    seed_down = stored["006_seed_label_templates.sql"]
    assert "DELETE FROM label_templates" in seed_down
    assert "INSERT" not in seed_down
    assert "RETURNS TABLE" not in stored["003_create_issue_functions.sql"]
    assert "DROP FUNCTION IF EXISTS move_issues" in stored["003_create_issue_functions.sql"]


# --- enums -----------------------------------------------------------------------------


def test_enum_values_are_added_in_order(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, CORPUS / "enums", "migrate"))

    assert enum_labels(db_url, "status_visibility") == [
        "public",
        "unlisted",
        "private",
        "limited",
        "direct",
    ]
    assert enum_labels(db_url, "moderation_state") == [
        "pending",
        "approved",
        "escalated",
        "dismissed",
    ]
    limited = index_info(db_url, "index_statuses_limited")
    assert limited is not None and limited[0] is True
    assert "WHERE (visibility = 'limited'::status_visibility)" in limited[1]
    assert fetch(db_url, "SELECT visibility::text FROM statuses ORDER BY id") == [
        ("public",),
        ("limited",),
    ]
    assert table_exists(db_url, "public_timeline")


def test_enum_rollback_swaps_the_types_back(cli: Cli, db_url: str, tmp_path: Path) -> None:
    source = CORPUS / "enums"
    directory = copy_files(source, tmp_path / "enums", names(source)[:2])
    ok(run(cli, db_url, directory, "migrate"))
    copy_files(source, directory, names(source)[2:])
    ok(run(cli, db_url, directory, "migrate"))

    ok(run(cli, db_url, directory, "rollback"))
    assert enum_labels(db_url, "moderation_state") == ["pending", "approved", "rejected"]
    assert enum_labels(db_url, "status_visibility")[3] == "limited"
    assert not table_exists(db_url, "public_timeline")

    ok(run(cli, db_url, directory, "rollback"))
    assert tracking_rows(db_url) == []
    assert not table_exists(db_url, "statuses")
    assert enum_labels(db_url, "status_visibility") == []


def test_enum_value_removal_keeps_rows(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """002's down section demotes 'limited' rows to 'private' before swapping the type."""
    source = CORPUS / "enums"
    directory = copy_files(source, tmp_path / "enums", names(source)[:1])
    ok(run(cli, db_url, directory, "migrate"))
    copy_files(source, directory, names(source)[1:2])
    ok(run(cli, db_url, directory, "migrate"))
    execute(
        db_url,
        "INSERT INTO statuses (account_id, text, visibility)"
        " SELECT id, 'circle only', 'limited' FROM accounts",
    )

    ok(run(cli, db_url, directory, "rollback"))

    assert enum_labels(db_url, "status_visibility") == ["public", "unlisted", "private", "direct"]
    assert fetch(db_url, "SELECT text, visibility::text FROM statuses ORDER BY id") == [
        ("Welcome to the instance!", "public"),
        ("circle only", "private"),
    ]
    assert fetch(
        db_url,
        "SELECT format_type(atttypid, atttypmod), pg_get_expr(adbin, adrelid)"
        " FROM pg_attribute JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum"
        " WHERE attrelid = 'statuses'::regclass AND attname = 'visibility'",
    ) == [("status_visibility", "'public'::status_visibility")]
    assert fetch(
        db_url, "SELECT count(*) FROM pg_type WHERE typname = 'status_visibility_old'"
    ) == [(0,)]


# --- concurrently ----------------------------------------------------------------------


def test_concurrent_statements_run_outside_a_transaction(cli: Cli, db_url: str) -> None:
    directory = CORPUS / "concurrently"
    ok(run(cli, db_url, directory, "migrate"))

    for name in (
        "index_ci_builds_on_runner_id",
        "index_ci_builds_on_project_id_and_status",
        "index_ci_builds_on_status",
        "merge_requests_target_project_id_iid_key",
    ):
        info = index_info(db_url, name)
        assert info is not None and info[0] is True, name
    assert index_info(db_url, "index_ci_builds_on_project_id") is None
    runner = index_info(db_url, "index_ci_builds_on_runner_id")
    assert runner is not None and "WHERE (runner_id IS NOT NULL)" in runner[1]
    assert fetch(
        db_url,
        "SELECT contype FROM pg_constraint"
        " WHERE conname = 'merge_requests_target_project_id_iid_key'",
    ) == [("u",)]
    assert columns(db_url, "merge_requests")["merge_status"] == "text"
    assert fetch(
        db_url,
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'ci_pipelines'::regclass"
        " AND attname = 'source'",
    ) == [(True,)]
    assert fetch(db_url, "SELECT count(*) FROM ci_pipelines WHERE source IS NULL") == [(0,)]
    assert fetch(
        db_url,
        "SELECT inhrelid::regclass::text FROM pg_inherits"
        " WHERE inhparent = 'audit_events'::regclass",
    ) == [("audit_events_2026",)]

    transactional = {
        entry["name"]: entry["no_transaction"]
        for entry in status(cli, db_url, directory)["migrations"]
    }
    assert transactional == {
        "001_create_ci_tables.sql": False,
        "002_index_ci_builds_on_runner_id.sql": True,
        "003_replace_ci_builds_project_index.sql": True,
        "004_reindex_ci_builds_on_status.sql": True,
        "005_add_merge_requests_unique_iid.sql": True,
        "006_backfill_ci_pipelines_source.sql": True,
        "007_detach_audit_events_2025.sql": True,
    }


def test_concurrent_down_sections_restore_the_indexes(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    source = CORPUS / "concurrently"
    directory = copy_files(source, tmp_path / "concurrently", names(source)[:1])
    ok(run(cli, db_url, directory, "migrate"))
    copy_files(source, directory, names(source)[1:])
    ok(run(cli, db_url, directory, "migrate"))

    ok(run(cli, db_url, directory, "rollback"))

    assert [row["name"] for row in tracking_rows(db_url)] == ["001_create_ci_tables.sql"]
    for name in ("index_ci_builds_on_project_id", "index_ci_builds_on_status"):
        info = index_info(db_url, name)
        assert info is not None and info[0] is True, name
    for name in (
        "index_ci_builds_on_runner_id",
        "index_ci_builds_on_project_id_and_status",
        "merge_requests_target_project_id_iid_key",
    ):
        assert index_info(db_url, name) is None, name
    assert "source" not in columns(db_url, "ci_pipelines")
    assert "merge_status" not in columns(db_url, "merge_requests")
    assert fetch(
        db_url,
        "SELECT inhrelid::regclass::text FROM pg_inherits"
        " WHERE inhparent = 'audit_events'::regclass ORDER BY 1",
    ) == [("audit_events_2025",), ("audit_events_2026",)]
    assert fetch(
        db_url,
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'audit_events_2025'::regclass"
        " AND contype = 'c'",
    ) == [(0,)]
    assert invalid_indexes(db_url) == []


# --- crlf_bom --------------------------------------------------------------------------


def test_crlf_bom_files_are_stored_with_their_bytes() -> None:
    """Guards the corpus itself: git must not have normalised the line endings."""
    raw = {name: (CORPUS / "crlf_bom" / name).read_bytes() for name in names(CORPUS / "crlf_bom")}
    assert raw["001_create_catalogue.sql"].startswith(BOM)
    assert b"\r\n" in raw["001_create_catalogue.sql"]
    assert not raw["002_create_commandes.sql"].startswith(BOM)
    assert b"\n" not in raw["002_create_commandes.sql"].replace(b"\r\n", b"")
    assert raw["003_index_japanese_names.sql"].startswith(BOM + b"-- UP\n")
    assert b"\r" not in raw["003_index_japanese_names.sql"]
    assert raw["004_add_origine.sql"].startswith(BOM)
    assert raw["004_add_origine.sql"].endswith(b"origine;")


def test_crlf_bom_checksums_ignore_line_endings_and_bom(
    cli: Cli, db_url: str, second_db_url: str, tmp_path: Path
) -> None:
    source = CORPUS / "crlf_bom"
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in names(source):
        data = (source / name).read_bytes().removeprefix(BOM).replace(b"\r\n", b"\n")
        (plain / name).write_bytes(data)

    ok(run(cli, db_url, source, "migrate"))
    ok(run(cli, second_db_url, plain, "migrate"))

    as_written = {row["name"]: row["checksum"] for row in tracking_rows(db_url)}
    normalised = {row["name"]: row["checksum"] for row in tracking_rows(second_db_url)}
    assert list(as_written) == names(source)
    assert as_written == normalised
    assert all(value.startswith("sha256v1:") for value in as_written.values())

    # The plain copies count as the same migrations: nothing is modified or pending.
    assert set(states(status(cli, db_url, plain)).values()) == {"executed"}
    assert set(states(status(cli, second_db_url, source)).values()) == {"executed"}


def test_crlf_bom_non_ascii_identifiers(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, CORPUS / "crlf_bom", "migrate"))

    assert columns(db_url, '"café"') == {
        "id": "integer",
        "nom": "text",
        "prix_€": "numeric(10,2)",
        "日本語名": "text",
        "créé_le": "timestamp with time zone",
        "origine": "text",
    }
    assert fetch(db_url, "SELECT obj_description('café'::regclass, 'pg_class')") == [
        ("Produits du café — メニュー (日本)",)
    ]
    japanese = index_info(db_url, '"café_日本語名_idx"')
    assert japanese is not None and japanese[0] is True
    assert fetch(db_url, "SELECT total_commande(id)::text FROM commandes") == [("6.40",)]
    (note,) = fetch(db_url, "SELECT note FROM commandes")[0]
    assert [line.strip() for line in note.splitlines()] == [
        "Table 4 :",
        "-- DOWN",
        "(ceci est une note, pas un marqueur)",
    ]
    assert fetch(db_url, 'SELECT DISTINCT origine FROM "café"') == [("Éthiopie",)]


# --- misc ------------------------------------------------------------------------------


def test_misc_objects_exist(cli: Cli, db_url: str) -> None:
    ok(run(cli, db_url, CORPUS / "misc", "migrate"))

    assert fetch(db_url, "SELECT extname FROM pg_extension ORDER BY 1") == [
        ("citext",),
        ("pg_trgm",),
        ("plpgsql",),
    ]
    assert fetch(
        db_url,
        "SELECT typname, typtype, format_type(typbasetype, typtypmod) FROM pg_type"
        " WHERE typname IN ('email_address', 'positive_amount', 'money_amount') ORDER BY 1",
    ) == [
        ("email_address", "d", "citext"),
        ("money_amount", "c", "-"),
        ("positive_amount", "d", "numeric(12,2)"),
    ]
    assert fetch(
        db_url,
        "SELECT attrelid::regclass::text, attname, attidentity, attgenerated FROM pg_attribute"
        " WHERE attrelid IN ('users'::regclass, 'invoices'::regclass)"
        " AND attname IN ('id', 'full_name', 'total') ORDER BY 1, 2",
    ) == [
        ("invoices", "id", "d", ""),
        ("invoices", "total", "", "s"),
        ("users", "full_name", "", "s"),
        ("users", "id", "a", ""),
    ]
    assert fetch(db_url, "SELECT number, total::text FROM invoices") == [(1000, "120.00")]
    assert fetch(
        db_url, "SELECT seqstart FROM pg_sequence WHERE seqrelid = 'invoice_number_seq'::regclass"
    ) == [(1000,)]
    assert fetch(
        db_url,
        "SELECT inhrelid::regclass::text FROM pg_inherits"
        " WHERE inhparent = 'events'::regclass ORDER BY 1",
    ) == [("events_2026_01",), ("events_2026_02",), ("events_default",)]
    assert fetch(db_url, "SELECT count(*) FROM events_default") == [(1,)]
    assert fetch(
        db_url,
        "SELECT relkind FROM pg_class WHERE oid = 'reporting.daily_invoice_totals'::regclass",
    ) == [("m",)]
    assert fetch(db_url, "SELECT invoices::int FROM reporting.daily_invoice_totals") == [(1,)]
    assert fetch(
        db_url, "SELECT relrowsecurity FROM pg_class WHERE oid = 'documents'::regclass"
    ) == [(True,)]
    assert fetch(db_url, "SELECT polname FROM pg_policy ORDER BY 1") == [
        ("documents_owner_all",),
        ("documents_shared_read",),
    ]
    assert fetch(db_url, "SELECT obj_description('users'::regclass, 'pg_class')") == [
        ("People who can sign in",)
    ]


def test_misc_grants_and_role_come_and_go(cli: Cli, db_url: str) -> None:
    directory = CORPUS / "misc"
    ok(run(cli, db_url, directory, "migrate"))

    assert fetch(
        db_url,
        "SELECT has_table_privilege(%s, 'invoices', 'SELECT'),"
        " has_table_privilege(%s, 'invoices', 'INSERT'),"
        " has_column_privilege(%s, 'users', 'full_name', 'SELECT'),"
        " has_column_privilege(%s, 'users', 'email', 'SELECT'),"
        " has_function_privilege(%s, 'reporting.refresh_daily_invoice_totals()', 'EXECUTE'),"
        " has_function_privilege('public', 'reporting.refresh_daily_invoice_totals()', 'EXECUTE')",
        [REPORTING_ROLE] * 5,
    ) == [(True, False, True, False, True, False)]
    assert fetch(db_url, "SELECT count(*) FROM pg_default_acl") == [(1,)]

    ok(run(cli, db_url, directory, "reset", "--yes"))

    assert fetch(db_url, "SELECT count(*) FROM pg_roles WHERE rolname = %s", [REPORTING_ROLE]) == [
        (0,)
    ]
    assert fetch(db_url, "SELECT count(*) FROM pg_default_acl") == [(0,)]
    assert fetch(db_url, "SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql'") == [(0,)]


# --- many ------------------------------------------------------------------------------

MANY = 300


def many_files(count: int = MANY) -> dict[str, str]:
    """``count`` migrations: per group of four, a table, a column, an index and a view."""
    files: dict[str, str] = {}
    for number in range(1, count + 1):
        group, step = divmod(number - 1, 4)
        table = f"item_{group:03d}"
        if step == 0:
            kind = "create"
            up = (
                f"CREATE TABLE {table} (\n"
                "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
                "    name text NOT NULL,\n"
                "    created_at timestamptz NOT NULL DEFAULT now()\n);"
            )
            down = f"DROP TABLE IF EXISTS {table};"
        elif step == 1:
            kind = "add_score_to"
            up = f"ALTER TABLE {table} ADD COLUMN score integer NOT NULL DEFAULT 0;"
            down = f"ALTER TABLE {table} DROP COLUMN IF EXISTS score;"
        elif step == 2:
            kind = "index"
            up = f"CREATE INDEX {table}_score_idx ON {table} (score);"
            down = f"DROP INDEX IF EXISTS {table}_score_idx;"
        else:
            kind = "view_of"
            previous = (
                f"\nUNION ALL\nSELECT id, name, score FROM item_{group - 1:03d}" if group else ""
            )
            up = f"CREATE VIEW {table}_v AS\nSELECT id, name, score FROM {table}{previous};"
            down = f"DROP VIEW IF EXISTS {table}_v;"
        name = f"{number:03d}_{kind}_{table}.sql"
        files[name] = (
            f"-- Migration: {name}\n-- Created: 2026-07-01\n-- Description: {kind} {table}\n\n"
            f"-- UP\n{up}\n\n-- DOWN\n{down}\n"
        )
    return files


def many_objects(url: str) -> dict[str, int]:
    rows = fetch(
        url,
        "SELECT c.relkind::text, count(*) FROM pg_class c"
        " WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'item\\_%'"
        " AND c.relkind IN ('r', 'v', 'i') GROUP BY 1",
    )
    counts = dict.fromkeys(("r", "v", "i"), 0) | dict(rows)
    scored = fetch(
        url,
        "SELECT count(*) FROM pg_attribute WHERE attname = 'score' AND NOT attisdropped"
        " AND attrelid IN (SELECT oid FROM pg_class WHERE relkind = 'r'"
        " AND relnamespace = 'public'::regnamespace)",
    )[0][0]
    return {"tables": counts["r"], "views": counts["v"], "indexes": counts["i"], "columns": scored}


def expected_many(applied: int) -> dict[str, int]:
    steps = [(number - 1) % 4 for number in range(1, applied + 1)]
    tables = steps.count(0)
    # every table has its primary key index, plus the score indexes
    return {
        "tables": tables,
        "views": steps.count(3),
        "indexes": tables + steps.count(2),
        "columns": steps.count(1),
    }


def test_three_hundred_migrations(cli: Cli, db_url: str, migrations: Callable[..., Path]) -> None:
    files = many_files()
    ordered = sorted(files)
    baseline = catalog_snapshot(db_url)
    half = MANY // 2

    directory = migrations({name: files[name] for name in ordered[:half]}, "many")
    ok(run(cli, db_url, directory, "migrate"))
    migrations({name: files[name] for name in ordered[half:]}, "many")
    ok(run(cli, db_url, directory, "migrate"))

    rows = tracking_rows(db_url)
    assert [row["name"] for row in rows] == ordered
    assert [row["batch"] for row in rows] == [1] * half + [2] * (MANY - half)
    assert many_objects(db_url) == expected_many(MANY)
    document = status(cli, db_url, directory)
    assert list(states(document).values()) == ["executed"] * MANY
    assert document["summary"]["executed"] == MANY

    ok(run(cli, db_url, directory, "rollback"))
    assert [row["name"] for row in tracking_rows(db_url)] == ordered[:half]
    assert many_objects(db_url) == expected_many(half)
    assert list(states(status(cli, db_url, directory)).values()) == (
        ["executed"] * half + ["pending"] * (MANY - half)
    )

    ok(run(cli, db_url, directory, "reset", "--yes"))
    assert many_objects(db_url) == expected_many(0)
    assert without_tracking_table(db_url) == baseline
