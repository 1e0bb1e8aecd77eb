"""Unit tests for pgshift.files.header: the comment lines before ``-- UP`` → metadata,
``no-transaction`` and ``allow`` directives. Pure, no database."""

from __future__ import annotations

import pytest

from pgshift.errors import MigrationFileError
from pgshift.files import header


def test_an_empty_header_has_nothing() -> None:
    assert header.read("", "001_x.sql") == ((), False, frozenset())


def test_metadata_fields_are_read_in_order_with_lowercased_keys() -> None:
    text = "-- Migration: add users\n-- Created: 2026-01-02\n--description:  the users table  \n"
    metadata, no_transaction, allowed = header.read(text, "001_x.sql")
    assert metadata == (("migration", "add users"), ("created", "2026-01-02"),
                        ("description", "the users table"))
    assert no_transaction is False
    assert allowed == frozenset()


def test_free_text_comments_and_blank_lines_are_ignored() -> None:
    text = "-- Adds the users table.\n\n-- Author: someone\n--\n"
    assert header.read(text, "001_x.sql") == ((), False, frozenset())


def test_no_transaction_directive() -> None:
    _, no_transaction, _ = header.read("-- pgshift: no-transaction\n", "001_x.sql")
    assert no_transaction is True


@pytest.mark.parametrize("line", ["--pgshift:no-transaction", "  -- PGSHIFT :  no-transaction  "])
def test_directives_tolerate_spacing_and_case(line: str) -> None:
    assert header.read(line, "001_x.sql")[1] is True


def test_allow_directives_collect_rule_ids_from_several_lines() -> None:
    text = "-- pgshift: allow add-column-volatile-default, drop-column\n-- pgshift: allow rename\n"
    _, _, allowed = header.read(text, "001_x.sql")
    assert allowed == frozenset({"add-column-volatile-default", "drop-column", "rename"})


@pytest.mark.parametrize("directive", ["transactional", "allow", "allow Bad_Rule",
                                       "no-transaction please"])
def test_an_unknown_directive_is_refused_with_file_and_line(directive: str) -> None:
    text = f"-- Migration: x\n-- pgshift: {directive}\n"
    with pytest.raises(MigrationFileError) as caught:
        header.read(text, "003_y.sql")
    assert caught.value.line == 2
    assert "003_y.sql" in str(caught.value)
    assert repr(directive) in str(caught.value)


def test_the_directive_line_pattern_finds_directives_anywhere() -> None:
    assert header.DIRECTIVE_LINE.search("SELECT 1;\n  -- pgshift: no-transaction\n")
    assert not header.DIRECTIVE_LINE.search("SELECT 1; -- pgshift: no-transaction\n")
