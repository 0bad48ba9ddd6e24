"""The cycle's ledger work on PostgreSQL: the same scenarios the unit tests run on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from leadsync.connectors.memory import MemoryConnector, MemoryCrashError
from leadsync.domain.model import CrmFacts, System
from leadsync.ledger import IntentState, RunStatus, open_ledger
from leadsync.rules.ruleset import load_ruleset
from leadsync.sync.cycle import EngineConfig
from leadsync.sync.state import ensure_tables
from tests.integration.ledger.conftest import pg_admin_url, pg_url  # noqa: F401 - fixtures
from tests.unit.sync.conftest import Clock, World, table_counts
from tests.unit.sync.helpers import ann, form_fill

from .test_sync_sandbox import MAPPINGS

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(pg_url: str) -> Iterator[World]:  # noqa: F811 - pg_url is the imported fixture
    ledger = open_ledger(pg_url, auto_upgrade=True)
    ensure_tables(ledger)
    clock = Clock()
    config = EngineConfig(overlap={System.SALESFORCE: timedelta(minutes=1), System.HUBSPOT: timedelta(minutes=1)},
                          lag_margin={System.SALESFORCE: timedelta(0), System.HUBSPOT: timedelta(seconds=5)},
                          max_change_share=1.0, max_change_min=1000, keep_plans=True)
    sf = MemoryConnector(System.SALESFORCE, clock, page_size=3)
    hs = MemoryConnector(System.HUBSPOT, clock, page_size=3)
    yield World(ledger, load_ruleset(MAPPINGS), clock, sf, hs, config)
    ledger.close()


def test_crash_between_pages_then_partial_failures_then_idle_on_postgres(world: World) -> None:
    for n in range(5):
        world.sf.add_person("lead", f"00Q{n}", email=f"p{n}@acme-corp.io", fields={"email": f"p{n}@acme-corp.io"})
        form_fill(world, System.SALESFORCE, "lead", f"00Q{n}", f"task-{n}")
    world.sf.crash_after_pages = 1
    world.sf.fail_writes("00Q3", "UNABLE_TO_LOCK_ROW", transient=True, times=1)
    world.sf.fail_writes("00Q4", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", transient=False)
    with pytest.raises(MemoryCrashError):
        world.cycle()
    first = world.cycle()
    assert (first.outcome.applied, first.outcome.failed, first.outcome.quarantined) == (3, 1, 1)
    second = world.cycle()
    assert second.outcome.applied == 1 and second.api_calls["salesforce"]["writes"] == 1  # 00Q4 waits
    world.cycle()  # the retried write comes back once
    world.cycle(seconds=120)  # this read still overlaps the minute before the last one ended
    idle = world.cycle()  # nothing left to re-read

    assert idle.api_calls["salesforce"] == {"reads": len(world.sf.streams()), "writes": 0}
    counts = table_counts(world.ledger)
    assert counts["persons"] == 5 and counts["transitions"] == 5 and counts["sync_dirty"] == 0
    with world.ledger.reading() as uow:
        assert [i.intent.record_id for i in uow.outbox.by_state(IntentState.QUARANTINED)] == ["00Q4"]
        assert [r.status for r in uow.runs.latest(10)].count(RunStatus.FAILED) == 1


def test_dry_run_and_identity_on_postgres(world: World) -> None:
    ann(world)
    world.hs.add_person("contact", "102", email="ann@acme-corp.io")  # a second HubSpot contact, same email
    first = world.cycle()
    assert first.pull.duplicates == 1 and table_counts(world.ledger)["persons"] == 2
    world.sf.edit("lead", "00Q1", facts=CrmFacts(crm_status="Unqualified"))
    before = table_counts(world.ledger)
    with world.ledger.reading() as uow:
        marks = uow.watermarks.all()
    report = world.cycle(dry_run=True)

    assert [t.to_status for t in report.transitions] == ["Disqualified"]
    assert all(c["writes"] == 0 for c in report.api_calls.values())
    assert table_counts(world.ledger) == before
    with world.ledger.reading() as uow:
        assert uow.watermarks.all() == marks


