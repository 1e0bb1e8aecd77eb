"""Which table locks a statement takes, read from its pglast parse tree.

The levels follow PostgreSQL's documentation ("Explicit Locking", and the lock level
stated for each ALTER TABLE subcommand) and were checked against ``pg_locks`` on
PostgreSQL 15 and 18. Only locks on relations that exist before the statement are
reported: a new table is nobody else's business until the migration commits. Pure: no
database access; an index's table, which only the catalog knows, is reported as
``kind="table of index"`` for the caller to resolve. The modes and the per-subcommand
levels are tables in :mod:`pgshift.analysis.locks.table`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, DropBehavior, ObjectType, ReindexObjectType
from pglast.parser import ParseError

from pgshift.analysis.locks.table import (
    AS,
    AX,
    MODES,
    ONE_RELATION,
    RS,
    RX,
    SRX,
    SUX,
    TABLE_MEMBERS,
    S,
    X,
    object_label,
    relation_kind,
    subcommand_label,
    subcommand_mode,
)
from pgshift.analysis.tree import object_name, table_name, walk

__all__ = [
    "AS", "AX", "MODES", "RS", "RX", "SRX", "SUX", "Lock", "S", "StatementLocks", "X",
    "statement_locks",
]

_PROCEDURAL = "runs procedural code: the locks it takes cannot be read from the statement"
_CASCADE = "CASCADE also drops, and locks, the objects that depend on it"


@dataclass(frozen=True)
class Lock:
    """``mode`` taken on ``relation`` (named as written, without ``public.``).

    ``kind`` is ``table``, ``view``, ``materialized view``, ``sequence``, ``index``, or
    ``table of index`` (``relation`` is then the index, whose table the catalog knows).
    ``reason`` names the clause that takes the lock, e.g. ``ADD COLUMN``.
    """

    mode: str
    relation: str
    kind: str = "table"
    reason: str = ""

    @property
    def level(self) -> int:
        """1 (ACCESS SHARE) … 8 (ACCESS EXCLUSIVE)."""
        return MODES.index(self.mode) + 1


@dataclass(frozen=True)
class StatementLocks:
    """The locks of one statement (the strongest per relation), ``notes`` on what the
    statement may lock beyond them, the ``(index, table)`` it creates and the table it
    creates, if any."""

    locks: tuple[Lock, ...] = ()
    notes: tuple[str, ...] = ()
    creates_index: tuple[str, str] | None = None
    creates_table: str | None = None


@dataclass
class _Collector:
    locks: dict[tuple[str, str], Lock] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    creates_index: tuple[str, str] | None = None
    creates_table: str | None = None

    def add(self, mode: str, relation: str, reason: str, kind: str = "table") -> None:
        key = (kind, relation)
        old = self.locks.get(key)
        if old is None or MODES.index(mode) > MODES.index(old.mode):
            self.locks[key] = Lock(mode, relation, kind, reason)
        elif mode == old.mode and reason and reason not in old.reason.split(", "):
            self.locks[key] = Lock(mode, relation, kind, f"{old.reason}, {reason}")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def reads(self, node: object, reason: str) -> None:
        """ACCESS SHARE on every relation ``node`` reads (CTE names are not relations)."""
        ctes = {c.ctename for c in walk(node) if isinstance(c, ast.CommonTableExpr)}
        for sub in walk(node):
            if isinstance(sub, ast.RangeVar) and sub.relname and not (
                    sub.schemaname is None and sub.relname in ctes):
                self.add(AS, table_name(sub), reason)

    def result(self) -> StatementLocks:
        ordered = sorted(self.locks.values(), key=lambda lock: -lock.level)
        return StatementLocks(tuple(ordered), tuple(self.notes), self.creates_index,
                              self.creates_table)


def statement_locks(sql: str) -> StatementLocks:
    """The table locks of one SQL statement. Text pglast cannot parse gives no locks and
    a note saying so (running it reports the syntax error)."""
    try:
        raws = parse_sql(sql)
    except ParseError:
        return StatementLocks(notes=("cannot be parsed: locks unknown",))
    found = _Collector()
    for raw in raws:
        if raw.stmt is not None:
            _dispatch(raw.stmt, found)
    return found.result()


def _dispatch(node: ast.Node, found: _Collector) -> None:
    handler = _HANDLERS.get(type(node))
    if handler is not None:
        handler(node, found)
    elif type(node) in ONE_RELATION:
        attribute, mode, reason, kind = ONE_RELATION[type(node)]
        relation = getattr(node, attribute)
        if isinstance(relation, ast.RangeVar):
            found.add(mode, table_name(relation), reason, kind)
        elif isinstance(node, ast.ClusterStmt):
            found.note("CLUSTER without a table name rewrites every clustered table")
    elif isinstance(node, (ast.DoStmt, ast.CallStmt, ast.ExecuteStmt)):
        found.note(_PROCEDURAL)


def _on_alter_table(node: ast.AlterTableStmt, found: _Collector) -> None:
    kind = relation_kind(node.objtype) or "table"
    target = table_name(node.relation)
    for cmd in node.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd) or cmd.subtype is None:
            continue
        label = subcommand_label(cmd, cmd.subtype)
        found.add(subcommand_mode(cmd, cmd.subtype), target, label, kind)
        _references(cmd.def_, found, skip=target)
        if isinstance(cmd.def_, ast.PartitionCmd) and cmd.def_.name is not None:
            partition_mode = SUX if cmd.def_.concurrent else AX
            found.add(partition_mode, table_name(cmd.def_.name), label)
        if cmd.subtype == AlterTableType.AT_ValidateConstraint:
            found.note("if the constraint is a foreign key: ROW SHARE on the table it "
                       "references while the rows are checked")
        if cmd.subtype == AlterTableType.AT_AlterColumnType:
            found.note("rewrites the table and its indexes unless the new type is "
                       "binary-compatible")
        if _cascades(cmd.behavior):
            found.note(_CASCADE)


def _cascades(behavior: DropBehavior | None) -> bool:
    return behavior == DropBehavior.DROP_CASCADE


def _references(node: object, found: _Collector, *, skip: str) -> None:
    """SHARE ROW EXCLUSIVE on each table a FOREIGN KEY / REFERENCES in ``node`` names."""
    for sub in walk(node):
        if isinstance(sub, ast.Constraint) and sub.contype == ConstrType.CONSTR_FOREIGN:
            referenced = table_name(sub.pktable)
            if referenced != skip:
                found.add(SRX, referenced, "referenced by a new FOREIGN KEY")


def _on_create_table(node: ast.CreateStmt, found: _Collector) -> None:
    own = found.creates_table = table_name(node.relation)
    for parent in node.inhRelations or ():
        if isinstance(parent, ast.RangeVar):
            if node.partbound is not None:
                found.add(AX, table_name(parent), "CREATE TABLE … PARTITION OF")
            else:
                found.add(SUX, table_name(parent), "CREATE TABLE … INHERITS")
    for element in node.tableElts or ():
        if isinstance(element, ast.TableLikeClause) and element.relation is not None:
            found.add(AS, table_name(element.relation), "CREATE TABLE … LIKE")
    _references(node.tableElts, found, skip=own)


def _on_index(node: ast.IndexStmt, found: _Collector) -> None:
    table = table_name(node.relation)
    if node.concurrent:
        found.add(SUX, table, "CREATE INDEX CONCURRENTLY")
    else:
        found.add(S, table, "CREATE INDEX")
    if node.idxname:
        found.creates_index = (node.idxname, table)


def _on_create_table_as(node: ast.CreateTableAsStmt, found: _Collector) -> None:
    what = "MATERIALIZED VIEW" if node.objtype == ObjectType.OBJECT_MATVIEW else "TABLE"
    found.reads(node.query, f"CREATE {what} … AS")
    if node.into is not None:
        found.creates_table = table_name(node.into.rel)


def _on_view(node: ast.ViewStmt, found: _Collector) -> None:
    found.reads(node.query, "CREATE VIEW (reads the definition)")
    if node.replace:
        found.add(AX, table_name(node.view), "CREATE OR REPLACE VIEW, when it exists", "view")


def _on_statistics(node: ast.CreateStatsStmt, found: _Collector) -> None:
    for relation in node.relations or ():
        if isinstance(relation, ast.RangeVar):
            found.add(SUX, table_name(relation), "CREATE STATISTICS")


def _on_drop(node: ast.DropStmt, found: _Collector) -> None:
    kind = relation_kind(node.removeType)
    verb = f"DROP {kind.upper()}" if kind else "DROP"
    for obj in node.objects or ():
        if node.removeType == ObjectType.OBJECT_INDEX:
            mode = SUX if node.concurrent else AX
            suffix = " CONCURRENTLY" if node.concurrent else ""
            found.add(mode, object_name(obj), f"DROP INDEX{suffix}", "table of index")
        elif kind is not None:
            found.add(AX, object_name(obj), verb, kind)
        elif node.removeType in TABLE_MEMBERS and isinstance(obj, tuple) and len(obj) > 1:
            found.add(AX, object_name(obj[:-1]), f"DROP {object_label(node.removeType)}")
    if node.removeType == ObjectType.OBJECT_TABLE:
        found.note("tables linked to it by foreign keys get ACCESS EXCLUSIVE too (their "
                   "foreign-key triggers are dropped)")
    if _cascades(node.behavior):
        found.note(_CASCADE)


def _on_truncate(node: ast.TruncateStmt, found: _Collector) -> None:
    for relation in node.relations or ():
        if isinstance(relation, ast.RangeVar):
            found.add(AX, table_name(relation), "TRUNCATE")
    if _cascades(node.behavior):
        found.note("CASCADE also truncates, and locks, the tables that reference it")


def _on_rename(node: ast.RenameStmt, found: _Collector) -> None:
    if node.relation is None:
        return
    kind = relation_kind(node.renameType) or relation_kind(node.relationType) or "table"
    label = object_label(node.renameType)
    # Renaming an index takes only SHARE UPDATE EXCLUSIVE (PostgreSQL 12+).
    mode = SUX if node.renameType == ObjectType.OBJECT_INDEX else AX
    found.add(mode, table_name(node.relation), f"RENAME {label}", kind)


def _on_set_schema(node: ast.AlterObjectSchemaStmt, found: _Collector) -> None:
    if node.relation is not None:
        kind = relation_kind(node.objectType) or "table"
        found.add(AX, table_name(node.relation), "SET SCHEMA", kind)


def _on_comment(node: ast.CommentStmt, found: _Collector) -> None:
    obj, objtype, kind = node.object, node.objtype, relation_kind(node.objtype)
    if kind is not None:
        found.add(SUX, object_name(obj), "COMMENT ON", kind)
    elif objtype == ObjectType.OBJECT_COLUMN and isinstance(obj, tuple) and len(obj) > 1:
        found.add(SUX, object_name(obj[:-1]), "COMMENT ON COLUMN")
    elif objtype in TABLE_MEMBERS and isinstance(obj, tuple) and len(obj) > 1:
        found.add(AS, object_name(obj[:-1]), f"COMMENT ON {object_label(objtype)}")


def _on_grant(node: ast.GrantStmt, found: _Collector) -> None:
    if node.objtype in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_SEQUENCE) and (
            node.targtype is not None and node.targtype.name == "ACL_TARGET_OBJECT"):
        for relation in node.objects or ():
            if isinstance(relation, ast.RangeVar):
                found.add(AS, table_name(relation), "GRANT" if node.is_grant else "REVOKE")


def _on_dml(node: ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt,
            found: _Collector) -> None:
    verb = type(node).__name__.removesuffix("Stmt").upper()
    found.reads(node, verb)
    found.add(RX, table_name(node.relation), verb)


def _on_select(node: ast.SelectStmt, found: _Collector) -> None:
    found.reads(node, "SELECT")
    for clause in node.lockingClause or ():
        if not isinstance(clause, ast.LockingClause):
            continue
        targets = [rv for rv in clause.lockedRels or () if isinstance(rv, ast.RangeVar)]
        if not targets:
            targets = [rv for rv in walk(node.fromClause) if isinstance(rv, ast.RangeVar)]
        for relation in targets:
            found.add(RS, table_name(relation), "SELECT … FOR UPDATE/SHARE")


def _on_copy(node: ast.CopyStmt, found: _Collector) -> None:
    if node.relation is not None:
        found.add(RX if node.is_from else AS, table_name(node.relation),
                  "COPY FROM" if node.is_from else "COPY TO")
    elif node.query is not None:
        _dispatch(node.query, found)


def _on_lock(node: ast.LockStmt, found: _Collector) -> None:
    mode = MODES[(node.mode or 8) - 1]
    for relation in node.relations or ():
        if isinstance(relation, ast.RangeVar):
            found.add(mode, table_name(relation), f"LOCK TABLE IN {mode} MODE")


def _on_vacuum(node: ast.VacuumStmt, found: _Collector) -> None:
    full = node.is_vacuumcmd and any(
        isinstance(o, ast.DefElem) and o.defname == "full" for o in node.options or ())
    verb = ("VACUUM FULL" if full else "VACUUM") if node.is_vacuumcmd else "ANALYZE"
    relations = [r.relation for r in node.rels or ()
                 if isinstance(r, ast.VacuumRelation) and r.relation is not None]
    for relation in relations:
        found.add(AX if full else SUX, table_name(relation), verb)
    if not relations:
        found.note(f"{verb} without a table name processes every table, one at a time")


def _on_reindex(node: ast.ReindexStmt, found: _Collector) -> None:
    concurrent = any(isinstance(p, ast.DefElem) and p.defname == "concurrently"
                     for p in node.params or ())
    verb = "REINDEX CONCURRENTLY" if concurrent else "REINDEX"
    if node.kind == ReindexObjectType.REINDEX_OBJECT_TABLE and node.relation is not None:
        found.add(SUX if concurrent else S, table_name(node.relation), verb)
        if not concurrent:
            found.note("each index being rebuilt is locked ACCESS EXCLUSIVE: queries that "
                       "would use it wait")
    elif node.kind == ReindexObjectType.REINDEX_OBJECT_INDEX and node.relation is not None:
        found.add(SUX if concurrent else S, table_name(node.relation), verb, "table of index")
    else:
        found.note(f"{verb} of a whole schema or database locks every table in it in turn")


def _on_refresh(node: ast.RefreshMatViewStmt, found: _Collector) -> None:
    mode, verb = (X, "REFRESH … CONCURRENTLY") if node.concurrent else (AX, "REFRESH")
    found.add(mode, table_name(node.relation), verb, "materialized view")
    found.note("also ACCESS SHARE on the tables its query reads")


_HANDLERS: dict[type[ast.Node], Callable[[Any, _Collector], None]] = {
    ast.AlterTableStmt: _on_alter_table, ast.CreateStmt: _on_create_table,
    ast.IndexStmt: _on_index, ast.CreateTableAsStmt: _on_create_table_as,
    ast.ViewStmt: _on_view, ast.CreateStatsStmt: _on_statistics, ast.DropStmt: _on_drop,
    ast.TruncateStmt: _on_truncate, ast.RenameStmt: _on_rename,
    ast.AlterObjectSchemaStmt: _on_set_schema, ast.CommentStmt: _on_comment,
    ast.GrantStmt: _on_grant,
    ast.InsertStmt: _on_dml, ast.UpdateStmt: _on_dml, ast.DeleteStmt: _on_dml,
    ast.MergeStmt: _on_dml, ast.SelectStmt: _on_select, ast.CopyStmt: _on_copy,
    ast.LockStmt: _on_lock, ast.VacuumStmt: _on_vacuum,
    ast.ReindexStmt: _on_reindex, ast.RefreshMatViewStmt: _on_refresh,
}  # fmt: skip
