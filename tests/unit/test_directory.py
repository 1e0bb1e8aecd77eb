"""Unit tests for pgshift.files.directory: discovery, order, decoding, ``create``. No database."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pgshift.errors import ConfigError, InputError, MigrationFileError, UsageRefused
from pgshift.files import directory, sqlfile
from pgshift.files.directory import MigrationFile

TODAY = date(2026, 1, 20)
SQL = "-- UP\nSELECT 1;\n"


def write(folder: Path, *names: str, text: str = SQL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def names(folder: Path) -> list[str]:
    return [f.name for f in directory.discover(folder).files]


def warnings(folder: Path) -> tuple[str, ...]:
    return directory.discover(folder).warnings


def only_file(folder: Path) -> MigrationFile:
    (found,) = directory.discover(folder).files
    return found


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --- discovery and order ------------------------------------------------------------------


def test_files_are_ordered_by_numeric_value_not_text(tmp_path: Path) -> None:
    write(tmp_path, "10_a.sql", "2_b.sql", "1_c.sql")
    assert names(tmp_path) == ["1_c.sql", "2_b.sql", "10_a.sql"]


def test_same_number_files_are_ordered_by_name(tmp_path: Path) -> None:
    write(tmp_path, "002_b.sql", "002_a.sql", "001_z.sql", "003_a.sql")
    assert names(tmp_path) == ["001_z.sql", "002_a.sql", "002_b.sql", "003_a.sql"]


def test_zero_padded_and_unpadded_numbers_interleave_by_value(tmp_path: Path) -> None:
    write(tmp_path, "0010_x.sql", "9_y.sql", "011_z.sql")
    assert names(tmp_path) == ["9_y.sql", "0010_x.sql", "011_z.sql"]


def test_timestamp_numbers_sort_after_short_numbers(tmp_path: Path) -> None:
    write(tmp_path, "20260120103000_add_x.sql", "002_b.sql", "001_a.sql")
    assert names(tmp_path) == ["001_a.sql", "002_b.sql", "20260120103000_add_x.sql"]


def test_migration_file_carries_its_number_and_path(tmp_path: Path) -> None:
    write(tmp_path, "007_seven.sql")
    (found,) = directory.discover(tmp_path).files
    assert (found.name, found.number, found.path) == ("007_seven.sql", 7,
                                                       tmp_path / "007_seven.sql")


def test_duplicate_number_is_a_warning_naming_both_files(tmp_path: Path) -> None:
    write(tmp_path, "002_a.sql", "002_b.sql", "001_x.sql")
    assert names(tmp_path) == ["001_x.sql", "002_a.sql", "002_b.sql"]
    found = [w for w in warnings(tmp_path) if "002_a.sql" in w]
    assert len(found) == 1
    assert "002_b.sql" in found[0]


def test_duplicate_number_with_different_padding_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "2_a.sql", "002_b.sql")
    assert any("2_a.sql" in w and "002_b.sql" in w for w in warnings(tmp_path))


def test_distinct_numbers_give_no_warning(tmp_path: Path) -> None:
    write(tmp_path, "001_a.sql", "002_b.sql", "10_c.sql")
    assert warnings(tmp_path) == ()


@pytest.mark.parametrize(
    "stray",
    ["notes.sql", "001_Add_User.sql", "001-add.sql", "abc_001.sql", "001_.sql", "_x.sql",
     "001_add user.sql", "001_café.sql"],
)
def test_sql_file_with_a_bad_name_is_a_warning_and_never_listed(tmp_path: Path, stray: str) -> None:
    write(tmp_path, "001_a.sql", stray)
    assert names(tmp_path) == ["001_a.sql"]
    assert any(stray in w for w in warnings(tmp_path))


@pytest.mark.parametrize(
    "other", ["README.md", "notes.txt", "001_a.sql.bak", "001_a.sql~", ".gitkeep", "001_b"]
)
def test_other_files_are_ignored_silently(tmp_path: Path, other: str) -> None:
    write(tmp_path, "001_a.sql", other)
    assert names(tmp_path) == ["001_a.sql"]
    assert warnings(tmp_path) == ()


def test_sub_directories_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "001_a.sql")
    write(tmp_path / "002_sub.sql", "003_c.sql")
    write(tmp_path / "old", "004_d.sql")
    assert names(tmp_path) == ["001_a.sql"]


def test_empty_directory_has_no_files_and_no_warnings(tmp_path: Path) -> None:
    found = directory.discover(tmp_path)
    assert found.files == ()
    assert found.warnings == ()


def test_missing_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as caught:
        directory.discover(missing)
    assert str(missing) in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_file_given_as_directory_is_a_config_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError):
        directory.discover(target)


# --- decoding -----------------------------------------------------------------------------


def latin1_at(offset: int, *, bom: bool = False) -> bytes:
    """A migration whose first invalid byte (a Latin-1 é) is at ``offset`` of the file."""
    start = (b"\xef\xbb\xbf" if bom else b"") + b"-- UP\nSELECT '"
    filler = b"x" * (offset - len(start))
    data = start + filler + b"\xe9';\n"
    assert data.index(b"\xe9") == offset
    return data


def test_utf8_text_is_decoded(tmp_path: Path) -> None:
    assert directory.decode("-- UP\nSELECT 'é';\n".encode(), "001_x.sql") == "-- UP\nSELECT 'é';\n"


def test_leading_bom_is_dropped() -> None:
    assert directory.decode(b"\xef\xbb\xbf-- UP\n", "001_x.sql") == "-- UP\n"


def test_invalid_utf8_names_the_file_and_the_byte_offset() -> None:
    with pytest.raises(MigrationFileError) as caught:
        directory.decode(latin1_at(1234), "002_bad.sql")
    error = caught.value
    assert error.byte_offset == 1234
    assert "002_bad.sql" in str(error)
    assert "1234" in str(error)
    assert error.exit_code == 2


def test_invalid_utf8_offset_counts_the_bom() -> None:
    with pytest.raises(MigrationFileError) as caught:
        directory.decode(latin1_at(1234, bom=True), "002_bad.sql")
    assert caught.value.byte_offset == 1234
    assert "1234" in str(caught.value)


def test_invalid_first_byte_is_offset_zero() -> None:
    with pytest.raises(MigrationFileError) as caught:
        directory.decode(b"\xff-- UP\n", "001_x.sql")
    assert caught.value.byte_offset == 0


def test_truncated_multibyte_sequence_names_its_first_byte() -> None:
    data = b"-- UP\nSELECT '\xc3"
    with pytest.raises(MigrationFileError) as caught:
        directory.decode(data, "001_x.sql")
    assert caught.value.byte_offset == len(data) - 1


def test_read_text_reads_and_decodes_a_file(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_bytes(b"\xef\xbb\xbf-- UP\r\nSELECT 1;\r\n")
    text = directory.read_text(only_file(tmp_path))
    assert sqlfile.parse(text, "001_a.sql").checksum == sqlfile.parse(SQL, "x").checksum


def test_read_text_reports_a_bad_file_by_name(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_bytes(latin1_at(1234))
    with pytest.raises(MigrationFileError) as caught:
        directory.read_text(only_file(tmp_path))
    assert caught.value.file == "001_a.sql"
    assert caught.value.byte_offset == 1234


# --- create -------------------------------------------------------------------------------


def test_create_in_an_empty_directory_starts_at_001(tmp_path: Path) -> None:
    path = directory.create(tmp_path, "initial schema", today=TODAY)
    assert path == tmp_path / "001_initial_schema.sql"
    assert path.is_file()


def test_create_makes_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "db" / "migrations"
    path = directory.create(target, "x", today=TODAY)
    assert path == target / "001_x.sql"


def test_create_takes_the_highest_number_plus_one(tmp_path: Path) -> None:
    write(tmp_path, "001_a.sql", "007_b.sql", "003_c.sql")
    assert directory.create(tmp_path, "d", today=TODAY).name == "008_d.sql"


def test_create_keeps_the_width_the_directory_uses(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "0042_b.sql")
    assert directory.create(tmp_path, "c", today=TODAY).name == "0043_c.sql"


def test_create_grows_the_width_when_the_number_needs_it(tmp_path: Path) -> None:
    write(tmp_path, "999_a.sql")
    assert directory.create(tmp_path, "b", today=TODAY).name == "1000_b.sql"


def test_create_after_a_timestamp_keeps_14_digits(tmp_path: Path) -> None:
    write(tmp_path, "20260120103000_add_x.sql")
    assert directory.create(tmp_path, "y", today=TODAY).name == "20260120103001_y.sql"


def test_create_ignores_stray_and_other_files(tmp_path: Path) -> None:
    write(tmp_path, "notes.sql", "README.md", "9999_x.sql.bak")
    assert directory.create(tmp_path, "a", today=TODAY).name == "001_a.sql"


def test_create_counts_a_same_number_pair_once(tmp_path: Path) -> None:
    write(tmp_path, "002_a.sql", "002_b.sql")
    assert directory.create(tmp_path, "c", today=TODAY).name == "003_c.sql"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("add user avatar", "add_user_avatar"),
        ("Add User Avatar", "add_user_avatar"),
        ("add-user-avatar", "add_user_avatar"),
        ("ADD_X2", "add_x2"),
        ("v2 fix-Index", "v2_fix_index"),
        ("2fa", "2fa"),
    ],
)
def test_create_normalises_the_name(tmp_path: Path, raw: str, normalized: str) -> None:
    assert directory.create(tmp_path, raw, today=TODAY).name == f"001_{normalized}.sql"


def test_created_name_is_a_valid_migration_name(tmp_path: Path) -> None:
    path = directory.create(tmp_path, "Add User-Avatar", today=TODAY)
    discovery = directory.discover(tmp_path)
    assert [f.name for f in discovery.files] == [path.name]
    assert discovery.warnings == ()
    assert names(tmp_path) == [path.name]


def test_create_writes_the_template_exactly(tmp_path: Path) -> None:
    write(tmp_path, "001_initial_schema.sql")
    path = directory.create(tmp_path, "add user avatar", today=TODAY)
    assert path.read_bytes().decode("utf-8") == (
        "-- Migration: 002_add_user_avatar.sql\n"
        "-- Created: 2026-01-20\n"
        "-- Description: add user avatar\n"
        "\n"
        "-- UP\n"
        "\n"
        "\n"
        "-- DOWN\n"
    )


def test_template_markers_are_found_and_its_metadata_read(tmp_path: Path) -> None:
    path = directory.create(tmp_path, "add user avatar", today=TODAY)
    text = path.read_text(encoding="utf-8").replace("-- UP\n", "-- UP\nSELECT 1;\n")
    parsed = sqlfile.parse(text, path.name)
    assert dict(parsed.metadata) == {"migration": "001_add_user_avatar.sql",
                                     "created": "2026-01-20", "description": "add user avatar"}
    assert parsed.down_sql is None


BAD_NAMES = [
    "../../tmp/x",
    "a/b",
    "..\\x",
    "/abs",
    "",
    "   ",
    "a\x00b",
    "café",
    "naïve",
    "日本",
    ".",
    "..",
    "a.b",
    "x;y",
    "a\tb",
    "a\nb",
    "$(touch x)",
    "a*",
]


@pytest.mark.parametrize("raw", BAD_NAMES)
def test_create_refuses_bad_names_and_creates_nothing(tmp_path: Path, raw: str) -> None:
    target = tmp_path / "project" / "migrations"
    write(target, "001_a.sql")
    before = tree(tmp_path)
    with pytest.raises(UsageRefused) as caught:
        directory.create(target, raw, today=TODAY)
    assert isinstance(caught.value, InputError)
    assert caught.value.exit_code == 2
    assert "a-z0-9_" in str(caught.value)
    assert tree(tmp_path) == before
    for number in ("002", "2"):
        assert not (target / f"{number}_{raw}.sql").exists()


@pytest.mark.parametrize("raw", ["../../tmp/x", "a/b", "/abs", ""])
def test_refused_name_does_not_create_the_missing_directory(tmp_path: Path, raw: str) -> None:
    target = tmp_path / "new"
    with pytest.raises(UsageRefused):
        directory.create(target, raw, today=TODAY)
    assert not target.exists()


def test_create_refuses_a_directory_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "migrations"
    target.write_text("not a directory")
    with pytest.raises(InputError):
        directory.create(target, "x", today=TODAY)
    assert target.read_text() == "not a directory"


def test_create_refuses_a_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    with pytest.raises(UsageRefused):
        directory.create(tmp_path, "a" * 300, today=TODAY)
    assert list(tmp_path.iterdir()) == []


def test_discover_takes_the_name_pattern_and_warns_about_others(tmp_path: Path) -> None:
    write(tmp_path, "20260120103000_add_x.sql")
    write(tmp_path, "notes.sql")
    discovery = directory.discover(tmp_path)
    assert [f.name for f in discovery.files] == ["20260120103000_add_x.sql"]
    assert len(discovery.warnings) == 1 and "notes.sql is not named" in discovery.warnings[0]
