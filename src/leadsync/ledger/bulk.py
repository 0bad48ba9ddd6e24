"""The fast path for append-only bulk inserts (transitions, contact-status changes).

SQLAlchemy's executemany spends most of its time building and processing one parameter dict per row;
at a million rows that dominates. Here rows are plain tuples already in the database's form and go
straight to the driver: COPY on PostgreSQL, ``executemany`` on SQLite. Only tables whose rows are never
updated use this, and values are converted exactly as the column types would (see ``tests/integration``
round trips, which read these rows back through SQLAlchemy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from leadsync.ledger.sql import json_dumps


def instant(value: datetime, dialect: str) -> datetime | str:
    """A datetime as the column stores it: aware on PostgreSQL; on SQLite the naive-UTC text format
    SQLAlchemy's DateTime uses, so that comparisons bound through SQLAlchemy line up character by character."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the ledger; instants must be aware")
    if dialect == "sqlite":
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


json_text = json_dumps


def insert_rows(
    connection: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Insert prepared rows (one tuple per row, in ``columns`` order) inside the current transaction."""
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        return _copy(connection, f"COPY {table.name} ({names}) FROM STDIN", rows)
    placeholders = ", ".join("?" for _ in columns)
    batch = list(rows)
    if batch:
        connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})", batch)  # noqa: S608
    return len(batch)


def _copy(connection: sa.Connection, statement: str, rows: Iterable[tuple[Any, ...]]) -> int:
    written = 0
    driver_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                written += 1
    except driver_error as error:
        # Same exception types as every other statement (IntegrityError for a missing person, ...).
        raise sa.exc.DBAPIError.instance(statement, None, error, driver_error) from error
    finally:
        cursor.close()
    return written
