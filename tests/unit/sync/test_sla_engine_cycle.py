"""SLA clocks and queued write-backs inside the cycle: a clock per new MQL in the unit of work of its history,
the due date sent in the same cycle, the sweep's breach flag sent by the next one, crashed dispatches read
back first."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from leadsync.domain.model import CrmFacts, OwnerKind, System
from leadsync.ledger import IntentOrigin, IntentState
from leadsync.rules.ruleset import RuleSet
from leadsync.sla_engine import sweep
from leadsync.sync.compute import load_state
from leadsync.sync.state import SyncState

from .conftest import make_world
from .helpers import form_fill
from .routing_helpers import assignments, with_owners
from .test_routing_engine import mql, person_of


def test_the_due_date_goes_out_in_the_same_cycle_and_its_echo_is_quiet(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    lead = mql(world, 1)
    report = world.cycle()
    with world.ledger.reading() as uow:
        [clock] = uow.sla.for_person(person_of(world, lead))
        sent = uow.outbox.by_state(IntentState.APPLIED, origin=IntentOrigin.SLA)
    assert clock.sla == "mql_accepted" and clock.is_open
    assert {i.intent.object for i in sent} == {"Lead", "contacts"}
    assert world.sf.record("lead", lead).current["SLA_Due__c"] == next(
        i.intent.fields["SLA_Due__c"] for i in sent if i.intent.object == "Lead")
    assert world.sf.record("lead", lead).current["SLA_Breached__c"] is False
    assert world.hs.record("contact", "1").current["leadsync_sla_due"] is not None
    assert report.outcome.queued_sent == 2  # one write per record: its due date and its routed owner together

    quiet = world.cycle()
    assert quiet.totals.writes == 0 and quiet.outcome.queued_sent == 0 and quiet.followup.clocks_started == 0


def test_the_sweeps_breach_flag_reaches_both_crms_in_the_next_cycle(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    lead = mql(world, 1)
    world.cycle()
    world.clock.advance(days=3)
    result = sweep(world.ledger, ruleset, world.clock(), epoch=0)
    assert len(result.breached) == 1 and result.intents == 2
    with world.ledger.reading() as uow:
        queued = uow.outbox.queued()
    assert len(queued) == 2 and all(i.queued and i.origin is IntentOrigin.SLA for i in queued)

    report = world.cycle()
    assert world.sf.record("lead", lead).current["SLA_Breached__c"] is True
    assert world.hs.record("contact", "1").current["leadsync_sla_breached"] is True
    assert report.outcome.queued_sent == 2 and report.outcome.resolved_pending == 0
    with world.ledger.reading() as uow:
        assert uow.outbox.queued() == []
        assert all(uow.outbox.get(i.id).state is IntentState.APPLIED for i in queued)
        assert uow.outbox.written_hash(world.sf.system, "Lead", lead, "SLA_Breached__c") is not None


def test_a_crashed_dispatch_is_read_back_before_anything_is_resent(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    lead = mql(world, 1)
    world.cycle()
    world.clock.advance(days=3)
    sweep(world.ledger, ruleset, world.clock(), epoch=0)
    with world.ledger.unit_of_work() as uow:  # a run dispatched both, then died; only Salesforce got its write
        queued = uow.outbox.queued()
        uow.outbox.dispatch_many([i.id for i in queued], world.clock())
    world.sf.edit("lead", lead, current={"SLA_Breached__c": True})
    writes_before = len(world.sf.writes_seen)

    report = world.cycle()
    assert report.outcome.resolved_pending == 2
    assert len(world.sf.writes_seen) == writes_before  # Salesforce held it: applied by reading, not resent
    assert world.hs.record("contact", "1").current["leadsync_sla_breached"] is True  # failed, then resent
    with world.ledger.reading() as uow:
        assert {uow.outbox.get(i.id).state for i in queued} == {IntentState.APPLIED}


def test_history_never_commits_without_its_clocks(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    lead = mql(world, 1)
    with world.ledger.unit_of_work() as uow:  # the database refuses clocks: the flush must fail as a whole
        uow.connection.exec_driver_sql(
            "CREATE TRIGGER no_clocks BEFORE INSERT ON sla_clocks BEGIN SELECT RAISE(ABORT, 'injected'); END")
    with pytest.raises(Exception, match="injected"):
        world.cycle()
    person = person_of(world, lead)
    with world.ledger.reading() as uow:
        assert [t.transition.to_status for t in uow.transitions.for_person(person)] == []
        assert uow.sla.for_person(person) == [] and uow.assignments.for_person(person) == []
        assert person in SyncState(uow).dirty()  # still marked: the next cycle does it all again
    with world.ledger.unit_of_work() as uow:
        uow.connection.exec_driver_sql("DROP TRIGGER no_clocks")

    world.cycle()
    with world.ledger.reading() as uow:
        assert "MQL" in [t.transition.to_status for t in uow.transitions.for_person(person)]
        assert [c.sla for c in uow.sla.for_person(person)] == ["mql_accepted"]
    assert len(assignments(world, person)) == 1


def test_an_activity_meets_an_open_clock(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    lead = mql(world, 1)
    world.cycle()
    person = person_of(world, lead)
    world.sf.edit("lead", lead, facts=CrmFacts(crm_status="Working - Contacted", owner_kind=OwnerKind.USER,
                                               owner_id="005IVY"))
    world.cycle(seconds=600)  # accepted: SAL meets mql_accepted and starts first_touch and follow_up
    with world.ledger.reading() as uow:
        clocks = {c.sla: c for c in uow.sla.for_person(person)}
    assert clocks["mql_accepted"].met_at is not None
    assert clocks["first_touch"].is_open and clocks["first_touch"].owner_id == "ivy.inside@example.com"
    world.clock.advance(minutes=30)
    form_fill(world, System.SALESFORCE, "lead", lead, "sf-call-1", days_ago=0.0001, activity_type="call")
    world.cycle()
    with world.ledger.reading() as uow:
        first_touch = next(c for c in uow.sla.for_person(person) if c.sla == "first_touch")
    assert first_touch.met_at is not None
    assert timedelta(0) <= world.clock() - first_touch.met_at < timedelta(hours=1)


def test_a_recycled_lead_whose_crm_still_says_accepted_requalifies_as_mql_not_sal(tmp_path: Path,
                                                                                   ruleset: RuleSet) -> None:
    # No [pool] in the shipped rules: the CRM keeps the rep and "Working - Contacted" after the return to the
    # pool. That acceptance is older than the recycle, so a new hand-raise makes an MQL (routed anew), and
    # the following cycles do not turn the stale acceptance into SAL either.
    world = with_owners(make_world(tmp_path, ruleset))
    lead = mql(world, 1)
    world.cycle()
    person = person_of(world, lead)
    world.sf.edit("lead", lead, facts=CrmFacts(crm_status="Working - Contacted", owner_kind=OwnerKind.USER,
                                               owner_id="005IVY"))
    world.cycle(seconds=600)
    world.clock.advance(days=10)  # nobody touches it: the sweep takes it back
    result = sweep(world.ledger, ruleset, world.clock(), epoch=0)
    assert [t.person_id for t in result.returned_to_pool] == [person]
    world.cycle()
    form_fill(world, System.HUBSPOT, "contact", "1", "hs-demo-again", days_ago=0.0001, activity_type="demo_request")
    world.cycle()
    world.cycle(seconds=600)
    with world.ledger.reading() as uow:
        history = [t.transition for t in uow.transitions.for_person(person)]
        state, _ = load_state(uow, SyncState(uow), person, ruleset)
    assert [t.to_status for t in history][-2:] == ["Recycled", "MQL"], history
    # The core is told when the recycle was, so only evidence newer than it moves the person on.
    assert state.recycled_at == next(t.at for t in reversed(history) if t.to_status == "Recycled")
    assert state.lifecycle_status == "MQL"
