"""Many single intents on one connection: on PostgreSQL psycopg prepares the statement after a few runs,
and a parameterised partial-index predicate then found no ON CONFLICT arbiter (found by the fault suite)."""

from __future__ import annotations

from datetime import UTC, datetime

from leadsync.domain.model import System
from leadsync.ledger import WriteIntent, open_ledger, upgrade


def test_twenty_single_adds_in_one_unit_of_work(empty_url: str) -> None:
    upgrade(empty_url)
    now = datetime.now(UTC)
    with open_ledger(empty_url) as ledger:
        with ledger.unit_of_work() as uow:
            for n in range(20):
                uow.outbox.add(WriteIntent(System.SALESFORCE, "Lead", f"00Q{n:015d}", {"F": n}, f"h{n}"), now)
        with ledger.reading() as uow:
            assert len(uow.outbox.pending()) == 20
