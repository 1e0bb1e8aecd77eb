"""Hooks: the SQL files of ``DIR/hooks/`` that ``migrate`` runs around what it applies.

``before-migrate.sql`` and ``after-migrate.sql`` run once per ``migrate`` that applies
something, each in its own transaction; ``before-each.sql`` and ``after-each.sql`` run
inside the transaction of every transactional migration, before and after its UP section.
Hooks are plain SQL (no markers), take placeholders and are not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pgshift.files import directory, sqlfile

FOLDER = "hooks"
NAMES = ("before-migrate", "after-migrate", "before-each", "after-each")


@dataclass(frozen=True)
class Hook:
    """One hook: ``name`` (``before-each``), ``file`` as shown (``hooks/before-each.sql``)
    and its parsed SQL."""

    name: str
    file: str
    section: sqlfile.Section


@dataclass(frozen=True)
class Hooks:
    """The hooks of a migrations directory (None: that hook does not exist)."""

    before_migrate: Hook | None = None
    after_migrate: Hook | None = None
    before_each: Hook | None = None
    after_each: Hook | None = None

    def __bool__(self) -> bool:
        return any(self.listed())

    def listed(self) -> list[Hook]:
        """The hooks that exist, in the order a run meets them."""
        return [h for h in (self.before_migrate, self.before_each, self.after_each,
                            self.after_migrate) if h is not None]


def read(folder: Path) -> Hooks:
    """The hooks of migrations directory ``folder``, parsed.

    Raises:
        MigrationFileError: a hook is not valid UTF-8, holds a meta-command or does not
            parse (file, line).
    """
    base = folder / FOLDER
    if not base.is_dir():
        return Hooks()
    found: dict[str, Hook] = {}
    for name in NAMES:
        path = base / f"{name}.sql"
        if path.is_file():
            shown = f"{FOLDER}/{name}.sql"
            text = directory.decode(path.read_bytes(), shown)
            section = sqlfile.parse_plain(text, shown)
            if len(section):
                found[name.replace("-", "_")] = Hook(name, shown, section)
    return Hooks(**found)
