"""Identity through the cycle: one person across systems, duplicates flagged, conversions and merges followed,
and a CRM user's reopen recorded as a named move."""

from __future__ import annotations

from leadsync.domain.identity import RecordRef
from leadsync.domain.model import CauseKind, CrmFacts, Move, System
from leadsync.ledger import Identity, IdentityEventKind, IdentityKind, IntentState
from leadsync.sync.state import SyncState

from .conftest import World, table_counts
from .helpers import ann, form_fill


def person_of(world: World, kind: IdentityKind, record_id: str) -> str:
    with world.ledger.reading() as uow:
        found = uow.people.find(Identity(kind, record_id))
    assert found is not None
    return found


def test_one_email_in_both_systems_is_one_person(world: World) -> None:
    ann(world)
    world.cycle()

    assert table_counts(world.ledger)["persons"] == 1
    person = person_of(world, IdentityKind.SALESFORCE_LEAD, "00Q1")
    with world.ledger.reading() as uow:
        record = uow.people.get(person)
        assert record is not None
        assert Identity.email("ann@acme-corp.io") in record.identities
        assert Identity(IdentityKind.HUBSPOT_CONTACT, "101") in record.identities


def test_two_hubspot_contacts_with_one_email_are_flagged_and_kept_apart(world: World) -> None:
    world.hs.add_person("contact", "201", email="bo@acme-corp.io")
    world.hs.add_person("contact", "202", email="BO@acme-corp.io ")
    report = world.cycle()

    first = person_of(world, IdentityKind.HUBSPOT_CONTACT, "201")
    second = person_of(world, IdentityKind.HUBSPOT_CONTACT, "202")
    assert first != second and report.pull.duplicates == 1
    with world.ledger.reading() as uow:
        assert SyncState(uow).duplicates_of(first) == [(second, "bo@acme-corp.io")]
    # A Salesforce lead with that email matches two people: it is a third, flagged against both.
    world.sf.add_person("lead", "00Q9", email="bo@acme-corp.io")
    world.cycle()
    third = person_of(world, IdentityKind.SALESFORCE_LEAD, "00Q9")
    with world.ledger.reading() as uow:
        assert {p for p, _ in SyncState(uow).duplicates_of(third)} == {first, second}


def test_a_converted_lead_joins_its_contact_and_only_the_contact_is_written(world: World) -> None:
    ann(world)
    world.cycle()
    person = person_of(world, IdentityKind.SALESFORCE_LEAD, "00Q1")
    world.sf.add_person("contact", "003A", email="ann@acme-corp.io", facts=CrmFacts(is_contact=True))
    world.sf.edit("lead", "00Q1", facts=CrmFacts(is_converted=True, crm_status="Qualified"),
                  converted_to=RecordRef(System.SALESFORCE, "contact", "003A"))
    world.sf.writes_seen.clear()
    report = world.cycle()

    assert person_of(world, IdentityKind.SALESFORCE_CONTACT, "003A") == person
    assert table_counts(world.ledger)["persons"] == 1 and report.pull.conversions == 1
    with world.ledger.reading() as uow:
        assert [e.kind for e in uow.people.events(person)] == [IdentityEventKind.LEAD_CONVERSION]
    assert {w.target.object for w in world.sf.writes_seen} == {"Contact"}
    assert world.sf.record("contact", "003A").current["Lifecycle_Status__c"] == report.transitions[-1].to_status


def test_a_hubspot_merge_folds_the_merged_away_person_into_the_survivor(world: World) -> None:
    world.hs.add_person("contact", "301", email="cy@acme-corp.io")
    world.hs.add_person("contact", "302", email="cy.other@acme-corp.io")
    form_fill(world, System.HUBSPOT, "contact", "302", "hs-m1")
    world.cycle()
    loser = person_of(world, IdentityKind.HUBSPOT_CONTACT, "302")
    world.hs.edit("contact", "301", merged_from=("302",))
    world.hs.edit("contact", "302", deleted=True)
    report = world.cycle()

    survivor = person_of(world, IdentityKind.HUBSPOT_CONTACT, "301")
    assert person_of(world, IdentityKind.HUBSPOT_CONTACT, "302") == survivor != loser
    assert report.pull.merges == 1
    [plan] = [p for p in report.plans if p.person_id == survivor]
    assert plan.evaluation.score.value > 0  # the merged-away contact's activity now counts for the survivor
    assert all(w.target.record_id == "301" for w in report.writes)


def test_a_crm_user_reopening_a_disqualified_person_is_a_recorded_named_move(world: World) -> None:
    ann(world)
    world.cycle()
    world.sf.edit("lead", "00Q1", facts=CrmFacts(crm_status="Unqualified", owner_id="005X"))
    report = world.cycle()
    assert [t.to_status for t in report.transitions] == ["Disqualified"]
    world.cycle()

    world.sf.edit("lead", "00Q1", current={"Lifecycle_Status__c": "MQL"})
    reopened = world.cycle()
    first = reopened.transitions[0]
    assert (first.move, first.from_status, first.to_status) == (Move.REOPEN, "Disqualified", "MQL")
    assert first.cause.kind is CauseKind.CRM_USER and first.cause.actor == "005X"
    with world.ledger.reading() as uow:
        history = uow.transitions.for_person(person_of(world, IdentityKind.SALESFORCE_LEAD, "00Q1"))
        assert [t.transition.move for t in history][:3] == [Move.INITIAL, Move.DISQUALIFY, Move.REOPEN]


def test_a_failed_write_to_a_lead_converted_meanwhile_is_parked_not_retried_for_ever(world: World) -> None:
    ann(world)
    world.sf.fail_writes("00Q1", "UNABLE_TO_LOCK_ROW", transient=True)
    assert world.cycle().outcome.failed == 1
    world.sf.add_person("contact", "003B", email="ann@acme-corp.io", facts=CrmFacts(is_contact=True))
    world.sf.edit("lead", "00Q1", facts=CrmFacts(is_converted=True),
                  converted_to=RecordRef(System.SALESFORCE, "contact", "003B"))
    report = world.cycle()

    assert {w.target.object for w in report.writes if w.target.system is System.SALESFORCE} == {"Contact"}
    with world.ledger.reading() as uow:
        assert uow.outbox.by_state(IntentState.FAILED) == []
        [parked] = uow.outbox.by_state(IntentState.QUARANTINED)
        assert parked.intent.record_id == "00Q1" and "no longer be written" in (parked.last_error or "")
    assert world.cycle().plans == []  # nobody is pulled back in by the parked intent
