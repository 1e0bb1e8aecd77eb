"""GitHub workflow commands, SARIF and Markdown rendering, without a database."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pgshift.render import annotations, markdown
from pgshift.render.annotations import Annotation
from pgshift.results import Finding

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json")
                    .read_text(encoding="utf-8"))


def validate_sarif(document: dict[str, object]) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(document)


def test_github_data_escaping_follows_the_toolkit() -> None:
    assert annotations.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert annotations.escape_data("a: b, c") == "a: b, c"


def test_github_property_escaping_also_covers_colon_and_comma() -> None:
    assert annotations.escape_property("dir,x/a:b%\n") == "dir%2Cx/a%3Ab%25%0A"


def test_github_lines() -> None:
    notes = [
        Annotation("error", "ban-drop-column", "pgshift lint: ban-drop-column",
                   "drops column x\nof users", "migrations/002_a,b.sql", 4),
        Annotation("note", "require-if-exists", "t", "m", "migrations/003.sql"),
        Annotation("warning", "warning", "pgshift check: warning", "stray file x.sql"),
    ]
    assert annotations.github(notes).splitlines() == [
        "::error file=migrations/002_a%2Cb.sql,line=4,title=pgshift lint%3A ban-drop-column"
        "::drops column x%0Aof users",
        "::notice file=migrations/003.sql,title=t::m",
        "::warning title=pgshift check%3A warning::stray file x.sql",
    ]


def test_sarif_is_valid_against_the_oasis_schema() -> None:
    notes = [
        Annotation("error", "ban-drop-column", "t", "drops a column", "migrations/0 2.sql", 4),
        Annotation("error", "verify", "pgshift verify", "DOWN left table t", "migrations/1.sql"),
        Annotation("warning", "warning", "t", "no file"),
        Annotation("note", "require-if-exists", "t", "n", "/abs/path/3.sql", 1),
    ]
    document = annotations.sarif(notes)
    validate_sarif(document)
    run = document["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == sorted(
        {"ban-drop-column", "verify", "warning", "require-if-exists"})
    first = run["results"][0]
    assert first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "migrations/0%202.sql", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 4}}
    assert "locations" not in run["results"][2]
    assert run["results"][3]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///abs/path/3.sql"}


def test_sarif_of_nothing_is_valid() -> None:
    validate_sarif(annotations.sarif([]))


def test_schema_rejects_a_broken_log() -> None:
    broken = annotations.sarif([Annotation("error", "x", "t", "m")])
    broken["runs"][0]["results"][0]["level"] = "fatal"  # type: ignore[index]
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(broken)


def test_markdown_cells_cannot_break_the_table() -> None:
    assert markdown.cell("a | b\n<c>") == "a \\| b<br>&lt;c&gt;"
    assert markdown.code("x`y") == "`` x`y ``"


def test_markdown_lint_summary() -> None:
    findings = [Finding("ban-drop-column", "error", "migrations/002.sql", 3, "up", "drops x"),
                Finding("missing-down", "warning", "migrations/001.sql", 1, "down", "no DOWN")]
    text = markdown.lint(2, findings)
    assert text.startswith("### pgshift lint: ❌ failed\n")
    assert "2 files linted: 1 error, 1 warning, 0 notes" in text
    rows = [line for line in text.splitlines() if line.startswith("| error")]
    assert rows == ["| error | `migrations/002.sql` | 3 | `ban-drop-column` | drops x |"]
    assert "No findings." in markdown.lint(1, [])
    assert "✅ passed" in markdown.lint(1, [])
