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
from pglast.enums import (
    AlterTableType,
    ConstrType,
    DropBehavior,
    NullTestType,
    ObjectType,
    ReindexObjectType,
    TransactionStmtKind,
)

from pgshift.analysis.lint.facts import (
    SERIAL_TYPES,
    column_type_change,
    default_volatility,
    type_label,
    type_name,
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

__all__ = ["History", "Scope", "Section", "check_statement"]

Section = Literal["up", "down"]

_BLOCK_START = frozenset({TransactionStmtKind.TRANS_STMT_BEGIN,
                          TransactionStmtKind.TRANS_STMT_START})
_BLOCK_END = frozenset({TransactionStmtKind.TRANS_STMT_COMMIT,
                        TransactionStmtKind.TRANS_STMT_ROLLBACK,
                        TransactionStmtKind.TRANS_STMT_PREPARE})


@dataclass
class History:
    """What the migrations linted so far declared, for the ones after them: each user
    function's volatility (``i``, ``s`` or ``v``) and language, the CHECK (col IS NOT
    NULL) constraints by (table, name) and the (table, column) pairs such a constraint
    has validated. ``missed`` collects the keys looked up and not found, so that a file
    linted without the files before it can tell whether they could have changed its
    findings (:meth:`keys`)."""

    functions: dict[str, tuple[str, str]] = field(default_factory=dict)
    not_null_checks: dict[tuple[str, str], str] = field(default_factory=dict)
    validated_not_null: set[tuple[str, str]] = field(default_factory=set)
    missed: set[tuple[str, object]] = field(default_factory=set)

    def copy(self) -> History:
        return History(dict(self.functions), dict(self.not_null_checks),
                       set(self.validated_not_null))

    def keys(self) -> set[tuple[str, object]]:
        """Every key a lookup could find: compare with another history's ``missed``."""
        return ({("f", name) for name in self.functions}
                | {("c", key) for key in self.not_null_checks}
                | {("v", key) for key in self.validated_not_null})

    def merged(self, later: History) -> History:
        """This history followed by ``later``'s declarations (``later`` wins)."""
        return History({**self.functions, **later.functions},
                       {**self.not_null_checks, **later.not_null_checks},
                       self.validated_not_null | later.validated_not_null)

    def function(self, name: str) -> tuple[str, str] | None:
        found = self.functions.get(name)
        if found is None:
            self.missed.add(("f", name))
        return found

    def check_column(self, table: str, name: str, *, remove: bool = False) -> str | None:
        """The column a CHECK (col IS NOT NULL) constraint ``name`` of ``table`` checks."""
        key = (table, name)
        found = self.not_null_checks.pop(key, None) if remove else self.not_null_checks.get(key)
        if found is None:
            self.missed.add(("c", key))
        return found

    def validated(self, table: str, column: str) -> bool:
        if (table, column) in self.validated_not_null:
            return True
        self.missed.add(("v", (table, column)))
        return False


@dataclass
class Scope:
    """What one section has done so far, statement by statement; collects the hits.
    ``outside_transaction``: pgshift runs the section statement by statement (outside
    the file's own BEGIN … COMMIT, if any)."""

    section: Section
    old_types: dict[tuple[str, str], ast.TypeName]
    history: History = field(default_factory=History)
    outside_transaction: bool = False
    new_indexes: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    created_objects: set[tuple[str, str]] = field(default_factory=set)
    added_columns: set[tuple[str, str]] = field(default_factory=set)
    added_constraints: set[tuple[str, str]] = field(default_factory=set)
    not_valid: set[tuple[str, str]] = field(default_factory=set)
    set_not_null_tables: set[str] = field(default_factory=set)
    enum_values: set[str] = field(default_factory=set)
    in_block: bool = False
    hits: list[tuple[str, str]] = field(default_factory=list)
    # (rule, kind, name, message, line) of DROPs not (yet) followed by a re-creation
    pending_drops: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    line: int = 0  # of the statement being checked

    def hit(self, rule: str, message: str) -> None:
        self.hits.append((rule, message))

    @property
    def in_transaction(self) -> bool:
        """Whether the current statement runs inside a transaction."""
        return self.in_block or not self.outside_transaction


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
    types: dict[str, ast.TypeName] = {}
    for col in node.tableElts or ():
        if isinstance(col, ast.ColumnDef):
            _check_type_choice(table, col.colname, col.typeName, scope)
            _check_key_type(table, col, scope)
            if col.colname and col.typeName:
                types[col.colname] = col.typeName
        elif isinstance(col, ast.Constraint) and col.contype in _KEY_CONSTRAINTS:
            for key in col.fk_attrs or col.keys or ():
                name = key.sval if isinstance(key, ast.String) else None
                if name in types:
                    _key_type_hit(table, name, types[name], col.contype, scope)
    scope.created.add(table)


def _on_create_table_as(node: ast.CreateTableAsStmt, scope: Scope) -> None:
    table = table_name(node.into.rel if node.into else None)
    if not node.if_not_exists:
        scope.hit("require-if-not-exists",
                  f"CREATE {object_kind(node.objtype)} {table} without IF NOT EXISTS")
    scope.created.add(table)


_KEY_CONSTRAINTS = frozenset({ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_FOREIGN})
# 4-byte and 2-byte integer types (and their serial forms) by their parsed names
_SMALL_KEY_TYPES = frozenset({"int4", "int2", "integer", "int", "smallint", "serial",
                              "serial4", "smallserial", "serial2"})


def _check_key_type(table: str, col: ast.ColumnDef, scope: Scope) -> None:
    """prefer-bigint-key and prefer-identity for a new column definition."""
    name = type_name(col.typeName)
    if name in SERIAL_TYPES:
        scope.hit("prefer-identity", f"column {table}.{col.colname} is {name}; use "
                  f"{'bigint' if name in ('bigserial', 'serial8') else 'an integer'} "
                  "GENERATED … AS IDENTITY")
    keys = constraints_of(col, *_KEY_CONSTRAINTS)
    if keys and col.colname:
        _key_type_hit(table, col.colname, col.typeName, keys[0].contype, scope)


def _key_type_hit(table: str, column: str, tn: ast.TypeName | None,
                  kind: ConstrType | None, scope: Scope) -> None:
    name = type_name(tn)
    if name in _SMALL_KEY_TYPES:
        what = "primary key" if kind == ConstrType.CONSTR_PRIMARY else "foreign key"
        scope.hit("prefer-bigint-key", f"{what} column {table}.{column} is {name}; use bigint")


def _on_index(node: ast.IndexStmt, scope: Scope) -> None:
    table = table_name(node.relation)
    what = f"CREATE {'UNIQUE ' if node.unique else ''}INDEX {node.idxname or '(unnamed)'}"
    if not node.concurrent and table not in scope.created:
        scope.hit("require-concurrent-index",
                  f"{what} on existing table {table} without CONCURRENTLY")
    if not node.if_not_exists and node.idxname:  # IF NOT EXISTS needs a name
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
    rule = (_DROP_RULES.get(node.removeType)
            if scope.section == "up" and node.removeType is not None else None)
    if rule is not None:
        kind = object_kind(node.removeType)
        scope.pending_drops += [(rule, kind, name, f"DROP {kind} {name} in the UP section",
                                 scope.line) for name in names
                                if (_object_family(kind), name) not in scope.created_objects]


# DROP … that breaks the running application unless the object is created again
_DROP_RULES = {
    ObjectType.OBJECT_VIEW: "drop-view", ObjectType.OBJECT_MATVIEW: "drop-view",
    ObjectType.OBJECT_FUNCTION: "drop-function", ObjectType.OBJECT_PROCEDURE: "drop-function",
    ObjectType.OBJECT_ROUTINE: "drop-function", ObjectType.OBJECT_TYPE: "drop-type",
    ObjectType.OBJECT_DOMAIN: "drop-type", ObjectType.OBJECT_SCHEMA: "drop-schema",
}


def _object_family(kind: str) -> str:
    """Views, functions and types share a namespace within their family."""
    return {"MATERIALIZED VIEW": "VIEW", "PROCEDURE": "FUNCTION", "ROUTINE": "FUNCTION",
            "DOMAIN": "TYPE"}.get(kind, kind)


def created_object(scope: Scope, kind: str, name: str) -> None:
    """Record that the section creates object ``name`` of ``kind`` (VIEW, FUNCTION,
    TYPE, SCHEMA): a DROP of it before in the same section is a replacement."""
    family = _object_family(kind)
    scope.created_objects.add((family, name))
    scope.pending_drops = [d for d in scope.pending_drops
                           if (_object_family(d[1]), d[2]) != (family, name)]


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
    name = object_name(node.typeName)
    if not node.skipIfNewValExists:
        scope.hit("require-if-not-exists", f"ALTER TYPE {name} ADD VALUE "
                  f"'{node.newVal}' without IF NOT EXISTS")
    if node.newValNeighbor and ("TYPE", name) not in scope.created_objects:
        where = "AFTER" if node.newValIsAfter else "BEFORE"
        scope.hit("enum-value-not-at-end", f"ALTER TYPE {name} ADD VALUE '{node.newVal}' "
                  f"{where} '{node.newValNeighbor}' reorders the values of {name}")
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
    if node.kind == ReindexObjectType.REINDEX_OBJECT_SYSTEM:
        return  # system catalogs cannot be reindexed concurrently
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
        elif cmd.subtype == AlterTableType.AT_DropConstraint:
            _on_drop_constraint(table, cmd, existing, scope)
        elif cmd.subtype == AlterTableType.AT_SetNotNull and existing:
            _on_set_not_null(table, cmd.name or "", scope)
        elif cmd.subtype == AlterTableType.AT_DropNotNull and existing and _old(table, cmd, scope):
            scope.hit("drop-not-null", f"DROP NOT NULL on {col} in the UP section")
        elif (cmd.subtype == AlterTableType.AT_ColumnDefault and cmd.def_ is None and existing
              and _old(table, cmd, scope)):
            scope.hit("drop-default", f"DROP DEFAULT on {col} in the UP section")
        elif cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_,
                                                                          ast.Constraint):
            _remember_constraint(table, cmd.def_, scope)
            if existing:
                _on_add_constraint(table, cmd.def_, scope)
        elif cmd.subtype == AlterTableType.AT_ValidateConstraint:
            _on_validate(table, cmd.name or "", scope)
        elif (cmd.subtype == AlterTableType.AT_DetachPartition and existing
              and isinstance(cmd.def_, ast.PartitionCmd) and not cmd.def_.concurrent):
            scope.hit("detach-partition", f"DETACH PARTITION {table_name(cmd.def_.name)} "
                      f"without CONCURRENTLY locks {table}")
        elif (cmd.subtype == AlterTableType.AT_AlterColumnType and cmd.name
              and isinstance(cmd.def_, ast.ColumnDef)):
            _on_alter_type(table, cmd.name, cmd.def_, existing, scope)


def _old(table: str, cmd: ast.AlterTableCmd, scope: Scope) -> bool:
    """Whether the command's column existed before this section (in the UP section)."""
    return scope.section == "up" and (table, cmd.name or "") not in scope.added_columns


def _on_drop_constraint(table: str, cmd: ast.AlterTableCmd, existing: bool,
                        scope: Scope) -> None:
    name = cmd.name or ""
    if not cmd.missing_ok:
        scope.hit("require-if-exists", f"DROP CONSTRAINT {name} on {table} without IF EXISTS")
    checked = scope.history.check_column(table, name, remove=True)
    helper = checked is not None and table in scope.set_not_null_tables
    if (scope.section == "up" and existing and not helper
            and (table, name) not in scope.added_constraints):
        scope.hit("drop-constraint", f"DROP CONSTRAINT {name} on {table} in the UP section")


def _on_set_not_null(table: str, column: str, scope: Scope) -> None:
    scope.set_not_null_tables.add(table)
    if scope.history.validated(table, column):
        return  # a valid CHECK (column IS NOT NULL) spares the scan
    new = (table, column) in scope.added_columns
    scope.hit("set-not-null", f"SET NOT NULL on {table}.{column} scans {table}" + (
        "; add the column with NOT NULL DEFAULT instead" if new else ""))


def _remember_constraint(table: str, con: ast.Constraint, scope: Scope) -> None:
    name = con.conname or ""
    scope.added_constraints.add((table, name))
    if con.skip_validation:
        scope.not_valid.add((table, name))
    column = _not_null_check_column(con)
    if column is not None:
        scope.history.not_null_checks[(table, name)] = column
        if not con.skip_validation:
            scope.history.validated_not_null.add((table, column))


def _not_null_check_column(con: ast.Constraint) -> str | None:
    """The column of a ``CHECK (column IS NOT NULL)`` constraint, else None."""
    expr = con.raw_expr
    if (con.contype == ConstrType.CONSTR_CHECK and isinstance(expr, ast.NullTest)
            and expr.nulltesttype == NullTestType.IS_NOT_NULL
            and isinstance(expr.arg, ast.ColumnRef)):
        fields = expr.arg.fields or ()
        if len(fields) == 1 and isinstance(fields[0], ast.String):
            return fields[0].sval
    return None


def _on_validate(table: str, name: str, scope: Scope) -> None:
    column = scope.history.check_column(table, name)
    if column is not None:
        scope.history.validated_not_null.add((table, column))
    if (table, name) in scope.not_valid and scope.in_transaction:
        scope.hit("validate-in-same-transaction",
                  f"VALIDATE CONSTRAINT {name} on {table} in the transaction that added it "
                  "NOT VALID: the lock of the ADD is held through the validation")


def _on_add_column(table: str, col: ast.ColumnDef, existing: bool, scope: Scope) -> None:
    """Checks for ADD COLUMN; ``existing`` is False for a table created in this section."""
    name = f"{table}.{col.colname}"
    scope.added_columns.add((table, col.colname or ""))
    if col.colname and col.typeName:
        scope.old_types[(table, col.colname)] = col.typeName
    _check_type_choice(table, col.colname, col.typeName, scope)
    if not existing:
        _check_key_type(table, col, scope)
        return
    defaults = constraints_of(col, ConstrType.CONSTR_DEFAULT)
    _check_default(table, name, [d.raw_expr for d in defaults], scope)
    serial = type_name(col.typeName) in SERIAL_TYPES
    if serial or constraints_of(col, ConstrType.CONSTR_IDENTITY):
        what = type_name(col.typeName) if serial else "identity"
        scope.hit("add-column-serial", f"ADD COLUMN {name} {what} rewrites {table}")
    elif keys := constraints_of(col, *_KEY_CONSTRAINTS):
        _key_type_hit(table, col.colname or "", col.typeName, keys[0].contype, scope)
    if any(c.generated_kind == "s" for c in constraints_of(col, ConstrType.CONSTR_GENERATED)):
        scope.hit("add-column-generated-stored",
                  f"ADD COLUMN {name} GENERATED … STORED rewrites {table}")
    filled = constraints_of(col, ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY,
                          ConstrType.CONSTR_GENERATED)
    if (col.is_not_null or constraints_of(col, ConstrType.CONSTR_NOTNULL)) and not (
            filled or serial):
        scope.hit("add-column-not-null-without-default",
                  f"ADD COLUMN {name} NOT NULL without DEFAULT fails on a non-empty {table}")
    references = constraints_of(col, ConstrType.CONSTR_FOREIGN)
    if references and any(not _is_null(d.raw_expr) for d in defaults) and not all(
            c.skip_validation for c in references):
        scope.hit("add-column-foreign-key-default",
                  f"ADD COLUMN {name} REFERENCES {table_name(references[0].pktable)} with a "
                  f"DEFAULT checks every row of {table} under an ACCESS EXCLUSIVE lock")
    keys = constraints_of(col, ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE)
    if keys:
        kind = "PRIMARY KEY" if keys[0].contype == ConstrType.CONSTR_PRIMARY else "UNIQUE"
        scope.hit("add-unique-constraint", f"ADD COLUMN {name} {kind} builds an index "
                  f"under an ACCESS EXCLUSIVE lock on {table}")


def _is_null(expr: ast.Node | None) -> bool:
    return expr is None or (isinstance(expr, ast.A_Const) and bool(expr.isnull))


def _check_default(table: str, name: str, exprs: list[ast.Node | None], scope: Scope) -> None:
    """add-column-volatile-default / add-column-default-may-rewrite for the DEFAULT
    expressions of a column added to an existing table."""
    verdicts = [v for expr in exprs
                if (v := default_volatility(expr, scope.history.function))]
    volatile = next((fn for verdict, fn in verdicts if verdict == "volatile"), None)
    if volatile is not None:
        scope.hit("add-column-volatile-default",
                  f"ADD COLUMN {name} with volatile DEFAULT {volatile}() rewrites {table}")
    elif verdicts:
        reason, fn = verdicts[0]
        why = ("is not declared in the migrations and is not one of PostgreSQL's"
               if reason == "unknown" else
               "is a volatile LANGUAGE sql function (a rewrite unless PostgreSQL inlines it)")
        scope.hit("add-column-default-may-rewrite",
                  f"ADD COLUMN {name} with DEFAULT {fn}(): {fn} {why}; {table} may be "
                  "rewritten")


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
    elif name == "bpchar":
        scope.hit("prefer-text-over-char", f"column {table}.{column} has type "
                  f"{type_label(tn) if tn else 'char'}; use text or varchar")
    elif name == "timestamp":
        scope.hit("prefer-timestamptz",
                  f"column {table}.{column} has type timestamp without time zone; "
                  "use timestamptz")



def _on_truncate(node: ast.TruncateStmt, scope: Scope) -> None:
    if node.behavior == DropBehavior.DROP_CASCADE:
        tables = ", ".join(table_name(rv) for rv in node.relations or ()
                           if isinstance(rv, ast.RangeVar))
        scope.hit("truncate-cascade", f"TRUNCATE {tables} CASCADE also empties every table "
                  "that references them")


def _on_create_function(node: ast.CreateFunctionStmt, scope: Scope) -> None:
    name = object_name(node.funcname).rpartition(".")[2]
    options = {o.defname: o.arg for o in node.options or () if isinstance(o, ast.DefElem)}
    volatility, language = options.get("volatility"), options.get("language")
    letter = (volatility.sval or "volatile")[0] if isinstance(volatility, ast.String) else "v"
    lang = (language.sval or "") if isinstance(language, ast.String) else "sql"
    if letter == "v" and lang == "sql":
        letter, lang = _inlined_sql(options.get("as"), scope)
    scope.history.functions[name] = (letter, lang)
    created_object(scope, "FUNCTION", object_name(node.funcname))
    _check_idempotent_create(node, scope)


def _inlined_sql(body: object, scope: Scope) -> tuple[str, str]:
    """(volatility, language) of a volatile LANGUAGE sql function as a column default:
    PostgreSQL inlines a body that is one ``SELECT expression`` (no FROM), so the
    expression decides — ``("i", "sql")`` when it calls nothing volatile or unknown
    (observed: no rewrite), ``("v", "sql inlined")`` when it calls a volatile function;
    a body that cannot be inlined (FROM, several statements) is evaluated per row,
    ``("v", "sql body")``: a rewrite, as observed. ``("v", "sql")`` (it may rewrite) is
    left for an expression calling an unknown function or a body that does not parse."""
    from pglast.parser import ParseError

    from pgshift.analysis.parsing import parse_statements

    text = body[0] if isinstance(body, tuple) and body else None
    sql = text.sval if isinstance(text, ast.String) else None
    try:
        statements = parse_statements(sql) if sql else []
    except ParseError:
        statements = []
    select = statements[0].node if len(statements) == 1 else None
    if not statements:
        return "v", "sql"
    if (not isinstance(select, ast.SelectStmt) or select.fromClause or select.whereClause
            or select.valuesLists or select.larg or len(select.targetList or ()) != 1):
        return "v", "sql body"
    target = select.targetList[0] if select.targetList else None
    verdict = default_volatility(getattr(target, "val", None), scope.history.function)
    if verdict is None:
        return "i", "sql"
    return ("v", "sql inlined") if verdict[0] == "volatile" else ("v", "sql")


def _creates(kind: str, attr: str) -> Callable[[Any, Scope], None]:
    """A handler recording that the statement creates the ``kind`` named by ``attr``."""

    def handler(node: Any, scope: Scope) -> None:
        name = getattr(node, attr)
        created_object(scope, kind,
                       table_name(name) if isinstance(name, ast.RangeVar) else object_name(name))
        _check_idempotent_create(node, scope)

    return handler


# by class name: the nodes of pgshift.analysis.parsing are subclasses of pglast's
_HANDLERS: dict[str, Callable[[Any, Scope], None]] = {
    "CreateStmt": _on_create_table, "CreateTableAsStmt": _on_create_table_as,
    "IndexStmt": _on_index, "DropStmt": _on_drop, "AlterTableStmt": _on_alter_table,
    "RenameStmt": _on_rename, "AlterEnumStmt": _on_alter_enum, "VacuumStmt": _on_vacuum,
    "ClusterStmt": _on_cluster, "LockStmt": _on_lock, "ReindexStmt": _on_reindex,
    "TruncateStmt": _on_truncate, "CreateFunctionStmt": _on_create_function,
    "ViewStmt": _creates("VIEW", "view"), "CreateEnumStmt": _creates("TYPE", "typeName"),
    "CompositeTypeStmt": _creates("TYPE", "typevar"),
    "CreateDomainStmt": _creates("TYPE", "domainname"),
    "CreateRangeStmt": _creates("TYPE", "typeName"),
    "CreateSchemaStmt": _creates("SCHEMA", "schemaname"),
}
