"""PostgreSQL's parser, fast: the same pglast parse trees, built from its JSON output.

``pglast.parse_sql`` validates and coerces every attribute of every node as it builds
it, which costs far more than parsing. :func:`parse_statements` asks libpg_query for the
JSON form of the tree (``pglast.parser.parse_sql_json``) and builds the very same
``pglast.ast`` nodes from it directly, with one conversion table per node class: trees
equal to ``parse_sql``'s (same classes, attributes and values) at a fraction of the
cost. A statement's node is built only when it is asked for, so a caller that ignores
INSERTs pays nothing for them. Nodes are instances of subclasses of the ``pglast.ast``
classes, of the same name: use ``isinstance`` or the class name, not ``type(node) is``.
Pure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import Any

from pglast import ast, enums, parse_sql
from pglast.parser import parse_sql_json

__all__ = ["RawStatement", "build", "parse_statements"]

_Convert = Callable[[Any], Any]


class RawStatement:
    """One statement: its node type's name (``"IndexStmt"``), its offset and length in
    the text (length 0: to the end of the text), and its node, built when first asked."""

    __slots__ = ("_body", "_node", "kind", "length", "location")

    def __init__(self, kind: str, body: dict[str, Any] | None, location: int, length: int,
                 node: ast.Node | None = None) -> None:
        self.kind = kind
        self.location = location
        self.length = length
        self._body = body
        self._node = node

    @property
    def node(self) -> ast.Node:
        """The statement's ``pglast.ast`` node."""
        node = self._node
        if node is None:
            node = self._node = build(self.kind, self._body or {})
            self._body = None
        return node


def parse_statements(sql: str) -> list[RawStatement]:
    """The statements of ``sql`` in order; each node is built when first used.

    Raises:
        pglast.parser.ParseError: the text does not parse.
    """
    if not sql.isascii():
        # libpg_query's JSON counts locations in bytes; pglast converts them to
        # characters as it builds its tree, so non-ASCII text takes that path.
        return [RawStatement(type(raw.stmt).__name__, None, raw.stmt_location or 0,
                             raw.stmt_len or 0, raw.stmt)
                for raw in parse_sql(sql) if raw.stmt is not None]
    document = json.loads(parse_sql_json(sql))
    statements = []
    for raw in document.get("stmts", ()):
        stmt = raw.get("stmt")
        if stmt:
            ((kind, body),) = stmt.items()
            statements.append(RawStatement(kind, body, raw.get("stmt_location", 0),
                                           raw.get("stmt_len", 0)))
    return statements


def build(kind: str, body: dict[str, Any]) -> ast.Node:
    """The ``pglast.ast`` node of class ``kind`` for its JSON ``body``."""
    node: ast.Node = _builder(kind)(body)
    return node


# --- per-class builders -------------------------------------------------------------------

_BUILDERS: dict[str, _Convert] = {}
_setattr = object.__setattr__


def _builder(kind: str) -> _Convert:
    found = _BUILDERS.get(kind)
    if found is None:
        found = _BUILDERS[kind] = _make_builder(kind)
    return found


def _make_builder(kind: str) -> _Convert:
    """A builder of ``kind`` nodes: instances of a subclass of the ``pglast.ast`` class
    whose class attributes are the defaults of absent fields, so only the fields present
    in the JSON are set (in the instance's ``__dict__``), converted where needed."""
    if kind == "A_Const":
        return _a_const
    base = getattr(ast, kind)
    defaults: dict[str, Any] = {}
    converters: dict[str, tuple[str, _Convert | None]] = {}
    for name, info in base.__slots__.items():
        convert, defaults[name] = _field(info)
        converters[name.rstrip("_")] = (name, convert)
    cls: type[ast.Node] = type(kind, (base,), {"__module__": __name__, **defaults})
    new = object.__new__

    def make(body: dict[str, Any]) -> ast.Node:
        node: ast.Node = new(cls)
        fields = node.__dict__
        for key, value in body.items():
            name, convert = converters.get(key, (key, None))
            fields[name] = value if convert is None else convert(value)
        return node

    return make


def _field(info: Any) -> tuple[_Convert | None, Any]:
    """(converter of a present JSON value or None to keep it, value when absent) for a
    slot's type info."""
    ctype: str = info.c_type
    if ctype == "bool":
        return None, False
    if ctype == "char":
        return None, "\x00"
    if ctype == "char*":
        return None, None
    if ctype in ("Cardinality", "Cost"):
        return float, 0.0
    if ctype == "ParseLoc":
        return _location, 0
    enum = getattr(enums, ctype, None)
    if isinstance(enum, type) and issubclass(enum, Enum):
        return _enum_converter(enum), enum(0) if 0 in enum._value2member_map_ else None
    if not ctype.endswith("*"):
        return None, 0  # the integer types
    target = ctype[:-1]
    if target in ("Node", "List", "Expr") or not hasattr(ast, target):
        return _any, None
    return _typed(target), None


def _location(value: int) -> int | None:
    return None if value < 0 else value  # as pglast: an unknown location is None


def _enum_converter(enum: type[Enum]) -> _Convert:
    members = enum.__members__

    def convert(value: Any) -> Any:
        return members[value] if isinstance(value, str) else enum(value)

    return convert


def _typed(kind: str) -> _Convert:
    def convert(value: Any) -> Any:
        return _builder(kind)(value)

    return convert


def _any(value: Any) -> Any:
    """A ``Node*`` or ``List*`` value: a one-key ``{"Class": body}`` dict or a list."""
    if isinstance(value, list):
        return tuple(_any(item) for item in value)
    if not value:
        return None  # a NULL element of a list
    ((kind, body),) = value.items()
    if kind == "List":
        return tuple(_any(item) for item in body.get("items", ()))
    return _builder(kind)(body)


_VALUES = {"ival": "Integer", "sval": "String", "fval": "Float", "boolval": "Boolean",
           "bsval": "BitString"}


def _a_const(body: dict[str, Any]) -> ast.Node:
    node = ast.A_Const.__new__(ast.A_Const)
    _setattr(node, "isnull", bool(body.get("isnull", False)))
    value = None
    for key, kind in _VALUES.items():
        if key in body:
            value = _builder(kind)(body[key])
            break
    _setattr(node, "val", value)
    return node
