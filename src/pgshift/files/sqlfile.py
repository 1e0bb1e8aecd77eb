"""One migration file's text → :class:`ParsedMigration`.

Pure functions: no file or database access. Markers, meta-commands and statement
boundaries are recognised with pglast (PostgreSQL's own scanner and parser), so a
``-- DOWN`` line inside a string literal, a dollar-quoted body or a block comment is SQL,
never a marker.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from pgshift.errors import ErrorPlace, MigrationFileError
from pgshift.files import header

CHECKSUM_TAG = "sha256v1"

# Candidate lines only; each candidate is confirmed by pglast's scanner before it counts.
_MARKER_LINE = re.compile(r"^[ \t]*--[ \t]*(up|down)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_META_LINE = re.compile(r"^[ \t]*\\", re.MULTILINE)
_NEAR_MARKER = re.compile(r"^[ \t]*--[ \t]*(?:\+?migrate:?)?[ \t]*(up|down)\b", re.I | re.M)
# Words that every statement needing special handling contains; only statements containing
# one of them are parsed into a tree (a 10 MB file of INSERTs never is).
_CANDIDATE_WORDS = re.compile(
    r"\b(concurrently|vacuum|database|system|tablespace|begin|start|commit|end|rollback|"
    r"abort|prepare|index|savepoint|release|stdin|stdout)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a section, as it stands in its file."""

    index: int
    sql: str
    line: int

    @property
    def head(self) -> str:
        """The statement's first line."""
        return self.sql.split("\n", 1)[0].rstrip()


@dataclass(frozen=True)
class Section:
    """An UP or DOWN section: its text and where its statements are.

    ``starts``/``ends`` are character offsets of each statement inside ``text`` (the
    first token to the last, without the ``;``); ``first_line`` is the file line on which
    ``text`` begins. ``outside_transaction`` maps statement indexes to the reason they
    cannot run in a transaction block; ``index_names`` lists indexes the section creates.
    """

    text: str
    first_line: int
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    outside_transaction: tuple[tuple[int, str], ...] = ()
    index_names: tuple[tuple[int, str | None, str], ...] = ()
    concurrent_indexes: tuple[int, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def is_empty(self) -> bool:
        return not self.starts

    def statement(self, index: int) -> Statement:
        start = self.starts[index]
        line = self.first_line + self.text.count("\n", 0, start)
        return Statement(index=index, sql=self.text[start : self.ends[index]], line=line)

    def statements(self) -> Iterator[Statement]:
        line = self.first_line
        previous = 0
        for index, (start, end) in enumerate(zip(self.starts, self.ends, strict=False)):
            line += self.text.count("\n", previous, start)
            previous = start
            yield Statement(index=index, sql=self.text[start:end], line=line)

    def place(self, offset: int) -> ErrorPlace:
        """The file line, that line's text and the column of character ``offset`` of
        ``text`` (e.g. where the server's error position points)."""
        offset = max(0, min(offset, len(self.text)))
        start = self.text.rfind("\n", 0, offset) + 1
        end = self.text.find("\n", offset)
        line_text = self.text[start : end if end >= 0 else len(self.text)].rstrip("\r")
        line = self.first_line + self.text.count("\n", 0, offset)
        return ErrorPlace(line, line_text, offset - start)

    def statement_at(self, offset: int) -> int:
        """Index of the statement containing character ``offset`` of ``text``."""
        return max(0, bisect_right(self.starts, offset) - 1)

    def index_created_by(self, index: int) -> tuple[str | None, str] | None:
        """(schema, name) of the index statement ``index`` creates, if it creates one."""
        for position, schema, name in self.index_names:
            if position == index:
                return schema, name
        return None

    @property
    def needs_no_transaction(self) -> bool:
        return bool(self.outside_transaction)


@dataclass(frozen=True)
class ParsedMigration:
    """A migration file, parsed and validated."""

    name: str
    up: Section
    down: Section | None
    checksum: str
    metadata: tuple[tuple[str, str], ...] = ()
    no_transaction_directive: bool = False
    allowed_rules: frozenset[str] = frozenset()

    @property
    def no_transaction(self) -> bool:
        """True when the UP section runs outside a transaction, statement by statement."""
        return self.no_transaction_directive or self.up.needs_no_transaction

    def down_no_transaction(self) -> bool:
        return self.no_transaction_directive or bool(self.down and self.down.needs_no_transaction)

    @property
    def down_sql(self) -> str | None:
        if self.down is None or self.down.is_empty:
            return None
        return self.down.text.strip("\n") + "\n"

    def no_transaction_reasons(self) -> list[str]:
        reasons = [reason for _, reason in self.up.outside_transaction]
        if self.no_transaction_directive:
            reasons.insert(0, "-- pgshift: no-transaction")
        return list(dict.fromkeys(reasons))

    def meta(self, key: str) -> str | None:
        for name, value in self.metadata:
            if name == key:
                return value
        return None


def normalize(text: str) -> str:
    """Drop a leading BOM and turn CRLF (and lone CR) line endings into LF."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def statement_checksum(sql: str) -> str:
    """Checksum of one statement's text (for resuming a non-transactional migration)."""
    return hashlib.sha256(sql.strip().encode("utf-8")).hexdigest()[:32]


def checksum(up_text: str) -> str:
    """Tagged SHA-256 of an UP section, independent of line endings, BOM and outer blank lines."""
    body = normalize(up_text).strip()
    return f"{CHECKSUM_TAG}:{hashlib.sha256(body.encode('utf-8')).hexdigest()}"


def parse(text: str, filename: str) -> ParsedMigration:
    """Parse one migration file's decoded text.

    Raises:
        MigrationFileError: names the file and line for a missing, repeated or misplaced
            marker, an empty UP section, a psql meta-command, SQL in the header, a bad
            directive or a syntax error.
    """
    text = normalize(text)
    markers = _find_markers(text, filename)
    up_at, down_at = _check_markers(markers, text, filename)
    header_end = up_at[0]
    up_start = _line_end(text, up_at[0])
    up_end = down_at[0] if down_at else len(text)
    up = _section(text, up_start, up_end, filename, "UP")
    if up.is_empty:
        raise MigrationFileError(
            filename, "the UP section has no SQL", line=_line_of(text, up_at[0]),
            hint="write the statements that apply the migration after the -- UP line",
        )
    down = None
    if down_at:
        down = _section(text, _line_end(text, down_at[0]), len(text), filename, "DOWN")
    _refuse_sql_in_header(text[:header_end], filename)
    metadata, no_tx, allowed = header.read(text[:header_end], filename)
    stray = header.DIRECTIVE_LINE.search(text, up_start)
    if stray is not None:
        raise MigrationFileError(
            filename, "a '-- pgshift:' directive below '-- UP' has no effect",
            line=_line_of(text, stray.start()),
            hint="directives belong in the header, before the '-- UP' line",
        )
    return ParsedMigration(
        name=filename,
        up=up,
        down=down,
        checksum=checksum(up.text),
        metadata=metadata,
        no_transaction_directive=no_tx,
        allowed_rules=allowed,
    )


def parse_down(text: str, filename: str) -> Section:
    """A stored DOWN section (``down_sql`` of the tracking table) as a Section.

    Raises:
        MigrationFileError: a syntax error, named with the file and the line within it.
    """
    return _section(normalize(text), 0, len(normalize(text)), filename, "DOWN")


def up_checksum(text: str, filename: str) -> str:
    """The checksum of a file's UP section, without splitting its statements.

    Raises:
        MigrationFileError: the markers are missing or misplaced.
    """
    text = normalize(text)
    up_at, down_at = _check_markers(_find_markers(text, filename), text, filename)
    return checksum(text[_line_end(text, up_at[0]) : down_at[0] if down_at else len(text)])


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end + 1


class _Regions:
    """Statement regions of the whole file from pglast's scanner-based splitter.

    A candidate line is classified by scanning only the region that contains it, so the
    cost stays linear in the file size whatever the number of statements.
    """

    def __init__(self, text: str, filename: str) -> None:
        from pglast import parser

        self._parser = parser
        self.text = text
        try:
            slices = parser.split(text, with_parser=False, only_slices=True)
        except parser.ParseError as error:
            raise _syntax_error(error, text, 0, 1, filename) from None
        bounds = [0]
        for piece in slices:
            bounds.extend((piece.start, piece.stop))
        bounds.append(len(text))
        self._bounds = sorted(set(bounds))
        self._cache: dict[int, list[tuple[int, int, str]]] = {}

    def token_at(self, offset: int) -> tuple[int, int, str] | None:
        """The token (start, end inclusive, name) covering ``offset``, if any."""
        slot = bisect_right(self._bounds, offset) - 1
        base = self._bounds[slot]
        if slot not in self._cache:
            end = self._bounds[slot + 1] if slot + 1 < len(self._bounds) else len(self.text)
            try:
                tokens = self._parser.scan(self.text[base:end])
            except self._parser.ParseError:
                tokens = []
            self._cache[slot] = [(t.start + base, t.end + base, t.name) for t in tokens]
        for start, end, name in self._cache[slot]:
            if start <= offset <= end:
                return start, end, name
        return None


def _find_markers(text: str, filename: str) -> list[tuple[int, str]]:
    """(offset of the line, "up"/"down") for every real marker; meta-commands raise."""
    marker_hits = list(_MARKER_LINE.finditer(text))
    meta_hits = list(_META_LINE.finditer(text))
    if not marker_hits and not meta_hits:
        return []
    regions = _Regions(text, filename)
    for hit in meta_hits:
        slash = hit.end() - 1
        token = regions.token_at(slash)
        if token is None or token[0] == slash:
            raise MigrationFileError(
                filename,
                f"psql meta-command is not SQL: {_line_text(text, hit.start())!r}",
                line=_line_of(text, hit.start()),
                hint="pgshift sends SQL to the server; inline the file or run psql separately",
            )
    markers = []
    for hit in marker_hits:
        dash = text.index("--", hit.start())
        token = regions.token_at(dash)
        if token is not None and token[0] == dash and token[2] == "SQL_COMMENT":
            markers.append((hit.start(), hit.group(1).lower()))
    return markers


def _line_text(text: str, offset: int) -> str:
    return text[offset:_line_end(text, offset)].rstrip("\n")


def _check_markers(
    markers: list[tuple[int, str]], text: str, filename: str
) -> tuple[tuple[int, str], tuple[int, str] | None]:
    ups = [m for m in markers if m[1] == "up"]
    downs = [m for m in markers if m[1] == "down"]
    if not ups:
        near = _NEAR_MARKER.search(text)
        hint = "add a line '-- UP' before the statements that apply the migration"
        if near:
            hint = (
                f"line {_line_of(text, near.start())} looks like a marker but is not one: "
                "a marker is a line of its own, exactly '-- UP' or '-- DOWN'"
            )
        raise MigrationFileError(filename, "no '-- UP' marker", hint=hint)
    for found in (ups, downs):
        if len(found) > 1:
            raise MigrationFileError(
                filename,
                f"second '-- {found[1][1].upper()}' marker "
                f"(the first is on line {_line_of(text, found[0][0])})",
                line=_line_of(text, found[1][0]),
            )
    if downs and downs[0][0] < ups[0][0]:
        raise MigrationFileError(
            filename,
            f"'-- DOWN' comes before '-- UP' (line {_line_of(text, ups[0][0])})",
            line=_line_of(text, downs[0][0]),
        )
    return ups[0], (downs[0] if downs else None)


def _syntax_error(error: Exception, text: str, base: int, first_line: int, filename: str) -> (
    MigrationFileError
):
    message = str(error.args[0]) if error.args else str(error)
    position = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else 0
    line = first_line + text.count("\n", base, base + position)
    return MigrationFileError(filename, f"SQL syntax error: {message}", line=line)


def _section(text: str, start: int, end: int, filename: str, label: str) -> Section:
    from pglast import parser

    body = text[start:end]
    first_line = _line_of(text, start)
    try:
        slices = parser.split(body, with_parser=True, only_slices=True)
    except parser.ParseError as error:
        raise _syntax_error(error, body, 0, first_line, filename) from None
    starts = tuple(s.start for s in slices)
    ends = tuple(s.stop for s in slices)
    outside: list[tuple[int, str]] = []
    indexes: list[tuple[int, str | None, str]] = []
    concurrent: list[int] = []
    from pgshift.analysis.classify import classify

    seen: set[int] = set()
    for hit in _CANDIDATE_WORDS.finditer(body):
        index = bisect_right(starts, hit.start()) - 1
        if index < 0 or index in seen or hit.start() >= ends[index]:
            continue
        seen.add(index)
        found = classify(body[starts[index] : ends[index]])
        if found.unsupported:
            raise MigrationFileError(filename, found.unsupported,
                                     line=first_line + body.count("\n", 0, starts[index]))
        if found.outside_transaction:
            outside.append((index, found.outside_transaction))
        if found.index_name:
            indexes.append((index, found.index_schema, found.index_name))
        if found.concurrent_index:
            concurrent.append(index)
    return Section(
        text=body,
        first_line=first_line,
        starts=starts,
        ends=ends,
        outside_transaction=tuple(sorted(outside)),
        index_names=tuple(sorted(indexes, key=lambda item: item[0])),
        concurrent_indexes=tuple(sorted(concurrent)),
    )


def _refuse_sql_in_header(text: str, filename: str) -> None:
    from pglast import parser

    try:
        sql_in_header = parser.split(text, with_parser=True, only_slices=True)
    except parser.ParseError as error:
        raise _syntax_error(error, text, 0, 1, filename) from None
    if sql_in_header:
        raise MigrationFileError(
            filename,
            "SQL before the '-- UP' marker would never run",
            line=_line_of(text, sql_in_header[0].start),
            hint="move it below '-- UP' (lines before the marker are the header)",
        )
