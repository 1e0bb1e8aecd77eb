"""The parse cache: a run reuses a file's parse only while the file's text is the same.

Each test applies a directory to one database (the cache is filled), then to a second
empty one, and checks the second database's real state (catalog and tracking table).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pgtest import batches, fetch

# More files than migrate lints on its own, so that nothing but parsing needs pglast.
COUNT = 60


def history() -> dict[str, str]:
    files = {
        f"{i:03d}_t{i}.sql": f"-- UP\nCREATE TABLE t{i} (id int);\n-- DOWN\nDROP TABLE t{i};\n"
        for i in range(1, COUNT + 1)
    }
    files["061_fn.sql"] = (
        "-- UP\nCREATE FUNCTION f30() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  -- DOWN\n  RETURN 30;\nEND;\n$$;\n-- DOWN\nDROP FUNCTION f30();\n"
    )
    return files


def tables(url: str) -> list[str]:
    return [r[0] for r in fetch(url, "SELECT relname FROM pg_class WHERE relkind = 'r' "
                                     "AND relnamespace = 'public'::regnamespace "
                                     "AND relname NOT LIKE '\\_migrations%' ORDER BY relname")]


def applied_once(url: str, migrations: Any, run_pgshift: Any,
                 cache: Path) -> tuple[Path, dict[str, str]]:
    """history() applied to ``url`` by the CLI with ``cache`` as XDG_CACHE_HOME (the parses
    are kept); the directory and that environment."""
    directory: Path = migrations(history())
    env = {"XDG_CACHE_HOME": str(cache)}
    first = run_pgshift("--database-url", url, "--dir", str(directory), "migrate", env=env)
    assert first.exit_code == 0, first.stderr
    return directory, env


def assert_nothing_applied(url: str) -> None:
    assert tables(url) == []
    assert fetch(url, "SELECT to_regclass('_migrations')") in ([(None,)], [("_migrations",)])


def migrate_in_process(url: str, directory: Path, cache: Path) -> list[str]:
    """``pgshift migrate`` in a new interpreter; the heavy modules it loaded."""
    probe = (
        "import sys\n"
        "from pgshift.cli.app import main\n"
        f"try:\n    main(['--database-url', {url!r}, '--dir', {str(directory)!r}, 'migrate',"
        " '-q'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in sys.modules if m == 'pglast'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert done.returncode == 0, done.stderr
    return list(eval(done.stdout.strip().splitlines()[-1]))  # a printed list of names


def test_a_second_database_is_migrated_from_the_kept_parses(
    db_url: str, second_db: str, migrations: Any, tmp_path: Path
) -> None:
    directory: Path = migrations(history())
    cache = tmp_path / "cache"
    # Parsed ahead, by a child process: the run itself never imported pglast.
    assert migrate_in_process(db_url, directory, cache) == []
    assert list((cache / "pgshift").glob("parses-*.pickle"))
    assert migrate_in_process(second_db, directory, cache) == []  # nothing parsed again
    assert tables(second_db) == tables(db_url) and len(tables(second_db)) == COUNT
    assert batches(second_db) == batches(db_url)
    assert fetch(second_db, "SELECT f30()") == [(30,)]
    assert fetch(second_db, "SELECT count(*) FROM _migrations WHERE down_sql IS NOT NULL"
                 ) == [(COUNT + 1,)]


def test_files_parsed_in_the_run_when_the_kept_parses_are_newer_than_the_listing(
    db_url: str, second_db: str, migrations: Any, tmp_path: Path
) -> None:
    directory: Path = migrations(history())
    cache = tmp_path / "cache"
    assert migrate_in_process(db_url, directory, cache) == []
    (kept,) = (cache / "pgshift").glob("parses-*.pickle")
    kept.unlink()
    (cache / "pgshift").mkdir(exist_ok=True)
    kept.write_bytes(b"")  # kept after the last change of the listing, but useless
    assert migrate_in_process(second_db, directory, cache) == ["pglast"]  # parsed here
    assert tables(second_db) == tables(db_url) and len(tables(second_db)) == COUNT


def test_an_edited_file_is_parsed_again_even_with_its_size_and_times_unchanged(
    db_url: str, second_db: str, migrations: Any, run_pgshift: Any, tmp_path: Path
) -> None:
    directory, env = applied_once(db_url, migrations, run_pgshift, tmp_path / "cache")
    edited = directory / "005_t5.sql"
    before = edited.stat()
    edited.write_text(edited.read_text().replace("t5 (id int)", "t5 (xy int)"))
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert edited.stat().st_size == before.st_size
    second = run_pgshift("--database-url", second_db, "--dir", str(directory), "migrate",
                         env=env)
    assert second.exit_code == 0, second.stderr
    assert fetch(second_db, "SELECT attname FROM pg_attribute WHERE attrelid = 't5'::regclass "
                            "AND attnum > 0") == [("xy",)]
    assert fetch(db_url, "SELECT attname FROM pg_attribute WHERE attrelid = 't5'::regclass "
                         "AND attnum > 0") == [("id",)]


def test_a_corrupt_cache_only_costs_time(
    db_url: str, migrations: Any, run_pgshift: Any, tmp_path: Path
) -> None:
    directory: Path = migrations(history())
    cache = tmp_path / "cache"
    (cache / "pgshift").mkdir(parents=True)
    env = {"XDG_CACHE_HOME": str(cache)}
    run = run_pgshift("--database-url", db_url, "--dir", str(directory), "status", env=env)
    assert run.exit_code == 0, run.stderr
    for kept in (cache / "pgshift").glob("*"):
        kept.unlink()
    from pgshift.engine.cache import default_path

    facts = default_path(directory, {"XDG_CACHE_HOME": str(cache)})
    parses = facts.with_name(facts.stem.replace("facts-", "parses-") + ".pickle")
    parses.write_bytes(b"\x80\x05not a pickle at all")
    facts.write_text("{not json")
    result = run_pgshift("--database-url", db_url, "--dir", str(directory), "migrate", env=env)
    assert result.exit_code == 0, result.stderr
    assert len(tables(db_url)) == COUNT
    assert parses.read_bytes()[:2] == b"\x80\x05" and b"not a pickle" not in parses.read_bytes()


def test_a_malformed_file_is_never_kept(
    db_url: str, migrations: Any, run_pgshift: Any, tmp_path: Path
) -> None:
    files = history()
    files["062_bad.sql"] = "CREATE TABLE no_markers (id int);\n"
    directory: Path = migrations(files)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for _ in range(2):
        result = run_pgshift("--database-url", db_url, "--dir", str(directory), "migrate",
                             env=env)
        assert result.exit_code == 2, result.stderr
        assert "062_bad.sql" in result.stderr
        assert_nothing_applied(db_url)


def test_a_file_made_malformed_is_reported_though_its_old_parse_is_kept(
    db_url: str, second_db: str, migrations: Any, run_pgshift: Any, tmp_path: Path
) -> None:
    # The child parsing ahead fails on the edited file and leaves its old parse in the
    # cache: the run must read and report the file, never apply the old parse.
    directory, env = applied_once(db_url, migrations, run_pgshift, tmp_path / "cache")
    (directory / "005_t5.sql").write_text("-- UP\nCREATE TABLE t5 (id int;\n-- DOWN\n"
                                          "DROP TABLE t5;\n")
    (directory / "070_later.sql").write_text("-- UP\nCREATE TABLE later (id int);\n")
    # the listing changed after the parses were kept: the next run parses ahead
    kept = next((tmp_path / "cache" / "pgshift").glob("parses-*.pickle"))
    os.utime(kept, ns=(0, 0))
    second = run_pgshift("--database-url", second_db, "--dir", str(directory), "migrate",
                         env=env)
    assert second.exit_code == 2, second.stderr
    assert "005_t5.sql" in second.stderr
    assert_nothing_applied(second_db)
