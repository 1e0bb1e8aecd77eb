"""The targets of a fleet run: where they come from and which ones a run takes.

Sources (SPEC §8): the schemas of one database matching a ``LIKE`` pattern or returned by
a query, a TOML targets file (``[[target]]`` with ``name``, ``url`` or ``url_env``, and
``schema``), and ``[tool.pgshift.fleet]`` defaults. :func:`select` orders targets by name
and applies ``--only``/``--exclude`` and ``--shard I/N``. Nothing here runs migrations;
only :func:`schema_targets` talks to a server (to list schemas).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgshift.errors import ConfigError, UsageRefused

TARGET_KEYS = frozenset({"name", "url", "url_env", "schema"})
PYPROJECT_FLEET_KEYS = frozenset({"schemas", "schemas_query", "targets"})
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Target:
    """One target: a database (``url``), or one ``schema`` of it. ``name`` identifies it in
    output and in ``--only``/``--exclude``/``--shard``; a schema target's name is the
    schema's by default."""

    name: str
    url: str
    schema: str | None = None

    @classmethod
    def for_schema(cls, url: str, schema: str) -> Target:
        return cls(schema, url, schema)


@dataclass(frozen=True)
class Sources:
    """Where targets come from (any may be None; several add up)."""

    schemas: str | None = None
    schemas_query: str | None = None
    targets_file: Path | None = None

    @property
    def empty(self) -> bool:
        return self.schemas is None and self.schemas_query is None and self.targets_file is None

    @property
    def needs_database(self) -> bool:
        """Whether the sources list schemas of the ``--database-url`` database."""
        return self.schemas is not None or self.schemas_query is not None


def sources_from_project(project: Mapping[str, Any], cwd: Path) -> Sources:
    """``[tool.pgshift.fleet]`` of pyproject.toml as :class:`Sources` (all None if absent).

    Raises:
        ConfigError: not a table, an unknown key, or a value that is not a string.
    """
    section = project.get("fleet")
    if section is None:
        return Sources()
    where = "pyproject.toml [tool.pgshift.fleet]"
    _check_table(section, where, PYPROJECT_FLEET_KEYS, not_table="must be a table")
    for key, value in section.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: {key} must be a non-empty string")
    targets = section.get("targets")
    return Sources(section.get("schemas"), section.get("schemas_query"),
                   (cwd / targets) if targets else None)


def check_pattern(pattern: str) -> str:
    """A ``LIKE`` pattern for ``--schemas``.

    Raises:
        UsageRefused: empty, or ending with an escape character (the server would refuse).
    """
    if not pattern.strip():
        raise UsageRefused("--schemas: the pattern is empty", hint="e.g. --schemas 'tenant_%'")
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    if trailing % 2:
        raise UsageRefused(f"--schemas {pattern!r}: a LIKE pattern must not end with the "
                           "escape character \\", hint="write \\\\ for a literal backslash")
    return pattern


def schema_targets(url: str, *, pattern: str | None = None, query: str | None = None) -> (
    list[Target]
):
    """The schema targets of database ``url``: schemas matching ``pattern`` (``LIKE``)
    and/or those ``query`` returns. ``pg_*`` and ``information_schema`` never count.

    Raises:
        UsageRefused: a bad pattern, or ``query`` fails or returns no text column.
        Unreachable, ConnectionFailed.
    """
    import psycopg

    from pgshift.db import catalog
    from pgshift.db.connect import connect

    if pattern is not None:
        check_pattern(pattern)
    names: list[str] = []
    with connect(url, autocommit=True) as conn:
        if pattern is not None:
            names += catalog.schemas_like(conn, pattern)
        if query is not None:
            try:
                listed = catalog.schemas_from_query(conn, query)
            except psycopg.Error as error:
                message = error.diag.message_primary or str(error).strip()
                raise UsageRefused(f"--schemas-query failed: {message}",
                                   hint="the query must return schema names in its first "
                                   "column (it runs in a read-only transaction)") from None
            except TypeError as error:
                raise UsageRefused(f"--schemas-query: {error}",
                                   hint="return schema names, e.g. SELECT nspname FROM "
                                   "pg_namespace WHERE …") from None
            names += [n for n in listed if not n.startswith("pg_")
                      and n != "information_schema"]
    return [Target.for_schema(url, name) for name in dict.fromkeys(names)]


def load_targets_file(path: Path, environ: Mapping[str, str]) -> tuple[list[Target],
                                                                         tuple[str, ...]]:
    """The ``[[target]]`` tables of a TOML file, and the secrets their URLs hold (from
    ``url_env`` variables, to mask in any output).

    Raises:
        ConfigError: unreadable file, unknown or missing keys, a duplicate name, an unset
            ``url_env`` variable, or a password in a ``url`` (passwords come from the
            environment or ``~/.pgpass``, never from the file).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--targets {path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read ({error})") from None
    extra = sorted(set(data) - {"target"})
    tables = data.get("target")
    if extra or not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path}: expected [[target]] tables only"
                          + (f" (found {', '.join(extra)})" if extra else ""),
                          hint='e.g. [[target]]\nname = "eu"\nurl_env = "EU_DATABASE_URL"')
    targets: list[Target] = []
    secrets: list[str] = []
    for number, table in enumerate(tables, start=1):
        target, found = _file_target(path, number, table, environ)
        if any(t.name == target.name for t in targets):
            raise ConfigError(f"{path}: [[target]] #{number}: name {target.name!r} is used "
                              "twice", hint="target names must be unique")
        targets.append(target)
        secrets += found
    return targets, tuple(secrets)


def _file_target(path: Path, number: int, table: Any, environ: Mapping[str, str]) -> (
    tuple[Target, tuple[str, ...]]
):
    from pgshift.config import build_conninfo

    where = f"{path}: [[target]] #{number}"
    _check_table(table, where, TARGET_KEYS, not_table="is not a table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name (a non-empty string) is required")
    where = f"{where} ({name})"
    for key in ("url", "url_env", "schema"):
        if key in table and (not isinstance(table[key], str) or not table[key]):
            raise ConfigError(f"{where}: {key} must be a non-empty string")
    if ("url" in table) == ("url_env" in table):
        raise ConfigError(f"{where}: give exactly one of url and url_env")
    if "url" in table:
        conninfo, secrets = build_conninfo(table["url"], f"{where} url", False, environ, {})
        if secrets:
            raise ConfigError(
                f"{where}: url holds a password; a targets file must not",
                hint="put the URL in an environment variable and name it with url_env, or "
                "keep the password in ~/.pgpass or PGPASSWORD",
            )
    else:
        variable = table["url_env"]
        if not environ.get(variable):
            raise ConfigError(f"{where}: url_env {variable}: the environment variable is "
                              "not set")
        conninfo, secrets = build_conninfo(environ[variable], f"{variable} (url_env of "
                                           f"{where})", False, environ, {})
    return Target(name.strip(), conninfo, table.get("schema")), secrets


def combine(groups: Iterable[Sequence[Target]]) -> list[Target]:
    """All targets of all sources; the same target from two sources counts once.

    Raises:
        UsageRefused: two different targets share a name.
    """
    by_name: dict[str, Target] = {}
    for group in groups:
        for target in group:
            known = by_name.setdefault(target.name, target)
            if known != target:
                raise UsageRefused(
                    f"two different targets are named {target.name!r}",
                    hint="rename one in the targets file (schema targets are named by "
                    "their schema)",
                )
    return list(by_name.values())


def split_names(values: Iterable[str]) -> frozenset[str]:
    """``--only a,b --only c`` → {a, b, c}."""
    return frozenset(n.strip() for value in values for n in value.split(",") if n.strip())


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` with 1 ≤ I ≤ N → (I, N).

    Raises:
        UsageRefused: anything else.
    """
    match = _SHARD.match(text)
    if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UsageRefused(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4",
                           hint="in a Kubernetes indexed Job: --shard "
                           "$((JOB_COMPLETION_INDEX + 1))/N")
    return int(match.group(1)), int(match.group(2))


def select(targets: Sequence[Target], *, only: frozenset[str] = frozenset(),
           exclude: frozenset[str] = frozenset(), shard: tuple[int, int] | None = None) -> (
    list[Target]
):
    """The targets a run takes, in name order: those named by ``only`` (all when empty),
    minus ``exclude``; then, with ``shard=(I, N)``, those whose position counted from 0
    is congruent to I-1 modulo N.

    Raises:
        UsageRefused: ``only`` names a target that does not exist.
    """
    ordered = sorted(targets, key=lambda t: t.name)
    unknown = sorted(only - {t.name for t in ordered})
    if unknown:
        raise UsageRefused(f"--only: no target named {', '.join(unknown)}")
    chosen = [t for t in ordered if (not only or t.name in only) and t.name not in exclude]
    if shard is not None:
        index, count = shard
        chosen = [t for position, t in enumerate(chosen) if position % count == index - 1]
    return chosen


def _check_table(value: Any, where: str, known: frozenset[str], *,
                 not_table: str) -> None:
    """Refuse a TOML value that is not a table, or a table with a key not in ``known``.

    Raises: ConfigError — naming ``where`` and, for unknown keys, the known ones.
    """
    if not isinstance(value, dict):
        raise ConfigError(f"{where} {not_table}")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(unknown)}",
                          hint=f"known keys: {', '.join(sorted(known))}")
