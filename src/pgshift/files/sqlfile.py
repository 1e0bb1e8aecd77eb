"""One migration file's text → :class:`ParsedMigration`.

Pure functions: no file or database access. Markers, meta-commands and statement
boundaries are recognised with pglast (PostgreSQL's own scanner and parser), so a
``-- DOWN`` line inside a string literal, a dollar-quoted body or a block comment is SQL,
never a marker.

A problem in the file as a whole, its header or its UP section raises
:class:`MigrationFileError`. A problem that lies only in the DOWN section (SQL that does
not parse, a psql meta-command, a statement pgshift cannot send, a stray directive) does
not: the DOWN :class:`Section` carries it as its :attr:`Section.problem`, and each caller
decides what it means for its command (:mod:`pgshift.engine.policy`).
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from pgshift.errors import ErrorPlace, MigrationFileError
from pgshift.files import CHECKSUM_TAG, header, placeholders
from pgshift.files.placeholders import Placeholder, Substitution

# Candidate lines only; each candidate is confirmed by pglast's scanner before it counts.
# The patterns start with their literal text (found fast); _line_hits keeps the hits that
# only blanks precede on their line.
_MARKER = re.compile(r"--[ \t]*(up|down)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_META = re.compile(r"\\")
_DIRECTIVE = re.compile(r"--[ \t]*pgshift[ \t]*:", re.IGNORECASE)
_NEAR_MARKER = re.compile(r"^[ \t]*--[ \t]*(?:\+?migrate:?)?[ \t]*(up|down)\b", re.I | re.M)


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
class SectionProblem:
    """Why a DOWN section cannot run: ``message`` about the file line ``line``, and an
    optional ``hint``."""

    line: int
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class Section:
    """An UP or DOWN section: its text and where its statements are.

    ``starts``/``ends`` are character offsets of each statement inside ``text`` (the
    first token to the last, without the ``;``); ``first_line`` is the file line on which
    ``text`` begins. ``outside_transaction`` maps statement indexes to the reason they
    cannot run in a transaction block; ``index_names`` lists indexes the section creates.
    ``problem`` is set on a DOWN section that cannot run (then it has no statements).

    ``placeholders`` are the section's placeholders (offsets in ``text``). A section
    returned by :meth:`with_values` runs ``text`` (values substituted) and keeps the text
    as written in ``substitution``'s counterpart ``written``: :meth:`shown` and
    :meth:`place` quote that, never a value.
    """

    text: str
    first_line: int
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    outside_transaction: tuple[tuple[int, str], ...] = ()
    index_names: tuple[tuple[int, str | None, str], ...] = ()
    concurrent_indexes: tuple[int, ...] = field(default=())
    problem: SectionProblem | None = None
    placeholders: tuple[Placeholder, ...] = ()
    written: str | None = None
    substitution: Substitution | None = None
    stand_in: str | None = None

    @property
    def analysed(self) -> str:
        """The text to parse for analysis (lint): ``text`` with each placeholder replaced
        by a stand-in of the same length that parses where its value would."""
        return self.stand_in if self.stand_in is not None else self.text

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def is_empty(self) -> bool:
        """True when the section holds no SQL (a section with a problem is not empty)."""
        return not self.starts and self.problem is None

    def shown(self, index: int) -> Statement:
        """Statement ``index`` as written in the file (values not substituted)."""
        if self.substitution is None or self.written is None:
            return self.statement(index)
        start = self.substitution.to_written(self.starts[index])
        end = self.substitution.end_to_written(self.ends[index])
        line = self.first_line + self.written.count("\n", 0, start)
        return Statement(index=index, sql=self.written[start:end], line=line)

    def with_values(self, values: Mapping[str, str], filename: str) -> Section:
        """This section with its placeholders replaced by ``values`` (itself when it has
        none).

        Raises:
            MigrationFileError: a placeholder without a value (file, line, variable).
        """
        if not self.placeholders:
            return self
        done = placeholders.substitute(self.text, self.placeholders, values, filename,
                                       self.first_line)
        return replace(
            self, text=done.text, placeholders=(), written=self.text, substitution=done,
            stand_in=None,
            starts=tuple(done.to_run(s) for s in self.starts),
            ends=tuple(done.end_to_run(e) for e in self.ends),
        )

    def check_values(self, values: Mapping[str, str], filename: str) -> None:
        """Raise for the first placeholder without a value (see :meth:`with_values`)."""
        placeholders.check(self.placeholders, self.text, values, filename, self.first_line)

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
        text = self.text
        if self.substitution is not None and self.written is not None:
            offset, text = self.substitution.to_written(offset), self.written
        offset = max(0, min(offset, len(text)))
        start = text.rfind("\n", 0, offset) + 1
        end = text.find("\n", offset)
        line_text = text[start : end if end >= 0 else len(text)].rstrip("\r")
        line = self.first_line + text.count("\n", 0, offset)
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
    squashes: tuple[str, ...] = ()
    placeholders: bool = True

    @property
    def no_transaction(self) -> bool:
        """True when the UP section runs outside a transaction, statement by statement."""
        return self.no_transaction_directive or self.up.needs_no_transaction

    def down_no_transaction(self) -> bool:
        return self.no_transaction_directive or bool(self.down and self.down.needs_no_transaction)

    @property
    def up_sql(self) -> str:
        """The UP section as written, as a repeatable migration's version is recorded."""
        return self.up.text.strip("\n") + "\n"

    @property
    def down_sql(self) -> str | None:
        """The DOWN section as written (also when it has a problem), for the tracking
        table; None when there is none."""
        if self.down is None or self.down.is_empty:
            return None
        return self.down.text.strip("\n") + "\n"

    @property
    def down_problem(self) -> SectionProblem | None:
        """Why the DOWN section cannot run, or None."""
        return self.down.problem if self.down is not None else None

    def no_transaction_reasons(self) -> list[str]:
        reasons = [reason for _, reason in self.up.outside_transaction]
        if self.no_transaction_directive:
            reasons.insert(0, "-- pgshift: no-transaction")
        return list(dict.fromkeys(reasons))


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

    A problem that lies only in the DOWN section is not raised: it is the DOWN section's
    :attr:`Section.problem`.

    Raises:
        MigrationFileError: names the file and line for a missing, repeated or misplaced
            marker, an empty UP section, a psql meta-command, SQL in the header, a bad
            directive or a syntax error, in the header or the UP section.
    """
    written = normalize(text)
    text, marks = _stand_in(written, filename)
    quick = _split_whole(text)
    found = _Scan(quick.markers, []) if quick is not None else _find_markers(text, filename)
    up_at, down_at = _check_markers(found.markers, text, filename)
    header_end = up_at[0]
    up_start = _line_end(text, up_at[0])
    up_end = down_at[0] if down_at else len(text)
    found.refuse_before(up_end)
    up = _section(text, up_start, up_end, filename, "UP",
                  quick.within(up_start, up_end) if quick is not None else None)
    if up.is_empty:
        raise MigrationFileError(
            filename, "the UP section has no SQL", line=_line_of(text, up_at[0]),
            hint="write the statements that apply the migration after the -- UP line",
        )
    if quick is None or quick.within(0, header_end):
        _refuse_sql_in_header(text[:header_end], filename)
    metadata, no_tx, allowed = header.read(text[:header_end], filename)
    squashes = header.squashed(text[:header_end], filename)
    stray = next(_line_hits(_DIRECTIVE, text, up_start), None)
    stray_error = None if stray is None else MigrationFileError(
        filename, "a '-- pgshift:' directive below '-- UP' has no effect",
        line=_line_of(text, stray.start()),
        hint="directives belong in the header, before the '-- UP' line",
    )
    if stray_error is not None and stray is not None and stray.start() < up_end:
        raise stray_error
    down = None
    if down_at:
        down_start = _line_end(text, down_at[0])
        down = _down_section(text, down_start, filename,
                             found.first_error_after(up_end) or stray_error,
                             quick.within(down_start, len(text)) if quick is not None else None)
        if marks:
            down = _as_written(down, written, down_start, len(text), marks)
    if marks:
        up = _as_written(up, written, up_start, up_end, marks)
    return ParsedMigration(
        name=filename,
        up=up,
        down=down,
        checksum=checksum(up.text),
        metadata=metadata,
        no_transaction_directive=no_tx,
        allowed_rules=allowed,
        squashes=squashes,
        placeholders=not header.no_placeholders(text[:header_end]),
    )


def placeholders_on(text: str) -> bool:
    """Whether a migration file's placeholders are substituted: its header does not say
    ``-- pgshift: no-placeholders``."""
    up = _first_up_line(text)
    return up is None or not header.no_placeholders(text[:up])


def _stand_in(text: str, filename: str) -> tuple[str, tuple[Placeholder, ...]]:
    """``text`` with each placeholder (outside comments, unless the header says
    ``-- pgshift: no-placeholders``) replaced by a stand-in of the same length that parses
    where the value would (an identifier, a quoted identifier, a literal), and the
    placeholders. Offsets in both texts agree, so statements are found in the text as
    written; the values are put in only when the section runs."""
    if "${" not in text or not placeholders_on(text):
        return text, ()
    marks = placeholders.find(text, filename)
    if not marks:
        return text, ()
    pieces = []
    previous = 0
    for mark in marks:
        size = mark.end - mark.start
        pieces.append(text[previous:mark.start])
        if mark.kind == "ident":
            pieces.append('"' + "x" * (size - 2) + '"')
        elif mark.kind == "literal":
            pieces.append("'" + "x" * (size - 2) + "'")
        else:
            pieces.append("p" + "x" * (size - 1))
        previous = mark.end
    pieces.append(text[previous:])
    return "".join(pieces), marks


def _as_written(section: Section, written: str, start: int, end: int,
                marks: tuple[Placeholder, ...]) -> Section:
    """``section`` (found in the stand-in text) with the text as written between
    ``start`` and ``end`` and its placeholders."""
    inside = tuple(replace(m, start=m.start - start, end=m.end - start) for m in marks
                   if start <= m.start < end)
    return replace(section, text=written[start:end], placeholders=inside,
                   stand_in=section.text)


def _down_section(text: str, start: int, filename: str, known: MigrationFileError | None,
                  slices: list[tuple[int, int]] | None = None) -> Section:
    """The DOWN section from ``start`` to the end; a problem in it (``known``, found while
    scanning the whole file, or one found now) becomes its :attr:`Section.problem`.
    ``slices``: its statements, when already known."""
    problem = known
    if problem is None:
        try:
            return _section(text, start, len(text), filename, "DOWN", slices)
        except MigrationFileError as error:
            problem = error
    return Section(
        text=text[start:],
        first_line=_line_of(text, start),
        starts=(),
        ends=(),
        problem=SectionProblem(problem.line or _line_of(text, start), problem.problem,
                               problem.hint),
    )


def header_metadata(text: str) -> tuple[tuple[str, str], ...]:
    """The metadata of a file's header (the lines before the first ``-- UP`` line) without
    parsing the file: for showing it (``status``), not for validating it. ``text`` may be
    only the start of the file."""
    text = normalize(text)
    up = _first_up_line(text)
    return header.metadata(text if up is None else text[:up])


def has_up_line(text: str) -> bool:
    """Whether ``text`` (the start of a file) holds a line that looks like ``-- UP``."""
    return _first_up_line(normalize(text)) is not None


def _first_up_line(text: str) -> int | None:
    return next((_line_start(hit) for hit in _line_hits(_MARKER, text)
                 if hit.group(1).lower() == "up"), None)


def parse_down(text: str, filename: str, *, placeholders: bool = True) -> Section:
    """A stored DOWN section (``down_sql`` of the tracking table) as a Section; SQL that
    does not parse (or a meta-command) is its :attr:`Section.problem`, with the line
    counted within ``text``. ``placeholders=False``: its file's header says ``-- pgshift:
    no-placeholders`` (a stored section has no header of its own). Raises nothing."""
    written = normalize(text)
    text, marks = _stand_in(written, filename) if placeholders else (written, ())
    found = _find_markers(text, filename, markers=False)
    section = _down_section(text, 0, filename, found.first_error_after(0))
    return _as_written(section, written, 0, len(text), marks) if marks else section


def parse_plain(text: str, filename: str) -> Section:
    """A file of plain SQL without markers (a hook) as one Section.

    Raises:
        MigrationFileError: a psql meta-command or SQL that does not parse (file, line).
    """
    written = normalize(text)
    text, marks = _stand_in(written, filename)
    found = _find_markers(text, filename, markers=False)
    found.refuse_before(len(text) + 1)
    section = _section(text, 0, len(text), filename, "hook")
    return _as_written(section, written, 0, len(text), marks) if marks else section


def _line_hits(pattern: re.Pattern[str], text: str, start: int = 0) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` that begin their line but for spaces and tabs."""
    for hit in pattern.finditer(text, start):
        line_start = text.rfind("\n", 0, hit.start()) + 1
        if not text[line_start:hit.start()].strip(" \t"):
            yield hit


def _line_start(hit: re.Match[str]) -> int:
    return hit.string.rfind("\n", 0, hit.start()) + 1


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end + 1


class _Regions:
    """Statement regions of the whole file from pglast's scanner-based splitter.

    A candidate line is classified by scanning only the region that contains it, so the
    cost stays linear in the file size whatever the number of statements. Text the
    scanner rejects (an unterminated string, comment or dollar-quoted body) ends the
    regions: ``error`` is that syntax error and ``error_at`` its offset; everything from
    there on belongs to the rejected token.
    """

    def __init__(self, text: str, filename: str) -> None:
        from pglast import parser

        self._parser = parser
        self.text = text
        self.error: MigrationFileError | None = None
        self.error_at = len(text)
        try:
            slices = parser.split(text, with_parser=False, only_slices=True)
        except parser.ParseError as error:
            self.error = _syntax_error(error, text, 0, 1, filename)
            self.error_at = _error_offset(error)
            try:
                slices = parser.split(text[: self.error_at], with_parser=False,
                                      only_slices=True)
            except parser.ParseError:
                slices = ()
        bounds = [0]
        for piece in slices:
            bounds.extend((piece.start, piece.stop))
        bounds.append(self.error_at)
        self._bounds = sorted(set(bounds))
        self._cache: dict[int, list[tuple[int, int, str]]] = {}

    def token_at(self, offset: int) -> tuple[int, int, str] | None:
        """The token (start, end inclusive, name) covering ``offset``, if any."""
        if offset >= self.error_at:
            return self.error_at, len(self.text) - 1, "REJECTED"
        slot = bisect_right(self._bounds, offset) - 1
        base = self._bounds[slot]
        if slot not in self._cache:
            end = self._bounds[slot + 1] if slot + 1 < len(self._bounds) else self.error_at
            try:
                tokens = self._parser.scan(self.text[base:end])
            except self._parser.ParseError:
                tokens = []
            self._cache[slot] = [(t.start + base, t.end + base, t.name) for t in tokens]
        for start, end, name in self._cache[slot]:
            if start <= offset <= end:
                return start, end, name
        return None


@dataclass
class _Scan:
    """What scanning the whole file found: the real markers (offset of the line,
    ``"up"``/``"down"``) and the problems (offset, error) the scanner and the
    meta-command check met, in file order."""

    markers: list[tuple[int, str]]
    problems: list[tuple[int, MigrationFileError]]

    def refuse_before(self, end: int) -> None:
        """Raise the first problem that lies before offset ``end``."""
        for offset, error in self.problems:
            if offset < end:
                raise error

    def first_error_after(self, start: int) -> MigrationFileError | None:
        """The first problem at or after offset ``start``, or None."""
        return next((error for offset, error in self.problems if offset >= start), None)


def _error_offset(error: Exception) -> int:
    return error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else 0


def _find_markers(text: str, filename: str, *, markers: bool = True) -> _Scan:
    """Every real marker and every meta-command or scanner error, none raised, except a
    scanner error before the first ``-- UP`` (it would hide the markers after it).
    ``markers=False``: the text has no markers (a stored DOWN section)."""
    marker_hits = list(_line_hits(_MARKER, text)) if markers else []
    meta_hits = list(_line_hits(_META, text)) if "\\" in text else []
    if not marker_hits and not meta_hits:
        return _Scan([], [])
    regions = _Regions(text, filename)
    problems: list[tuple[int, MigrationFileError]] = []
    for hit in meta_hits:
        slash = hit.start()
        token = regions.token_at(slash)
        if token is None or token[0] == slash:
            problems.append((_line_start(hit), MigrationFileError(
                filename,
                f"psql meta-command is not SQL: {_line_text(text, _line_start(hit))!r}",
                line=_line_of(text, hit.start()),
                hint="pgshift sends SQL to the server; inline the file or run psql separately",
            )))
    found = []
    for hit in marker_hits:
        dash = hit.start()
        token = regions.token_at(dash)
        if token is not None and token[0] == dash and token[2] == "SQL_COMMENT":
            found.append((_line_start(hit), hit.group(1).lower()))
    if regions.error is not None:
        if markers and not any(kind == "up" for _, kind in found):
            raise regions.error
        problems.append((regions.error_at, regions.error))
    return _Scan(found, sorted(problems, key=lambda item: item[0]))


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


class _WholeFile:
    """Statement slices of a whole file from one split with PostgreSQL's parser, and its
    markers where that split alone proves them: the usual file takes one call into the
    C library. :func:`_split_whole` returns None for anything less plain (a syntax error
    anywhere, a meta-command, a marker-like line inside a statement or near a block
    comment, a statement across a marker): :func:`parse` then takes the careful path."""

    def __init__(self, starts: list[int], stops: list[int],
                 markers: list[tuple[int, str]]) -> None:
        self.starts = starts
        self.stops = stops
        self.markers = markers

    def within(self, start: int, end: int) -> list[tuple[int, int]]:
        """The slices inside ``text[start:end]``, relative to ``start``."""
        found = []
        for index in range(bisect_right(self.stops, start), len(self.starts)):
            if self.starts[index] >= end:
                break
            found.append((self.starts[index] - start, self.stops[index] - start))
        return found


def _split_whole(text: str) -> _WholeFile | None:
    from pglast import parser

    if "\\" in text and next(_line_hits(_META, text), None) is not None:
        return None
    try:
        slices = parser.split(text, with_parser=True, only_slices=True)
    except parser.ParseError:
        return None
    starts = [piece.start for piece in slices]
    stops = [piece.stop for piece in slices]
    markers = []
    for hit in _line_hits(_MARKER, text):
        at = _line_start(hit)
        slot = bisect_right(starts, at) - 1
        if slot >= 0 and at < stops[slot]:
            return None  # inside a statement: a comment in it, or text of a literal
        gap_start = stops[slot] if slot >= 0 else 0
        gap_end = starts[slot + 1] if slot + 1 < len(starts) else len(text)
        if "/*" in text[gap_start:gap_end]:
            return None  # perhaps inside a block comment
        markers.append((at, hit.group(1).lower()))
    return _WholeFile(starts, stops, markers)


def _section(text: str, start: int, end: int, filename: str, label: str,
             slices: list[tuple[int, int]] | None = None) -> Section:
    """The section ``text[start:end]``; ``slices`` are its statements when already known
    (relative to ``start``), else it is split here."""
    from pglast import parser

    body = text[start:end]
    first_line = _line_of(text, start)
    if slices is None:
        try:
            found_slices = parser.split(body, with_parser=True, only_slices=True)
        except parser.ParseError as error:
            raise _syntax_error(error, body, 0, first_line, filename) from None
        slices = [(piece.start, piece.stop) for piece in found_slices]
    starts = tuple(a for a, _ in slices)
    ends = tuple(b for _, b in slices)
    outside: list[tuple[int, str]] = []
    indexes: list[tuple[int, str | None, str]] = []
    concurrent: list[int] = []
    from pgshift.analysis.classify import classify, needs_classifying

    for index, (begin, stop) in enumerate(slices):
        statement = body[begin:stop]
        if not needs_classifying(statement):
            continue
        found = classify(statement)
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
