"""Schema migrations, driven programmatically: no alembic.ini, the script folder ships in the package.

Every command runs in one transaction (PostgreSQL and SQLite both have transactional DDL once the engine
hands transaction control to SQLAlchemy), so a failed upgrade leaves the schema as it was.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Engine

from leadsync.ledger.engine import classify, first_line, make_engine, translated_errors
from leadsync.ledger.errors import LedgerError, MigrationError, SchemaOutOfDate, SchemaTooNew

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

Target = str | URL | Engine


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code expects. One history for both dialects, so exactly one head."""
    heads = script_directory().get_heads()
    if len(heads) != 1:
        raise MigrationError(f"the ledger migrations have {len(heads)} heads ({', '.join(heads)}); expected one")
    return heads[0]


class SchemaState(enum.StrEnum):
    EMPTY = "empty"  # no schema at all yet
    BEHIND = "behind"  # older than this code: upgrade needed
    CURRENT = "current"
    AHEAD = "ahead"  # written by a newer leadsync


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    revision: str | None
    head: str
    state: SchemaState


@contextlib.contextmanager
def _engine_for(target: Target) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    engine = make_engine(target)
    try:
        yield engine
    finally:
        engine.dispose()


def _status_on(connection: sa.Connection) -> SchemaStatus:
    head = head_revision()
    revisions = MigrationContext.configure(connection).get_current_heads()
    if not revisions:
        return SchemaStatus(None, head, SchemaState.EMPTY)
    revision = revisions[0]
    if len(revisions) > 1 or not _known(revision):
        return SchemaStatus(",".join(revisions), head, SchemaState.AHEAD)
    return SchemaStatus(revision, head, SchemaState.CURRENT if revision == head else SchemaState.BEHIND)


def _known(revision: str) -> bool:
    try:
        return script_directory().get_revision(revision) is not None
    except CommandError:
        return False


def status(target: Target) -> SchemaStatus:
    with _engine_for(target) as engine, translated_errors(engine.url), engine.connect() as connection:
        return _status_on(connection)


def current(target: Target) -> str | None:
    """The revision the database is at, or None when it has no schema."""
    return status(target).revision


def check_schema(target: Target) -> SchemaStatus:
    """Raise SchemaOutOfDate / SchemaTooNew unless the database is exactly at this code's head."""
    found = status(target)
    raise_for(found)
    return found


def raise_for(found: SchemaStatus) -> None:
    if found.state is SchemaState.AHEAD:
        raise SchemaTooNew(
            f"ledger schema is at revision {found.revision}, which this leadsync does not know "
            f"(its newest is {found.head}); a newer leadsync migrated it: upgrade leadsync"
        )
    if found.state is SchemaState.EMPTY:
        raise SchemaOutOfDate("ledger has no schema yet; run `leadsync db upgrade`")
    if found.state is SchemaState.BEHIND:
        raise SchemaOutOfDate(
            f"ledger schema is at revision {found.revision}, this leadsync needs {found.head}; "
            "run `leadsync db upgrade` (or set ledger.auto_upgrade = true)"
        )


def upgrade(target: Target, revision: str = "head") -> SchemaStatus:
    """Migrate up to ``revision`` in one transaction; return the status afterwards."""
    return _migrate(target, revision, up=True)


def downgrade(target: Target, revision: str) -> SchemaStatus:
    """Migrate down to ``revision`` ("base" removes every ledger table) in one transaction."""
    return _migrate(target, revision, up=False)


def _migrate(target: Target, revision: str, *, up: bool) -> SchemaStatus:
    with _engine_for(target) as engine, translated_errors(engine.url):
        with engine.connect() as connection:
            found = _status_on(connection)
        if found.state is SchemaState.AHEAD:
            raise_for(found)
        with _foreign_keys_deferred(engine), engine.begin() as connection:
            config = alembic_config(connection)
            try:
                if up:
                    command.upgrade(config, revision)
                else:
                    command.downgrade(config, revision)
            except CommandError as error:
                raise MigrationError(f"cannot migrate the ledger to {revision!r}: {error}") from None
            except sa.exc.DBAPIError as error:
                # Raised inside engine.begin(): the whole migration is rolled back before this propagates.
                known = classify(error, engine.url)
                if isinstance(known, LedgerError):
                    raise known from error
                raise MigrationError(
                    f"migrating the ledger to {revision!r} failed and was rolled back: {first_line(error.orig)}"
                ) from error
            _check_foreign_keys(connection)
        with engine.connect() as connection:
            return _status_on(connection)


@contextlib.contextmanager
def _foreign_keys_deferred(engine: Engine) -> Iterator[None]:
    """SQLite batch migrations copy and drop tables; foreign keys must be off meanwhile (and can only be
    switched outside a transaction). ``_check_foreign_keys`` verifies the result before commit."""
    if engine.dialect.name != "sqlite":
        yield
        return
    engine.dispose()  # fresh connections pick up the pragma from the connect hook below

    def _off(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[attr-defined]

    sa.event.listen(engine, "connect", _off)
    try:
        yield
    finally:
        sa.event.remove(engine, "connect", _off)
        engine.dispose()


def _check_foreign_keys(connection: sa.Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise LedgerError(f"migration would leave {len(broken)} rows with dangling references; rolled back")
