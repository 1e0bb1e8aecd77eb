"""What a test database of pgshift's pytest plugin costs: the plugin's own per-test work.

Usage: python bench/plugin_clone_time.py [--clones 50] [--migrations DIR] [--database-url URL]

For each server — an embedded PostgreSQL with default settings (durable) in the
temporary directory; one with the settings the plugin starts it with (``fsync``,
``synchronous_commit`` and ``full_page_writes`` off) there; one with those settings in the
RAM filesystem, where the plugin starts it when there is one with room (see
``pgshift.testing.plugin.embedded_parent``); and the server of ``--database-url`` if given —
the template is migrated once from DIR (default: the sample project of the plugin's
tests), then each ``CREATE DATABASE`` strategy the server has runs the fixture's cycle
``--clones`` times: create the copy (what ``pgshift_db`` does before a test), connect and
run ``SELECT 1`` (what ``pgshift_conn`` adds), drop it (after the test). The strategies
take turns, clone by clone, so a busy moment of the machine hits them alike. It prints
median [min-max] in milliseconds; "per test" is create + drop, the time the plugin adds to
each test. The load average is printed too: on a shared machine it explains outliers.

It calls the plugin's own functions (``open_server``, ``migrate_template``,
``Server.create_database``, ``Server.drop_database``), so it measures the code the
fixtures run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg

from pgshift.testing.plugin import (
    CLONE_PREFIX,
    EMBEDDED_SETTINGS,
    RAM_DIR,
    TEMPLATE_PREFIX,
    PluginSettings,
    Server,
    embedded_parent,
    migrate_template,
    open_server,
)

SAMPLE_MIGRATIONS = Path(__file__).resolve().parent.parent / (
    "tests/plugin/sample_project/migrations"
)
Timings = dict[str, list[float]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clones", type=int, default=50)
    parser.add_argument("--migrations", type=Path, default=SAMPLE_MIGRATIONS)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    disk = Path(tempfile.gettempdir())
    targets: list[tuple[str, str | None, Mapping[str, str], Path]] = [
        ("embedded, default settings, disk", None, {}, disk),
        ("embedded, plugin settings, disk", None, EMBEDDED_SETTINGS, disk),
    ]
    if embedded_parent() == RAM_DIR:
        targets.append(("embedded, plugin settings, RAM", None, EMBEDDED_SETTINGS, RAM_DIR))
    else:
        print(f"{RAM_DIR} is missing or too small: the plugin would use {disk}")
    if args.database_url:
        targets.append(("--database-url", args.database_url, {}, disk))
    print(f"{args.clones} clones per strategy; template migrated from {args.migrations}")
    print(f"load average at start: {_load()}")
    for label, url, settings, parent in targets:
        with open_server(url, settings=settings, parent=parent) as server:
            print(f"\n{label}: {server.description} (plugin's choice: "
                  f"{server.strategy or 'server default'})")
            by_strategy = measure(server, args.migrations, args.clones)
        for strategy, timings in by_strategy.items():
            report(strategy, timings)
    print(f"\nload average at end: {_load()}")


def measure(server: Server, migrations: Path, clones: int) -> dict[str, Timings]:
    """Migrate a template on ``server``, then time ``clones`` fixture cycles per strategy."""
    strategies = ["WAL_LOG", "FILE_COPY"] if server.version_num >= 150000 else ["default"]
    settings = PluginSettings(None, migrations, "--migrations", "_migrations")
    template = migrate_template(server, settings, f"{TEMPLATE_PREFIX}{secrets.token_hex(6)}")
    results: dict[str, Timings] = {s: {"create": [], "connect": [], "drop": []}
                                   for s in strategies}
    try:
        for _ in range(clones):
            for strategy in strategies:
                cycle(server, template.name, strategy, results[strategy])
    finally:
        server.drop_database(template.name)
    return results


def cycle(server: Server, template: str, strategy: str, timings: Timings) -> None:
    """One test's worth: create the copy, connect to it, drop it."""
    name = f"{CLONE_PREFIX}{secrets.token_hex(6)}"
    chosen = None if strategy == "default" else strategy
    timings["create"].append(server.create_database(name, template, strategy=chosen))
    started = time.perf_counter()
    with psycopg.connect(server.url_for(name)) as conn:
        conn.execute("SELECT 1")
    timings["connect"].append((time.perf_counter() - started) * 1000)
    timings["drop"].append(server.drop_database(name))


def report(strategy: str, timings: Timings) -> None:
    per_test = [c + d for c, d in zip(timings["create"], timings["drop"], strict=True)]
    parts = [f"{key} {_figures(values)}" for key, values in
             (("per test", per_test), ("create", timings["create"]),
              ("drop", timings["drop"]), ("connect", timings["connect"]))]
    print(f"  {strategy:<9} " + " | ".join(parts))


def _figures(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} [{min(values):5.1f}-{max(values):6.1f}]"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


if __name__ == "__main__":
    main()
