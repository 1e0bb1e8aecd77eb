"""What one SQL statement needs from the runner, read from pglast's parse tree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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


# The statements classify() has anything to say about, by their first keyword(s): only
# these are parsed into a tree; every other statement (functions, views, DO blocks,
# INSERTs, most of a real history) is never classified.
_FIRST_KEYWORDS = frozenset({
    "BEGIN_P", "START", "COMMIT", "END_P", "ROLLBACK", "ABORT_P", "PREPARE", "VACUUM",
    "REINDEX", "COPY",
})
_SECOND_KEYWORDS = {
    "CREATE": frozenset({"INDEX", "UNIQUE", "DATABASE", "TABLESPACE"}),
    "DROP": frozenset({"INDEX", "DATABASE", "TABLESPACE"}),
    "ALTER": frozenset({"DATABASE", "SYSTEM_P"}),
}
_HEAD_CHARS = 160
_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_CONCURRENTLY = re.compile(r"concurrently", re.IGNORECASE)


# The first two words of a statement that starts plainly (``WORD WORD``); anything else
# (a comment or a quoted name in between) is read with the scanner.
_PLAIN_HEAD = re.compile(r"([A-Za-z_]+)(?:[ \t\r\n]+([A-Za-z_]+)\b)?")
_WORDS_FIRST = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "PREPARE",
                          "VACUUM", "REINDEX", "COPY"})
_WORDS_SECOND = {
    "CREATE": frozenset({"INDEX", "UNIQUE", "DATABASE", "TABLESPACE"}),
    "DROP": frozenset({"INDEX", "DATABASE", "TABLESPACE"}),
    "ALTER": frozenset({"DATABASE", "SYSTEM"}),
}


def needs_classifying(sql: str) -> bool:
    """Whether :func:`classify` may find something in this statement (which starts at
    its first token), from its first keywords: cheap, so only those few are parsed."""
    plain = _PLAIN_HEAD.match(sql)
    if plain is not None:
        first = plain.group(1).upper()
        if first in _WORDS_FIRST:
            return True
        if first not in _WORDS_SECOND and first != "ALTER":
            return False  # SELECT, INSERT, COMMENT, DO, GRANT, …: nothing to find
        second = (plain.group(2) or "").upper()
        if second:
            if first == "ALTER" and second == "TABLE":
                return _CONCURRENTLY.search(sql) is not None  # DETACH … CONCURRENTLY
            return second in _WORDS_SECOND[first]
    return _needs_classifying_scanned(sql)


def _needs_classifying_scanned(sql: str) -> bool:
    """:func:`needs_classifying` with the first keywords read by PostgreSQL's scanner."""
    from pglast import parser

    try:
        tokens = parser.scan(sql[:_HEAD_CHARS])
    except parser.ParseError:  # the cut fell inside a literal or a comment
        try:
            tokens = parser.scan(sql)
        except parser.ParseError:
            return True
    names = [t.name for t in tokens[:8] if t.name not in _COMMENTS][:2]
    if not names:
        return len(sql) > _HEAD_CHARS and _needs_classifying_whole(sql)
    first = names[0]
    if first in _FIRST_KEYWORDS:
        return True
    second = names[1] if len(names) > 1 else ""
    if first == "ALTER" and second == "TABLE":
        return _CONCURRENTLY.search(sql) is not None  # DETACH PARTITION … CONCURRENTLY
    return second in _SECOND_KEYWORDS.get(first, ())


def _needs_classifying_whole(sql: str) -> bool:
    """:func:`needs_classifying` for a statement whose first keywords lie beyond the
    scanned head (long comments first)."""
    from pglast import parser

    try:
        tokens = parser.scan(sql)
    except parser.ParseError:
        return True
    kept = [t for t in tokens if t.name not in _COMMENTS][:2]
    if not kept:
        return False
    return _needs_classifying_scanned(sql[kept[0].start:])


def classify(sql: str) -> Classified:
    """Classify one statement. Text pglast cannot parse is treated as ordinary SQL.

    The tree is read as pglast's JSON (the C library's own output, a few times cheaper
    than building pglast's Python nodes)."""
    import json

    from pglast import parser

    try:
        tree = json.loads(parser.parse_sql_json(sql))
    except parser.ParseError:
        return Classified()
    statements = tree.get("stmts") or ()
    if not statements:
        return Classified()
    node = statements[0].get("stmt") or {}
    if len(node) != 1:
        return Classified()
    ((kind, fields),) = node.items()
    return _classify_node(kind, fields)


def _defnames(items: Any) -> list[str]:
    return [item.get("DefElem", {}).get("defname", "") for item in items or ()]


def _classify_node(kind: str, node: dict[str, Any]) -> Classified:
    if kind == "IndexStmt":
        relation = node.get("relation") or {}
        concurrent = bool(node.get("concurrent", False))
        return Classified(
            outside_transaction="CREATE INDEX CONCURRENTLY" if concurrent else None,
            index_schema=relation.get("schemaname"),
            index_name=node.get("idxname"),
            concurrent_index=concurrent,
        )
    if kind == "DropStmt" and node.get("concurrent", False):
        return Classified(outside_transaction="DROP INDEX CONCURRENTLY")
    if kind == "ReindexStmt":
        if "concurrently" in _defnames(node.get("params")):
            return Classified(outside_transaction="REINDEX CONCURRENTLY")
        if node.get("kind") in ("REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM"):
            return Classified(outside_transaction="REINDEX DATABASE/SYSTEM")
    if kind == "AlterDatabaseStmt" and "tablespace" in _defnames(node.get("options")):
        return Classified(outside_transaction="ALTER DATABASE … SET TABLESPACE")
    if kind == "AlterTableStmt":
        for cmd in node.get("cmds") or ():
            definition = cmd.get("AlterTableCmd", {}).get("def") or {}
            if definition.get("PartitionCmd", {}).get("concurrent", False):
                return Classified(outside_transaction="DETACH PARTITION CONCURRENTLY")
    if kind == "CopyStmt" and node.get("filename") is None:
        direction = "FROM STDIN" if node.get("is_from", False) else "TO STDOUT"
        return Classified(unsupported=f"COPY … {direction} needs psql to carry its data; "
                          "use INSERT, or COPY from a server-side file")
    if kind == "VacuumStmt" and node.get("is_vacuumcmd", False):
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
    if kind == "TransactionStmt" and node.get("kind") in _OWN_TRANSACTION_KINDS:
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
