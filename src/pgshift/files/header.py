"""A migration file's header (the comment lines before ``-- UP``): metadata and
``-- pgshift:`` directives. Pure functions."""

from __future__ import annotations

import re

from pgshift.errors import MigrationFileError

_FIELD = re.compile(r"^--[ \t]*(migration|created|description)[ \t]*:[ \t]?(.*)$", re.I)
_DIRECTIVE = re.compile(r"^--[ \t]*pgshift[ \t]*:[ \t]*(.*?)[ \t]*$", re.IGNORECASE)
DIRECTIVE_LINE = re.compile(r"^[ \t]*--[ \t]*pgshift[ \t]*:", re.IGNORECASE | re.MULTILINE)
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def metadata(text: str) -> tuple[tuple[str, str], ...]:
    """The metadata pairs (``migration``, ``created``, ``description``) of a header's
    text, in order; directives are not checked."""
    pairs = []
    for raw in text.split("\n"):
        field = _FIELD.match(raw.strip())
        if field:
            pairs.append((field.group(1).lower(), field.group(2).strip()))
    return tuple(pairs)


def read(text: str, filename: str) -> tuple[tuple[tuple[str, str], ...], bool, frozenset[str]]:
    """(metadata pairs, no-transaction directive, allowed lint rules) of a header.

    Raises:
        MigrationFileError: an unknown directive, named with its line.
    """
    metadata: list[tuple[str, str]] = []
    no_transaction = False
    allowed: set[str] = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        field = _FIELD.match(line)
        if field:
            metadata.append((field.group(1).lower(), field.group(2).strip()))
            continue
        directive = _DIRECTIVE.match(line)
        if not directive:
            continue
        words = directive.group(1).replace(",", " ").split()
        if words == ["no-transaction"]:
            no_transaction = True
        elif words == ["no-placeholders"]:
            continue  # read by :func:`no_placeholders`
        elif words and words[0] in ("squashes", "replaces") and len(words) >= 2:
            continue  # read by :func:`squashed`
        elif len(words) >= 2 and words[0] == "allow" and all(_RULE_ID.match(w) for w in words[1:]):
            allowed.update(words[1:])
        else:
            raise MigrationFileError(
                filename,
                f"unknown pgshift directive {directive.group(1)!r}",
                line=number,
                hint="known directives: '-- pgshift: no-transaction', "
                "'-- pgshift: no-placeholders', '-- pgshift: allow <rule-id>', "
                "'-- pgshift: squashes FIRST..LAST' with '-- pgshift: replaces NAME …'",
            )
    return tuple(metadata), no_transaction, frozenset(allowed)


_NO_PLACEHOLDERS = re.compile(r"^[ \t]*--[ \t]*pgshift[ \t]*:[ \t]*no-placeholders[ \t]*$",
                              re.IGNORECASE | re.MULTILINE)


def no_placeholders(text: str) -> bool:
    """Whether a header's text holds ``-- pgshift: no-placeholders``."""
    return "no-placeholders" in text.lower() and _NO_PLACEHOLDERS.search(text) is not None


_SQUASH = re.compile(r"^[ \t]*--[ \t]*pgshift[ \t]*:[ \t]*(squashes|replaces)[ \t]+(.*?)[ \t]*$",
                     re.IGNORECASE | re.MULTILINE)


def squashed(text: str, filename: str) -> tuple[str, ...]:
    """The names a squash file replaces (its ``-- pgshift: replaces NAME …`` lines, in
    order); empty for any other file. A header with ``squashes`` must list them.

    Raises:
        MigrationFileError: ``squashes FIRST..LAST`` without ``replaces`` lines naming
            FIRST and LAST.
    """
    if "squashes" not in text.lower():
        return ()
    ranges: list[tuple[str, str]] = []
    names: list[str] = []
    for hit in _SQUASH.finditer(text):
        words = hit.group(2).replace(",", " ").split()
        if hit.group(1).lower() == "replaces":
            names.extend(words)
            continue
        first, dots, last = hit.group(2).partition("..")
        ranges.append((first.strip(), last.strip()) if dots else ("", ""))
    if not ranges:
        return ()
    first, last = ranges[0]
    if len(ranges) > 1 or not names or names[0] != first or names[-1] != last:
        raise MigrationFileError(
            filename, "'-- pgshift: squashes FIRST..LAST' must come with "
            "'-- pgshift: replaces NAME …' lines listing FIRST to LAST in order",
            hint="pgshift squash writes both; restore the header it wrote")
    return tuple(names)
