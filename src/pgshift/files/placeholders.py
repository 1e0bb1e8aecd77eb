"""Placeholders in migration SQL: ``${name}``, ``${name:ident}``, ``${name:literal}`` and
the built-ins ``${pgshift:database|user|schema|filename}``.

Where they are is found with pglast's scanner (PostgreSQL's own lexer): a placeholder in a
``--`` or ``/* */`` comment is left alone; anywhere else (also in a string literal or a
dollar-quoted body) it is substituted. Pure functions: the values come from the caller.

A substituted :class:`~pgshift.files.sqlfile.Section` keeps the text as written next to
the text that runs, so every message quotes the file as written and a value (a password)
never reaches a message, a log line or the tracking table.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

from pgshift.errors import MigrationFileError

BUILTINS = ("database", "user", "schema", "filename")
KINDS = ("ident", "literal")
# Candidates only: each one is kept when pglast's scanner does not put it in a comment.
_CANDIDATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+))?\}")
# A short value is masked only in its quoted forms; a longer one also as it is.
_SHORTEST_MASKED = 3


@dataclass(frozen=True)
class Placeholder:
    """One placeholder: its characters ``start``..``end`` (exclusive) of the text, the
    variable ``name`` (``pgshift:<x>`` for a built-in) and how it is inserted
    (``raw``, ``ident`` or ``literal``)."""

    start: int
    end: int
    name: str
    kind: str

    @property
    def written(self) -> str:
        return "${" + self.name + ("" if self.kind == "raw" else ":" + self.kind) + "}"


def find(text: str, filename: str, first_line: int = 1) -> tuple[Placeholder, ...]:
    """The placeholders of ``text`` outside comments, in order.

    Raises:
        MigrationFileError: an unknown built-in or an unknown ``:kind`` (named with its line).
    """
    if "${" not in text:
        return ()
    hits = list(_CANDIDATE.finditer(text))
    if not hits:
        return ()
    comments = _comments(text)
    starts = [start for start, _ in comments]
    found = []
    for hit in hits:
        slot = bisect_right(starts, hit.start()) - 1
        if slot >= 0 and hit.start() < comments[slot][1]:
            continue
        line = first_line + text.count("\n", 0, hit.start())
        name, kind = hit.group(1), hit.group(2) or "raw"
        if name == "pgshift":
            if kind not in BUILTINS:
                raise MigrationFileError(
                    filename, f"unknown built-in placeholder {hit.group(0)}", line=line,
                    hint="built-ins: " + ", ".join("${pgshift:" + b + "}" for b in BUILTINS))
            name, kind = f"pgshift:{kind}", "raw"
        elif kind not in ("raw", *KINDS):
            raise MigrationFileError(
                filename, f"unknown placeholder kind in {hit.group(0)}", line=line,
                hint="write ${name}, ${name:ident} or ${name:literal}")
        found.append(Placeholder(hit.start(), hit.end(), name, kind))
    return tuple(found)


def _comments(text: str) -> list[tuple[int, int]]:
    """(start, end exclusive) of every comment token of ``text``; after a scanner error
    (an unterminated literal or comment) the rest counts as no comment."""
    from pglast import parser

    try:
        tokens = parser.scan(text)
    except parser.ParseError as error:
        at = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else 0
        try:
            tokens = parser.scan(text[:at])
        except parser.ParseError:
            tokens = []
    return [(t.start, t.end + 1) for t in tokens if t.name in ("SQL_COMMENT", "C_COMMENT")]


def quote_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    if "\\" in value:
        return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + value.replace("'", "''") + "'"


def render(value: str, kind: str) -> str:
    """``value`` as it is inserted for a placeholder of ``kind``."""
    if kind == "ident":
        return quote_ident(value)
    if kind == "literal":
        return quote_literal(value)
    return value


@dataclass(frozen=True)
class Substitution:
    """Text with its placeholders replaced: ``text`` (what runs) and, per replacement,
    (start in ``text``, end in ``text``, start in the written text, end in the written
    text), in order."""

    text: str
    spans: tuple[tuple[int, int, int, int], ...]

    def to_written(self, offset: int) -> int:
        """The written-text offset of character ``offset`` of ``text`` (a character of a
        value maps to the start of its placeholder)."""
        shift = 0
        for start, end, w_start, w_end in self.spans:
            if offset < start:
                break
            if offset < end:
                return w_start
            shift = w_end - end
        return offset + shift

    def end_to_written(self, end: int) -> int:
        """The written-text end (exclusive) of a range of ``text`` ending at ``end``."""
        shift = 0
        for start, stop, _w_start, w_end in self.spans:
            if end <= start:
                break
            if end <= stop:
                return w_end
            shift = w_end - stop
        return end + shift

    def end_to_run(self, end: int) -> int:
        """The ``text`` end (exclusive) of a range of the written text ending at ``end``."""
        shift = 0
        for _start, stop, w_start, w_end in self.spans:
            if end <= w_start:
                break
            if end <= w_end:
                return stop
            shift = stop - w_end
        return end + shift

    def to_run(self, offset: int) -> int:
        """The ``text`` offset of character ``offset`` of the written text."""
        shift = 0
        for start, end, w_start, w_end in self.spans:
            if offset < w_start:
                break
            if offset < w_end:
                return start
            shift = end - w_end
        return offset + shift


def substitute(text: str, found: tuple[Placeholder, ...], values: Mapping[str, str],
               filename: str, first_line: int = 1) -> Substitution:
    """``text`` with each placeholder of ``found`` replaced by its value.

    Raises:
        MigrationFileError: a variable without a value (file, line, variable).
    """
    pieces: list[str] = []
    spans: list[tuple[int, int, int, int]] = []
    previous = 0
    length = 0
    for item in found:
        value = values.get(item.name)
        if value is None:
            raise missing(item, text, filename, first_line)
        pieces.append(text[previous:item.start])
        length += item.start - previous
        shown = render(value, item.kind)
        pieces.append(shown)
        spans.append((length, length + len(shown), item.start, item.end))
        length += len(shown)
        previous = item.end
    pieces.append(text[previous:])
    return Substitution("".join(pieces), tuple(spans))


def missing(item: Placeholder, text: str, filename: str, first_line: int = 1) -> (
    MigrationFileError
):
    line = first_line + text.count("\n", 0, item.start)
    if item.name.startswith("pgshift:"):
        return MigrationFileError(filename, f"placeholder {item.written} has no value here",
                                  line=line)
    return MigrationFileError(
        filename, f"placeholder {item.written}: variable {item.name!r} has no value",
        line=line,
        hint=f"pass --var {item.name}=VALUE, set PGSHIFT_VAR_{item.name}, or add "
        f"{item.name} to [tool.pgshift.vars] in pyproject.toml",
    )


def check(found: tuple[Placeholder, ...], text: str, values: Mapping[str, str],
          filename: str, first_line: int = 1) -> None:
    """Raise for the first placeholder of ``found`` without a value (nothing substituted)."""
    for item in found:
        if item.name not in values:
            raise missing(item, text, filename, first_line)


def masker(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """(shown form, placeholder) pairs to mask in server text, longest first."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        if name.startswith("pgshift:") or not value:
            continue
        pairs.append((quote_literal(value), "${" + name + ":literal}"))
        pairs.append((quote_ident(value), '"${' + name + '}"'))
        if len(value) >= _SHORTEST_MASKED:
            pairs.append((value, "${" + name + "}"))
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def mask(text: str | None, pairs: list[tuple[str, str]]) -> str | None:
    """``text`` with every value of ``pairs`` shown as its placeholder."""
    if not text or not pairs:
        return text
    for shown, placeholder in pairs:
        text = text.replace(shown, placeholder)
    return text
