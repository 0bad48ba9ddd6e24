"""Ledger fixtures: every contract test runs against a real SQLite file and a real PostgreSQL database.

PostgreSQL comes from LEADSYNC_TEST_PG_URL; each test gets its own freshly created database (dropped
afterwards), so parallel or repeated runs never see each other's rows. Without a reachable server the
PostgreSQL half is skipped, unless LEADSYNC_REQUIRE_PG is set (CI), in which case it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from leadsync.ledger import Ledger, open_ledger, upgrade

PG_URL_ENV = "LEADSYNC_TEST_PG_URL"
REQUIRE_PG_ENV = "LEADSYNC_REQUIRE_PG"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _postgres_unavailable(why: str) -> None:
    if os.environ.get(REQUIRE_PG_ENV):
        pytest.fail(f"PostgreSQL is required ({REQUIRE_PG_ENV} is set) but {why}")
    pytest.skip(f"PostgreSQL tests skipped: {why}")


@pytest.fixture(scope="session")
def pg_admin_url() -> sa.URL:
    raw = os.environ.get(PG_URL_ENV)
    if not raw:
        _postgres_unavailable(f"{PG_URL_ENV} is not set")
    url = sa.make_url(raw or "")
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        _postgres_unavailable(f"{url.render_as_string(hide_password=True)} is unreachable: {exc.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_url(pg_admin_url: sa.URL) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for this test."""
    name = f"leadsync_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """An empty database URL: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def ledger(empty_url: str) -> Iterator[Ledger]:
    """A ledger at the current schema head, on each dialect."""
    upgrade(empty_url)
    with open_ledger(empty_url) as opened:
        yield opened


@pytest.fixture
def now() -> datetime:
    return NOW
