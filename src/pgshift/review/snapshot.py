"""A comparable picture of a database's schema, and the differences between two of them.

:func:`take` reads the catalog of every non-system schema into a :class:`Snapshot`;
:func:`diff` lists what changed between two snapshots as :class:`Difference` values.
Objects are identified by name, never by OID or column number, so a column dropped and
added again with the same definition compares equal, and names PostgreSQL derives from
OIDs (toast tables, internal triggers) never appear. The queries live in
:mod:`pgshift.review.catalog_queries`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg

from pgshift.review import catalog_queries as snapshot_queries

# An object's identity: its type and its raw name parts, e.g.
# ("column", ("public", "users", "bio")).
Key = tuple[str, tuple[str, ...]]

DifferenceKind = Literal["added", "removed", "changed"]

UNQUALIFIED_TYPES = frozenset({"schema", "extension", "privilege"})
FUNCTION_TYPES = frozenset({"function", "procedure", "aggregate", "window function"})

# Order in which differences are listed: containers before their contents.
TYPE_ORDER = (
    "schema", "extension", "enum", "domain", "composite type", "range type", "sequence",
    "table", "foreign table", "column", "constraint", "index", "view", "materialized view",
    "function", "procedure", "aggregate", "window function", "trigger", "policy", "privilege",
)  # fmt: skip

# A changed value longer than SHORT_VALUE is shown as "differs: A vs B" rather than
# "A → B"; any value shown is cut to LONG_VALUE characters.
SHORT_VALUE = 40
LONG_VALUE = 300


@dataclass(frozen=True)
class SnapshotObject:
    """One database object: identity, compared attributes, and what it belongs to.

    ``attrs`` holds ``(name, value)`` pairs of the attributes that are set; ``parent``
    (the table of a column, …) and ``summary`` (shown when the object is added or
    removed) take no part in comparisons.
    """

    object_type: str
    path: tuple[str, ...]
    attrs: tuple[tuple[str, str], ...]
    parent: Key | None = field(default=None, compare=False)
    summary: str | None = field(default=None, compare=False)

    @property
    def key(self) -> Key:
        return (self.object_type, self.path)

    @property
    def name(self) -> str:
        """The name shown to people: ``users.bio``, ``app.orders``, ``touch(integer)``."""
        return display_name(self.object_type, self.path)


@dataclass(frozen=True)
class Snapshot:
    """Every object of a database's non-system schemas, sorted by identity.

    Two snapshots are equal when their objects and attributes are equal; snapshots are
    hashable.
    """

    objects: tuple[SnapshotObject, ...]

    def by_key(self) -> dict[Key, SnapshotObject]:
        """The objects indexed by :attr:`SnapshotObject.key`."""
        return {obj.key: obj for obj in self.objects}


@dataclass(frozen=True)
class Difference:
    """One object that was added, removed or changed between two snapshots.

    ``detail`` is the object's summary for ``added``/``removed`` (e.g. ``text`` for a
    column) and the changed attributes for ``changed`` (e.g. ``default: 0 → 1``).
    """

    kind: DifferenceKind
    object_type: str
    name: str
    detail: str

    def describe(self) -> str:
        """``column users.bio (text)`` or ``index idx_x: definition differs: … vs …``."""
        if self.kind == "changed":
            return f"{self.object_type} {self.name}: {self.detail}"
        if self.detail:
            return f"{self.object_type} {self.name} ({self.detail})"
        return f"{self.object_type} {self.name}"

    def __str__(self) -> str:
        return self.describe()


def take(conn: psycopg.Connection[Any], *, exclude: Collection[tuple[str, str]] = ()) -> Snapshot:
    """Read the schema of the database ``conn`` is connected to.

    ``exclude`` holds ``(schema, table)`` pairs of tables to leave out together with
    everything that belongs to them (columns, indexes, owned sequences, grants, …), such as
    the tracking table. The catalog is read in one transaction (a savepoint if ``conn`` is
    already in one).

    Raises: psycopg.Error — the catalog could not be read.
    """
    objects: dict[Key, SnapshotObject] = {}
    for row in snapshot_queries.fetch_rows(conn):
        obj = _to_object(row)
        objects[obj.key] = obj
    excluded = {("table", (schema, table)) for schema, table in exclude}
    kept = [
        obj
        for obj in objects.values()
        if obj.key not in excluded and not _inside(obj, excluded, objects)
    ]
    kept.sort(key=lambda obj: obj.key)
    return Snapshot(tuple(kept))


def diff(before: Snapshot, after: Snapshot) -> list[Difference]:
    """List what differs from ``before`` to ``after``, sorted by object type then name.

    An object that is added or removed together with the object it belongs to is not
    listed on its own: a new table is one difference, not one per column and index.
    """
    old, new = before.by_key(), after.by_key()
    removed = old.keys() - new.keys()
    added = new.keys() - old.keys()
    found: list[Difference] = []
    for key in removed:
        if not _inside(old[key], removed, old):
            found.append(_appeared("removed", old[key]))
    for key in added:
        if not _inside(new[key], added, new):
            found.append(_appeared("added", new[key]))
    for key in old.keys() & new.keys():
        if old[key].attrs != new[key].attrs:
            detail = describe_changes(dict(old[key].attrs), dict(new[key].attrs))
            found.append(Difference("changed", key[0], old[key].name, detail))
    found.sort(key=_sort_key)
    return found


def display_name(object_type: str, path: tuple[str, ...]) -> str:
    """Join raw name parts for people, leaving out the ``public.`` schema prefix."""
    if object_type == "privilege":
        target_type, target, (privilege, grantee, state) = path[0], path[1:-3], path[-3:]
        to = "to" if state == "granted" else "revoked from"
        return f"{privilege} on {target_type} {display_name(target_type, target)} {to} {grantee}"
    if len(path) == 1:
        return path[0]
    schema, name, *rest = path
    qualified = name if schema == "public" else f"{schema}.{name}"
    if object_type in FUNCTION_TYPES:
        return f"{qualified}({', '.join(rest)})"
    return ".".join([qualified, *rest])


def describe_changes(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """``default: 0 → 1; not null: false → true`` for the attributes that differ."""
    names = list(old) + [name for name in new if name not in old]
    parts = []
    for name in names:
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        shown_before, shown_after = _shown(before), _shown(after)
        if max(len(shown_before), len(shown_after)) <= SHORT_VALUE:
            parts.append(f"{name}: {shown_before} → {shown_after}")
        else:
            parts.append(f"{name} differs: {shown_before} vs {shown_after}")
    return "; ".join(parts)


def _to_object(row: Mapping[str, Any]) -> SnapshotObject:
    identity = {"object_type", "path", "parent_type", "parent_path", "summary"}
    attrs = tuple(
        (column.replace("_", " "), _text(value))
        for column, value in row.items()
        if column not in identity and value is not None
    )
    path = tuple(row["path"])
    parent: Key | None = None
    if row["parent_type"] is not None:
        parent = (row["parent_type"], tuple(row["parent_path"]))
    elif row["object_type"] not in UNQUALIFIED_TYPES:
        # Everything else lives in a schema and goes when the schema is dropped.
        parent = ("schema", path[:1])
    summary = row["summary"]
    return SnapshotObject(row["object_type"], path, attrs, parent, summary)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _shown(value: str | None) -> str:
    if value is None:
        return "(none)"
    flat = " ".join(value.split())
    return flat if len(flat) <= LONG_VALUE else flat[: LONG_VALUE - 1] + "…"


def _inside(
    obj: SnapshotObject, containers: Collection[Key], objects: Mapping[Key, SnapshotObject]
) -> bool:
    """Whether ``obj`` belongs, directly or through its parents, to one of ``containers``."""
    seen: set[Key] = {obj.key}
    key = obj.parent
    while key is not None and key not in seen:
        if key in containers:
            return True
        seen.add(key)
        current = objects.get(key)
        key = current.parent if current is not None else None
    return False


def _appeared(kind: DifferenceKind, obj: SnapshotObject) -> Difference:
    return Difference(kind, obj.object_type, obj.name, _shown(obj.summary) if obj.summary else "")


def _sort_key(difference: Difference) -> tuple[int, str, str, str]:
    rank = TYPE_ORDER.index(difference.object_type) if difference.object_type in TYPE_ORDER else 99
    return (rank, difference.name, difference.kind, difference.detail)
