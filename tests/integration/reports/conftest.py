"""Report and SLA-engine tests run on a real SQLite file and a real PostgreSQL database, through the
ledger's own fixtures (see ``tests/integration/ledger/conftest.py``)."""

from __future__ import annotations

from tests.integration.ledger.conftest import empty_url, ledger, pg_admin_url, pg_url

__all__ = ["empty_url", "ledger", "pg_admin_url", "pg_url"]
