"""Small readers of pglast parse trees, shared by the lint checks and the lock report.

Names come back as a migration author wrote them, without the default ``public.``
schema; what a statement changes and what it links is read from the tree alone. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pglast import ast
from pglast.enums import ConstrType, ObjectType

__all__ = [
    "constraints_of", "has_option", "non_transactional", "object_kind", "object_name",
    "table_commands", "table_name", "tables_touched", "unrelated_tables", "walk",
]


def walk(node: object) -> Iterator[ast.Node]:
    """Every pglast node below ``node`` (itself included), depth first."""
    if isinstance(node, tuple):
        for item in node:
            yield from walk(item)
    elif isinstance(node, ast.Node):
        yield node
        for attr in getattr(type(node), "__slots__", ()):
            yield from walk(getattr(node, attr, None))


def table_name(rv: ast.RangeVar | None) -> str:
    """A table's name as written, without the default ``public.`` schema."""
    if rv is None or rv.relname is None:
        return "?"
    return rv.relname if rv.schemaname in (None, "public") else f"{rv.schemaname}.{rv.relname}"


def object_name(obj: object) -> str:
    """A dropped object's name: a name list, a String, a TypeName or an ObjectWithArgs."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, ast.String):
        return obj.sval or "?"
    if isinstance(obj, ast.TypeName):
        return object_name(obj.names)
    if isinstance(obj, ast.ObjectWithArgs):
        return object_name(obj.objname)
    if isinstance(obj, tuple):
        names = [object_name(part) for part in obj]
        return ".".join(names[1:] if names[:1] == ["public"] and len(names) > 1 else names)
    return "?"


def object_kind(objtype: ObjectType | None) -> str:
    """The SQL words for an object type: ``TABLE``, ``MATERIALIZED VIEW``, …."""
    label = objtype.name.removeprefix("OBJECT_") if objtype is not None else "OBJECT"
    return "MATERIALIZED VIEW" if label == "MATVIEW" else label.replace("_", " ")


def constraints_of(col: ast.ColumnDef, *kinds: ConstrType) -> list[ast.Constraint]:
    """The constraints of column definition ``col`` whose type is one of ``kinds``."""
    return [c for c in col.constraints or () if isinstance(c, ast.Constraint)
            and c.contype in kinds]


def table_commands(node: ast.Node) -> Iterator[tuple[str, ast.AlterTableCmd]]:
    """(table, command) for each command of an ALTER TABLE on a table."""
    if isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE:
        for cmd in node.cmds or ():
            if isinstance(cmd, ast.AlterTableCmd):
                yield table_name(node.relation), cmd


def non_transactional(node: ast.Node) -> str | None:
    """How to name ``node`` if PostgreSQL refuses to run it inside a transaction."""
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return f"CREATE INDEX CONCURRENTLY {node.idxname or ''}".rstrip()
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return f"DROP INDEX CONCURRENTLY {', '.join(object_name(o) for o in node.objects or ())}"
    if isinstance(node, ast.ReindexStmt) and has_option(node.params, "concurrently"):
        return f"REINDEX CONCURRENTLY {table_name(node.relation) if node.relation else node.name}"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    for _table_name, cmd in table_commands(node):
        if isinstance(cmd.def_, ast.PartitionCmd) and cmd.def_.concurrent:
            return "DETACH PARTITION CONCURRENTLY"
    return _NON_TRANSACTIONAL.get(type(node).__name__)


# by class name: the nodes of pgshift.analysis.parsing are subclasses of pglast's
_NON_TRANSACTIONAL = {"CreatedbStmt": "CREATE DATABASE", "DropdbStmt": "DROP DATABASE",
                      "AlterSystemStmt": "ALTER SYSTEM",
                      "CreateTableSpaceStmt": "CREATE TABLESPACE",
                      "DropTableSpaceStmt": "DROP TABLESPACE"}


def has_option(params: tuple[Any, ...] | None, name: str) -> bool:
    """Whether a utility statement's option list (VACUUM, REINDEX) contains ``name``."""
    return any(isinstance(p, ast.DefElem) and p.defname == name for p in params or ())


def tables_touched(node: ast.Node) -> tuple[list[str], list[tuple[str, str]]]:
    """The tables ``node`` changes, and the (table, table) pairs it links by a foreign
    key, partition or inheritance."""
    links: list[tuple[str, str]] = []
    if isinstance(node, ast.CreateStmt):
        table = table_name(node.relation)
        links += [(table, table_name(p)) for p in node.inhRelations or ()
                  if isinstance(p, ast.RangeVar)]
        links += [(table, table_name(c.pktable)) for c in _constraints(node.tableElts)
                  if c.contype == ConstrType.CONSTR_FOREIGN]
        return [table], links
    if isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE:
        table = table_name(node.relation)
        for cmd in node.cmds or ():
            sub = getattr(cmd, "def_", None)
            if isinstance(sub, ast.PartitionCmd):
                links.append((table, table_name(sub.name)))
            links += [(table, table_name(c.pktable)) for c in _constraints((sub,))
                      if c.contype == ConstrType.CONSTR_FOREIGN]
        return [table], links
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
        return [object_name(obj) for obj in node.objects or ()], links
    relation = getattr(node, "relation", None) or getattr(node, "table", None)
    if isinstance(node, (ast.IndexStmt, ast.RenameStmt, ast.CreateTrigStmt, ast.RuleStmt,
                         ast.CreatePolicyStmt)) and isinstance(relation, ast.RangeVar):
        return [table_name(relation)], links
    return [], links


def _constraints(elements: tuple[Any, ...] | None) -> Iterator[ast.Constraint]:
    """The constraints among table elements or command definitions: table constraints
    and those of column definitions."""
    for element in elements or ():
        if isinstance(element, ast.Constraint):
            yield element
        elif isinstance(element, ast.ColumnDef):
            yield from constraints_of(element, ConstrType.CONSTR_FOREIGN)


def unrelated_tables(nodes: Sequence[ast.Node]) -> tuple[int, str] | None:
    """When ``nodes`` change tables that fall into more than one group (tables are related
    when one of ``nodes`` links two changed tables), return (index of the first node that
    starts another group, message); else None."""
    touched = [tables_touched(node) for node in nodes]
    changed = {table for tables, _links in touched for table in tables}
    group = {table: table for table in changed}

    def root(table: str) -> str:
        while group[table] != table:
            table = group[table]
        return table

    for _tables, links in touched:
        for left, right in links:
            if left in changed and right in changed:
                group[root(left)] = root(right)
    starts: dict[str, int] = {}
    for index, (tables, _links) in enumerate(touched):
        for table in tables:
            starts.setdefault(root(table), index)
    if len(starts) < 2:
        return None
    members = sorted(", ".join(sorted(t for t in changed if root(t) == r)) for r in starts)
    return (sorted(starts.values())[1],
            f"changes unrelated tables ({'; '.join(members)}); one change per migration")
