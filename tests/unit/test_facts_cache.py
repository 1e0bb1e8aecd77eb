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


PARSE_AHEAD_PROBE = """
import os, sys, threading, time
from pathlib import Path
from pgshift.engine.cache import FactsCache
from pgshift.files import directory, sqlfile

folder, kept = Path(sys.argv[1]), Path(sys.argv[2])
files = directory.discover(folder).files
cache = FactsCache(kept)
started = cache.parse_ahead(folder)
parsed = [cache.parse(f) for f in files]
assert parsed == [sqlfile.parse(Path(f.location).read_text(), f.name) for f in files]
cache.save()
again = FactsCache(kept).parse_ahead(folder)  # the kept parses are newer than the listing
(folder / "099_new.sql").write_text("-- UP\\nSELECT 9;\\n")
future = time.time() + 5
os.utime(folder, (future, future))
added = FactsCache(kept).parse_ahead(folder)
os.wait()
event = threading.Event()
helper = threading.Thread(target=event.wait)
helper.start()
threaded = FactsCache(kept.with_name("other.json")).parse_ahead(folder)
missing = FactsCache(kept.with_name("third.json")).parse_ahead(folder / "nowhere")
few = folder.parent / "few"
few.mkdir()
(few / "001_a.sql").write_text("-- UP\\nSELECT 1;\\n")
small = FactsCache(kept.with_name("fourth.json")).parse_ahead(few)
event.set()
helper.join()
print(started, again, added, threaded, missing, small)
"""


def test_parse_ahead_forks_only_when_it_pays_and_is_safe(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "m"
    folder.mkdir()
    for i in range(1, 61):  # more than a run lints on its own
        (folder / f"{i:03d}_t{i}.sql").write_text(
            f"-- UP\nCREATE TABLE t{i} (id int);\n-- DOWN\nDROP TABLE t{i};\n")
    (folder / "061_bad.sql").write_text("-- UP\nCREATE TABLE (;\n")
    done = subprocess.run(
        [sys.executable, "-c", PARSE_AHEAD_PROBE, str(folder), str(tmp_path / "facts.json")],
        capture_output=True, text=True, timeout=60)
    # The child cannot parse 061_bad: the parent parses it and reports it, as a run does.
    assert "MigrationFileError" in done.stderr and "061_bad.sql" in done.stderr
    (folder / "061_bad.sql").unlink()
    done = subprocess.run([sys.executable, "-c", PARSE_AHEAD_PROBE, str(folder),
                           str(tmp_path / "facts.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "True", "False", "False", "False"]
