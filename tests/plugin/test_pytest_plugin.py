"""pgshift's pytest plugin, as a user runs it: the sample project in ``sample_project/``
run by pytest in a subprocess, against the suite's test server and against an embedded
server of its own.

``record_facts`` (in the sample project, loaded with ``-p``) writes what each sample test
saw when it started; the assertions are on those facts and on the server's catalog.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgshift.embedded import server as embedded
from pgshift.testing.plugin import RAM_DIR
from pgtest import CliResult, Env, clean_environ, fetch

SAMPLE = Path(__file__).parent / "sample_project"
DOCUMENTATION = Path(__file__).parents[2] / "docs" / "pytest-plugin.md"
PLUGIN = "pgshift.testing.plugin"
SAMPLE_TESTS = [
    "tests/test_app.py::test_insert_user[1]",
    "tests/test_app.py::test_insert_user[2]",
    "tests/test_app.py::test_users_start_empty",
    "tests/test_app.py::test_rows_written_by_migrations_are_there",
    "tests/test_app.py::test_database_url",
    "tests/test_app.py::test_without_database",
]
MIGRATIONS = ["001_create_users.sql", "002_add_roles.sql"]
BROKEN_MIGRATION = """\
-- UP
ALTER TABLE users ADD COLUMN nickname text;
ALTER TABLE no_such_table ADD COLUMN x int;
-- DOWN
ALTER TABLE users DROP COLUMN nickname;
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the sample project (runs leave caches behind; some tests change it)."""
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return copy


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A TMPDIR for the sample run, where its embedded server would live. Outside
    pytest's basetemp, which the server's OS user could not enter when running as root."""
    path = Path(tempfile.mkdtemp(prefix="pgshift-plugin-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_sample(project: Path, *args: str, env: Env | None = None) -> CliResult:
    """``python -m pytest -p pgshift.testing.plugin ARGS`` in ``project``, with the
    database variables of this process removed and ``env`` added."""
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", *args],
        cwd=project,
        env=clean_environ({"PYTHONDONTWRITEBYTECODE": "1", **(env or {})}),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=300,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


@dataclass(frozen=True)
class Recorded:
    """A sample run with ``record_facts``: its result, what each database test saw when it
    started, and the pgshift modules the run imported."""

    result: CliResult
    facts: list[dict[str, Any]]
    modules: list[str]


def run_recorded(project: Path, *args: str, env: Env | None = None) -> Recorded:
    """:func:`run_sample` with ``record_facts`` loaded."""
    facts_file = project.parent / "facts.jsonl"
    result = run_sample(
        project, "-p", "record_facts", *args,
        env={"PGSHIFT_SAMPLE_FACTS": str(facts_file), **(env or {})},
    )
    lines = facts_file.read_text(encoding="utf-8").splitlines() if facts_file.exists() else []
    records = [json.loads(line) for line in lines]
    modules = [m for r in records for m in r.get("modules", [])]
    return Recorded(result, [r for r in records if "test" in r], modules)


def assert_clean_copies(run: Recorded, order: list[str]) -> None:
    """Every database test started on its own copy of one template, with the migrations
    applied once (the same tracking rows, to the microsecond) and no row left by another."""
    result, facts = run.result, run.facts
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
    assert [f["test"] for f in facts] == [t for t in order if "without_database" not in t]
    assert all(f["users"] == 0 for f in facts)
    databases = [f["database"] for f in facts]
    assert len(set(databases)) == len(databases)
    assert all(name.startswith("pgshift_t_") for name in databases)
    assert len({f["template"] for f in facts}) == 1
    assert facts[0]["template"].startswith("pgshift_tpl_")
    assert facts[0]["applied"] == MIGRATIONS
    tracking = facts[0]["tracking"]
    assert [(row[0], row[1], row[2]) for row in tracking] == [(1, MIGRATIONS[0], 1),
                                                            (2, MIGRATIONS[1], 1)]
    assert all(f["tracking"] == tracking for f in facts)


def existing_databases(url: str, names: list[str]) -> list[str]:
    rows = fetch(url, "SELECT datname FROM pg_database WHERE datname = ANY(%s)", [names])
    return [row[0] for row in rows]


def server_directory(result: CliResult) -> Path:
    """The embedded server's directory, from the plugin's summary line."""
    match = re.search(r"^pgshift: embedded PostgreSQL \S+ in (\S+):", result.stdout, re.M)
    assert match is not None, result.stdout
    return Path(match.group(1))


def leftovers(directory: Path) -> list[str]:
    """``directory`` if it still exists, and the processes whose command line names it."""
    found = [str(directory)] if directory.exists() else []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(directory).encode() in cmdline.read_bytes():
                found.append(f"process {cmdline.parent.name}")
        except OSError:
            continue
    return found


def test_each_test_gets_a_clean_copy_on_the_given_server(pg_url: str, project: Path) -> None:
    run = run_recorded(project, env={"PGSHIFT_TEST_URL": pg_url})

    assert_clean_copies(run, SAMPLE_TESTS)
    assert "pgshift: PostgreSQL at" in run.result.stdout
    assert "pgshift.embedded.server" not in run.modules
    facts = run.facts
    created = [f["database"] for f in facts] + [facts[0]["template"]]
    assert existing_databases(pg_url, created) == []


def test_the_documented_example_passes(pg_url: str, project: Path) -> None:
    text = DOCUMENTATION.read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    (project / "tests" / "test_documented.py").write_text(example, encoding="utf-8")

    result = run_sample(project, "tests/test_documented.py", env={"PGSHIFT_TEST_URL": pg_url})

    assert result.exit_code == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.fixture
def createdb_role(pg_url: str) -> Iterator[str]:
    """A key=value connection string for a new role that may only LOGIN and CREATEDB."""
    name = f"pgshift_plugin_{secrets.token_hex(4)}"
    password = secrets.token_hex(8)
    statement = sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(statement.format(sql.Identifier(name), sql.Literal(password)))
    try:
        yield make_conninfo(pg_url, user=name, password=password)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            owned = conn.execute(
                "SELECT datname FROM pg_database WHERE datdba = %s::regrole", [name]
            ).fetchall()
            drop = sql.SQL("DROP DATABASE {} WITH (FORCE)")
            for (dbname,) in owned:
                conn.execute(drop.format(sql.Identifier(dbname)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_a_role_that_may_only_create_databases_is_enough(
    pg_url: str, createdb_role: str, project: Path
) -> None:
    run = run_recorded(project, env={"PGSHIFT_TEST_URL": createdb_role})

    assert_clean_copies(run, SAMPLE_TESTS)
    facts = run.facts
    created = [f["database"] for f in facts] + [facts[0]["template"]]
    assert existing_databases(pg_url, created) == []


@pytest.mark.embedded_only
def test_without_a_url_an_embedded_server_is_started_and_removed(
    project: Path, private_tmp: Path
) -> None:
    order = list(reversed(SAMPLE_TESTS))
    run = run_recorded(project, *order, env={"TMPDIR": str(private_tmp)})

    assert_clean_copies(run, order)
    directory = server_directory(run.result)
    assert directory.name.startswith("pgshift-pytest-")
    assert directory.parent in (RAM_DIR, private_tmp)
    assert leftovers(directory) == []
    assert not (project / ".pgshift").exists()


def test_a_failing_migration_fails_the_tests_with_pgshifts_message(
    pg_url: str, project: Path
) -> None:
    broken = project / "db" / "broken"
    shutil.copytree(project / "migrations", broken)
    (broken / "003_broken.sql").write_text(BROKEN_MIGRATION, encoding="utf-8")

    result = run_sample(project, "--pgshift-dir", "db/broken", "-rfE",
                        env={"PGSHIFT_TEST_URL": pg_url})

    output = result.stdout
    assert result.exit_code == 1, output + result.stderr
    assert "1 passed, 5 errors" in output
    assert "could not migrate the template database pgshift_tpl_" in output
    assert f"{broken} (--pgshift-dir)" in output
    assert "error: migration 003_broken.sql failed" in output
    assert '003_broken.sql:3: ERROR:  relation "no_such_table" does not exist' in output
    assert "SQLSTATE: 42P01" in output
    assert "Traceback" not in output
    template = output.split("could not migrate the template database ", 1)[1].split()[0]
    assert existing_databases(pg_url, [template]) == []


WAITING_TEST = """\
import os, pathlib, time

def test_waits(pgshift_db):
    pathlib.Path(os.environ["SAMPLE_STARTED"]).write_text(pgshift_db)
    time.sleep(300)
"""


@pytest.mark.embedded_only
def test_the_server_of_a_killed_run_is_removed_by_the_next_run(
    project: Path, private_tmp: Path, tmp_path: Path
) -> None:
    (project / "tests" / "test_waiting.py").write_text(WAITING_TEST, encoding="utf-8")
    started = tmp_path / "started"
    env = clean_environ({"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(private_tmp),
                         "SAMPLE_STARTED": str(started)})
    killed = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider",
         "tests/test_waiting.py"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), "the waiting sample test never started"
    finally:
        killed.kill()
        killed.wait()
    (abandoned,) = [
        owner.parent
        for owner in (*RAM_DIR.glob("pgshift-pytest-*/owner.pid"),
                      *private_tmp.glob("pgshift-pytest-*/owner.pid"))
        if owner.read_text(encoding="utf-8") == str(killed.pid)
    ]
    assert embedded.find_running(abandoned) is not None

    result = run_sample(project, "-k", "users_start_empty", env={"TMPDIR": str(private_tmp)})

    assert result.exit_code == 0, result.stdout + result.stderr
    assert leftovers(abandoned) == []
    assert leftovers(server_directory(result)) == []


def test_a_run_that_uses_no_database_connects_nowhere(project: Path) -> None:
    run = run_recorded(project, "-k", "without_database")

    assert run.result.exit_code == 0, run.result.stdout + run.result.stderr
    assert "1 passed" in run.result.stdout
    assert PLUGIN in run.modules
    heavy = {"pgshift.embedded.server", "pgshift.db.connect", "pgshift.engine.migrator"}
    assert not heavy & set(run.modules)
    assert "pgshift:" not in run.result.stdout


def test_importing_the_plugin_imports_neither_the_driver_nor_the_parser() -> None:
    code = "import sys, pgshift.testing.plugin; print(' '.join(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, encoding="utf-8", check=True
    )
    modules = set(completed.stdout.split())
    assert PLUGIN in modules
    assert not {"psycopg", "pglast", "click", "rich", "pgshift.engine.migrator"} & modules


ENTRY_POINT = "[pytest11]\npgshift = pgshift.testing.plugin\n"


@pytest.mark.parametrize(
    ("entry_point", "explicit", "conftest"),
    [
        (False, True, False),
        (True, False, False),
        (True, True, False),
        (True, False, True),
        (True, True, True),
    ],
    ids=["-p", "entry-point", "entry-point and -p", "entry-point and pytest_plugins",
         "all three"],
)
def test_the_plugin_registers_once_however_it_is_loaded(
    project: Path, tmp_path: Path, entry_point: bool, explicit: bool, conftest: bool
) -> None:
    env: dict[str, str | None] = {}
    if entry_point:
        # A distribution that declares the entry point, as `pip install pgshift` will.
        dist = tmp_path / "site" / "pgshift_entry_point-0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: pgshift-entry-point\nVersion: 0\n", encoding="utf-8"
        )
        (dist / "entry_points.txt").write_text(ENTRY_POINT, encoding="utf-8")
        env["PYTHONPATH"] = str(dist.parent)
    if conftest:
        with (project / "conftest.py").open("a", encoding="utf-8") as file:
            file.write(f'\npytest_plugins = ["{PLUGIN}"]\n')
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    if explicit:
        command += ["-p", PLUGIN]
    completed = subprocess.run(
        [*command, "--fixtures", "tests"],
        cwd=project,
        env=clean_environ({"PYTHONDONTWRITEBYTECODE": "1", **env}),
        capture_output=True,
        encoding="utf-8",
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    for fixture in ("pgshift_db", "pgshift_conn", "pgshift_template"):
        assert fixture in completed.stdout
