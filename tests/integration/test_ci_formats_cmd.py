"""``--format text|json|github|sarif|markdown`` of ``lint``, ``check``, ``plan`` and
``verify``: workflow commands at the right file and line, SARIF that the OASIS schema
accepts, Markdown summaries, ``--json`` as ``--format json``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pgtest import Cli, Files, table_exists

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json")
                    .read_text(encoding="utf-8"))
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/target"

USERS = ("-- UP\nCREATE TABLE users (id int PRIMARY KEY, name text);\n"
         "-- DOWN\nDROP TABLE users;\n")
RENAME = ("-- Migration: 002_rename.sql\n\n-- UP\n"
          "ALTER TABLE users RENAME COLUMN name TO full_name;\n"
          "-- DOWN\nALTER TABLE users RENAME COLUMN full_name TO name;\n")
FORGETFUL = ("-- UP\nALTER TABLE users ADD COLUMN nickname text;\n"
             "-- DOWN\nSELECT 1;\n")


def validate_sarif(text: str) -> dict[str, object]:
    document: dict[str, object] = json.loads(text)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    return document


def results_of(document: dict[str, object]) -> list[dict[str, object]]:
    return document["runs"][0]["results"]  # type: ignore[index, no-any-return]


def test_lint_github_annotates_the_file_and_line(cli: Cli, migrations: Files) -> None:
    migrations({"001_users.sql": USERS, "002_rename.sql": RENAME})
    result = cli("lint", "--format", "github")
    assert result.exit_code == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert errors == [
        "::error file=migrations/002_rename.sql,line=4,title=pgshift lint%3A rename-column"
        "::RENAME COLUMN users.name to full_name",
        "::error file=migrations/002_rename.sql,line=6,title=pgshift lint%3A rename-column"
        "::RENAME COLUMN users.full_name to name",
    ]
    notices = [line for line in result.stdout.splitlines() if line.startswith("::notice ")]
    assert notices[0].startswith("::notice file=migrations/001_users.sql,line=2,title=")
    assert result.stdout.splitlines()[-1].startswith("2 files linted: 2 errors, 0 warnings, ")


def test_lint_sarif_is_valid_and_locates_each_finding(cli: Cli, migrations: Files) -> None:
    migrations({"001_users.sql": USERS, "002_rename.sql": RENAME})
    as_json = json.loads(cli("lint", "--json").stdout)
    result = cli("lint", "--format", "sarif")
    assert result.exit_code == 1
    document = validate_sarif(result.stdout)
    results = results_of(document)
    assert len(results) == len(as_json["findings"])
    rename = next(r for r in results if r["ruleId"] == "rename-column")
    assert rename["level"] == "error"
    assert rename["locations"] == [{"physicalLocation": {  # type: ignore[comparison-overlap]
        "artifactLocation": {"uri": "migrations/002_rename.sql", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 4}}}]
    driver = document["runs"][0]["tool"]["driver"]  # type: ignore[index]
    assert driver["name"] == "pgshift"
    assert "rename-column" in {rule["id"] for rule in driver["rules"]}


def test_lint_markdown(cli: Cli, migrations: Files) -> None:
    migrations({"001_users.sql": USERS, "002_rename.sql": RENAME})
    result = cli("lint", "--format", "markdown")
    assert result.exit_code == 1
    assert result.stdout.startswith("### pgshift lint: ❌ failed\n")
    assert "| error | `migrations/002_rename.sql` | 4 | `rename-column` |" in result.stdout


def test_json_flag_is_format_json_and_contradictions_are_refused(cli: Cli,
                                                                migrations: Files) -> None:
    migrations({"001_users.sql": USERS})
    assert cli("lint", "--json").stdout == cli("lint", "--format", "json").stdout
    refused = cli("lint", "--json", "--format", "github")
    assert refused.exit_code == 2
    assert "--json and --format github" in refused.stderr
    assert cli("lint", "--format", "xml").exit_code == 2


def test_check_formats_name_the_modified_migration(cli: Cli, migrations: Files,
                                                   db_url: str) -> None:
    directory = migrations({"001_users.sql": USERS})
    assert cli("--database-url", db_url, "migrate").exit_code == 0
    (directory / "001_users.sql").write_text(USERS.replace("name text", "name varchar"))
    base = ("--database-url", db_url, "check")
    github = cli(*base, "--format", "github")
    assert github.exit_code == 1
    assert github.stdout.splitlines()[0].startswith(
        "::error file=migrations/001_users.sql,title=pgshift check%3A modified::"
        "001_users.sql changed after it was applied")
    assert github.stdout.splitlines()[-1] == "check failed: 1 problem"
    sarif = cli(*base, "--format", "sarif")
    assert sarif.exit_code == 1
    assert [r["ruleId"] for r in results_of(validate_sarif(sarif.stdout))] == ["modified"]
    markdown = cli(*base, "--format", "markdown")
    assert markdown.stdout.startswith("### pgshift check: ❌ failed\n")
    assert "| `modified` | `001_users.sql` |" in markdown.stdout


def test_check_passes_in_every_format(cli: Cli, migrations: Files, db_url: str) -> None:
    migrations({"001_users.sql": USERS})
    for fmt in ("text", "json", "github", "sarif", "markdown"):
        result = cli("--database-url", db_url, "check", "--format", fmt)
        assert result.exit_code == 0, (fmt, result.stdout, result.stderr)
    github = cli("--database-url", db_url, "check", "--format", "github").stdout
    assert "::error" not in github and "::warning" not in github
    assert {r["level"] for r in results_of(validate_sarif(
        cli("--database-url", db_url, "check", "--format", "sarif").stdout))} == {"note"}


def test_plan_formats(cli: Cli, migrations: Files, db_url: str) -> None:
    migrations({"001_users.sql": USERS, "002_rename.sql": RENAME})
    base = ("--database-url", db_url, "plan")
    markdown = cli(*base, "--format", "markdown")
    assert markdown.exit_code == 0, markdown.stderr
    assert markdown.stdout.startswith("### pgshift plan: migrate would run\n")
    assert "| `002_rename.sql` | in a transaction | 1 | ACCESS EXCLUSIVE on users" in \
        markdown.stdout
    assert "```sql\nALTER TABLE users RENAME COLUMN name TO full_name;" in markdown.stdout
    github = cli(*base, "--format", "github")
    assert ("::error file=migrations/002_rename.sql,line=4,title=pgshift plan%3A "
            "rename-column::RENAME COLUMN users.name to full_name") in github.stdout.splitlines()
    assert github.stdout.splitlines()[-1].startswith("migrate would apply 2 migrations")
    sarif = validate_sarif(cli(*base, "--format", "sarif").stdout)
    assert "rename-column" in {r["ruleId"] for r in results_of(sarif)}
    assert not table_exists(db_url, "_migrations")  # plan is a dry run


def test_plan_refusal_is_an_error_annotation(cli: Cli, migrations: Files,
                                             db_url: str) -> None:
    migrations({"001_users.sql": USERS, "002_rename.sql": RENAME})
    result = cli("--database-url", db_url, "plan", "--strict", "--format", "github")
    assert result.exit_code == 1
    refusal = [line for line in result.stdout.splitlines()
               if line.startswith("::error title=pgshift migrate would refuse::")]
    assert len(refusal) == 1


@pytest.mark.parametrize("fmt", ["github", "sarif", "markdown"])
def test_verify_formats_name_the_migration_whose_down_is_incomplete(
    cli: Cli, migrations: Files, pg_url: str, fmt: str
) -> None:
    migrations({"001_users.sql": USERS, "002_nickname.sql": FORGETFUL})
    result = cli("--database-url", UNREACHABLE, "verify", "--scratch-url", pg_url,
                 "--format", fmt)
    assert result.exit_code == 1, result.stderr
    if fmt == "github":
        lines = result.stdout.splitlines()
        assert lines[0].startswith("::error file=migrations/002_nickname.sql,"
                                   "title=pgshift verify::")
        assert "nickname" in lines[0]
        assert lines[-1].startswith("verified 2 migrations")
    elif fmt == "sarif":
        results = results_of(validate_sarif(result.stdout))
        assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
                for r in results] == [("verify", "migrations/002_nickname.sql")]
    else:
        assert result.stdout.startswith("### pgshift verify: ❌ failed\n")
        assert "| `001_users.sql` | ok |" in result.stdout
        assert "| `002_nickname.sql` | FAIL |" in result.stdout
