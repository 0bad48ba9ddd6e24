"""The whole cycle against two in-memory CRMs and a real SQLite ledger: what is written, read and kept."""

from __future__ import annotations

from collections import Counter

import pytest

from leadsync.connectors.memory import MemoryCrashError
from leadsync.domain.model import CrmFacts, System
from leadsync.domain.planner import Target, canonical
from leadsync.ledger import Identity, IdentityKind, IntentState, RunStatus
from leadsync.sync.dryrun import render_text

from .conftest import World, dump, table_counts
from .helpers import ann, form_fill

LEAD = Target(System.SALESFORCE, "Lead", "00Q1")
HS_CONTACT = Target(System.HUBSPOT, "contacts", "101")


def written(world: World) -> Counter[tuple[Target, str, str]]:
    """How often each value was sent to each field: above one is a duplicate write."""
    return Counter((w.target, w.field, canonical(w.value)) for w in [*world.sf.writes_seen, *world.hs.writes_seen])


def test_first_sync_writes_every_mapped_field_to_both_systems_and_records_the_run(world: World) -> None:
    ann(world)
    report = world.cycle()

    assert report.status == "succeeded"
    lead = world.sf.record("lead", "00Q1").current
    assert lead["Lifecycle_Status__c"] == "Inquiry"
    assert lead["Contact_Status__c"] == "New"
    assert lead["Lead_Grade__c"] == report.plans[0].evaluation.grade.letter
    assert lead["Lead_Score__c"] == report.plans[0].evaluation.score.value > 0
    assert "OwnerId" not in lead  # owned by Salesforce: read, never written
    contact = world.hs.record("contact", "101").current
    assert contact["lifecyclestage"] == "lead" and contact["hs_lead_status"] == "NEW"
    with world.ledger.reading() as uow:
        person = uow.people.find(Identity(IdentityKind.HUBSPOT_CONTACT, "101"))
        assert person is not None and person == uow.people.find(Identity(IdentityKind.SALESFORCE_LEAD, "00Q1"))
        [recorded] = uow.transitions.for_person(person)
        assert (recorded.transition.to_status, recorded.run_id) == ("Inquiry", report.run_id)
        assert uow.outbox.pending() == [] and len(uow.outbox.by_state(IntentState.APPLIED)) == 2
        run = uow.runs.get(report.run_id)
        assert run.status is RunStatus.SUCCEEDED
        assert run.counts["applied"] == 2 and run.counts["transitions"] == 1
        assert run.api_calls == {"salesforce": 5, "hubspot": 3}  # one read per stream + one batch each
        assert uow.scores.latest(person) is not None
        assert {w.stream for w in uow.watermarks.all() if "@" not in w.stream} == {
            "salesforce:Lead", "hubspot:contacts", "hubspot:engagements"}


def test_a_repeat_cycle_with_nothing_changed_writes_nothing_and_reads_one_page_per_stream(world: World) -> None:
    ann(world)
    world.cycle()
    world.cycle()  # our writes come back once (modstamps moved); they are recognised
    report = world.cycle()

    assert report.api_calls == {"salesforce": {"reads": 4, "writes": 0}, "hubspot": {"reads": 2, "writes": 0}}
    assert report.writes == [] and report.plans == []
    assert all(count == 1 for count in written(world).values())


def test_a_user_change_produces_exactly_its_writes_and_transition(world: World) -> None:
    ann(world)
    world.cycle()
    world.cycle()
    form_fill(world, System.HUBSPOT, "contact", "101", "hs-demo", days_ago=0.01, activity_type="demo_request")
    before = world.sf.record("lead", "00Q1").current
    report = world.cycle()

    [transition] = report.transitions
    assert (transition.from_status, transition.to_status, transition.rule) == ("Inquiry", "MQL", "mql.hand_raise")
    after = world.sf.record("lead", "00Q1").current
    changed = {k for k in after if after[k] != before.get(k)}
    # The MQL's SLA clock started: its due date (and a cleared breach flag) went out in the same cycle as a
    # queued write of its own, one batch per system after the planned ones.
    sla_fields = {"SLA_Due__c", "SLA_Breached__c"}
    assert sla_fields <= changed
    assert {(w.target, w.field) for w in report.writes if w.target == LEAD} == {(LEAD, k) for k in changed - sla_fields}
    assert {"Lifecycle_Status__c", "MQL_Date__c", "Lead_Score__c"} <= changed
    assert world.hs.record("contact", "101").current["lifecyclestage"] == "marketingqualifiedlead"
    assert report.api_calls["salesforce"]["writes"] == 2 and report.api_calls["hubspot"]["writes"] == 2


def test_transient_failures_are_retried_next_cycle_and_permanent_ones_wait_for_their_cause(world: World) -> None:
    ann(world)
    world.sf.fail_writes("00Q1", "UNABLE_TO_LOCK_ROW", transient=True, times=1)
    world.hs.fail_writes("101", "INVALID_OPTION", transient=False, message="bad option for lifecyclestage")
    first = world.cycle()
    assert (first.outcome.failed, first.outcome.quarantined, first.outcome.applied) == (1, 1, 0)
    with world.ledger.reading() as uow:
        held = uow.quarantine.get(System.HUBSPOT, "contacts", "101")
        assert held is not None and "INVALID_OPTION: bad option for lifecyclestage" in held.reason
        assert [i.intent.record_id for i in uow.outbox.by_state(IntentState.FAILED)] == ["00Q1"]

    second = world.cycle()  # nothing changed: the lock error is retried, the quarantined record is not
    assert second.outcome.applied == 1 and second.outcome.held == 1
    assert second.api_calls["hubspot"]["writes"] == 0
    assert world.sf.record("lead", "00Q1").current["Lifecycle_Status__c"] == "Inquiry"
    assert "lifecyclestage" not in world.hs.record("contact", "101").current

    world.hs.clear_failures()
    world.hs.edit("contact", "101", fields={"firstname": "Ann"})  # the record changed: its cause changed
    third = world.cycle()
    assert third.outcome.applied == 1
    assert world.hs.record("contact", "101").current["lifecyclestage"] == "lead"
    with world.ledger.reading() as uow:
        released = uow.quarantine.get(System.HUBSPOT, "contacts", "101")
        assert released is not None and released.released_at is not None
        assert uow.outbox.by_state(IntentState.FAILED) == [] and uow.outbox.by_state(IntentState.QUARANTINED) == []


def test_a_crash_between_pages_resumes_without_loss_or_duplicate(world: World) -> None:
    for n in range(7):
        world.sf.add_person("lead", f"00Q{n}", email=f"p{n}@acme-corp.io", fields={"email": f"p{n}@acme-corp.io"})
        form_fill(world, System.SALESFORCE, "lead", f"00Q{n}", f"task-{n}")
    world.sf.crash_after_pages = 2  # page size 3: two pages of leads commit, then the pull dies
    with pytest.raises(MemoryCrashError):
        world.cycle()
    with world.ledger.reading() as uow:
        assert uow.runs.latest(1)[0].status is RunStatus.FAILED
        assert uow.watermarks.get("salesforce:Lead") is not None
    world.cycle()
    world.cycle()

    assert len(written(world)) == 7 * 5 and all(c == 1 for c in written(world).values())
    counts = table_counts(world.ledger)
    assert counts["persons"] == 7 and counts["transitions"] == 7 and counts["activities"] == 7
    assert counts["sync_dirty"] == 0


def test_a_dry_run_changes_nothing_in_the_ledger_and_makes_no_write_call(world: World) -> None:
    ann(world)
    world.cycle()
    world.cycle()
    form_fill(world, System.HUBSPOT, "contact", "101", "hs-demo", days_ago=0.01, activity_type="demo_request")
    before = dump(world.ledger)
    report = world.cycle(dry_run=True)

    assert report.status == "planned"
    assert [t.to_status for t in report.transitions] == ["MQL"]
    # One batch of the cycle's own writes, one of its follow-ups' (the new MQL's SLA due date), per system.
    assert report.writes and report.would_write_calls == {"salesforce": 2, "hubspot": 2}
    assert {(origin, w.field) for origin, w in report.queued} >= {("sla", "SLA_Due__c"), ("sla", "leadsync_sla_due")}
    assert report.api_calls["salesforce"]["writes"] == 0 and report.api_calls["hubspot"]["writes"] == 0
    assert dump(world.ledger) == before
    text = render_text(report)
    assert "salesforce Lead 00Q1" in text and "Lifecycle_Status__c: 'Inquiry' -> 'MQL'" in text
    assert "lifecyclestage: 'lead' -> 'marketingqualifiedlead'" in text
    assert "Inquiry -> MQL [mql.hand_raise]" in text and "transitions per status: MQL=1" in text
    assert "salesforce: 4 field writes; 4 read calls, 2 write calls needed" in text
    real = world.cycle()
    assert real.transitions[0].to_status == "MQL"  # the real cycle still sees the change
    assert {s: c["writes"] for s, c in real.api_calls.items()} == report.would_write_calls  # and spends that


def test_the_mass_change_guard_stops_a_cycle_before_anything_is_written(world: World) -> None:
    for n in range(12):
        world.sf.add_person("lead", f"00Q{n}", email=f"p{n}@acme-corp.io", fields={"email": f"p{n}@acme-corp.io"})
    guarded = world.engine(config=type(world.config)(world.config.overlap, world.config.lag_margin,
                                                     max_change_share=0.5, max_change_min=10))
    world.clock.advance(minutes=10)
    first = guarded.run_once()  # everyone is new: a first full sync is not a mass change
    assert first.status == "succeeded" and first.outcome.applied == 12
    world.clock.advance(minutes=10)
    guarded.run_once()
    for n in range(12):  # a bulk job marks everyone unqualified
        world.sf.edit("lead", f"00Q{n}", facts=CrmFacts(crm_status="Unqualified"))
    world.sf.writes_seen.clear()
    before = table_counts(world.ledger)
    world.clock.advance(minutes=10)
    report = guarded.run_once()

    assert report.status == "guard_tripped" and report.guard is not None and not report.guard.allowed
    assert report.guard.changed_people == 12
    assert world.sf.writes_seen == [] and report.api_calls["salesforce"]["writes"] == 0
    after = table_counts(world.ledger)
    assert after["write_intents"] == before["write_intents"] and after["transitions"] == before["transitions"]
    assert after["sync_dirty"] == 12  # still marked: the next cycle (after review) decides them again
    with world.ledger.reading() as uow:
        run = uow.runs.get(report.run_id)
        assert run.status is RunStatus.ABORTED and "mass-change guard" in run.errors[0]


def test_a_lost_response_is_resolved_by_reading_back_and_the_echo_is_ignored(world: World) -> None:
    ann(world)
    world.sf.lose_responses = True
    with pytest.raises(MemoryCrashError):
        world.cycle()
    with world.ledger.reading() as uow:
        assert len(uow.outbox.pending()) == 2  # intents were committed before the calls
    world.sf.lose_responses = False
    report = world.cycle()

    assert report.outcome.resolved_pending == 2
    assert report.pull.echoes == 1  # the lead came back holding our write: not a user change
    assert all(count == 1 for count in written(world).values())  # nothing sent twice
    with world.ledger.reading() as uow:
        assert uow.outbox.pending() == [] and len(uow.outbox.by_state(IntentState.APPLIED)) == 2


def test_a_field_edited_in_both_systems_follows_its_owner(world: World) -> None:
    ann(world)
    world.cycle()
    world.cycle()
    world.sf.edit("lead", "00Q1", current={"Lead_Score__c": 99, "OwnerId": "005B"})
    world.hs.edit("contact", "101", current={"leadsync_score": 77})
    planned = render_text(world.cycle(dry_run=True))
    assert "Lead_Score__c: 99 -> " in planned and "(correcting an override of Lead_Score__c by the CRM" in planned
    assert "corrections of CRM users' overrides: 2" in planned
    corrected = world.cycle()
    # leadsync owns the score: a user's override is corrected (once; the loop guard caps repeats); the owner
    # field belongs to Salesforce, so its edit is taken, not fought.
    assert {(w.target, w.field) for w in corrected.writes} == {(LEAD, "Lead_Score__c"), (HS_CONTACT, "leadsync_score")}
    assert all(w.corrects_override and "correcting an override" in w.note for w in corrected.writes)
    assert corrected.totals.corrections == 2
    assert world.cycle().writes == []  # the corrections come back as echoes: quiet

    form_fill(world, System.HUBSPOT, "contact", "101", "hs-e2", days_ago=0.01)
    report = world.cycle()
    fields = {(w.target, w.field) for w in report.writes}
    assert (LEAD, "Lead_Score__c") in fields and (HS_CONTACT, "leadsync_score") in fields
    assert all(w.field != "OwnerId" for w in report.writes)
    assert world.sf.record("lead", "00Q1").current["OwnerId"] == "005B"
    assert world.sf.record("lead", "00Q1").current["Lead_Score__c"] == report.plans[0].evaluation.score.value
