"""Building the database engine, and turning driver failures into one-line ledger errors.

SQLite gets WAL (readers never block the writer), a busy timeout, foreign keys, and real transactions:
Python's sqlite3 module would otherwise run DDL outside any transaction and start transactions late, so
a failed migration or unit of work could leave half its work behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine

from leadsync.ledger.errors import LedgerError, LedgerLocked, LedgerUnavailable, LedgerUrlError
from leadsync.ledger.sql import json_dumps

DEFAULT_BUSY_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10
# Execution option a connection sets to start its SQLite transaction with the write lock already taken;
# a deferred transaction that reads first and writes later fails at once (no busy wait) in WAL mode.
WRITE_OPTION = "leadsync_write"


def parse_url(url: str | URL) -> URL:
    try:
        return sa.make_url(url)
    except exc.ArgumentError as error:
        raise LedgerUrlError(f"ledger url {_mask_raw(str(url))!r} is not a database URL: {error}") from None


def shown(url: URL) -> str:
    """The URL as it may appear in messages and logs: password masked."""
    return url.render_as_string(hide_password=True)


def _mask_raw(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else text
    return text


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url``; no connection is made yet. Raises LedgerUrlError for unusable URLs."""
    parsed = parse_url(url)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise LedgerUrlError(f"ledger url {shown(parsed)!r}: only sqlite and postgresql databases are supported")
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        # Each pooled connection would get its own empty database; a ledger that forgets is no ledger.
        raise LedgerUrlError(f"ledger url {shown(parsed)!r}: in-memory SQLite cannot hold a ledger; name a file")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg2", "default", ""):
        # psycopg 3 is the driver we ship; a bare postgresql:// URL would otherwise ask for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_dumps}
    if parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
        if "connect_timeout" not in parsed.query:
            # A blackholed host must fail within seconds with a clear message, not hang the CLI.
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (exc.ArgumentError, exc.NoSuchModuleError) as error:
        raise LedgerUrlError(f"ledger url {shown(parsed)!r} cannot be used: {error}") from None
    except ImportError as error:
        raise LedgerUrlError(f"ledger url {shown(parsed)!r} needs a driver that is not installed: {error}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, parsed)
    return engine


def _configure_sqlite(engine: Engine, url: URL) -> None:
    timeout_text = url.query.get("timeout")
    busy_ms = int(float(timeout_text) * 1000) if isinstance(timeout_text, str) else int(DEFAULT_BUSY_TIMEOUT_S * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (the "begin" hook below) instead of the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            # WAL with synchronous=NORMAL is durable across application crashes (not power loss of the
            # last commit), and several times faster than FULL for many small transactions.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def translated_errors(url: URL) -> Iterator[None]:
    """Re-raise driver failures that mean 'cannot use this database' as one-line LedgerErrors."""
    try:
        yield
    except LedgerError:
        raise
    except exc.DBAPIError as error:
        known = classify(error, url)
        if known is error:
            raise
        raise known from error


def classify(error: exc.DBAPIError, url: URL) -> LedgerError | exc.DBAPIError:
    """The LedgerError a driver failure stands for, or the error itself when it is a program bug."""
    detail = first_line(error.orig) if error.orig is not None else first_line(error)
    lowered = detail.lower()
    where = shown(url)
    if "database is locked" in lowered or "database table is locked" in lowered:
        return LedgerLocked(f"ledger {where} is locked by another process (gave up after the busy timeout)")
    if isinstance(error, exc.OperationalError) or error.connection_invalidated:
        if url.get_backend_name() == "sqlite" and ("unable to open" in lowered or "not a database" in lowered):
            return LedgerUnavailable(f"cannot open ledger {where}: {detail}")
        if url.get_backend_name() == "postgresql" and not _is_statement_error(lowered):
            return LedgerUnavailable(f"cannot connect to ledger {where}: {detail}")
    return error


def _is_statement_error(lowered: str) -> bool:
    # Operational errors a healthy server raises mid-transaction; everything else means "cannot use it".
    return any(word in lowered for word in ("could not serialize", "deadlock", "lock timeout", "canceling statement"))


def first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__
