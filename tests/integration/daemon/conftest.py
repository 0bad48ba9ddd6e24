"""Daemon fixtures: a real SQLite file or a fresh PostgreSQL database (LEADSYNC_TEST_PG_URL, required
when LEADSYNC_REQUIRE_PG is set), as the ledger tests do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadsync.ledger import Ledger, open_ledger, upgrade
from tests.integration.ledger.conftest import empty_url, pg_admin_url, pg_url

__all__ = ["empty_url", "pg_admin_url", "pg_url"]


@pytest.fixture
def ledger(empty_url: str) -> Iterator[Ledger]:
    upgrade(empty_url)
    with open_ledger(empty_url) as opened:
        yield opened


@pytest.fixture
def sqlite_ledger(tmp_path: object) -> Iterator[Ledger]:
    url = f"sqlite:///{tmp_path}/ledger.db"
    upgrade(url)
    with open_ledger(url) as opened:
        yield opened
