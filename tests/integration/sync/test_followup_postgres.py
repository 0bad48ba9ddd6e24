"""Routing, SLA clocks, queued intents and hand-off state on PostgreSQL: the engine-level flow the unit tests
run on SQLite, with a new engine for every cycle (the round robin must come from the ledger)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from leadsync.connectors.memory import MemoryConnector
from leadsync.domain.model import System
from leadsync.ledger import AssignmentStatus, Handoff, IntentOrigin, IntentState, open_ledger
from leadsync.rules.ruleset import load_ruleset
from leadsync.sla_engine import sweep
from leadsync.sync.cycle import EngineConfig
from leadsync.sync.state import ensure_tables
from tests.integration.ledger.conftest import pg_admin_url, pg_url  # noqa: F401 - fixtures
from tests.unit.sync.conftest import Clock, World
from tests.unit.sync.routing_helpers import assignments, hs_owner, sf_user, with_owners
from tests.unit.sync.test_routing_engine import mql, person_of

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
    yield with_owners(World(ledger, load_ruleset(MAPPINGS), clock, sf, hs, config))
    ledger.close()


def test_routing_clocks_and_queued_intents_on_postgres(world: World) -> None:
    lead = mql(world, 1)
    report = world.cycle()
    person = person_of(world, lead)
    ivy = "ivy.inside@example.com"

    [row] = assignments(world, person)
    assert (row.status, row.owner_email, row.queue) == (AssignmentStatus.ASSIGNED, ivy, "inside-sales")
    assert (row.salesforce_owner_id, row.hubspot_owner_id) == (sf_user(ivy), hs_owner(ivy))
    assert row.handoff is Handoff.NONE  # no notifier configured: nothing waits
    assert world.sf.record("lead", lead).current["OwnerId"] == sf_user(ivy)
    assert world.hs.record("contact", "1").current["hubspot_owner_id"] == hs_owner(ivy)
    with world.ledger.reading() as uow:
        [clock] = uow.sla.for_person(person)
        routed = uow.outbox.by_state(IntentState.APPLIED, origin=IntentOrigin.ROUTING)
        sla = uow.outbox.by_state(IntentState.APPLIED, origin=IntentOrigin.SLA)
    assert clock.sla == "mql_accepted" and clock.is_open and clock.owner_id == ivy
    assert sorted(i.intent.object for i in routed) == sorted(i.intent.object for i in sla) == ["Lead", "contacts"]
    assert report.outcome.queued_sent == 2

    world.clock.advance(days=7)
    result = sweep(world.ledger, world.ruleset, world.clock(), epoch=0)
    assert [c.person_id for c in result.breached] == [person] and result.intents == 2
    with world.ledger.reading() as uow:
        queued = uow.outbox.queued()
    assert len(queued) == 2 and {i.origin for i in queued} == {IntentOrigin.SLA}
    after = world.cycle()
    assert after.outcome.queued_sent == 2
    assert world.sf.record("lead", lead).current["SLA_Breached__c"] is True
    assert world.hs.record("contact", "1").current["leadsync_sla_breached"] is True
    with world.ledger.reading() as uow:
        assert uow.outbox.queued() == []
    world.cycle()
    quiet = world.cycle()
    assert quiet.totals.writes == 0 and quiet.outcome.queued_sent == 0
    assert all(c["writes"] == 0 for c in quiet.api_calls.values())


def test_round_robin_continues_across_restarts_on_postgres(world: World) -> None:
    for batch in ((0, 1), (2, 3), (4, 5)):  # World.cycle builds a new engine each time
        for n in batch:
            mql(world, n)
        world.cycle()
    for n in range(6, 12):
        mql(world, n, employees=5_000)
    world.cycle()

    rows = assignments(world)
    assert Counter(r.owner_email for r in rows if r.queue == "inside-sales") == {
        "ivy.inside@example.com": 2, "ian.inside@example.com": 2, "isa.inside@example.com": 2}
    assert Counter(r.owner_email for r in rows if r.queue == "enterprise") == {
        "erin.enterprise@example.com": 4, "emil.enterprise@example.com": 2}
    assert all(r.status is AssignmentStatus.ASSIGNED for r in rows) and len(rows) == 12
