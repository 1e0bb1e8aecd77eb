"""Unit tests for pgshift.engine.cache: facts reused while a file is unchanged; a pending
file's header read without parsing and completed once all its facts are wanted."""

from __future__ import annotations

from pathlib import Path

from pgshift.engine.cache import FactsCache
from pgshift.files import directory, sqlfile

TEXT = ("-- Created: 2026-01-20\n-- Description: add a\n\n-- UP\nCREATE TABLE a (id int);\n"
        "-- DOWN\nDROP TABLE a;\n")


def only_file(folder: Path) -> directory.MigrationFile:
    (found,) = directory.discover(folder).files
    return found


def test_a_pending_files_header_is_read_without_parsing_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "001_a.sql").write_text("-- Description: wip\n-- UP\nCREATE TABLE (;\n")
    cache = FactsCache(tmp_path / "facts.json")

    found = cache.facts(only_file(folder), header_only=True)
    cache.save()

    assert found.metadata == (("description", "wip"),)
    assert found.checksum is None and found.problem is None
    again = FactsCache(tmp_path / "facts.json").facts(only_file(folder), header_only=True)
    assert again.metadata == found.metadata


def test_a_header_only_entry_is_completed_when_all_facts_are_wanted(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "001_a.sql").write_text(TEXT)
    cache = FactsCache(tmp_path / "facts.json")
    cache.facts(only_file(folder), header_only=True)

    full = cache.facts(only_file(folder))

    assert full.checksum == sqlfile.parse(TEXT, "001_a.sql").checksum
    assert full.metadata == (("created", "2026-01-20"), ("description", "add a"))
    assert cache.facts(only_file(folder), header_only=True).checksum == full.checksum


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    path = folder / "001_a.sql"
    path.write_text(TEXT)
    cache = FactsCache(tmp_path / "facts.json")
    cache.facts(only_file(folder), header_only=True)

    path.write_text(TEXT.replace("add a", "add table a"))

    assert dict(cache.facts(only_file(folder), header_only=True).metadata)["description"] == (
        "add table a")
