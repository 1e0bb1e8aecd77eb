"""The per-statement lint checks: what each kind of statement risks on a live database.

:func:`check_statement` looks at one parsed statement, given what the section did
before it (:class:`Scope`), and records the rule ids it breaks with their messages. The
rules are described in :mod:`pgshift.analysis.lint.catalog`;
:mod:`pgshift.analysis.lint.linter` turns the hits into findings. Pure: no I/O and no database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType, TransactionStmtKind

from pgshift.analysis.lint.facts import (
    SERIAL_TYPES,
    column_type_change,
    type_label,
    type_name,
    volatile_call,
)
from pgshift.analysis.tree import (
    constraints_of,
    has_option,
    non_transactional,
    object_kind,
    object_name,
    table_commands,
    table_name,
    walk,
)

__all__ = ["Scope", "Section", "check_statement"]

Section = Literal["up", "down"]

_BLOCK_START = frozenset({TransactionStmtKind.TRANS_STMT_BEGIN,
                          TransactionStmtKind.TRANS_STMT_START})
_BLOCK_END = frozenset({TransactionStmtKind.TRANS_STMT_COMMIT,
                        TransactionStmtKind.TRANS_STMT_ROLLBACK,
                        TransactionStmtKind.TRANS_STMT_PREPARE})


@dataclass
class Scope:
    """What one section has done so far, statement by statement; collects the hits."""

    section: Section
    old_types: dict[tuple[str, str], ast.TypeName]
    new_indexes: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    added_columns: set[tuple[str, str]] = field(default_factory=set)
    enum_values: set[str] = field(default_factory=set)
    in_block: bool = False
    hits: list[tuple[str, str]] = field(default_factory=list)

    def hit(self, rule: str, message: str) -> None:
        self.hits.append((rule, message))


def check_statement(node: ast.Node, scope: Scope) -> None:
    """Record in ``scope.hits`` the (rule id, message) of every problem of statement
    ``node``, and update ``scope`` with what the statement does."""
    _check_enum_use(node, scope)
    _check_transaction_block(node, scope)
    handler = _HANDLERS.get(type(node).__name__)
    if handler is not None:
        handler(node, scope)
    else:
        _check_idempotent_create(node, scope)


def _check_enum_use(node: ast.Node, scope: Scope) -> None:
    if not scope.enum_values:
        return
    for sub in walk(node):
        if (isinstance(sub, ast.A_Const) and isinstance(sub.val, ast.String)
                and sub.val.sval in scope.enum_values):
            scope.hit("enum-value-used-in-same-migration",
                      f"enum value '{sub.val.sval}' is used in the migration that adds it")
            return


def _check_transaction_block(node: ast.Node, scope: Scope) -> None:
    if isinstance(node, ast.TransactionStmt):
        if node.kind in _BLOCK_START:
            scope.in_block = True
        elif node.kind in _BLOCK_END:
            scope.in_block = False
        return
    label = non_transactional(node)
    if label is not None and scope.in_block:
        scope.hit("non-transactional-in-transaction-block",
                  f"{label} cannot run inside the BEGIN … COMMIT block of this file")


# --- statement handlers -----------------------------------------------------------------


def _on_create_table(node: ast.CreateStmt, scope: Scope) -> None:
    table = table_name(node.relation)
    if not node.if_not_exists:
        scope.hit("require-if-not-exists", f"CREATE TABLE {table} without IF NOT EXISTS")
    for col in node.tableElts or ():
        if isinstance(col, ast.ColumnDef):
            _check_type_choice(table, col.colname, col.typeName, scope)
    scope.created.add(table)


def _on_create_table_as(node: ast.CreateTableAsStmt, scope: Scope) -> None:
    table = table_name(node.into.rel if node.into else None)
    if not node.if_not_exists:
        scope.hit("require-if-not-exists",
                  f"CREATE {object_kind(node.objtype)} {table} without IF NOT EXISTS")
    scope.created.add(table)


def _on_index(node: ast.IndexStmt, scope: Scope) -> None:
    table = table_name(node.relation)
    what = f"CREATE {'UNIQUE ' if node.unique else ''}INDEX {node.idxname or '(unnamed)'}"
    if not node.concurrent and table not in scope.created:
        scope.hit("require-concurrent-index",
                  f"{what} on existing table {table} without CONCURRENTLY")
    if not node.if_not_exists:
        scope.hit("require-if-not-exists", f"{what} without IF NOT EXISTS")
    if node.idxname:
        scope.new_indexes.add(node.idxname)


def _on_drop(node: ast.DropStmt, scope: Scope) -> None:
    names = [object_name(obj) for obj in node.objects or ()]
    what = f"DROP {object_kind(node.removeType)} {', '.join(names)}"
    if not node.missing_ok:
        scope.hit("require-if-exists", f"{what} without IF EXISTS")
    if (node.removeType == ObjectType.OBJECT_INDEX and not node.concurrent
            and any(name.rpartition(".")[2] not in scope.new_indexes for name in names)):
        scope.hit("require-concurrent-index-drop", f"{what} without CONCURRENTLY")
    if node.removeType == ObjectType.OBJECT_TABLE and scope.section == "up":
        old = [name for name in names if name not in scope.created]
        if old:
            scope.hit("drop-table", f"DROP TABLE {', '.join(old)} in the UP section")


def _on_rename(node: ast.RenameStmt, scope: Scope) -> None:
    table = table_name(node.relation)
    if node.renameType == ObjectType.OBJECT_COLUMN and node.relationType in (
            ObjectType.OBJECT_TABLE, ObjectType.OBJECT_FOREIGN_TABLE):
        scope.hit("rename-column",
                  f"RENAME COLUMN {table}.{node.subname} to {node.newname}")
    elif node.renameType == ObjectType.OBJECT_TABLE:
        scope.hit("rename-table", f"RENAME TABLE {table} to {node.newname}")


def _on_alter_enum(node: ast.AlterEnumStmt, scope: Scope) -> None:
    if node.newVal is None or node.oldVal is not None:
        return  # RENAME VALUE
    if not node.skipIfNewValExists:
        scope.hit("require-if-not-exists", f"ALTER TYPE {object_name(node.typeName)} ADD VALUE "
                  f"'{node.newVal}' without IF NOT EXISTS")
    scope.enum_values.add(node.newVal)


def _on_vacuum(node: ast.VacuumStmt, scope: Scope) -> None:
    if node.is_vacuumcmd and has_option(node.options, "full"):
        tables = [table_name(r.relation) for r in node.rels or ()
                  if isinstance(r, ast.VacuumRelation)]
        scope.hit("vacuum-full", f"VACUUM FULL {', '.join(tables) or '(all tables)'}")


def _on_cluster(node: ast.ClusterStmt, scope: Scope) -> None:
    target = table_name(node.relation) if node.relation else "(all tables)"
    scope.hit("cluster", f"CLUSTER {target}")


def _on_lock(node: ast.LockStmt, scope: Scope) -> None:
    tables = [table_name(rv) for rv in node.relations or () if isinstance(rv, ast.RangeVar)]
    scope.hit("lock-table", f"LOCK TABLE {', '.join(tables)}")


def _on_reindex(node: ast.ReindexStmt, scope: Scope) -> None:
    if not has_option(node.params, "concurrently"):
        target = table_name(node.relation) if node.relation else node.name
        scope.hit("require-concurrent-reindex", f"REINDEX {target} without CONCURRENTLY")


# statement class name -> (object kind, attribute naming the object)
_IF_NOT_EXISTS = {
    "CreateSeqStmt": ("SEQUENCE", "sequence"), "CreateSchemaStmt": ("SCHEMA", "schemaname"),
    "CreateExtensionStmt": ("EXTENSION", "extname"),
    "CreateForeignServerStmt": ("SERVER", "servername"),
    "CreateStatsStmt": ("STATISTICS", "defnames"),
}
_OR_REPLACE = {
    "ViewStmt": ("VIEW", "view"), "CreateFunctionStmt": ("FUNCTION", "funcname"),
    "RuleStmt": ("RULE", "rulename"), "CreateTrigStmt": ("TRIGGER", "trigname"),
}


def _check_idempotent_create(node: ast.Node, scope: Scope) -> None:
    """CREATE statements other than TABLE/INDEX that PostgreSQL lets write idempotently."""
    kind_name = type(node).__name__
    if kind_name in _IF_NOT_EXISTS and not getattr(node, "if_not_exists", True):
        kind, attr = _IF_NOT_EXISTS[kind_name]
        scope.hit("require-if-not-exists",
                  f"CREATE {kind} {object_name(getattr(node, attr))} without IF NOT EXISTS")
    elif (kind_name in _OR_REPLACE and not getattr(node, "replace", True)
          and not getattr(node, "isconstraint", False)):
        kind, attr = _OR_REPLACE[kind_name]
        if isinstance(node, ast.CreateFunctionStmt) and node.is_procedure:
            kind = "PROCEDURE"
        name = getattr(node, attr)
        name = table_name(name) if isinstance(name, ast.RangeVar) else object_name(name)
        scope.hit("require-if-not-exists", f"CREATE {kind} {name} without OR REPLACE")


def _on_alter_table(node: ast.AlterTableStmt, scope: Scope) -> None:
    for table, cmd in table_commands(node):
        existing = table not in scope.created
        col = f"{table}.{cmd.name}"
        if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            _on_add_column(table, cmd.def_, existing, scope)
            if not cmd.missing_ok:
                scope.hit("require-if-not-exists",
                          f"ADD COLUMN {table}.{cmd.def_.colname} without IF NOT EXISTS")
        elif cmd.subtype == AlterTableType.AT_DropColumn:
            if scope.section == "up" and existing:
                scope.hit("drop-column", f"DROP COLUMN {col} in the UP section")
            if not cmd.missing_ok:
                scope.hit("require-if-exists", f"DROP COLUMN {col} without IF EXISTS")
        elif cmd.subtype == AlterTableType.AT_DropConstraint and not cmd.missing_ok:
            scope.hit("require-if-exists", f"DROP CONSTRAINT {cmd.name} on {table} "
                      "without IF EXISTS")
        elif cmd.subtype == AlterTableType.AT_SetNotNull and existing:
            new = (table, cmd.name) in scope.added_columns
            scope.hit("set-not-null", f"SET NOT NULL on {col} scans {table}" + (
                "; add the column with NOT NULL DEFAULT instead" if new else ""))
        elif cmd.subtype == AlterTableType.AT_AddConstraint and existing:
            if isinstance(cmd.def_, ast.Constraint):
                _on_add_constraint(table, cmd.def_, scope)
        elif (cmd.subtype == AlterTableType.AT_AlterColumnType and cmd.name
              and isinstance(cmd.def_, ast.ColumnDef)):
            _on_alter_type(table, cmd.name, cmd.def_, existing, scope)


def _on_add_column(table: str, col: ast.ColumnDef, existing: bool, scope: Scope) -> None:
    """Checks for ADD COLUMN; ``existing`` is False for a table created in this section."""
    name = f"{table}.{col.colname}"
    scope.added_columns.add((table, col.colname or ""))
    if col.colname and col.typeName:
        scope.old_types[(table, col.colname)] = col.typeName
    _check_type_choice(table, col.colname, col.typeName, scope)
    if not existing:
        return
    defaults = constraints_of(col, ConstrType.CONSTR_DEFAULT)
    volatile = next((f for d in defaults if (f := volatile_call(d.raw_expr))), None)
    if volatile:
        scope.hit("add-column-volatile-default",
                  f"ADD COLUMN {name} with volatile DEFAULT {volatile}() rewrites {table}")
    serial = type_name(col.typeName) in SERIAL_TYPES
    if serial or constraints_of(col, ConstrType.CONSTR_IDENTITY):
        what = type_name(col.typeName) if serial else "identity"
        scope.hit("add-column-serial", f"ADD COLUMN {name} {what} rewrites {table}")
    if any(c.generated_kind == "s" for c in constraints_of(col, ConstrType.CONSTR_GENERATED)):
        scope.hit("add-column-generated-stored",
                  f"ADD COLUMN {name} GENERATED … STORED rewrites {table}")
    filled = constraints_of(col, ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY,
                          ConstrType.CONSTR_GENERATED)
    if (col.is_not_null or constraints_of(col, ConstrType.CONSTR_NOTNULL)) and not (
            filled or serial):
        scope.hit("add-column-not-null-without-default",
                  f"ADD COLUMN {name} NOT NULL without DEFAULT fails on a non-empty {table}")
    keys = constraints_of(col, ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE)
    if keys:
        kind = "PRIMARY KEY" if keys[0].contype == ConstrType.CONSTR_PRIMARY else "UNIQUE"
        scope.hit("add-unique-constraint", f"ADD COLUMN {name} {kind} builds an index "
                  f"under an ACCESS EXCLUSIVE lock on {table}")


def _on_add_constraint(table: str, con: ast.Constraint, scope: Scope) -> None:
    name = con.conname or "(unnamed)"
    if con.contype in (ConstrType.CONSTR_FOREIGN, ConstrType.CONSTR_CHECK) and (
            not con.skip_validation):
        kind = "FOREIGN KEY" if con.contype == ConstrType.CONSTR_FOREIGN else "CHECK"
        scope.hit("constraint-missing-not-valid",
                  f"ADD CONSTRAINT {name} {kind} on existing table {table} without NOT VALID")
    elif con.contype == ConstrType.CONSTR_NOTNULL and not con.skip_validation:
        scope.hit("set-not-null", f"ADD CONSTRAINT {name} NOT NULL on existing table {table} "
                  "without NOT VALID")
    elif con.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY,
                         ConstrType.CONSTR_EXCLUSION) and not con.indexname:
        kinds = {ConstrType.CONSTR_UNIQUE: "UNIQUE", ConstrType.CONSTR_PRIMARY: "PRIMARY KEY"}
        scope.hit("add-unique-constraint",
                  f"ADD CONSTRAINT {name} {kinds.get(con.contype, 'EXCLUDE')} on existing "
                  f"table {table} without USING INDEX")


def _on_alter_type(table: str, column: str, col: ast.ColumnDef, existing: bool,
                   scope: Scope) -> None:
    _check_type_choice(table, column, col.typeName, scope)
    if not existing or col.typeName is None:
        return
    verdict = column_type_change(scope.old_types.get((table, column)), col.typeName,
                                 using=col.raw_default is not None)
    if verdict is not None:
        rule, reason = verdict
        scope.hit(rule, f"ALTER COLUMN {table}.{column} TYPE {type_label(col.typeName)} "
                  f"{reason}")


def _check_type_choice(table: str, column: str | None, tn: ast.TypeName | None,
                       scope: Scope) -> None:
    name = type_name(tn)
    if name == "json":
        scope.hit("prefer-jsonb", f"column {table}.{column} has type json; use jsonb")
    elif name == "timestamp":
        scope.hit("prefer-timestamptz",
                  f"column {table}.{column} has type timestamp without time zone; "
                  "use timestamptz")



# by class name: the nodes of pgshift.analysis.parsing are subclasses of pglast's
_HANDLERS: dict[str, Callable[[Any, Scope], None]] = {
    "CreateStmt": _on_create_table, "CreateTableAsStmt": _on_create_table_as,
    "IndexStmt": _on_index, "DropStmt": _on_drop, "AlterTableStmt": _on_alter_table,
    "RenameStmt": _on_rename, "AlterEnumStmt": _on_alter_enum, "VacuumStmt": _on_vacuum,
    "ClusterStmt": _on_cluster, "LockStmt": _on_lock, "ReindexStmt": _on_reindex,
}
