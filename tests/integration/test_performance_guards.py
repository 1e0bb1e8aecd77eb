"""Structural performance guarantees (no timings here; the benchmark measures speed):
``--help``/``--version`` import none of the heavy modules, and ``status`` sends one query
whatever the number of migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from faultkit import FaultProxy
from pgtest import fetch

HEAVY = ("psycopg", "pglast", "rich")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_import_heavy_modules(flag: str) -> None:
    probe = (
        "import sys\n"
        "from pgshift.cli.app import main\n"
        f"try:\n    main([{flag!r}])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def many(count: int) -> dict[str, str]:
    return {
        f"{i:05d}_t_{i}.sql": f"-- UP\nCREATE TABLE t_{i} (id int);\n-- DOWN\nDROP TABLE t_{i};\n"
        for i in range(1, count + 1)
    }


@pytest.mark.parametrize("count", [5, 300])
def test_status_sends_one_query_whatever_the_number_of_migrations(
    db_url: str, migrations: Any, run_pgshift: Any, count: int
) -> None:
    directory: Path = migrations(many(count))
    applied = run_pgshift("--database-url", db_url, "--dir", str(directory), "migrate", "-q")
    assert applied.exit_code == 0, applied.stderr
    target = conninfo_to_dict(db_url)
    with FaultProxy(str(target.get("host", "127.0.0.1")), int(target.get("port", 5432))) as proxy:
        result = run_pgshift("--database-url", proxy.rewrite_url(db_url), "--dir",
                             str(directory), "status")
        sent = proxy.stats().client_messages

    assert result.exit_code == 0, result.stderr
    assert f"{count} migrations: {count} executed" in result.stdout
    queries = sent.get("Q", 0) + sent.get("E", 0)
    assert queries == 1, sent


# What a command must not load: the modules of other command families, and for status
# and a no-op migrate, nothing that parses SQL or applies migrations (nor the parse
# cache's pickle, nor the header reader a directory without a squash file never needs).
NOT_FOR_STATUS = ("pglast", "rich", "pickle", "pgshift.files.sqlfile",
                  "pgshift.files.header", "pgshift.engine.policy", "pgshift.engine.session",
                  "pgshift.engine.apply", "pgshift.db.runner", "pgshift.cli.review",
                  "pgshift.cli.fleet", "pgshift.cli.lifecycle", "pgshift.analysis")
NOT_FOR_NOOP = ("pglast", "rich", "pickle", "pgshift.files.sqlfile", "pgshift.files.header",
                "pgshift.engine.apply", "pgshift.db.runner", "pgshift.files.hooks",
                "pgshift.cli.review", "pgshift.cli.fleet", "pgshift.cli.lifecycle",
                "pgshift.analysis")


@pytest.mark.parametrize(("command", "unwanted"), [("status", NOT_FOR_STATUS),
                                                   ("migrate", NOT_FOR_NOOP)])
def test_status_and_a_noop_migrate_load_only_what_they_need(
    db_url: str, migrations: Any, run_pgshift: Any, tmp_path: Path, command: str,
    unwanted: tuple[str, ...],
) -> None:
    directory: Path = migrations(many(5))
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["--database-url", db_url, "--dir", str(directory)]
    assert run_pgshift(*args, "migrate", "-q").exit_code == 0
    assert run_pgshift(*args, "status", env=env).exit_code == 0  # the facts cache is warm
    probe = (
        "import sys\n"
        "from pgshift.cli.app import main\n"
        f"try:\n    main({[*args, command]!r})\nexcept SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        f"print(sorted(m for m in sys.modules if m.startswith({unwanted!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_the_parse_ahead_child_starts_before_the_database_driver_is_imported(
    db_url: str, migrations: Any, tmp_path: Path
) -> None:
    # The child parses while this process imports psycopg and connects: forked after that
    # import, it would start ~0.2 s late and the run would wait for it.
    directory: Path = migrations(many(60))  # more than a run lints on its own
    probe = (
        "import os, sys\n"
        "seen = []\n"
        "real_fork = os.fork\n"
        "def fork():\n"
        "    seen.append('psycopg' in sys.modules)\n"
        "    return real_fork()\n"
        "os.fork = fork\n"
        "from pgshift.cli.app import main\n"
        f"try:\n    main(['--database-url', {db_url!r}, '--dir', {str(directory)!r},"
        " 'migrate', '-q'])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print(seen)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[False]", result.stdout
    applied = fetch(db_url, "SELECT count(*) FROM _migrations")
    assert applied == [(60,)]


def test_migrate_opens_two_connections_and_a_noop_migrate_one(
    db_url: str, migrations: Any
) -> None:
    # The connection that finds something pending becomes the run's connection; the
    # other one holds the migration lock.
    from pgshift import Migrator

    directory: Path = migrations(many(3))
    target = conninfo_to_dict(db_url)
    host, port = str(target.get("host", "127.0.0.1")), int(target.get("port", 5432))
    with FaultProxy(host, port) as proxy:
        applied = Migrator(proxy.rewrite_url(db_url), directory).migrate()
        first = proxy.stats().accepted
    with FaultProxy(host, port) as proxy:
        again = Migrator(proxy.rewrite_url(db_url), directory).migrate()
        noop = proxy.stats().accepted

    assert [a.name for a in applied.applied] == sorted(many(3))
    assert again.applied == ()
    assert (first, noop) == (2, 1)
    assert fetch(db_url, "SELECT count(*) FROM _migrations") == [(3,)]
