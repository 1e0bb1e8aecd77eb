"""``pgshift check`` (the CI gate) and ``pgshift renumber`` (after a late merge)."""

from __future__ import annotations

import json
from pathlib import Path

from pgshift import Migrator
from pgshift.review.renumber import renumber
from pgtest import Cli, CliResult, Files, catalog_snapshot, fetch, run, table_exists, tracking_rows

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/target"


def table(name: str, header: str = "") -> str:
    return f"{header}-- UP\nCREATE TABLE {name} (id int);\n\n-- DOWN\nDROP TABLE {name};\n"


def headed(filename: str, name: str) -> str:
    return table(name, f"-- Migration: {filename}\n-- Created: 2026-01-20\n\n")


def problems(result: CliResult) -> list[str]:
    return [line.split(":", 1)[0] for line in result.stdout.splitlines()
            if line.startswith("problem ")]


# --- check ------------------------------------------------------------------------------


def test_check_passes_on_a_clean_directory_and_database(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b")})
    Migrator(db_url, directory).migrate(to="001_a.sql")
    before = catalog_snapshot(db_url)

    result = run(cli, db_url, directory, "check")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "check: 2 migration files, 1 applied, 1 pending", "check passed"]
    assert catalog_snapshot(db_url) == before


def test_check_on_a_fresh_database_creates_no_tracking_table(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a")})

    result = run(cli, db_url, directory, "check")

    assert result.exit_code == 0
    assert not table_exists(db_url, "_migrations")


def test_shared_numbers_fail_online_and_offline(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b"),
                            "002_c.sql": table("c")})

    online = run(cli, db_url, directory, "check")
    offline = run(cli, UNREACHABLE, directory, "check", "--offline")

    for result in (online, offline):
        assert result.exit_code == 1
        assert ("problem duplicate-number: migration number 2 is used by 2 files: "
                "002_b.sql, 002_c.sql") in result.stdout
        assert result.stdout.splitlines()[-1] == "check failed: 1 problem"


def test_a_late_pending_file_fails_online_but_offline_cannot_know(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "003_c.sql": table("c")})
    Migrator(db_url, directory).migrate()
    migrations({"002_b.sql": table("b")})

    online = run(cli, db_url, directory, "check")
    offline = run(cli, UNREACHABLE, directory, "check", "--offline")

    assert online.exit_code == 1
    assert ("problem late: 002_b.sql is pending but sorts before 003_c.sql, which is "
            "already applied (merged late?): pgshift renumber moves it") in online.stdout
    assert offline.exit_code == 0, offline.stdout + offline.stderr
    assert "offline: tracking table not read" in offline.stdout


def test_modified_and_missing_applied_migrations_fail(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b")})
    Migrator(db_url, directory).migrate()
    (directory / "001_a.sql").write_text(table("a_changed"))
    (directory / "002_b.sql").unlink()

    result = run(cli, db_url, directory, "--json", "check")

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert [(p["kind"], p["name"]) for p in document["problems"]] == [
        ("modified", "001_a.sql"), ("missing-file", "002_b.sql")]
    assert "changed after it was applied (checksum sha256v1:" in document["problems"][0][
        "message"]


def test_a_file_that_does_not_parse_and_a_lint_error_fail(
    cli: Cli, migrations: Files
) -> None:
    directory = migrations({
        "001_a.sql": table("a"),
        "002_bad.sql": "CREATE TABLE b (id int);\n",
        "003_rename.sql": "-- UP\nALTER TABLE a RENAME COLUMN id TO a_id;\n"
                          "-- DOWN\nALTER TABLE a RENAME COLUMN a_id TO id;\n",
    })

    result = run(cli, UNREACHABLE, directory, "check", "--offline")

    assert result.exit_code == 1
    assert problems(result) == ["problem parse-error", "problem lint-error",
                                "problem lint-error"]
    assert "problem parse-error: 002_bad.sql: no '-- UP' marker" in result.stdout
    assert ("problem lint-error: 003_rename.sql:2: rename-column: RENAME COLUMN a.id to a_id"
            in result.stdout)
    assert "problem lint-error: 003_rename.sql:4: rename-column: " in result.stdout


def test_no_pending_fails_while_something_is_pending(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b")})
    Migrator(db_url, directory).migrate(to="001_a.sql")

    pending = run(cli, db_url, directory, "check", "--no-pending")
    Migrator(db_url, directory).migrate()
    done = run(cli, db_url, directory, "check", "--no-pending")

    assert pending.exit_code == 1
    assert "problem pending: 002_b.sql is pending" in pending.stdout
    assert done.exit_code == 0


def test_offline_with_no_pending_is_bad_usage(cli: Cli, migrations: Files) -> None:
    directory = migrations({"001_a.sql": table("a")})

    result = run(cli, UNREACHABLE, directory, "check", "--offline", "--no-pending")

    assert result.exit_code == 2
    assert "--no-pending needs the database" in result.stderr


def test_check_without_offline_needs_the_database(cli: Cli, migrations: Files) -> None:
    directory = migrations({"001_a.sql": table("a")})

    result = run(cli, UNREACHABLE, directory, "check")

    assert result.exit_code == 1
    assert "could not connect to 127.0.0.1:1/target" in result.stderr


# --- renumber ---------------------------------------------------------------------------


def two_branch_merge(db_url: str, migrations: Files) -> Path:
    """main applied 001-004; a branch made its own 004 and 005, merged after that."""
    directory = migrations({f"00{n}_{name}.sql": headed(f"00{n}_{name}.sql", name)
                            for n, name in ((1, "a"), (2, "b"), (3, "c"), (4, "main_change"))})
    Migrator(db_url, directory).migrate()
    migrations({
        "004_branch_change.sql": headed("004_branch_change.sql", "branch_change"),
        "005_branch_more.sql": headed("005_branch_more.sql", "branch_more"),
    })
    return directory


def test_renumber_moves_a_merged_branch_after_the_applied_migrations(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = two_branch_merge(db_url, migrations)
    rows = tracking_rows(db_url)

    dry = run(cli, db_url, directory, "renumber", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.splitlines() == [
        "would rename 004_branch_change.sql → 005_branch_change.sql (it sorts before "
        "004_main_change.sql, which is already applied); -- Migration: header updated",
        "would rename 005_branch_more.sql → 006_branch_more.sql (it runs after "
        "004_branch_change.sql (pending), which moves: they keep their order); "
        "-- Migration: header updated"]
    assert (directory / "004_branch_change.sql").exists()

    result = run(cli, db_url, directory, "renumber")

    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in directory.iterdir()) == [
        "001_a.sql", "002_b.sql", "003_c.sql", "004_main_change.sql",
        "005_branch_change.sql", "006_branch_more.sql"]
    assert (directory / "005_branch_change.sql").read_text() == headed(
        "005_branch_change.sql", "branch_change")
    assert tracking_rows(db_url) == rows
    assert run(cli, db_url, directory, "check").exit_code == 0
    applied = Migrator(db_url, directory).migrate()
    assert [a.name for a in applied.applied] == ["005_branch_change.sql", "006_branch_more.sql"]


LATE_C = "-- UP\nCREATE TABLE c (id int PRIMARY KEY);\n\n-- DOWN\nDROP TABLE c;\n"
LATE_D = ("-- UP\nALTER TABLE c ADD COLUMN b_id int REFERENCES b (id);\n\n"
          "-- DOWN\nALTER TABLE c DROP COLUMN b_id;\n")


def late_branch(db_url: str, migrations: Files) -> Path:
    """main applied 001_a and 002_b; a branch brings 002_c and 003_d, which alters c."""
    directory = migrations({
        "001_a.sql": table("a"),
        "002_b.sql": "-- UP\nCREATE TABLE b (id int PRIMARY KEY);\n\n-- DOWN\nDROP TABLE b;\n",
    })
    Migrator(db_url, directory).migrate()
    return migrations({"002_c.sql": LATE_C, "003_d.sql": LATE_D})


def test_renumber_keeps_the_order_of_the_pending_files_it_moves(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = late_branch(db_url, migrations)
    rows = tracking_rows(db_url)

    result = run(cli, db_url, directory, "renumber")

    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in directory.iterdir()) == [
        "001_a.sql", "002_b.sql", "003_c.sql", "004_d.sql"]
    assert tracking_rows(db_url) == rows
    migrated = run(cli, db_url, directory, "migrate")
    assert migrated.exit_code == 0, migrated.stderr
    assert [(r["name"], r["batch"]) for r in tracking_rows(db_url)] == [
        ("001_a.sql", 1), ("002_b.sql", 1), ("003_c.sql", 2), ("004_d.sql", 2)]
    assert fetch(db_url, "SELECT confrelid::regclass::text FROM pg_constraint "
                 "WHERE conrelid = 'c'::regclass AND contype = 'f'") == [("b",)]


def test_check_suggests_the_renames_that_keep_the_order(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    directory = late_branch(db_url, migrations)

    result = run(cli, db_url, directory, "check")
    document = json.loads(run(cli, db_url, directory, "--json", "check").stdout)

    assert result.exit_code == 1
    assert ("fix: pgshift renumber renames (pending files keep their order):\n"
            "  002_c.sql → 003_c.sql\n  003_d.sql → 004_d.sql\n") in result.stdout
    assert [(r["old"], r["new"]) for r in document["renumber"]["renames"]] == [
        ("002_c.sql", "003_c.sql"), ("003_d.sql", "004_d.sql")]
    renamed = renumber(Migrator(db_url, directory))
    assert [(r.old, r.new) for r in renamed] == [
        (r["old"], r["new"]) for r in document["renumber"]["renames"]]
    assert run(cli, db_url, directory, "check").exit_code == 0
    Migrator(db_url, directory).migrate()
    assert [r["name"] for r in tracking_rows(db_url)][2:] == ["003_c.sql", "004_d.sql"]


def test_offline_renumber_refuses_to_move_a_file_past_another(
    cli: Cli, migrations: Files
) -> None:
    directory = migrations({"001_a.sql": table("a"), "002_b.sql": table("b"),
                            "002_c.sql": LATE_C, "003_d.sql": LATE_D})

    result = run(cli, UNREACHABLE, directory, "renumber", "--offline")
    checked = run(cli, UNREACHABLE, directory, "check", "--offline")

    assert result.exit_code == 1
    assert ("renumber --offline: moving 002_c.sql after the other files would change its "
            "order with 003_d.sql") in result.stderr
    assert "nothing was renamed" in result.stderr
    assert sorted(p.name for p in directory.iterdir()) == [
        "001_a.sql", "002_b.sql", "002_c.sql", "003_d.sql"]
    assert checked.exit_code == 1
    assert "fix: pgshift renumber needs the database here: moving 002_c.sql" in checked.stdout


def test_offline_renumber_fixes_only_shared_numbers(migrations: Files) -> None:
    directory = migrations({
        "001_a.sql": table("a"), "003_c.sql": table("c"),
        "003_d.sql": headed("003_d.sql", "d"), "002_late.sql": table("late"),
    })

    renames = renumber(directory, offline=True)

    assert [(r.old, r.new, r.header_rewritten) for r in renames] == [
        ("003_d.sql", "004_d.sql", True)]
    assert renames[0].reason == "number 3 is also used by 003_c.sql"
    assert sorted(p.name for p in directory.iterdir()) == [
        "001_a.sql", "002_late.sql", "003_c.sql", "004_d.sql"]


def test_renumber_keeps_the_number_width_line_endings_and_bom(
    db_url: str, migrations: Files
) -> None:
    directory = migrations({"0001_a.sql": table("a"), "0002_b.sql": table("b")})
    Migrator(db_url, directory).migrate()
    branch = ("\ufeff-- Migration: 0001_x.sql\r\n-- Created: 2026-01-20\r\n\r\n"
              "-- UP\r\nCREATE TABLE x (id int);\r\n")
    migrations({"0001_x.sql": branch.encode("utf-8")})

    renames = renumber(Migrator(db_url, directory))

    assert [(r.old, r.new) for r in renames] == [("0001_x.sql", "0003_x.sql")]
    data = (directory / "0003_x.sql").read_bytes()
    assert data == branch.replace("0001_x.sql", "0003_x.sql").encode("utf-8")


def test_renumber_json_and_nothing_to_do(cli: Cli, db_url: str, migrations: Files) -> None:
    directory = migrations({"001_a.sql": table("a")})

    result = run(cli, db_url, directory, "--json", "renumber")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"dry_run": False, "renames": []}
    assert run(cli, db_url, directory, "renumber").stdout.strip() == "Nothing to renumber."
