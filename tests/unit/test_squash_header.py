"""The ``squashes``/``replaces`` directives of a squash file's header."""

from __future__ import annotations

import pytest

from pgshift.errors import MigrationFileError
from pgshift.files import sqlfile

HEADER = ("-- pgshift: squashes 001_a.sql..003_c.sql\n"
          "-- pgshift: replaces 001_a.sql 002_b.sql\n"
          "-- pgshift: replaces 003_c.sql\n")


def test_replaced_names_are_read_in_order() -> None:
    parsed = sqlfile.parse(HEADER + "-- UP\nSELECT 1;\n", "003_squashed.sql")
    assert parsed.squashes == ("001_a.sql", "002_b.sql", "003_c.sql")


def test_other_files_replace_nothing() -> None:
    assert sqlfile.parse("-- UP\nSELECT 1;\n", "001_a.sql").squashes == ()


def test_a_range_without_its_names_is_refused() -> None:
    with pytest.raises(MigrationFileError, match="replaces NAME") as caught:
        sqlfile.parse("-- pgshift: squashes 001_a.sql..003_c.sql\n"
                      "-- pgshift: replaces 001_a.sql 002_b.sql\n-- UP\nSELECT 1;\n",
                      "003_squashed.sql")
    assert "003_squashed.sql" in str(caught.value)
