"""Repeatable migrations: ``DIR/repeatable/<name>.sql``, re-applied whenever their UP
section changes, in the order of what they reference.

A repeatable that refers to an object another one creates (a view using a function, a
function whose body reads a view) runs after it; otherwise name order decides; a cycle is
an error. References are read from pglast's parse trees
(:mod:`pgshift.analysis.references`).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from pgshift.analysis.references import objects
from pgshift.errors import MigrationFileError
from pgshift.files import sqlfile


def order(parsed: Sequence[sqlfile.ParsedMigration]) -> list[sqlfile.ParsedMigration]:
    """``parsed`` in run order: each after the repeatables creating what it references,
    else by name.

    Raises:
        MigrationFileError: the references form a cycle (exit 2), naming its files.
    """
    by_name = {p.name: p for p in parsed}
    facts = {p.name: objects(p.up.analysed) for p in parsed}
    creators: dict[str, set[str]] = {}
    for name, (created, _) in facts.items():
        for obj in created:
            creators.setdefault(obj.lower(), set()).add(name)
    needs: dict[str, set[str]] = {}
    for name, (_, referenced) in facts.items():
        needs[name] = {c for obj in referenced for c in creators.get(obj.lower(), ())
                       if c != name}
    waiting = {name: len(deps) for name, deps in needs.items()}
    users: dict[str, list[str]] = {name: [] for name in needs}
    for name, deps in needs.items():
        for dep in deps:
            users[dep].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    done: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        done.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(done) < len(parsed):
        stuck = sorted(name for name, count in waiting.items() if count > 0)
        cycle = _cycle(stuck, needs)
        raise MigrationFileError(
            cycle[0], "repeatable migrations reference each other in a cycle: "
            + " -> ".join(cycle),
            hint="move the shared object into one file or into a versioned migration")
    return [by_name[name] for name in done]


def _cycle(stuck: list[str], needs: dict[str, set[str]]) -> list[str]:
    """One cycle among ``stuck`` (files that wait on each other), its first file repeated
    at the end."""
    path = [stuck[0]]
    while True:
        following = sorted(d for d in needs[path[-1]] if d in stuck)
        step = following[0]
        if step in path:
            return [*path[path.index(step):], step]
        path.append(step)
