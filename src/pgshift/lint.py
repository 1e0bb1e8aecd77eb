"""Lint a migration's UP and DOWN sections for operations that hurt a live database.

Pure: no I/O and no database. The SQL is read with pglast (PostgreSQL's own parser); a
finding's ``line`` is the file line of the offending statement's first token. The rules
and their severities are listed in :mod:`pgshift.lint_rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType, TransactionStmtKind
from pglast.parser import ParseError, scan

from pgshift.lint_rules import (
    RULES,
    RULES_BY_ID,
    SERIAL_TYPES,
    Rule,
    Severity,
    column_type_change,
    constraints_of,
    has_option,
    non_transactional,
    object_kind,
    object_name,
    rules_table_markdown,
    table_commands,
    table_name,
    type_label,
    type_name,
    unrelated_tables,
    volatile_call,
    walk,
)

__all__ = [
    "RULES", "RULES_BY_ID", "Finding", "Rule", "Severity", "lint_migration",
    "rules_table_markdown",
]

Section = Literal["up", "down"]

_COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_BLOCK_START = frozenset({TransactionStmtKind.TRANS_STMT_BEGIN,
                          TransactionStmtKind.TRANS_STMT_START})
_BLOCK_END = frozenset({TransactionStmtKind.TRANS_STMT_COMMIT,
                        TransactionStmtKind.TRANS_STMT_ROLLBACK,
                        TransactionStmtKind.TRANS_STMT_PREPARE})


@dataclass(frozen=True)
class Finding:
    """One problem: ``rule`` id, its ``severity``, the ``file``, the 1-based file ``line``
    of the statement's first token, the ``section`` and a ``message`` naming the object."""

    rule: str
    severity: Severity
    file: str
    line: int
    section: Literal["up", "down"]
    message: str


@dataclass(frozen=True)
class _Stmt:
    node: ast.Node
    line: int


@dataclass
class _Scope:
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


def lint_migration(
    file: str,
    up_sql: str,
    down_sql: str | None,
    *,
    up_first_line: int = 1,
    down_first_line: int = 1,
    allowed: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Return the findings for one migration, sorted by line (stable within a line).

    ``up_sql``/``down_sql`` are the section texts (LF line endings; ``down_sql`` is None
    when the file has no DOWN marker) and ``*_first_line`` the file line each text starts
    on. Findings whose rule id is in ``allowed`` are dropped. SQL that pglast cannot parse
    gives one ``parse-error`` finding for that section; nothing is raised.
    """
    findings: list[Finding] = []
    up = _parse(file, "up", up_sql, up_first_line, findings)
    down = None if down_sql is None else _parse(file, "down", down_sql, down_first_line, findings)
    if down_sql is None or down == []:
        line = (up_first_line + up_sql.rstrip("\n").count("\n") if down_sql is None
                else max(1, down_first_line - 1))
        what = "has no DOWN section" if down_sql is None else "has an empty DOWN section"
        findings.append(_finding("missing-down", file, line, "down", f"{file} {what}"))
    up_scope = _Scope("up", old_types=_altered_types(down or []))
    if up is not None:
        findings += _lint_section(file, up, up_scope)
        findings += _unrelated_tables(file, up)
    if down:
        owned = {name for name, table in _indexes(up or []) if table in up_scope.created}
        down_scope = _Scope("down", old_types=_altered_types(up or []), new_indexes=owned)
        findings += _lint_section(file, down, down_scope)
    return sorted((f for f in findings if f.rule not in allowed), key=lambda f: f.line)


def _finding(rule: str, file: str, line: int, section: Section, message: str) -> Finding:
    return Finding(rule, RULES_BY_ID[rule].severity, file, line, section, message)


# --- parsing ----------------------------------------------------------------------------


def _parse(file: str, section: Section, sql: str, first_line: int,
           findings: list[Finding]) -> list[_Stmt] | None:
    """The section's statements with their file lines, or None (and a parse-error
    finding) when pglast rejects the text."""
    try:
        raws = parse_sql(sql)
    except ParseError as exc:
        offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        where = _last_statement_start(sql) if offset is None else offset
        line = first_line + sql.count("\n", 0, where)
        findings.append(_finding("parse-error", file, line, section,
                                 f"cannot parse the {section.upper()} section: {exc.args[0]}"))
        return None
    stmts = []
    for raw in raws:
        if raw.stmt is None:
            continue
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(sql)
        tokens = [t for t in scan(sql[start:end]) if t.name not in _COMMENT_TOKENS]
        offset = start + (tokens[0].start if tokens else 0)
        stmts.append(_Stmt(raw.stmt, first_line + sql.count("\n", 0, offset)))
    return stmts


def _last_statement_start(sql: str) -> int:
    """Offset of the first token after the last ';' (PostgreSQL reports some syntax
    errors only as "at end of input"); the text's end when it cannot even be scanned."""
    try:
        tokens = [t for t in scan(sql) if t.name not in _COMMENT_TOKENS]
    except ParseError:
        return len(sql.rstrip())
    start = tokens[0].start if tokens else 0
    for before, after in pairwise(tokens):
        if before.name == "ASCII_59":
            start = after.start
    return start


# --- helpers over the parse tree --------------------------------------------------------


def _indexes(stmts: list[_Stmt]) -> Iterator[tuple[str, str]]:
    """(index name, table) for every named CREATE INDEX in ``stmts``."""
    for stmt in stmts:
        if isinstance(stmt.node, ast.IndexStmt) and stmt.node.idxname:
            yield stmt.node.idxname, table_name(stmt.node.relation)


def _altered_types(stmts: list[_Stmt]) -> dict[tuple[str, str], ast.TypeName]:
    """(table, column) → the type an ALTER COLUMN … TYPE in ``stmts`` sets."""
    types = {}
    for stmt in stmts:
        for table, cmd in table_commands(stmt.node):
            if (cmd.subtype == AlterTableType.AT_AlterColumnType and cmd.name
                    and isinstance(cmd.def_, ast.ColumnDef) and cmd.def_.typeName):
                types[(table, cmd.name)] = cmd.def_.typeName
    return types


# --- the section walk -------------------------------------------------------------------


def _lint_section(file: str, stmts: list[_Stmt], scope: _Scope) -> list[Finding]:
    findings = []
    for stmt in stmts:
        _check_enum_use(stmt.node, scope)
        _check_transaction_block(stmt.node, scope)
        handler = _HANDLERS.get(type(stmt.node))
        if handler is not None:
            handler(stmt.node, scope)
        else:
            _check_idempotent_create(stmt.node, scope)
        findings += [_finding(rule, file, stmt.line, scope.section, message)
                     for rule, message in scope.hits]
        scope.hits.clear()
    mixed = _mixed_transactional(stmts)
    if mixed is not None:
        line, message = mixed
        findings.append(_finding("mixed-non-transactional", file, line, scope.section, message))
    return findings


def _check_enum_use(node: ast.Node, scope: _Scope) -> None:
    if not scope.enum_values:
        return
    for sub in walk(node):
        if (isinstance(sub, ast.A_Const) and isinstance(sub.val, ast.String)
                and sub.val.sval in scope.enum_values):
            scope.hit("enum-value-used-in-same-migration",
                      f"enum value '{sub.val.sval}' is used in the migration that adds it")
            return


def _check_transaction_block(node: ast.Node, scope: _Scope) -> None:
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


def _mixed_transactional(stmts: list[_Stmt]) -> tuple[int, str] | None:
    """(line, message) when a non-transactional statement shares the section with
    statements that would then run without a transaction; None otherwise."""
    if any(isinstance(s.node, ast.TransactionStmt) for s in stmts):
        return None  # the file manages its own transactions
    special = [(s.line, label) for s in stmts if (label := non_transactional(s.node))]
    others = [s for s in stmts if non_transactional(s.node) is None
              and not isinstance(s.node, ast.VariableSetStmt)]
    if not special or not others:
        return None
    line, label = special[0]
    return line, (f"{label} makes this section run outside a transaction; its {len(others)} "
                  "other statement(s) will not be undone if a later one fails")


# --- statement handlers -----------------------------------------------------------------


def _on_create_table(node: ast.CreateStmt, scope: _Scope) -> None:
    table = table_name(node.relation)
    if not node.if_not_exists:
        scope.hit("require-if-not-exists", f"CREATE TABLE {table} without IF NOT EXISTS")
    for col in node.tableElts or ():
        if isinstance(col, ast.ColumnDef):
            _check_type_choice(table, col.colname, col.typeName, scope)
    scope.created.add(table)


def _on_create_table_as(node: ast.CreateTableAsStmt, scope: _Scope) -> None:
    table = table_name(node.into.rel if node.into else None)
    if not node.if_not_exists:
        scope.hit("require-if-not-exists",
                  f"CREATE {object_kind(node.objtype)} {table} without IF NOT EXISTS")
    scope.created.add(table)


def _on_index(node: ast.IndexStmt, scope: _Scope) -> None:
    table = table_name(node.relation)
    what = f"CREATE {'UNIQUE ' if node.unique else ''}INDEX {node.idxname or '(unnamed)'}"
    if not node.concurrent and table not in scope.created:
        scope.hit("require-concurrent-index",
                  f"{what} on existing table {table} without CONCURRENTLY")
    if not node.if_not_exists:
        scope.hit("require-if-not-exists", f"{what} without IF NOT EXISTS")
    if node.idxname:
        scope.new_indexes.add(node.idxname)


def _on_drop(node: ast.DropStmt, scope: _Scope) -> None:
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


def _on_rename(node: ast.RenameStmt, scope: _Scope) -> None:
    table = table_name(node.relation)
    if node.renameType == ObjectType.OBJECT_COLUMN and node.relationType in (
            ObjectType.OBJECT_TABLE, ObjectType.OBJECT_FOREIGN_TABLE):
        scope.hit("rename-column",
                  f"RENAME COLUMN {table}.{node.subname} to {node.newname}")
    elif node.renameType == ObjectType.OBJECT_TABLE:
        scope.hit("rename-table", f"RENAME TABLE {table} to {node.newname}")


def _on_alter_enum(node: ast.AlterEnumStmt, scope: _Scope) -> None:
    if node.newVal is None or node.oldVal is not None:
        return  # RENAME VALUE
    if not node.skipIfNewValExists:
        scope.hit("require-if-not-exists", f"ALTER TYPE {object_name(node.typeName)} ADD VALUE "
                  f"'{node.newVal}' without IF NOT EXISTS")
    scope.enum_values.add(node.newVal)


def _on_vacuum(node: ast.VacuumStmt, scope: _Scope) -> None:
    if node.is_vacuumcmd and has_option(node.options, "full"):
        tables = [table_name(r.relation) for r in node.rels or ()
                  if isinstance(r, ast.VacuumRelation)]
        scope.hit("vacuum-full", f"VACUUM FULL {', '.join(tables) or '(all tables)'}")


def _on_cluster(node: ast.ClusterStmt, scope: _Scope) -> None:
    target = table_name(node.relation) if node.relation else "(all tables)"
    scope.hit("cluster", f"CLUSTER {target}")


def _on_lock(node: ast.LockStmt, scope: _Scope) -> None:
    tables = [table_name(rv) for rv in node.relations or () if isinstance(rv, ast.RangeVar)]
    scope.hit("lock-table", f"LOCK TABLE {', '.join(tables)}")


def _on_reindex(node: ast.ReindexStmt, scope: _Scope) -> None:
    if not has_option(node.params, "concurrently"):
        target = table_name(node.relation) if node.relation else node.name
        scope.hit("require-concurrent-reindex", f"REINDEX {target} without CONCURRENTLY")


def _check_idempotent_create(node: ast.Node, scope: _Scope) -> None:
    """CREATE statements other than TABLE/INDEX that PostgreSQL lets write idempotently."""
    if_not_exists: dict[type[ast.Node], tuple[str, str]] = {
        ast.CreateSeqStmt: ("SEQUENCE", "sequence"), ast.CreateSchemaStmt: ("SCHEMA", "schemaname"),
        ast.CreateExtensionStmt: ("EXTENSION", "extname"),
        ast.CreateForeignServerStmt: ("SERVER", "servername"),
        ast.CreateStatsStmt: ("STATISTICS", "defnames"),
    }
    or_replace: dict[type[ast.Node], tuple[str, str]] = {
        ast.ViewStmt: ("VIEW", "view"), ast.CreateFunctionStmt: ("FUNCTION", "funcname"),
        ast.RuleStmt: ("RULE", "rulename"), ast.CreateTrigStmt: ("TRIGGER", "trigname"),
    }
    if type(node) in if_not_exists and not getattr(node, "if_not_exists", True):
        kind, attr = if_not_exists[type(node)]
        scope.hit("require-if-not-exists",
                  f"CREATE {kind} {object_name(getattr(node, attr))} without IF NOT EXISTS")
    elif (type(node) in or_replace and not getattr(node, "replace", True)
          and not getattr(node, "isconstraint", False)):
        kind, attr = or_replace[type(node)]
        if isinstance(node, ast.CreateFunctionStmt) and node.is_procedure:
            kind = "PROCEDURE"
        name = getattr(node, attr)
        name = table_name(name) if isinstance(name, ast.RangeVar) else object_name(name)
        scope.hit("require-if-not-exists", f"CREATE {kind} {name} without OR REPLACE")


def _on_alter_table(node: ast.AlterTableStmt, scope: _Scope) -> None:
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


def _on_add_column(table: str, col: ast.ColumnDef, existing: bool, scope: _Scope) -> None:
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


def _on_add_constraint(table: str, con: ast.Constraint, scope: _Scope) -> None:
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
                   scope: _Scope) -> None:
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
                       scope: _Scope) -> None:
    name = type_name(tn)
    if name == "json":
        scope.hit("prefer-jsonb", f"column {table}.{column} has type json; use jsonb")
    elif name == "timestamp":
        scope.hit("prefer-timestamptz",
                  f"column {table}.{column} has type timestamp without time zone; "
                  "use timestamptz")


def _unrelated_tables(file: str, stmts: list[_Stmt]) -> list[Finding]:
    found = unrelated_tables([stmt.node for stmt in stmts])
    if found is None:
        return []
    index, message = found
    return [_finding("multiple-tables", file, stmts[index].line, "up", message)]


_HANDLERS: dict[type[ast.Node], Callable[[Any, _Scope], None]] = {
    ast.CreateStmt: _on_create_table, ast.CreateTableAsStmt: _on_create_table_as,
    ast.IndexStmt: _on_index, ast.DropStmt: _on_drop, ast.AlterTableStmt: _on_alter_table,
    ast.RenameStmt: _on_rename, ast.AlterEnumStmt: _on_alter_enum, ast.VacuumStmt: _on_vacuum,
    ast.ClusterStmt: _on_cluster, ast.LockStmt: _on_lock, ast.ReindexStmt: _on_reindex,
}
