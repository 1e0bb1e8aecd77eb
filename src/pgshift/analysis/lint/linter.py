"""Lint a migration's UP and DOWN sections for operations that hurt a live database.

Pure: no I/O and no database. The SQL is read with pglast (PostgreSQL's own parser); a
finding's ``line`` is the file line of the offending statement's first token. The rules
and their severities are listed in :mod:`pgshift.analysis.lint.catalog`; the per-statement checks
live in :mod:`pgshift.analysis.lint.checks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from pglast import ast
from pglast.enums import AlterTableType
from pglast.parser import ParseError, scan

from pgshift.analysis.lint.catalog import RULES_BY_ID, Severity
from pgshift.analysis.lint.checks import History, Scope, Section, check_statement
from pgshift.analysis.lint.facts import long_identifiers
from pgshift.analysis.parsing import RawStatement, parse_statements
from pgshift.analysis.tree import non_transactional, table_commands, table_name, unrelated_tables
from pgshift.results import Finding

__all__ = ["History", "lint_migration"]

_COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})

# Statements no rule looks at (unless they may use a new enum value): their trees are
# never built.
_IGNORED = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "SelectStmt", "DoStmt",
                      "CopyStmt", "MergeStmt", "CallStmt", "NotifyStmt", "CommentStmt",
                      "GrantStmt", "GrantRoleStmt", "ExplainStmt"})


@dataclass(frozen=True)
class _Stmt:
    raw: RawStatement
    line: int
    text: str

    @property
    def kind(self) -> str:
        return self.raw.kind

    @property
    def node(self) -> ast.Node:
        return self.raw.node


def lint_migration(
    file: str,
    up_sql: str,
    down_sql: str | None,
    *,
    up_first_line: int = 1,
    down_first_line: int = 1,
    allowed: frozenset[str] = frozenset(),
    down_problem: tuple[int, str] | None = None,
    no_transaction: bool = False,
    history: History | None = None,
) -> list[Finding]:
    """Return the findings for one migration, sorted by line (stable within a line).

    ``up_sql``/``down_sql`` are the section texts (LF line endings; ``down_sql`` is None
    when the file has no DOWN marker) and ``*_first_line`` the file line each text starts
    on. Findings whose rule id is in ``allowed`` are dropped. SQL that pglast cannot parse
    gives one ``parse-error`` finding for that section; nothing is raised.
    ``down_problem`` is ``(file line, message)`` when the DOWN section is already known
    not to run: it becomes that section's ``parse-error`` finding and the section is not
    read again.
    ``no_transaction``: the file's header asks to run it outside a transaction.
    ``history`` holds what earlier migrations declared (functions and their volatility,
    NOT NULL checks); the UP section's declarations are added to it, so linting files in
    order with one ``History`` judges each against those before it.
    """
    history = History() if history is None else history
    findings: list[Finding] = []
    up = _parse(file, "up", up_sql, up_first_line, findings)
    if down_problem is not None:
        line, message = down_problem
        findings.append(_finding("parse-error", file, line, "down",
                                 f"the DOWN section cannot run: {message}"))
        down = None
    else:
        down = None if down_sql is None else _parse(file, "down", down_sql, down_first_line,
                                                    findings)
    if down_problem is None and (down_sql is None or down == []):
        line = (up_first_line + up_sql.rstrip("\n").count("\n") if down_sql is None
                else max(1, down_first_line - 1))
        what = "has no DOWN section" if down_sql is None else "has an empty DOWN section"
        findings.append(_finding("missing-down", file, line, "down", f"{file} {what}"))
    before = history.copy()  # the DOWN section runs where the UP section has not
    up_scope = Scope("up", old_types=_altered_types(down or []), history=history,
                     outside_transaction=_outside(up or [], no_transaction))
    if up is not None:
        findings += _lint_section(file, up, up_scope)
        findings += _unrelated_tables(file, up)
    if down:
        owned = {name for name, table in _indexes(up or []) if table in up_scope.created}
        down_scope = Scope("down", old_types=_altered_types(up or []), new_indexes=owned,
                           history=before, outside_transaction=_outside(down, no_transaction))
        findings += _lint_section(file, down, down_scope)
    return sorted((f for f in findings if f.rule not in allowed), key=lambda f: f.line)


def _finding(rule: str, file: str, line: int, section: Section, message: str,
             severity: Severity | None = None) -> Finding:
    return Finding(rule, severity or RULES_BY_ID[rule].severity, file, line, section, message)


def _outside(stmts: list[_Stmt], no_transaction: bool) -> bool:
    """Whether pgshift runs the section statement by statement, outside a transaction:
    the header asks for it, a statement needs it, or the file manages its own
    transactions (then its statements outside BEGIN … COMMIT run on their own)."""
    return no_transaction or any(s.kind == "TransactionStmt" or _label(s) for s in stmts)


# --- parsing ----------------------------------------------------------------------------


def _parse(file: str, section: Section, sql: str, first_line: int,
           findings: list[Finding]) -> list[_Stmt] | None:
    """The section's statements with their file lines, or None (and a parse-error
    finding) when pglast rejects the text."""
    try:
        raws = parse_statements(sql)
    except ParseError as exc:
        offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        where = _last_statement_start(sql) if offset is None else offset
        line = first_line + sql.count("\n", 0, where)
        findings.append(_finding("parse-error", file, line, section,
                                 f"cannot parse the {section.upper()} section: {exc.args[0]}"))
        return None
    stmts = []
    line, counted = first_line, 0
    for raw in raws:
        end = raw.location + raw.length if raw.length else len(sql)
        offset = _first_token(sql, raw.location, end)
        line += sql.count("\n", counted, offset)
        counted = offset
        stmts.append(_Stmt(raw, line, sql[offset:end]))
    return stmts


def _first_token(sql: str, start: int, end: int) -> int:
    """Offset of the first token of the statement at ``sql[start:end]`` (after blank space
    and comments): PostgreSQL's scanner reads only as much of it as needed."""
    offset = start + len(sql[start:end]) - len(sql[start:end].lstrip())
    if not sql.startswith(("--", "/*"), offset):
        return offset
    window = 512
    while True:
        stop = min(end, offset + window)
        segment = sql[offset:stop]
        try:
            tokens = scan(segment)
        except ParseError:  # cut inside a comment or literal: read more
            tokens = None
        if tokens is not None:
            first = next((t for t in tokens if t.name not in _COMMENT_TOKENS), None)
            if first is not None:  # the scanner counts bytes
                return offset + len(segment.encode()[:first.start].decode(errors="ignore"))
        if stop >= end:
            return offset
        window *= 8


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
        if stmt.kind == "IndexStmt" and isinstance(stmt.node, ast.IndexStmt) \
                and stmt.node.idxname:
            yield stmt.node.idxname, table_name(stmt.node.relation)


def _altered_types(stmts: list[_Stmt]) -> dict[tuple[str, str], ast.TypeName]:
    """(table, column) → the type an ALTER COLUMN … TYPE in ``stmts`` sets."""
    types = {}
    for stmt in stmts:
        if stmt.kind != "AlterTableStmt":
            continue
        for table, cmd in table_commands(stmt.node):
            if (cmd.subtype == AlterTableType.AT_AlterColumnType and cmd.name
                    and isinstance(cmd.def_, ast.ColumnDef) and cmd.def_.typeName):
                types[(table, cmd.name)] = cmd.def_.typeName
    return types


# --- the section walk -------------------------------------------------------------------


# Rules whose finding is a warning, not a note, for a statement that runs outside a
# transaction: a failure after it leaves it applied, and the file cannot simply be re-run.
_IDEMPOTENCY = frozenset({"require-if-not-exists", "require-if-exists"})


def _lint_section(file: str, stmts: list[_Stmt], scope: Scope) -> list[Finding]:
    findings = []
    for stmt in stmts:
        if stmt.kind in _IGNORED and not _may_use(stmt, scope.enum_values):
            continue
        scope.line = stmt.line
        check_statement(stmt.node, scope)
        alone = not scope.in_transaction and stmt.kind != "TransactionStmt"
        findings += [_finding(rule, file, stmt.line, scope.section, message,
                              "warning" if alone and rule in _IDEMPOTENCY else None)
                     for rule, message in scope.hits]
        scope.hits.clear()
        findings += [_finding("identifier-too-long", file, stmt.line, scope.section, message)
                     for message in long_identifiers(stmt.text)]
    findings += [_finding(rule, file, line, scope.section, message)
                 for rule, _kind, _name, message, line in scope.pending_drops]
    mixed = _mixed_transactional(stmts)
    if mixed is not None:
        line, message = mixed
        findings.append(_finding("mixed-non-transactional", file, line, scope.section, message))
    return findings


def _may_use(stmt: _Stmt, values: set[str]) -> bool:
    """Whether ``stmt`` may mention one of the enum ``values`` (as a string literal)."""
    return any(f"'{value}'" in stmt.text for value in values)


def _label(stmt: _Stmt) -> str | None:
    return None if stmt.kind in _IGNORED else non_transactional(stmt.node)


def _mixed_transactional(stmts: list[_Stmt]) -> tuple[int, str] | None:
    """(line, message) when a non-transactional statement shares the section with
    statements that would then run without a transaction; None otherwise."""
    if any(s.kind == "TransactionStmt" for s in stmts):
        return None  # the file manages its own transactions
    labels = [(s, _label(s)) for s in stmts]
    special = [(s.line, label) for s, label in labels if label]
    others = [s for s, label in labels if label is None and s.kind != "VariableSetStmt"]
    if not special or not others:
        return None
    line, label = special[0]
    return line, (f"{label} makes this section run outside a transaction; its {len(others)} "
                  "other statement(s) will not be undone if a later one fails")


def _unrelated_tables(file: str, stmts: list[_Stmt]) -> list[Finding]:
    relevant = [s for s in stmts if s.kind not in _IGNORED]
    found = unrelated_tables([stmt.node for stmt in relevant])
    if found is None:
        return []
    index, message = found
    return [_finding("multiple-tables", file, relevant[index].line, "up", message)]
