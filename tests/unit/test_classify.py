"""Unit tests for pgshift.analysis.classify: what one statement needs from the runner
(outside a transaction? an index it creates? unsupported?), and the tables it names.
Pure (pglast), no database."""

from __future__ import annotations

import pytest

from pgshift.analysis.classify import Classified, classify, relations


@pytest.mark.parametrize("sql", [
    "CREATE TABLE t (id int)",
    "INSERT INTO t VALUES (1)",
    "SAVEPOINT s",
    "RELEASE SAVEPOINT s",
    "ROLLBACK TO SAVEPOINT s",
    "ANALYZE t",
    "REINDEX TABLE t",
    "DROP INDEX i",
    "ALTER DATABASE d SET work_mem = '1MB'",
    "COPY t FROM '/tmp/data.csv'",
])
def test_ordinary_statements_run_in_a_transaction(sql: str) -> None:
    assert classify(sql) == Classified()


@pytest.mark.parametrize(("sql", "reason"), [
    ("CREATE INDEX CONCURRENTLY i ON t (id)", "CREATE INDEX CONCURRENTLY"),
    ("DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"),
    ("REINDEX (CONCURRENTLY) TABLE t", "REINDEX CONCURRENTLY"),
    ("REINDEX TABLE CONCURRENTLY t", "REINDEX CONCURRENTLY"),
    ("REINDEX DATABASE d", "REINDEX DATABASE/SYSTEM"),
    ("REINDEX SYSTEM d", "REINDEX DATABASE/SYSTEM"),
    ("ALTER DATABASE d SET TABLESPACE ts", "ALTER DATABASE … SET TABLESPACE"),
    ("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "DETACH PARTITION CONCURRENTLY"),
    ("VACUUM", "VACUUM"),
    ("VACUUM t", "VACUUM"),
    ("CREATE DATABASE d", "CREATE DATABASE"),
    ("DROP DATABASE d", "DROP DATABASE"),
    ("ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM"),
    ("CREATE TABLESPACE ts LOCATION '/x'", "CREATE TABLESPACE"),
    ("DROP TABLESPACE ts", "DROP TABLESPACE"),
    ("BEGIN", "its own BEGIN/COMMIT"),
    ("START TRANSACTION", "its own BEGIN/COMMIT"),
    ("COMMIT", "its own BEGIN/COMMIT"),
    ("ROLLBACK", "its own BEGIN/COMMIT"),
    ("PREPARE TRANSACTION 'x'", "its own BEGIN/COMMIT"),
])
def test_statements_that_cannot_run_in_a_transaction_name_the_reason(sql: str,
                                                                     reason: str) -> None:
    assert classify(sql).outside_transaction == reason


def test_a_created_index_is_named_with_its_table_schema() -> None:
    found = classify("CREATE UNIQUE INDEX CONCURRENTLY users_email ON app.users (email)")
    assert (found.index_schema, found.index_name, found.concurrent_index) == (
        "app", "users_email", True)
    plain = classify("CREATE INDEX users_name ON users (name)")
    assert (plain.outside_transaction, plain.index_schema, plain.index_name,
            plain.concurrent_index) == (None, None, "users_name", False)


@pytest.mark.parametrize(("sql", "direction"), [
    ("COPY t FROM STDIN", "FROM STDIN"),
    ("COPY t TO STDOUT", "TO STDOUT"),
])
def test_copy_through_the_client_is_unsupported(sql: str, direction: str) -> None:
    found = classify(sql)
    assert found.unsupported is not None
    assert direction in found.unsupported
    assert found.outside_transaction is None


@pytest.mark.parametrize("sql", ["", "-- only a comment", "THIS IS NOT SQL"])
def test_text_pglast_cannot_parse_or_empty_text_is_ordinary(sql: str) -> None:
    assert classify(sql) == Classified()


def test_relations_in_order_of_appearance_without_repeats() -> None:
    sql = ("INSERT INTO app.orders SELECT * FROM staging.orders o "
           "JOIN customers c ON c.id = o.customer_id JOIN app.orders x ON true")
    assert relations(sql) == [("app", "orders"), ("staging", "orders"), (None, "customers")]


def test_relations_of_unparsable_text_is_empty() -> None:
    assert relations("NOT SQL AT ALL") == []
