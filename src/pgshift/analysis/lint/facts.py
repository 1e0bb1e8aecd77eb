"""The PostgreSQL facts pgshift's migration lint checks rely on.

Which functions are volatile, which types are serial and which ALTER COLUMN … TYPE
changes PostgreSQL makes without rewriting the table. The rule catalogue lives in
:mod:`pgshift.analysis.lint.catalog` and the parse-tree readers in
:mod:`pgshift.analysis.tree`; the checks in :mod:`pgshift.analysis.lint.checks` and the
public entry point in :mod:`pgshift.analysis.lint.linter`. Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from pglast import ast

from pgshift.analysis.tree import walk

__all__ = [
    "MAX_IDENTIFIER_BYTES",
    "SERIAL_TYPES",
    "VOLATILE_FUNCTIONS",
    "column_type_change",
    "default_volatility",
    "long_identifiers",
    "type_label",
    "type_name",
    "volatile_call",
]

# Volatile functions commonly used as column defaults. Stable ones such as now() are
# evaluated once when the column is added, so they are deliberately absent.
VOLATILE_FUNCTIONS = frozenset({
    "random", "random_normal", "gen_random_uuid", "gen_random_bytes", "uuid_generate_v1",
    "uuid_generate_v1mc", "uuid_generate_v4", "uuidv4", "uuidv7", "clock_timestamp",
    "timeofday", "nextval", "setseed",
})
SERIAL_TYPES = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})
# Types an ALTER COLUMN … TYPE can reach without a rewrite from some other type.
_REWRITE_FREE_TARGETS = frozenset({"text", "varchar", "numeric", "varbit", "timestamp",
                                   "timestamptz"})

_TypeKey = tuple[str, tuple[int, ...], bool]


MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1
_LONG_WORD = re.compile(r'"(?:[^"]|"")*"|[^\W\d][\w$]*')
_LONG_ASCII = re.compile(r'[^\W\d][\w$]{63}|"[^"]{64}')  # 64 characters or more


def long_identifiers(sql: str) -> list[str]:
    """A message for each identifier of statement ``sql`` longer than PostgreSQL keeps
    (63 bytes): the server silently truncates it, so two long names that share their
    first 63 bytes are the same name. Words in strings and comments are not identifiers:
    PostgreSQL's scanner decides."""
    if not _LONG_ASCII.search(sql) and (sql.isascii() or not any(
            len(w.encode()) > MAX_IDENTIFIER_BYTES for w in _LONG_WORD.findall(sql))):
        return []
    from pglast.parser import ParseError, scan

    try:
        tokens = scan(sql)
    except ParseError:
        return []
    messages = []
    data = sql.encode()
    for token in tokens:
        if token.name != "IDENT":
            continue
        found = _LONG_WORD.match(data[token.start:token.start + 1024].decode(errors="ignore"))
        if found is None:
            continue
        word = found.group()
        name = word[1:-1].replace('""', '"') if word.startswith('"') else word.lower()
        size = len(name.encode())
        if size > MAX_IDENTIFIER_BYTES:
            kept = name.encode()[:MAX_IDENTIFIER_BYTES].decode(errors="ignore")
            messages.append(f"identifier {name} is {size} bytes; PostgreSQL truncates it "
                            f"to {kept}")
    return messages


def volatile_call(expr: ast.Node | None) -> str | None:
    """The name of a known volatile built-in function called anywhere in ``expr``."""
    return next((name for verdict, name in _calls(expr, lambda _name: None)
                 if verdict == "volatile"), None)


def default_volatility(expr: ast.Node | None,
                       functions: Callable[[str], tuple[str, str] | None],
                       ) -> tuple[str, str] | None:
    """How a column DEFAULT ``expr`` may make PostgreSQL rewrite the table: ``("volatile",
    name)`` when it calls a volatile function (built-in, or declared in the migrations
    as VOLATILE or without a volatility marker, in a language PostgreSQL cannot inline);
    ``("unknown", name)`` for a function neither declared (``functions``: name →
    (volatility letter, language), or None) nor built in, and ``("sql", name)`` for a volatile
    LANGUAGE sql function, which PostgreSQL may inline into a constant; None when every
    call is stable or immutable."""
    verdicts = list(_calls(expr, functions))
    for wanted in ("volatile", "unknown", "sql"):
        found = next((name for verdict, name in verdicts if verdict == wanted), None)
        if found is not None:
            return wanted, found
    return None


def _calls(expr: ast.Node | None,
           functions: Callable[[str], tuple[str, str] | None]) -> Iterator[tuple[str, str]]:
    from pgshift.analysis.lint.builtins import NON_VOLATILE_BUILTINS, VOLATILE_BUILTINS

    for node in walk(expr):
        if not isinstance(node, ast.FuncCall) or not node.funcname:
            continue
        parts = [p.sval or "" for p in node.funcname if isinstance(p, ast.String)]
        name, schema = parts[-1], parts[-2] if len(parts) > 1 else None
        declared = functions(name) if schema != "pg_catalog" else None
        if declared is not None:
            volatility, language = declared
            if volatility == "v":
                yield ("sql" if language == "sql" else "volatile"), name
        elif name in VOLATILE_FUNCTIONS or name in VOLATILE_BUILTINS:
            yield "volatile", name
        elif name not in NON_VOLATILE_BUILTINS:
            yield "unknown", name


def _type_key(tn: ast.TypeName) -> _TypeKey:
    names = [n.sval or "" for n in tn.names or () if isinstance(n, ast.String)]
    if names[:1] == ["pg_catalog"]:
        names = names[1:]
    mods = tuple(m.val.ival or 0 for m in tn.typmods or ()
                 if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer))
    name = ".".join(names)
    if name == "numeric" and len(mods) == 1:
        mods = (mods[0], 0)
    return name, mods, bool(tn.arrayBounds)


def type_name(tn: ast.TypeName | None) -> str:
    """The type's name without ``pg_catalog.`` and modifiers (``varchar``, ``json``)."""
    return "?" if tn is None else _type_key(tn)[0]


def type_label(tn: ast.TypeName) -> str:
    """The type as PostgreSQL's catalog spells it, e.g. ``numeric(20,8)``, ``text[]``."""
    name, mods, array = _type_key(tn)
    return name + (f"({','.join(map(str, mods))})" if mods else "") + ("[]" if array else "")


def _rewrite_free(old: _TypeKey, new: _TypeKey) -> bool:
    (old_name, old_mods, old_array), (name, mods, array) = old, new
    if old == new:
        return True
    if old_array or array:
        return False
    if name == "text" or (name == "varchar" and old_name == "text"):
        return old_name in ("varchar", "text") and not mods
    if name != old_name or name not in _REWRITE_FREE_TARGETS:
        return False
    if not mods:
        return True
    if not old_mods:
        return False
    same_scale = name != "numeric" or mods[1:] == old_mods[1:]
    return same_scale and mods[0] >= old_mods[0]


def _rewrite_free_sources(new: _TypeKey) -> str:
    name, mods, _array = new
    if name in ("text", "varchar") and not mods:
        return "varchar or text"
    if not mods:
        return f"any {name}(…)"
    bound = f"{name}(n ≤ {mods[0]}"
    return bound + (f", {mods[1]})" if name == "numeric" else ")")


def column_type_change(old: ast.TypeName | None, new: ast.TypeName, *,
                       using: bool) -> tuple[str, str] | None:
    """Judge ALTER COLUMN … TYPE ``new`` of a column whose type is ``old`` (None when
    unknown): None when PostgreSQL needs no rewrite, else (rule id, reason)."""
    if using:
        return "column-type-change", "with USING rewrites the table"
    new_key = _type_key(new)
    if old is not None:
        if _rewrite_free(_type_key(old), new_key):
            return None
        return "column-type-change", f"from {type_label(old)} rewrites the table"
    if new_key[0] in _REWRITE_FREE_TARGETS and not new_key[2]:
        return ("column-type-change-unverified", f"is rewrite-free only from "
                f"{_rewrite_free_sources(new_key)}; the old type is not in this migration")
    return "column-type-change", "rewrites the table (no rewrite-free path to this type)"
