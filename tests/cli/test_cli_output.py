"""Where ``pgshift`` prints: results on stdout, messages on stderr, exactly one JSON document
with ``--json`` (also on failures and refusals), ``--quiet``.

In-process (``cli``) and in real subprocesses (``run_pgshift``)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from cli.samples import FILES, A, B, C
from pgtest import (
    Cli,
    CliResult,
    Files,
    batches,
    ok,
    one_json,
    run,
    table_exists,
)


@pytest.mark.parametrize("position", ["before", "after"])
def test_quiet_prints_nothing_on_success(
    cli: Cli, db_url: str, migrations: Files, position: str
) -> None:
    folder = migrations(FILES)
    args = ["--quiet", "migrate"] if position == "before" else ["migrate", "-q"]
    result = ok(run(cli, db_url, folder, *args))
    assert result.stdout == ""
    assert batches(db_url) == [("001_a.sql", 1), ("002_b.sql", 1)]


def test_results_go_to_stdout_and_nothing_to_stderr(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    result = ok(run(cli, db_url, migrations(FILES), "migrate"))
    assert "002_b.sql" in result.stdout
    assert result.stderr == ""


def test_errors_go_to_stderr_and_nothing_to_stdout(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({**FILES, "003_bad.sql": "-- UP\nSELECT * FROM nope;\n"})
    result = run(cli, db_url, folder, "migrate")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "003_bad.sql" in result.stderr
    assert 'relation "nope" does not exist' in result.stderr


@pytest.mark.parametrize(
    "command",
    [["status"], ["migrate"], ["rollback"], ["reset", "--yes"], ["refresh", "--yes"]],
    ids=lambda c: c[0],
)
def test_json_prints_exactly_one_document_on_stdout(
    cli: Cli, db_url: str, migrations: Files, command: list[str]
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    doc = one_json(ok(run(cli, db_url, folder, *command, "--json")))
    if command[0] == "status":
        assert [m["state"] for m in doc["migrations"]] == ["executed", "executed"]
    else:
        assert doc["ok"] is True
        assert doc["action"] == command[0]


def test_migrate_json_lists_what_was_applied(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    doc = one_json(ok(run(cli, db_url, migrations(FILES), "--json", "migrate")))
    assert [a["name"] for a in doc["applied"]] == ["001_a.sql", "002_b.sql"]
    assert doc["batch"] == 1


def test_rollback_json_lists_what_was_rolled_back(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    doc = one_json(ok(run(cli, db_url, folder, "rollback", "--json")))
    assert [a["name"] for a in doc["rolled_back"]] == ["002_b.sql", "001_a.sql"]


def test_refresh_json_lists_both_halves(cli: Cli, db_url: str, migrations: Files) -> None:
    folder = migrations(FILES)
    ok(run(cli, db_url, folder, "migrate"))
    doc = one_json(ok(run(cli, db_url, folder, "refresh", "--yes", "--json")))
    assert [a["name"] for a in doc["rolled_back"]] == ["002_b.sql", "001_a.sql"]
    assert [a["name"] for a in doc["applied"]] == ["001_a.sql", "002_b.sql"]
    assert doc["batch"] == 1


def test_json_with_verbose_keeps_stdout_one_document(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations(FILES)
    doc = one_json(ok(run(cli, db_url, folder, "migrate", "--json", "--verbose")))
    assert [a["name"] for a in doc["applied"]] == ["001_a.sql", "002_b.sql"]
    doc = one_json(ok(run(cli, db_url, folder, "-v", "status", "--json")))
    assert doc["migrations"][0]["metadata"]["description"] == "table a"


def test_json_with_nothing_to_do_is_one_document(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({})
    assert one_json(ok(run(cli, db_url, folder, "migrate", "--json")))["applied"] == []
    assert one_json(ok(run(cli, db_url, folder, "rollback", "--json")))["rolled_back"] == []


def test_json_with_warnings_keeps_stdout_one_document(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"002_a.sql": A, "002_b.sql": B, "notes.sql": C})
    doc = one_json(ok(run(cli, db_url, folder, "migrate", "--json")))
    assert [a["name"] for a in doc["applied"]] == ["002_a.sql", "002_b.sql"]
    doc = one_json(ok(run(cli, db_url, folder, "status", "--json")))
    assert any("notes.sql" in w for w in doc["warnings"])


def test_json_on_a_failed_migration_is_one_document(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({**FILES, "003_bad.sql": "-- UP\n\nSELECT * FROM nope;\n"})
    result = run(cli, db_url, folder, "migrate", "--json")
    assert result.exit_code == 1
    doc = one_json(result)
    assert doc["ok"] is False
    assert doc["server"]["sqlstate"] == "42P01"
    assert doc["statement"]["line"] == 3
    assert doc["applied"] == ["001_a.sql", "002_b.sql"]
    assert "003_bad.sql" in result.stderr


def test_json_on_a_malformed_file_is_one_document(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({**FILES, "003_bad.sql": "SELECT 1;\n"})
    result = run(cli, db_url, folder, "--json", "migrate")
    assert result.exit_code == 2
    doc = one_json(result)
    assert doc["ok"] is False
    assert doc["exit_code"] == 2
    assert "003_bad.sql" in doc["message"]


def test_json_on_a_refused_reset_is_one_document(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    result = run(cli, db_url, migrations(FILES), "reset", "--json")
    assert result.exit_code == 2
    assert one_json(result)["ok"] is False


def test_json_on_a_missing_down_section_is_one_document(
    cli: Cli, db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_a.sql": "-- UP\nCREATE TABLE a (id int);\n"})
    ok(run(cli, db_url, folder, "migrate"))
    result = run(cli, db_url, folder, "rollback", "--json")
    assert result.exit_code == 1
    assert "001_a.sql" in one_json(result)["message"]


def test_subprocess_json_failure_is_one_document_and_exit_1(
    run_pgshift: Callable[..., CliResult], db_url: str, migrations: Files
) -> None:
    folder = migrations({"001_bad.sql": "-- UP\nCREATE TABLE t (id int);\nSELECT 1/0;\n"})
    result = run_pgshift("--database-url", db_url, "--dir", str(folder), "migrate", "--json",
                         input="")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["server"]["sqlstate"] == "22012"
    assert "Traceback" not in result.stderr
    assert not table_exists(db_url, "t")
