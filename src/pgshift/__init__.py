"""pgshift: schema migrations for PostgreSQL.

``Migrator(database_url, directory).migrate()`` applies the pending ``.sql`` migrations of
a directory; ``status()``, ``rollback()``, ``reset()``, ``refresh()`` and ``create()`` do
what the command-line program's commands do. ``Fleet(targets, directory)`` does the same
over many schemas and databases and returns a ``FleetResult``. Errors are :class:`PgshiftError`
subclasses carrying the same information as the CLI's messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgshift._version import __version__

if TYPE_CHECKING:
    from pgshift.engine.migrator import Migrator, create_migration
    from pgshift.errors import (
        ConfigError,
        ConnectionFailed,
        InputError,
        Interrupted,
        LockTimeout,
        MigrationFailed,
        MigrationFileError,
        PgshiftError,
        ReadOnlyServer,
        RollbackFailed,
        RunError,
        StateError,
        TrackingTableError,
        Unreachable,
        UsageRefused,
    )
    from pgshift.fleet.fleet import Fleet
    from pgshift.fleet.results import FleetEvent, FleetResult, TargetResult
    from pgshift.fleet.targets import Target
    from pgshift.results import (
        AppliedMigration,
        Event,
        MigrationStatus,
        RunResult,
        StatusReport,
    )

__all__ = [
    "AppliedMigration",
    "ConfigError",
    "ConnectionFailed",
    "Event",
    "Fleet",
    "FleetEvent",
    "FleetResult",
    "InputError",
    "Interrupted",
    "LockTimeout",
    "MigrationFailed",
    "MigrationFileError",
    "MigrationStatus",
    "Migrator",
    "PgshiftError",
    "ReadOnlyServer",
    "RollbackFailed",
    "RunError",
    "RunResult",
    "StateError",
    "StatusReport",
    "Target",
    "TargetResult",
    "TrackingTableError",
    "Unreachable",
    "UsageRefused",
    "__version__",
    "create_migration",
]


_HOMES = {"Migrator": "engine.migrator", "create_migration": "engine.migrator",
          "AppliedMigration": "results", "Event": "results", "MigrationStatus": "results",
          "RunResult": "results", "StatusReport": "results", "Fleet": "fleet.fleet",
          "FleetEvent": "fleet.results", "FleetResult": "fleet.results",
          "TargetResult": "fleet.results", "Target": "fleet.targets"}


def __getattr__(name: str) -> Any:
    # Loaded on first use so that `import pgshift` (and `pgshift --help`) stays cheap:
    # Migrator pulls in the driver.
    import importlib

    if name in __all__ and name != "__version__":
        module = importlib.import_module(f"pgshift.{_HOMES.get(name, 'errors')}")
        return getattr(module, name)
    raise AttributeError(f"module 'pgshift' has no attribute {name!r}")
