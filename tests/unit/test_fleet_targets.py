"""Fleet targets without a database: the targets file, pyproject defaults, selection,
shards, and the scheduler's policy (parallel, canary, on-error) with plain functions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pgshift.errors import ConfigError, UsageRefused
from pgshift.fleet.results import TargetResult
from pgshift.fleet.schedule import Policy, Scheduler
from pgshift.fleet.targets import (
    Target,
    check_pattern,
    combine,
    load_targets_file,
    parse_shard,
    select,
    sources_from_project,
    split_names,
)

URL = "postgresql://app@db.example:5432/main"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_targets_file_with_url_url_env_and_schema(tmp_path: Path) -> None:
    path = write(tmp_path, f'''
[[target]]
name = "eu"
url_env = "EU_URL"

[[target]]
name = "us-tenant"
url = "{URL}"
schema = "tenant_us"
''')
    targets, secrets = load_targets_file(path, {"EU_URL": "postgresql://u:s3cr3t@eu/db"})
    assert [(t.name, t.schema) for t in targets] == [("eu", None), ("us-tenant", "tenant_us")]
    assert "s3cr3t" in targets[0].url
    assert secrets == ("s3cr3t",)


@pytest.mark.parametrize("url", [
    "postgresql://app:hunter2@db.example/main",
    "host=db.example dbname=main password=hunter2",
])
def test_a_password_in_a_targets_file_is_refused_without_showing_it(tmp_path: Path,
                                                                      url: str) -> None:
    path = write(tmp_path, f'[[target]]\nname = "a"\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as caught:
        load_targets_file(path, {})
    assert caught.value.exit_code == 2
    assert "password" in caught.value.message and "[[target]] #1 (a)" in caught.value.message
    assert "hunter2" not in caught.value.message + (caught.value.hint or "")


@pytest.mark.parametrize(("text", "problem"), [
    ('[[target]]\nname = "a"\nurl_env = "NOPE"\n', "NOPE: the environment variable is not set"),
    ('[[target]]\nname = "a"\n', "exactly one of url and url_env"),
    (f'[[target]]\nname = "a"\nurl = "{URL}"\nurl_env = "X"\n', "exactly one of url"),
    (f'[[target]]\nurl = "{URL}"\n', "name (a non-empty string) is required"),
    (f'[[target]]\nname = "a"\nurl = "{URL}"\nport = 5\n', "unknown key port"),
    (f'[[target]]\nname = "a"\nurl = "{URL}"\n[[target]]\nname = "a"\nurl = "{URL}"\n',
     "name 'a' is used twice"),
    ('name = "a"\n', "expected [[target]] tables only"),
    ("[[target]\n", "cannot be read"),
])
def test_bad_targets_files_name_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        load_targets_file(write(tmp_path, text), {})
    assert problem in caught.value.message
    assert str(tmp_path / "targets.toml") in caught.value.message


def test_missing_targets_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_targets_file(tmp_path / "nope.toml", {})


def test_pyproject_fleet_defaults(tmp_path: Path) -> None:
    sources = sources_from_project({"fleet": {"schemas": "tenant_%", "targets": "t.toml"}},
                                   tmp_path)
    assert sources.schemas == "tenant_%" and sources.targets_file == tmp_path / "t.toml"
    assert sources_from_project({}, tmp_path).empty
    with pytest.raises(ConfigError, match="unknown key parallel"):
        sources_from_project({"fleet": {"parallel": 3}}, tmp_path)
    with pytest.raises(ConfigError, match="schemas must be a non-empty string"):
        sources_from_project({"fleet": {"schemas": 3}}, tmp_path)


def named(*names: str) -> list[Target]:
    return [Target(n, URL, n) for n in names]


def test_select_orders_by_name_filters_and_shards() -> None:
    targets = named("t3", "t1", "t5", "t2", "t4")
    assert [t.name for t in select(targets)] == ["t1", "t2", "t3", "t4", "t5"]
    assert [t.name for t in select(targets, only=split_names(["t2,t4", "t5"]),
                                   exclude=split_names(["t5"]))] == ["t2", "t4"]
    shards = [[t.name for t in select(targets, shard=(i, 2))] for i in (1, 2)]
    assert shards == [["t1", "t3", "t5"], ["t2", "t4"]]
    assert select(targets, shard=(5, 7))[0].name == "t5"
    assert select(targets, shard=(7, 7)) == []
    with pytest.raises(UsageRefused, match="no target named t9"):
        select(targets, only=frozenset({"t9"}))


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(UsageRefused) as caught:
        parse_shard(text)
    assert caught.value.exit_code == 2


def test_good_shards() -> None:
    assert parse_shard("1/1") == (1, 1)
    assert parse_shard(" 3 / 4 ") == (3, 4)


def test_patterns() -> None:
    assert check_pattern("tenant\\_%") == "tenant\\_%"
    for bad in ("", "  ", "tenant\\"):
        with pytest.raises(UsageRefused):
            check_pattern(bad)


def test_combine_counts_duplicates_once_and_refuses_clashes() -> None:
    a = Target("a", URL, "a")
    assert combine([[a], [a, Target("b", URL, "b")]]) == [a, Target("b", URL, "b")]
    with pytest.raises(UsageRefused, match="two different targets are named 'a'"):
        combine([[a], [Target("a", URL, None)]])


# --- the scheduler's policy -------------------------------------------------------------


class Recorder:
    """A work function that records how many run at once; targets in ``failing`` fail."""

    def __init__(self, failing: set[str] = frozenset(), pause: float = 0.05) -> None:
        self.failing = failing
        self.pause = pause
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started: list[str] = []

    def __call__(self, target: Target) -> TargetResult:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(target.name)
        time.sleep(self.pause)
        with self.lock:
            self.running -= 1
        if target.name in self.failing:
            raise UsageRefused(f"{target.name} broke")
        return TargetResult(target.name, "migrated")


def outcomes(results: list[TargetResult]) -> dict[str, str]:
    return {r.name: r.outcome for r in results}


def test_parallel_bounds_the_targets_in_flight() -> None:
    work = Recorder()
    results = Scheduler(named(*[f"t{i:02d}" for i in range(12)]), work, Policy(3)).run()
    assert work.most == 3
    assert set(outcomes(results).values()) == {"migrated"}


def test_a_failure_does_not_stop_the_others_by_default() -> None:
    work = Recorder({"t1"})
    results = outcomes(Scheduler(named("t0", "t1", "t2", "t3"), work, Policy(1)).run())
    assert results == {"t0": "migrated", "t1": "failed", "t2": "migrated", "t3": "migrated"}


def test_on_error_stop_starts_nothing_after_a_failure() -> None:
    work = Recorder({"t1"})
    results = Scheduler(named("t0", "t1", "t2", "t3"), work, Policy(1, "stop")).run()
    assert outcomes(results) == {"t0": "migrated", "t1": "failed", "t2": "skipped",
                                 "t3": "skipped"}
    assert work.started == ["t0", "t1"]
    assert "t1 broke" in str(results[1].error)


def test_a_failing_canary_starts_nothing_else() -> None:
    work = Recorder({"t1"})
    results = Scheduler(named("t3", "t2", "t1", "t0"), work, Policy(4, canary=2)).run()
    assert outcomes(results) == {"t0": "migrated", "t1": "failed", "t2": "skipped",
                                 "t3": "skipped"}
    assert sorted(work.started) == ["t0", "t1"]


def test_canaries_run_before_the_rest() -> None:
    work = Recorder()
    Scheduler(named(*[f"t{i}" for i in range(6)]), work, Policy(4, canary=2)).run()
    assert sorted(work.started[:2]) == ["t0", "t1"]
    assert work.most <= 4


def test_a_bug_in_one_target_is_that_target_s_failure() -> None:
    def work(target: Target) -> TargetResult:
        if target.name == "t1":
            raise ZeroDivisionError("boom")
        return TargetResult(target.name, "up-to-date")

    results = Scheduler(named("t0", "t1", "t2"), work, Policy(2)).run()
    assert outcomes(results) == {"t0": "up-to-date", "t1": "failed", "t2": "up-to-date"}
    assert "ZeroDivisionError: boom" in str(results[1].error)


def test_probe_answers_targets_without_running_them() -> None:
    work = Recorder()
    targets = named("a", "b", "c")

    def probe(url: str, members: object) -> dict[str, TargetResult | None]:
        return {"a": TargetResult("a", "up-to-date"), "b": None}

    results = Scheduler(targets, work, Policy(2), probe=probe).run()
    assert outcomes(results) == {"a": "up-to-date", "b": "migrated", "c": "migrated"}
    assert sorted(work.started) == ["b", "c"]
