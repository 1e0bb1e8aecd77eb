"""What one SQL statement needs from the runner, read from pglast's parse tree."""

from __future__ import annotations

from dataclasses import dataclass

# Transaction-control statements that make a file manage its own transactions.
# SAVEPOINT / RELEASE / ROLLBACK TO are fine inside pgshift's transaction.
_OWN_TRANSACTION_KINDS = frozenset(
    {"TRANS_STMT_BEGIN", "TRANS_STMT_START", "TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK",
     "TRANS_STMT_PREPARE", "TRANS_STMT_COMMIT_PREPARED", "TRANS_STMT_ROLLBACK_PREPARED"}
)


@dataclass(frozen=True)
class Classified:
    """``outside_transaction`` is the reason the statement cannot run in a transaction
    block (``None`` when it can); ``index_*`` name an index the statement creates."""

    outside_transaction: str | None = None
    index_schema: str | None = None
    index_name: str | None = None
    concurrent_index: bool = False
    unsupported: str | None = None


def classify(sql: str) -> Classified:
    """Classify one statement. Text pglast cannot parse is treated as ordinary SQL."""
    from pglast import parser

    try:
        raw = parser.parse_sql(sql)
    except parser.ParseError:
        return Classified()
    if not raw:
        return Classified()
    return _classify_node(raw[0].stmt)


def _classify_node(node: object) -> Classified:
    kind = type(node).__name__
    if kind == "IndexStmt":
        relation = getattr(node, "relation", None)
        schema = getattr(relation, "schemaname", None)
        concurrent = bool(getattr(node, "concurrent", False))
        return Classified(
            outside_transaction="CREATE INDEX CONCURRENTLY" if concurrent else None,
            index_schema=schema,
            index_name=getattr(node, "idxname", None),
            concurrent_index=concurrent,
        )
    if kind == "DropStmt" and getattr(node, "concurrent", False):
        return Classified(outside_transaction="DROP INDEX CONCURRENTLY")
    if kind == "ReindexStmt":
        params = getattr(node, "params", None) or ()
        if any(getattr(p, "defname", None) == "concurrently" for p in params):
            return Classified(outside_transaction="REINDEX CONCURRENTLY")
        target = getattr(getattr(node, "kind", None), "name", "")
        if target in ("REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM"):
            return Classified(outside_transaction="REINDEX DATABASE/SYSTEM")
    if kind == "AlterDatabaseStmt":
        options = getattr(node, "options", None) or ()
        if any(getattr(o, "defname", None) == "tablespace" for o in options):
            return Classified(outside_transaction="ALTER DATABASE … SET TABLESPACE")
    if kind == "AlterTableStmt":
        for cmd in getattr(node, "cmds", None) or ():
            if getattr(getattr(cmd, "def_", None), "concurrent", False):
                return Classified(outside_transaction="DETACH PARTITION CONCURRENTLY")
    if kind == "CopyStmt" and getattr(node, "filename", None) is None:
        direction = "FROM STDIN" if getattr(node, "is_from", False) else "TO STDOUT"
        return Classified(unsupported=f"COPY … {direction} needs psql to carry its data; "
                          "use INSERT, or COPY from a server-side file")
    if kind == "VacuumStmt" and getattr(node, "is_vacuumcmd", False):
        return Classified(outside_transaction="VACUUM")
    simple = {
        "CreatedbStmt": "CREATE DATABASE",
        "DropdbStmt": "DROP DATABASE",
        "AlterSystemStmt": "ALTER SYSTEM",
        "CreateTableSpaceStmt": "CREATE TABLESPACE",
        "DropTableSpaceStmt": "DROP TABLESPACE",
    }
    if kind in simple:
        return Classified(outside_transaction=simple[kind])
    if kind == "TransactionStmt":
        stmt_kind = getattr(getattr(node, "kind", None), "name", "")
        if stmt_kind in _OWN_TRANSACTION_KINDS:
            return Classified(outside_transaction="its own BEGIN/COMMIT")
    return Classified()


def relations(sql: str) -> list[tuple[str | None, str]]:
    """(schema, name) of every table a statement names, in order of appearance."""
    from pglast import ast, parser

    try:
        raw = parser.parse_sql(sql)
    except parser.ParseError:
        return []
    found: list[tuple[str | None, str]] = []

    def walk(node: object) -> None:
        if isinstance(node, ast.RangeVar) and node.relname:
            pair = (node.schemaname, node.relname)
            if pair not in found:
                found.append(pair)
        if isinstance(node, ast.Node):
            for attribute in node:
                walk(getattr(node, attribute))
        elif isinstance(node, tuple):
            for item in node:
                walk(item)

    for statement in raw:
        walk(statement)
    return found
