"""pgshift: schema migrations for PostgreSQL.

``Migrator(database_url, directory).migrate()`` applies the pending ``.sql`` migrations of
a directory; ``status()``, ``rollback()``, ``reset()``, ``refresh()`` and ``create()`` do
what the command-line program's commands do. Errors are :class:`PgshiftError`
subclasses carrying the same information as the CLI's messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgshift._version import __version__
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
    UsageRefused,
)
from pgshift.results import (
    AppliedMigration,
    Event,
    MigrationStatus,
    RunResult,
    StatusReport,
)

if TYPE_CHECKING:
    from pgshift.migrator import Migrator, create_migration

__all__ = [
    "AppliedMigration",
    "ConfigError",
    "ConnectionFailed",
    "Event",
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
    "TrackingTableError",
    "UsageRefused",
    "__version__",
    "create_migration",
]


def __getattr__(name: str) -> Any:
    # Migrator pulls in the driver; load it on first use so `import pgshift` stays cheap.
    if name in ("Migrator", "create_migration"):
        from pgshift import migrator

        return getattr(migrator, name)
    raise AttributeError(f"module 'pgshift' has no attribute {name!r}")
