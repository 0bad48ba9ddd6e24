"""Routing inside the cycle, on the in-memory world: new MQLs get an owner in both systems and an
assignment row; round robin carries over restarts (its state lives in the assignments table)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from leadsync.domain.model import CrmFacts, OwnerKind, System
from leadsync.ledger import AssignmentStatus, Identity, IdentityKind, IntentOrigin, IntentState
from leadsync.rules.ruleset import RuleSet

from .conftest import World, make_world
from .helpers import form_fill
from .routing_helpers import assignments, hs_owner, sf_user, with_owners

NAMES = ("Dana Fischer", "Omar Haddad", "Lena Vogt", "Tomas Ruiz", "Aiko Tanaka", "Priya Nair", "Jonas Berg",
         "Mara Costa", "Felix Wong", "Nora Quinn", "Iris Lund", "Hugo Blanc")


def mql(world: World, n: int, *, employees: int | None = None, facts: CrmFacts | None = None) -> str:
    """A person in both systems who asks for a demo (a hand-raise: MQL at the next cycle); their lead id."""
    first, last = NAMES[n].split()
    email = f"{first.lower()}.{last.lower()}@northwind-{n}.com"
    fields = {"email": email, "first_name": first, "last_name": last, "title": "Head of Operations",
              "company": f"Northwind {n}"}
    if employees is not None:
        fields["employees"] = employees
    lead = f"00Q{n:03d}"
    world.sf.add_person("lead", lead, email=email, fields=fields, facts=facts)
    world.hs.add_person("contact", str(n), email=email, fields={"email": email})
    form_fill(world, System.HUBSPOT, "contact", str(n), f"hs-demo-{n}", days_ago=0.01, activity_type="demo_request")
    return lead


def person_of(world: World, lead: str) -> str:
    with world.ledger.reading() as uow:
        found = uow.people.find(Identity(IdentityKind.SALESFORCE_LEAD, lead))
    assert found is not None
    return found


def test_a_new_mql_gets_an_owner_in_both_systems_an_assignment_and_a_clock(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    lead = mql(world, 1)
    report = world.cycle()
    person = person_of(world, lead)

    [row] = assignments(world, person)
    ivy = "ivy.inside@example.com"
    assert (row.status, row.queue, row.rule, row.owner_email) == (AssignmentStatus.ASSIGNED, "inside-sales", "default",
                                                                  ivy)
    assert (row.salesforce_owner_id, row.hubspot_owner_id) == (sf_user(ivy), hs_owner(ivy))
    assert (row.run_id, row.epoch) == (report.run_id, 0)
    assert world.sf.record("lead", lead).current["OwnerId"] == sf_user(ivy)
    assert world.hs.record("contact", "1").current["hubspot_owner_id"] == hs_owner(ivy)
    with world.ledger.reading() as uow:
        routed = uow.outbox.by_state(IntentState.APPLIED, origin=IntentOrigin.ROUTING)
        assert sorted(i.intent.object for i in routed) == ["Lead", "contacts"]
        [clock] = [c for c in uow.sla.for_person(person) if c.sla == "mql_accepted"]
        assert clock.is_open and clock.owner_id == ivy
    assert report.followup.assigned == 1 and report.followup.clocks_started == 1

    again = world.cycle()  # the owner's echo is ours: nothing is routed or written twice
    assert len(assignments(world, person)) == 1 and again.followup.assigned == 0
    owner_writes = [w for w in world.sf.writes_seen + world.hs.writes_seen
                    if w.field in ("OwnerId", "hubspot_owner_id")]
    assert len(owner_writes) == 2


def test_round_robin_and_weights_carry_over_restarts(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    for batch in ((0, 1), (2, 3), (4, 5)):  # each cycle is a new engine: the state must come from the ledger
        for n in batch:
            mql(world, n)
        world.cycle()
    for n in range(6, 12):
        mql(world, n, employees=5_000)  # enterprise: erin weighs 2, emil 1
    world.cycle()

    rows = assignments(world)
    inside = Counter(r.owner_email for r in rows if r.queue == "inside-sales")
    assert inside == {"ivy.inside@example.com": 2, "ian.inside@example.com": 2, "isa.inside@example.com": 2}
    enterprise = Counter(r.owner_email for r in rows if r.queue == "enterprise")
    assert enterprise == {"erin.enterprise@example.com": 4, "emil.enterprise@example.com": 2}
    assert {r.rule for r in rows if r.queue == "enterprise"} == {"enterprise accounts"}


def test_inactive_reps_are_skipped_and_owned_leads_are_kept(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset), inactive=["ivy.inside@example.com"])
    world.sf.add_owner("005BOB", "bob.rep@example.com")
    world.sf.add_owner("005INT", "integration@example.com")
    world.config = type(world.config)(**{**world.config.__dict__,
                                         "integration_users": frozenset({"integration@example.com"})})
    free = mql(world, 1)
    owned = mql(world, 2, facts=CrmFacts(owner_kind=OwnerKind.USER, owner_id="005BOB"))
    queued = mql(world, 3, facts=CrmFacts(owner_kind=OwnerKind.QUEUE, owner_id="00GQUEUE"))
    integration = mql(world, 4, facts=CrmFacts(owner_kind=OwnerKind.USER, owner_id="005INT"))
    world.cycle()

    by_lead = {lead: assignments(world, person_of(world, lead)) for lead in (free, owned, queued, integration)}
    assert [r.status for r in by_lead[owned]] == [AssignmentStatus.KEPT]
    assert by_lead[owned][0].owner_email == "bob.rep@example.com"
    assert "OwnerId" not in world.sf.record("lead", owned).current
    routed = [by_lead[lead][0] for lead in (free, queued, integration)]
    assert all(r.status is AssignmentStatus.ASSIGNED for r in routed)
    assert "ivy.inside@example.com" not in {r.owner_email for r in routed}  # deactivated in Salesforce
    assert world.sf.record("lead", queued).current["OwnerId"] == routed[1].salesforce_owner_id
    assert world.sf.record("lead", integration).current["OwnerId"] == routed[2].salesforce_owner_id


def test_when_nobody_can_take_the_lead_it_waits_with_the_reason(tmp_path: Path, ruleset: RuleSet) -> None:
    world = with_owners(make_world(tmp_path, ruleset),
                        inactive=["ivy.inside@example.com", "ian.inside@example.com", "isa.inside@example.com"])
    lead = mql(world, 1)
    world.cycle()
    [row] = assignments(world, person_of(world, lead))
    assert row.status is AssignmentStatus.WAITING and row.owner_email is None
    assert "nobody in inside-sales can take it" in row.reason and "inactive" in row.reason
    assert "OwnerId" not in world.sf.record("lead", lead).current


def test_a_dry_run_shows_the_owner_and_due_date_writes_and_keeps_nothing(tmp_path: Path, ruleset: RuleSet) -> None:
    from leadsync.sync.dryrun import as_dict, render_text

    world = with_owners(make_world(tmp_path, ruleset))
    lead = mql(world, 1)
    dry = world.cycle(dry_run=True)
    ivy = "ivy.inside@example.com"
    shown = {(origin, w.target.object, w.field): w.value for origin, w in dry.queued}
    assert shown[("routing", "Lead", "OwnerId")] == sf_user(ivy)
    assert shown[("routing", "contacts", "hubspot_owner_id")] == hs_owner(ivy)
    assert ("sla", "Lead", "SLA_Due__c") in shown
    # Counted in the calls it would spend, printed per record, and nothing was kept or sent.
    assert dry.would_write_calls == {"salesforce": 2, "hubspot": 2}  # the cycle's own batch, then the follow-ups
    assert f"OwnerId: -> '{sf_user(ivy)}' [routing]" in render_text(dry)
    assert as_dict(dry)["follow_up_writes"][f"salesforce Lead {lead}"][0]["origin"] in {"routing", "sla"}
    assert world.sf.record("lead", lead).current.get("OwnerId") != sf_user(ivy)
    with world.ledger.reading() as uow:
        assert uow.outbox.queued() == [] and uow.sla.with_open_clocks([]) == set()
    real = world.cycle()
    assert world.sf.record("lead", lead).current["OwnerId"] == sf_user(ivy)
    assert real.api_calls["salesforce"]["writes"] == dry.would_write_calls["salesforce"]


def test_the_first_sync_takes_the_backlog_as_it_is_and_routes_only_newcomers(tmp_path: Path,
                                                                              ruleset: RuleSet) -> None:
    # An org that ran long before leadsync: its MQLs are a starting point, not hand-offs that just happened.
    world = with_owners(make_world(tmp_path, ruleset), synced=False)
    backlog = mql(world, 1)
    first = world.cycle()
    person = person_of(world, backlog)
    [initial] = first.transitions
    assert initial.to_status == "MQL" and initial.facts["backfill"] is True
    assert assignments(world, person) == [] and first.followup.assigned == 0
    with world.ledger.reading() as uow:
        assert uow.sla.for_person(person) == [] and uow.outbox.queued() == []
        assert uow.transitions.for_person(person)[0].transition.facts["backfill"] is True  # kept in the ledger
    assert world.sf.record("lead", backlog).current.get("OwnerId") is None

    newcomer = mql(world, 2)
    second = world.cycle()
    assert [t.facts.get("backfill") for t in second.transitions] == [None]
    [row] = assignments(world, person_of(world, newcomer))
    assert row.status is AssignmentStatus.ASSIGNED
    with world.ledger.reading() as uow:
        assert [c.sla for c in uow.sla.for_person(person_of(world, newcomer))] == ["mql_accepted"]
        assert uow.sla.for_person(person) == []  # later cycles still read the backlog's start as backfill
