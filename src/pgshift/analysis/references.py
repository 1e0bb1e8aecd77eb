"""Which objects SQL creates and which it refers to, found with pglast's parse trees (also
inside function bodies: SQL bodies are parsed as SQL, PL/pgSQL bodies with pglast's
PL/pgSQL parser). Names are compared without their schema, lowercased as PostgreSQL
folds them. Used to order repeatable migrations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def objects(sql: str) -> tuple[set[str], set[str]]:
    """(names of the relations, functions and types ``sql`` creates, names of those it
    refers to). SQL that does not parse yields what could be read, possibly nothing."""
    created: set[str] = set()
    referenced: set[str] = set()
    _collect(sql, created, referenced, depth=0)
    return created, referenced - created


def _collect(sql: str, created: set[str], referenced: set[str], *, depth: int) -> None:
    from pglast import parser

    try:
        tree = json.loads(parser.parse_sql_json(sql))
    except parser.ParseError:
        return
    for item in tree.get("stmts", []):
        statement = item.get("stmt", {})
        start = item.get("stmt_location", 0)
        length = item.get("stmt_len", 0)
        text = sql[start:start + length] if length else sql[start:]
        _statement(statement, text, created, referenced, depth=depth)


def _last(names: list[Any]) -> str | None:
    strings = [n["String"]["sval"] for n in names if isinstance(n, dict) and "String" in n]
    return strings[-1] if strings else None


def _statement(node: dict[str, Any], text: str, created: set[str], referenced: set[str], *,
               depth: int) -> None:
    kind, body = next(iter(node.items())) if node else ("", {})
    if kind == "ViewStmt":
        created.add(body["view"]["relname"])
    elif kind == "CreateStmt":
        created.add(body["relation"]["relname"])
    elif kind == "CreateTableAsStmt":
        created.add(body["into"]["rel"]["relname"])
    elif kind in ("CompositeTypeStmt",):
        created.add(body["typevar"]["relname"])
    elif kind in ("CreateEnumStmt", "CreateDomainStmt", "CreateRangeStmt"):
        name = _last(body.get("typeName", []) or body.get("domainname", []))
        if name:
            created.add(name)
    elif kind == "CreateFunctionStmt":
        name = _last(body.get("funcname", []))
        if name:
            created.add(name)
        if depth < 3:
            _function_body(body, text, created, referenced, depth=depth)
    for key, value in _walk(body):
        if key == "RangeVar":
            referenced.add(value["relname"])
        elif key == "FuncCall":
            name = _last(value.get("funcname", []))
            if name:
                referenced.add(name)
    if kind == "CreateTrigStmt":
        name = _last(body.get("funcname", []))
        if name:
            referenced.add(name)


def _function_body(body: dict[str, Any], text: str, created: set[str], referenced: set[str],
                   *, depth: int) -> None:
    from pglast import parser

    language, source = "sql", None
    for option in body.get("options", []):
        element = option.get("DefElem", {})
        if element.get("defname") == "language":
            language = element["arg"]["String"]["sval"].lower()
        elif element.get("defname") == "as":
            items = element["arg"].get("List", {}).get("items", [])
            if items and "String" in items[0]:
                source = items[0]["String"]["sval"]
    inner: set[str] = set()
    if language == "sql" and source is not None:
        _collect(source, inner, referenced, depth=depth + 1)
    elif language == "plpgsql":
        try:
            tree = json.loads(parser.parse_plpgsql_json(text))
        except (parser.ParseError, ValueError):
            return
        for key, value in _walk(tree):
            if key == "query" and isinstance(value, str):
                _collect(value, inner, referenced, depth=depth + 1)


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON tree, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                yield key, value
                if isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(current, list):
            stack.extend(current)
