"""What each sample test saw when it started, for pgshift's own tests of the plugin.

Not part of the sample project proper: pgshift's tests load it with ``-p record_facts``
and read the JSON lines it appends to ``$PGSHIFT_SAMPLE_FACTS``: one per test that uses
``pgshift_db``, then one listing the pgshift modules the run imported.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator

import psycopg
import pytest


@pytest.fixture(autouse=True)
def _record_facts(request: pytest.FixtureRequest) -> Iterator[None]:
    if "pgshift_db" in request.fixturenames:
        url = request.getfixturevalue("pgshift_db")
        template = request.getfixturevalue("pgshift_template")
        with psycopg.connect(url, autocommit=True) as conn:
            database = conn.execute("SELECT current_database()").fetchone()
            users = conn.execute("SELECT count(*) FROM users").fetchone()
            tracking = conn.execute(
                "SELECT id, name, batch, executed_at FROM schema_migrations ORDER BY id"
            ).fetchall()
        facts = {
            "test": request.node.nodeid,
            "database": database[0] if database else None,
            "template": template.name,
            "applied": list(template.applied),
            "users": users[0] if users else None,
            "tracking": [[i, name, batch, at.isoformat()] for i, name, batch, at in tracking],
        }
        _write(facts)
    yield


def pytest_unconfigure() -> None:
    _write({"modules": sorted(name for name in sys.modules if name.startswith("pgshift"))})


def _write(facts: dict[str, object]) -> None:
    with open(os.environ["PGSHIFT_SAMPLE_FACTS"], "a", encoding="utf-8") as out:
        out.write(json.dumps(facts) + "\n")
