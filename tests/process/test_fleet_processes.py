"""Fleet runs as real processes (SPEC §8): a failing target, an unreachable one, kill -9
in the middle then a re-run, the --parallel bound seen in pg_stat_activity, a failing
canary, and three shards run at once, also across three servers."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultkit.cluster import Cluster, free_port
from pgtest import CliResult, clean_environ, execute, fetch, url_for_database
from process.support import fleet_files as files
from process.support import logged, recorded, wait_for

SCHEMAS = [f"tenant_{i:02d}" for i in range(12)]


def write(directory: Path, texts: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def start(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pgshift", *args], cwd=cwd, env=clean_environ(env),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        encoding="utf-8", errors="replace")


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> CliResult:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"pgshift fleet did not exit within {timeout} s\n{out}\n{err}")
    return CliResult(proc.returncode, out, err)


def fleet(cwd: Path, url: str, directory: Path, *args: str, timeout: float = 180) -> CliResult:
    return finish(start(cwd, "--database-url", url, "--dir", str(directory), "fleet", *args),
                  timeout)


def schemas(url: str, names: list[str]) -> None:
    execute(url, "".join(f"CREATE SCHEMA {n};" for n in names))


def assert_each_applied_once(url: str, names: list[str], expected: int | None = None) -> None:
    """Applied and recorded go together, and nothing ran twice."""
    for schema in names:
        rows = [n[:3] for n in recorded(url, schema)]
        assert logged(url, schema) == rows, schema
        assert len(set(rows)) == len(rows), schema
        if expected is not None:
            assert len(rows) == expected, schema


def test_a_failing_target_does_not_stop_the_others_unless_on_error_stop(
    db_url: str, tmp_path: Path
) -> None:
    schemas(db_url, SCHEMAS[:5])
    execute(db_url, "CREATE TABLE tenant_01.items (id date)")  # 002 fails there
    directory = write(tmp_path / "m", files())

    stopped = fleet(tmp_path, db_url, directory, "migrate", "--schemas", "tenant_%",
                    "--parallel", "1", "--on-error", "stop")
    assert stopped.exit_code == 1
    outcomes = [line.split()[1] for line in stopped.stdout.splitlines()[:-1]]
    assert outcomes == ["migrated", "failed", "skipped", "skipped", "skipped"]
    assert stopped.stdout.splitlines()[-1] == (
        "5 targets: 1 migrated, 0 up to date, 1 failed, 0 unreachable, 3 skipped")
    assert recorded(db_url, "tenant_01") == ["001_log.sql"]
    assert recorded(db_url, "tenant_02") == []

    going_on = fleet(tmp_path, db_url, directory, "migrate", "--schemas", "tenant_%",
                     "--parallel", "2")
    assert going_on.exit_code == 1
    assert ("tenant_01  failed       002_items.sql:3: column \"id\" is of type date"
            in going_on.stdout)
    assert going_on.stdout.splitlines()[-1] == (
        "5 targets: 3 migrated, 1 up to date, 1 failed, 0 unreachable, 0 skipped")
    assert_each_applied_once(db_url, ["tenant_00", "tenant_02", "tenant_03", "tenant_04"], 3)


def test_an_unreachable_target_is_reported_and_stalls_nothing(
    db_url: str, tmp_path: Path
) -> None:
    schemas(db_url, SCHEMAS[:3])
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    (tmp_path / "targets.toml").write_text(
        '[[target]]\nname = "a-closed-port"\nurl_env = "CLOSED_URL"\n')
    directory = write(tmp_path / "m", files())
    result = finish(start(tmp_path, "--database-url", db_url, "--dir", str(directory),
                          "fleet", "migrate", "--schemas", "tenant_%", "--targets",
                          "targets.toml", "--json", env={"CLOSED_URL": closed}))
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert {t["name"]: t["outcome"] for t in body["targets"]} == {
        "a-closed-port": "unreachable", "tenant_00": "migrated", "tenant_01": "migrated",
        "tenant_02": "migrated"}
    assert "could not connect" in body["targets"][0]["error"]["message"]
    assert body["counts"]["unreachable"] == 1 and body["ok"] is False


def test_kill_9_in_the_middle_then_a_rerun_completes_only_what_is_behind(
    db_url: str, tmp_path: Path
) -> None:
    schemas(db_url, SCHEMAS)
    directory = write(tmp_path / "m", files(pause=0.3))
    proc = start(tmp_path, "--database-url", db_url, "--dir", str(directory), "fleet",
                 "migrate", "--schemas", "tenant_%", "--parallel", "4")
    try:
        wait_for(lambda: sum(len(recorded(db_url, s)) for s in SCHEMAS) >= 6, 90,
                 "some migrations recorded")
    finally:
        proc.kill()
        proc.communicate()
    # A migration whose one query (its COMMIT included) was on the server when the client
    # died ends there first: committed, or cancelled by client_connection_check_interval.
    wait_for(lambda: not fetch(db_url, "SELECT 1 FROM pg_stat_activity WHERE application_name"
                                       " LIKE 'pgshift%' AND state <> 'idle'"), 30,
             "the killed run's transactions ended on the server")
    before = {s: recorded(db_url, s) for s in SCHEMAS}
    assert sum(map(len, before.values())) < 3 * len(SCHEMAS), before
    assert_each_applied_once(db_url, SCHEMAS)

    rerun = fleet(tmp_path, db_url, directory, "migrate", "--schemas", "tenant_%", "--json")
    assert rerun.exit_code == 0, rerun.stderr
    body = {t["name"]: t for t in json.loads(rerun.stdout)["targets"]}
    for schema in SCHEMAS:
        assert body[schema]["applied"] == [n for n in sorted(files()) if n not in
                                           before[schema]]
        assert body[schema]["outcome"] == ("up-to-date" if len(before[schema]) == 3
                                           else "migrated")
    assert_each_applied_once(db_url, SCHEMAS, 3)


def test_parallel_3_never_has_more_than_3_targets_connected(
    db_url: str, tmp_path: Path
) -> None:
    names = SCHEMAS[:8]
    schemas(db_url, names)
    directory = write(tmp_path / "m", files(pause=0.4))
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(fetch(db_url, "SELECT count(DISTINCT application_name) FROM "
                                      "pg_stat_activity WHERE datname = current_database() "
                                      "AND application_name LIKE 'pgshift fleet %'")[0][0])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = fleet(tmp_path, db_url, directory, "migrate", "--schemas", "tenant_%",
                       "--parallel", "3")
    finally:
        done.set()
        watcher.join()
    assert result.exit_code == 0, result.stderr
    assert max(seen) == 3, seen
    assert_each_applied_once(db_url, names, 3)


def test_a_failing_canary_starts_nothing_else(db_url: str, tmp_path: Path) -> None:
    names = SCHEMAS[:6]
    schemas(db_url, names)
    execute(db_url, "CREATE TABLE tenant_01.log (x date)")  # the second canary fails
    directory = write(tmp_path / "m", files())
    result = fleet(tmp_path, db_url, directory, "migrate", "--schemas", "tenant_%",
                   "--canary", "2", "--json")
    assert result.exit_code == 1
    outcomes = {t["name"]: t["outcome"] for t in json.loads(result.stdout)["targets"]}
    assert outcomes == {"tenant_00": "migrated", "tenant_01": "failed",
                        **{n: "skipped" for n in names[2:]}}
    for schema in names[2:]:
        assert recorded(db_url, schema) == []


def run_shards(cwd: Path, args: list[str], env: dict[str, str] | None = None) -> (
    list[CliResult]
):
    procs = [start(cwd, *args, "--shard", f"{i}/3", "--json", env=env) for i in (1, 2, 3)]
    return [finish(p, 300) for p in procs]


def test_three_shards_at_once_migrate_every_target_exactly_once(
    db_url: str, tmp_path: Path
) -> None:
    schemas(db_url, SCHEMAS)
    directory = write(tmp_path / "m", files(pause=0.05))
    results = run_shards(tmp_path, ["--database-url", db_url, "--dir", str(directory),
                                    "fleet", "migrate", "--schemas", "tenant_%"])
    names: list[str] = []
    for result in results:
        assert result.exit_code == 0, result.stderr
        names += [t["name"] for t in json.loads(result.stdout)["targets"]]
    assert sorted(names) == SCHEMAS
    assert_each_applied_once(db_url, SCHEMAS, 3)
    assert fetch(db_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


# --- three servers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_servers() -> Iterator[list[Cluster]]:
    """Three throw-away servers, each with 50 tenant schemas and 2 more databases (not
    under pytest's tmp_path: the servers' OS user must reach them, and a concurrent pytest
    run prunes old basetemp directories)."""
    base = tempfile.TemporaryDirectory(prefix="pgshift-fleet-")
    clusters = [Cluster(Path(base.name), settings={"fsync": "off", "max_connections": 60})
                for _ in range(3)]
    try:
        for cluster in clusters:
            cluster.start()
            execute(cluster.url(), "DO $$ BEGIN FOR i IN 0..49 LOOP EXECUTE "
                                   "format('CREATE SCHEMA tenant_%s', lpad(i::text, 2, '0')); "
                                   "END LOOP; END $$")
            execute(cluster.url(), "CREATE DATABASE region_a")
            execute(cluster.url(), "CREATE DATABASE region_b")
        yield clusters
    finally:
        for cluster in clusters:
            cluster.stop()
        base.cleanup()


def targets_file(path: Path, clusters: list[Cluster]) -> dict[str, str]:
    """156 targets in one file; the URLs come from the environment (url_env)."""
    lines: list[str] = []
    env: dict[str, str] = {}
    for number, cluster in enumerate(clusters, start=1):
        env[f"SERVER_{number}_URL"] = cluster.url()
        for database in ("region_a", "region_b"):
            env[f"SERVER_{number}_{database.upper()}"] = cluster.url(database)
            lines += ["[[target]]", f'name = "s{number}-{database}"',
                      f'url_env = "SERVER_{number}_{database.upper()}"', ""]
        for i in range(50):
            lines += ["[[target]]", f'name = "s{number}-tenant_{i:02d}"',
                      f'url_env = "SERVER_{number}_URL"', f'schema = "tenant_{i:02d}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return env


def test_three_servers_in_one_targets_file_three_shards_at_once(
    three_servers: list[Cluster], tmp_path: Path
) -> None:
    env = targets_file(tmp_path / "fleet.toml", three_servers)
    directory = write(tmp_path / "m", files())
    args = ["--dir", str(directory), "fleet", "migrate", "--targets", "fleet.toml",
            "--parallel", "4"]
    results = run_shards(tmp_path, args, env)
    names: list[str] = []
    for result in results:
        assert result.exit_code == 0, result.stderr
        body = json.loads(result.stdout)
        assert body["ok"] and body["counts"]["migrated"] == len(body["targets"])
        names += [t["name"] for t in body["targets"]]
    assert len(names) == len(set(names)) == 156

    for cluster in three_servers:
        tenants = [f"tenant_{i:02d}" for i in range(50)]
        assert_each_applied_once(cluster.url(), tenants, 3)
        for database in ("region_a", "region_b"):
            assert_each_applied_once(url_for_database(cluster.url(), database), ["public"], 3)

    again = finish(start(tmp_path, *args[:-2], "--json", env=env))
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["counts"]["up-to-date"] == 156
    status = finish(start(tmp_path, "--dir", str(directory), "fleet", "status", "--targets",
                          "fleet.toml", env=env))
    assert status.exit_code == 0
    assert status.stdout.splitlines()[-1] == (
        "156 targets: 156 up to date, 0 pending, 0 failed, 0 unreachable, 0 skipped")
