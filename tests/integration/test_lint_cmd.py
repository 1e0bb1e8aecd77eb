"""``pgshift lint``: findings as ``file:line: severity rule-id: message``, ``--json``, the
header's ``allow`` directives, exit 1 on errors; and the findings ``migrate`` can show."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pgshift.files import directory, sqlfile
from pgshift.review.plan import lint_file, lint_pending
from pgtest import Cli, Files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "migrations"
FINDING = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<severity>error|warning|note) "
                     r"(?P<rule>[a-z-]+): (?P<message>.+)$")


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(EXAMPLES, target)
    return target


def findings_of(stdout: str) -> list[dict[str, str]]:
    lines = stdout.splitlines()
    matches = [FINDING.match(line) for line in lines[:-1]]
    assert all(matches), lines
    return [m.groupdict() for m in matches if m]


def test_lint_of_every_example_flags_the_plain_index_not_the_concurrent_one(
    cli: Cli, examples: Path
) -> None:
    result = cli("--verbose", "lint")  # ./migrations, the default directory

    found = findings_of(result.stdout)
    rules = {(f["file"], f["line"], f["rule"]) for f in found}
    assert ("migrations/002_add_user_avatar.sql", "7", "require-concurrent-index") in rules
    assert not any(f["rule"] == "require-concurrent-index"
                   and f["file"].endswith("005_add_generations_model_index.sql") for f in found)
    assert ("migrations/007_add_generations_workspace_fk.sql", "6",
            "constraint-missing-not-valid") in rules
    # 006 narrows credits again in DOWN (a rewrite) and says so with an allow directive
    assert not [f for f in found if f["severity"] == "error"]
    assert result.exit_code == 0
    # 005's CREATE INDEX CONCURRENTLY runs outside a transaction: not re-runnable without
    # IF NOT EXISTS, so a warning there where it is a note in a transactional migration
    assert ("migrations/005_add_generations_model_index.sql", "9", "require-if-not-exists",
            "warning") in {(f["file"], f["line"], f["rule"], f["severity"]) for f in found}
    assert result.stdout.splitlines()[-1] == (
        "7 files linted: 0 errors, 5 warnings, 7 notes")


def test_text_output_folds_a_files_notes_into_one_line(cli: Cli, examples: Path) -> None:
    folded = cli("lint").stdout.splitlines()
    listed = cli("--verbose", "lint").stdout.splitlines()

    assert folded[:4] == [
        "migrations/001_initial_schema.sql: 2 notes (require-if-not-exists x2); --verbose "
        "lists them",
        "migrations/002_add_user_avatar.sql:7: warning require-concurrent-index: CREATE "
        "INDEX idx_users_avatar on existing table users without CONCURRENTLY",
        "migrations/002_add_user_avatar.sql:11: warning require-concurrent-index-drop: DROP "
        "INDEX idx_users_avatar without CONCURRENTLY",
        "migrations/002_add_user_avatar.sql: 2 notes (require-if-not-exists x2); --verbose "
        "lists them",
    ]
    assert not [line for line in folded if ": note " in line]
    assert len([line for line in listed if ": note " in line]) == 7
    assert folded[-1] == listed[-1] == "7 files linted: 0 errors, 5 warnings, 7 notes"


def test_each_finding_points_at_the_first_line_of_its_statement(examples: Path) -> None:
    for file in directory.discover(examples).files:
        lines = directory.read_text(file).splitlines()
        for finding in lint_file(file.path, file.name):
            assert finding.file == file.name
            text = lines[finding.line - 1].strip()
            if finding.rule != "missing-down":
                assert text and not text.startswith("--"), (finding, text)


def test_lint_json_is_one_document(cli: Cli, examples: Path) -> None:
    result = cli("--json", "lint", str(examples / "002_add_user_avatar.sql"))

    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["summary"] == {"error": 0, "warning": 2, "note": 2}
    assert {(f["rule"], f["line"], f["section"]) for f in document["findings"]} == {
        ("require-if-not-exists", 6, "up"), ("require-concurrent-index", 7, "up"),
        ("require-if-not-exists", 7, "up"), ("require-concurrent-index-drop", 11, "down")}


def test_an_allow_directive_in_the_header_silences_a_rule(cli: Cli, migrations: Files) -> None:
    text = ("-- UP\nALTER TABLE users RENAME COLUMN name TO full_name;\n"
            "-- DOWN\nALTER TABLE users RENAME COLUMN full_name TO name;\n")
    folder = migrations({"001_rename.sql": text,
                         "002_rename.sql": "-- pgshift: allow rename-column\n\n" + text})

    flagged = cli("lint", str(folder / "001_rename.sql"))
    allowed = cli("lint", str(folder / "002_rename.sql"))

    assert flagged.exit_code == 1
    assert (f"{folder / '001_rename.sql'}:2: error rename-column: RENAME COLUMN users.name "
            "to full_name") in flagged.stdout
    assert allowed.exit_code == 0
    assert "rename-column" not in allowed.stdout


def test_a_file_that_does_not_parse_is_a_parse_error_finding(
    cli: Cli, migrations: Files
) -> None:
    folder = migrations({"001_bad.sql": "-- UP\nCREATE TABLE t (id int;\n"})

    result = cli("--dir", str(folder), "lint")

    assert result.exit_code == 1
    [finding] = findings_of(result.stdout)
    assert finding["rule"] == "parse-error" and finding["severity"] == "error"
    assert finding["line"] == "2"


def test_quiet_prints_only_errors(cli: Cli, examples: Path) -> None:
    narrowing = (examples / "006_widen_user_credits.sql").read_text()
    (examples / "006_widen_user_credits.sql").write_text(
        narrowing.replace("-- pgshift: allow column-type-change\n", ""))

    result = cli("--quiet", "--dir", str(examples), "lint")

    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    assert " error column-type-change: " in result.stdout


def test_lint_pending_gives_migrate_the_findings_of_the_files_it_will_apply(
    examples: Path
) -> None:
    files = directory.discover(examples).files
    parsed = [sqlfile.parse(directory.read_text(f), f.name) for f in files[1:3]]

    findings = lint_pending(parsed)

    assert {(f.file, f.line, f.rule) for f in findings if f.severity == "warning"} == {
        ("002_add_user_avatar.sql", 7, "require-concurrent-index"),
        ("002_add_user_avatar.sql", 11, "require-concurrent-index-drop")}


def test_a_large_directory_gives_the_findings_of_one_file_after_another(
    tmp_path: Path,
) -> None:
    """Above PARALLEL_FROM files the second half is linted in another process; what the
    first half declares (a volatile function, a validated NOT NULL check) still counts."""
    from pgshift.review.lint import PARALLEL_FROM, History, lint_files

    folder = tmp_path / "many"
    folder.mkdir()
    count = PARALLEL_FROM + 20
    for i in range(1, count + 1):
        up = f"CREATE TABLE IF NOT EXISTS t{i} (id bigint);"
        if i == 2:
            up = ("CREATE OR REPLACE FUNCTION rs() RETURNS int LANGUAGE plpgsql AS "
                  "$$ BEGIN RETURN 1; END $$;\n"
                  "ALTER TABLE u ADD CONSTRAINT c CHECK (e IS NOT NULL) NOT VALID;\n"
                  "ALTER TABLE u VALIDATE CONSTRAINT c;")
        if i == count - 1:
            up = ("ALTER TABLE u ADD COLUMN IF NOT EXISTS a int DEFAULT rs();\n"
                  "ALTER TABLE u ALTER COLUMN e SET NOT NULL;\n"
                  "ALTER TABLE u ADD COLUMN IF NOT EXISTS b int DEFAULT unknown_fn();")
        (folder / f"{i:04d}_m.sql").write_text(f"-- UP\n{up}\n-- DOWN\nSELECT 1;\n")
    targets = [(path, path.name) for path in sorted(folder.iterdir())]

    found = lint_files(targets)
    history = History()
    one_by_one = [f for path, shown in targets for f in lint_file(path, shown, history)]

    assert found == one_by_one
    late = [(f.rule, f.severity) for f in found if f.file == f"{count - 1:04d}_m.sql"]
    assert late == [("add-column-volatile-default", "error"),
                    ("add-column-default-may-rewrite", "warning")]
