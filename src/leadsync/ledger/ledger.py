"""The composition point of the ledger: an engine plus units of work, built from a URL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.engine import URL, Engine

from leadsync.config.settings import LedgerSettings
from leadsync.ledger import fencing, migrate
from leadsync.ledger.engine import WRITE_OPTION, make_engine, shown, translated_errors
from leadsync.ledger.unit_of_work import UnitOfWork


class Ledger:
    """Owns the engine. Create with :func:`open_ledger`; ``close()`` (or ``with``) releases connections."""

    def __init__(self, engine: Engine, *, leader: str = fencing.DEFAULT_LEADER) -> None:
        self.engine = engine
        self.leader = leader

    @property
    def url(self) -> URL:
        return self.engine.url

    def __repr__(self) -> str:
        return f"Ledger({shown(self.engine.url)!r})"

    @contextlib.contextmanager
    def unit_of_work(self, *, epoch: int | None = None) -> Iterator[UnitOfWork]:
        """A transaction: commits when the block ends normally, rolls back on any exception. With
        ``epoch`` the whole unit is fenced; repository writes that take an epoch add theirs too."""
        with translated_errors(self.engine.url), self.engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                uow = UnitOfWork(connection, leader=self.leader)
                if epoch is not None:
                    uow.fence(epoch)
                yield uow
                uow.check_fences()

    @contextlib.contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        """A read-only snapshot (rolled back at the end; never takes SQLite's write lock)."""
        with translated_errors(self.engine.url), self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                yield UnitOfWork(connection, leader=self.leader)
            finally:
                transaction.rollback()

    def take_epoch(self, holder: str, now: datetime) -> int:
        """Become leader: a new, higher fencing epoch, committed at once."""
        with self.unit_of_work() as uow:
            return fencing.take_epoch(uow.connection, holder, now, name=self.leader)

    def current_epoch(self) -> int | None:
        with self.reading() as uow:
            return uow.current_epoch()

    def schema_status(self) -> migrate.SchemaStatus:
        return migrate.status(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_ledger(
    url: str | URL, *, require_current: bool = True, auto_upgrade: bool = False, echo: bool = False,
) -> Ledger:
    """Open the ledger at ``url``. With ``require_current`` (the default) refuse a schema that is not at
    this code's head (SchemaOutOfDate / SchemaTooNew), unless ``auto_upgrade`` migrates it first (never
    downwards: a too-new schema always refuses)."""
    engine = make_engine(url, echo=echo)
    try:
        if auto_upgrade:
            migrate.upgrade(engine)
        if require_current or auto_upgrade:
            migrate.check_schema(engine)
        else:
            with translated_errors(engine.url), engine.connect():
                pass  # still fail fast on a wrong or unreachable database
    except BaseException:
        engine.dispose()
        raise
    return Ledger(engine)


def open_configured(settings: LedgerSettings) -> Ledger:
    """The daemon's way in: refuse an out-of-date schema unless ``ledger.auto_upgrade`` is set."""
    return open_ledger(settings.url, auto_upgrade=settings.auto_upgrade, echo=settings.echo_sql)
