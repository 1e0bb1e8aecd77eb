"""Unit tests for pgshift.render.results: status table, run summaries, psql-like error blocks, JSON.
Pure: values in, text out; no database."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from pgshift.errors import (
    ConfigError,
    ConnectionFailed,
    FailedStatement,
    MigrationFailed,
    MigrationFileError,
    RollbackFailed,
    ServerError,
    StateError,
)
from pgshift.render import results as render
from pgshift.results import AppliedMigration, MigrationStatus, RunResult, StatusReport

WHEN = datetime(2026, 1, 20, 10, 30, 0, tzinfo=timezone.utc)
ENTRIES = (
    MigrationStatus("001_initial_schema.sql", "executed", 1, WHEN, "sha256v1:" + "a" * 64,
                    metadata=(("description", "initial schema"),), duration_ms=12),
    MigrationStatus("002_add_user_avatar.sql", "modified", 2, WHEN),
    MigrationStatus("003_idx.sql", "executed", 2, WHEN, no_transaction=True),
    MigrationStatus("004_gone.sql", "missing file", 2, WHEN),
    MigrationStatus("10_later.sql", "pending"),
)


def report(entries: tuple[MigrationStatus, ...] = ENTRIES, **kwargs: object) -> StatusReport:
    return StatusReport(entries, counts=StatusReport.count(entries), **kwargs)  # type: ignore[arg-type]


def failed(
    cls: type[MigrationFailed] | type[RollbackFailed] = MigrationFailed, **kwargs: object
) -> MigrationFailed | RollbackFailed:
    defaults: dict[str, object] = {
        "server": ServerError('relation "nope" does not exist', "42P01",
                              "some detail", "some hint", 13),
        "statement": FailedStatement("002_b.sql", 14, "ALTER TABLE nope ADD COLUMN c int", 2, 4,
                                     "ALTER TABLE nope ADD COLUMN c int\n  DEFAULT 0"),
        "applied": ["001_a.sql"],
    }
    defaults.update(kwargs)
    return cls("002_b.sql", **defaults)  # type: ignore[arg-type]


# --- status -------------------------------------------------------------------------------


def test_status_text_has_a_header_and_one_row_per_migration() -> None:
    text = render.status_text(report(), verbose=False)
    rows = text.splitlines()
    assert rows[0].split() == ["name", "state", "batch", "executed_at"]
    for entry, row in zip(ENTRIES, rows[1:6], strict=True):
        assert row.startswith(entry.name)
        assert entry.state in row


def test_status_text_columns_are_aligned() -> None:
    rows = render.status_text(report(), verbose=False).splitlines()[:6]
    state_at = rows[0].index("state")
    batch_at = rows[0].index("batch")
    for row, entry in zip(rows[1:], ENTRIES, strict=True):
        assert row.index(entry.state) == state_at
        if entry.batch is not None:
            assert row[batch_at:].split()[0] == str(entry.batch)


def test_status_text_shows_batch_and_time_of_applied_and_blanks_for_pending() -> None:
    rows = render.status_text(report(), verbose=False).splitlines()
    assert "2026-01-20" in rows[1]
    assert rows[5].split() == ["10_later.sql", "pending"]


def test_status_text_marks_migrations_run_outside_a_transaction() -> None:
    row = render.status_text(report(), verbose=False).splitlines()[3]
    assert "no transaction" in row


def test_status_text_ends_with_a_summary_line() -> None:
    text = render.status_text(report(), verbose=False)
    last = text.splitlines()[-1]
    assert last.startswith("5 migrations")
    for part in ("2 executed", "1 pending", "1 missing file", "1 modified"):
        assert part in last


def test_summary_of_one_migration_is_singular() -> None:
    one = (MigrationStatus("001_a.sql", "pending"),)
    assert render.summary_line(report(one)) == "1 migration: 1 pending"


def test_summary_of_an_empty_directory_says_none() -> None:
    assert render.summary_line(report(())) .startswith("0 migrations")


def test_status_text_without_rows_still_has_header_and_summary() -> None:
    text = render.status_text(report(()), verbose=False)
    assert text.splitlines()[0].split() == ["name", "state", "batch", "executed_at"]
    assert text.splitlines()[-1].startswith("0 migrations")


def test_verbose_status_text_adds_duration_and_description() -> None:
    text = render.status_text(report(), verbose=True)
    header = text.splitlines()[0].split()
    assert "duration_ms" in header
    assert "description" in header
    assert "initial schema" in text.splitlines()[1]
    assert "12" in text.splitlines()[1].split()


def test_status_json_is_one_valid_document_with_every_migration() -> None:
    doc = json.loads(render.to_json(render.status_json(report(table="_migrations",
                                                             table_exists=True))))
    assert [m["name"] for m in doc["migrations"]] == [e.name for e in ENTRIES]
    assert [m["state"] for m in doc["migrations"]] == [e.state for e in ENTRIES]
    assert doc["summary"]["executed"] == 2
    assert doc["table_exists"] is True
    first = doc["migrations"][0]
    assert first["batch"] == 1
    assert datetime.fromisoformat(first["executed_at"]) == WHEN
    assert first["metadata"]["description"] == "initial schema"
    assert doc["migrations"][2]["no_transaction"] is True
    assert doc["migrations"][4]["batch"] is None


def test_status_json_keeps_non_ascii_text() -> None:
    entry = MigrationStatus("001_a.sql", "executed", 1, WHEN,
                            metadata=(("description", "ajoute l'élève"),))
    doc = json.loads(render.to_json(render.status_json(report((entry,)))))
    assert doc["migrations"][0]["metadata"]["description"] == "ajoute l'élève"


# --- run summaries ------------------------------------------------------------------------


def test_run_text_lists_applied_migrations_with_their_batch() -> None:
    result = RunResult("migrate", 3, (AppliedMigration("001_a.sql", 3, 12),
                                      AppliedMigration("002_b.sql", 3, 5, True)))
    text = render.run_text(result)
    assert "batch 3" in text
    assert text.index("001_a.sql") < text.index("002_b.sql")
    assert "outside a transaction" in text.splitlines()[-1]
    assert "outside a transaction" not in text.splitlines()[-2]


def test_run_text_says_nothing_to_migrate() -> None:
    assert "Nothing to migrate" in render.run_text(RunResult("migrate"))


def test_run_text_says_nothing_to_roll_back() -> None:
    assert "Nothing to roll back" in render.run_text(RunResult("rollback"))
    assert "Nothing to roll back" in render.run_text(RunResult("reset"))


def test_run_text_lists_rolled_back_migrations_newest_first() -> None:
    result = RunResult("rollback", 2, rolled_back=(AppliedMigration("003_c.sql", 2, 4),
                                                   AppliedMigration("002_b.sql", 2, 3)))
    text = render.run_text(result)
    assert "Rolled back 2 migrations" in text
    assert text.index("003_c.sql") < text.index("002_b.sql")


def test_refresh_text_shows_both_the_rollback_and_the_new_batch() -> None:
    result = RunResult("refresh", 1, applied=(AppliedMigration("001_a.sql", 1, 1),),
                       rolled_back=(AppliedMigration("001_a.sql", 3, 2),))
    text = render.run_text(result)
    assert "Rolled back 1 migration" in text
    assert "batch 1" in text


def test_run_json_is_one_valid_document() -> None:
    result = RunResult("migrate", 3, (AppliedMigration("001_a.sql", 3, 12),),
                       warnings=("002 is pending",), seconds=0.25)
    doc = json.loads(render.to_json(render.run_json(result)))
    assert doc["ok"] is True
    assert doc["action"] == "migrate"
    assert doc["batch"] == 3
    assert [a["name"] for a in doc["applied"]] == ["001_a.sql"]
    assert doc["warnings"] == ["002 is pending"]


def test_run_json_of_nothing_to_do_is_valid() -> None:
    doc = json.loads(render.to_json(render.run_json(RunResult("migrate"))))
    assert doc["applied"] == []
    assert doc["batch"] is None


# --- error blocks -------------------------------------------------------------------------


def test_failed_statement_block_is_like_psql() -> None:
    text = render.error_text(failed())
    assert "002_b.sql:14" in text
    assert 'ERROR:  relation "nope" does not exist' in text
    assert "LINE 14: ALTER TABLE nope ADD COLUMN c int" in text
    assert "DETAIL:  some detail" in text
    assert "HINT:  some hint" in text
    assert "42P01" in text
    order = [text.index(key) for key in ("ERROR:", "LINE 14", "DETAIL:", "HINT:", "42P01")]
    assert order == sorted(order)
    assert "Traceback" not in text


def test_failed_statement_block_shows_only_the_statement_first_line() -> None:
    assert "DEFAULT 0" not in render.error_text(failed())


def test_failed_statement_block_omits_missing_detail_and_hint() -> None:
    text = render.error_text(failed(server=ServerError("boom", "XX000")))
    assert "DETAIL" not in text
    assert "HINT" not in text


def test_failed_statement_block_says_what_the_run_kept() -> None:
    text = render.error_text(failed())
    assert "001_a.sql" in text
    assert "not recorded" in text


def test_failed_statement_block_lists_statements_not_undone() -> None:
    text = render.error_text(failed(ran_outside_transaction=[1, 2]))
    assert "1, 2" in text
    assert "NOT undone" in text


def test_failed_rollback_says_the_migration_stays_recorded() -> None:
    text = render.error_text(failed(RollbackFailed, applied=[]))
    assert "rollback" in text
    assert "still recorded" in text


def test_file_error_names_file_and_line() -> None:
    error = MigrationFileError("002_bad.sql", "psql meta-command is not SQL", line=7,
                               hint="inline the file")
    text = render.error_text(error)
    assert "002_bad.sql:7" in text
    assert "hint: inline the file" in text


def test_file_error_names_the_byte_offset() -> None:
    text = render.error_text(MigrationFileError("002_bad.sql", "not valid UTF-8",
                                                byte_offset=1234))
    assert "002_bad.sql" in text
    assert "1234" in text


def test_other_errors_show_message_and_hint() -> None:
    text = render.error_text(StateError("cannot roll back: 002_b.sql has no DOWN section",
                                        hint="write the DOWN section"))
    assert text.splitlines() == ["error: cannot roll back: 002_b.sql has no DOWN section",
                                 "hint: write the DOWN section"]


def test_error_text_masks_url_passwords_and_known_secrets() -> None:
    error = ConnectionFailed("could not connect to postgresql://app:Zr5tQw9@h:5432/db: "
                             "server said Yp4sNm8")
    text = render.error_text(error, ["Yp4sNm8"])
    assert "Zr5tQw9" not in text
    assert "Yp4sNm8" not in text
    assert "h:5432/db" in text


def test_error_json_of_a_failed_statement_carries_every_field() -> None:
    doc = json.loads(render.to_json(render.error_json(failed())))
    assert doc["ok"] is False
    assert doc["exit_code"] == 1
    assert doc["error"] == "MigrationFailed"
    assert doc["server"]["sqlstate"] == "42P01"
    assert doc["server"]["detail"] == "some detail"
    assert doc["server"]["hint"] == "some hint"
    assert doc["statement"]["line"] == 14
    assert doc["statement"]["file"] == "002_b.sql"
    assert doc["applied"] == ["001_a.sql"]


def test_error_json_of_an_input_error_has_exit_code_2() -> None:
    doc = json.loads(render.to_json(render.error_json(ConfigError("bad --table"))))
    assert doc["ok"] is False
    assert doc["exit_code"] == 2
    assert doc["message"] == "bad --table"


def test_to_json_masks_secrets() -> None:
    text = render.to_json({"m": "postgresql://app:Zr5tQw9@h/db", "n": "Yp4sNm8"}, ["Yp4sNm8"])
    doc = json.loads(text)
    assert "Zr5tQw9" not in text
    assert "Yp4sNm8" not in text
    assert doc["m"] == "postgresql://app:***@h/db"


@pytest.mark.parametrize(
    "value",
    [
        "SELECT dblink_connect('host=x password=Zr5tQw9')",
        "postgresql://app@h/db?password=Zr5tQw9",
        "password=Zr5tQw9",
    ],
)
def test_to_json_stays_valid_when_a_value_holds_a_password_parameter(value: str) -> None:
    text = render.to_json({"sql": value, "after": 1})
    doc = json.loads(text)
    assert "Zr5tQw9" not in text
    assert doc["after"] == 1


def test_error_position_lines_cut_a_long_line_around_the_caret_like_psql() -> None:
    from pgshift.errors import ErrorPlace

    short = "SELECT 'ü 🎉', nope FROM a;"
    assert render.error_position_lines(ErrorPlace(3, short, short.index("nope"))) == [
        f"LINE 3: {short}", " " * (len("LINE 3: ") + short.index("nope") + 1) + "^"]
    # within the first 50 columns: only the end is cut
    long = "SELECT nope, " + ", ".join(f"({i})" for i in range(100))
    shown, caret = render.error_position_lines(ErrorPlace(7, long, 7))
    assert shown.startswith("LINE 7: SELECT nope, (0)") and shown.endswith("...")
    assert caret.index("^") == len("LINE 7: SELECT ")
    # further right: cut on both sides, the caret 10 columns from the right edge
    long = ", ".join(f"({i})" for i in range(100)) + ", (nope)"
    shown, caret = render.error_position_lines(ErrorPlace(7, long, long.index("nope")))
    assert shown.startswith("LINE 7: ...") and shown[caret.index("^"):].startswith("nope")
    assert len(shown) - caret.index("^") <= 10 + len("nope)")
    # a tab is shown as one space so that the caret stays under the token
    shown, caret = render.error_position_lines(ErrorPlace(1, "\tSELECT nope", 8))
    assert shown[caret.index("^"):] == "nope"
    # a megabyte-long line is cut, not scanned whole
    huge = "x" * 1_000_000 + " nope " + "y" * 1_000_000
    shown, caret = render.error_position_lines(ErrorPlace(2, huge, huge.index("nope")))
    assert len(shown) < 80 and shown[caret.index("^"):].startswith("nope")
