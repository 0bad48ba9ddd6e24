"""Routing, SLA clocks and the MQL hand-off end to end: the engine over real HTTPS against the sandbox
emulators, a SQLite ledger, and a real local webhook receiver.

The routing.toml reps are added to the emulated org as Salesforce users and HubSpot owners (the generated
org has its own reps), so routing has someone to pick in both systems. A person qualifies through HubSpot
"Contact us" forms, the last of which pushes them over the MQL line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadsync.app import sandbox_connectors
from leadsync.config.settings import SalesforceSettings, Settings, load_settings
from leadsync.connectors.port import CrmConnector
from leadsync.daemon.engine_jobs import NotifyingJob
from leadsync.daemon.wiring import default_jobs
from leadsync.domain.routing import PoolOwner
from leadsync.ledger import (
    AssignmentRecord,
    AssignmentStatus,
    Identity,
    IdentityKind,
    IntentOrigin,
    Ledger,
    SlaClock,
    open_ledger,
)
from leadsync.notify import DeadLetters, Endpoint, Notifier, SenderPolicy
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sandbox.runtime import Sandbox
from leadsync.sla_engine import sweep
from leadsync.sla_engine.writes import wire_value
from leadsync.sync.cycle import CycleReport, EngineConfig, SyncEngine
from leadsync.sync.state import ensure_tables
from tests.unit.sync.routing_helpers import Receiver

from .test_sync_sandbox import MAPPINGS

FAST = SenderPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02, rate_per_second=1000, burst=1000, timeout=2)
INSIDE_SALES = ("ivy.inside@example.com", "ian.inside@example.com", "isa.inside@example.com")
REPS = (*INSIDE_SALES, "erin.enterprise@example.com", "emil.enterprise@example.com")
FORM = "Contact us"  # 20 points (form fill + contact-us) in the shipped scoring.toml
# A C+ grade (title, industry, size) needs 200 points (lifecycle.toml's matrix): ten forms faded by a few
# minutes stay just short of it, the eleventh crosses it.
FORMS_TO_MQL = 11
PROSPECTS = (("Mara", "Costa", "Northwind Freight", "northwindfreight.com"),
             ("Felix", "Wong", "Delta Grid", "deltagrid.io"),
             ("Nora", "Quinn", "Bluepeak Analytics", "bluepeak.com"),
             ("Iris", "Lund", "Harborline Logistics", "harborline.com"),
             ("Hugo", "Blanc", "Ardent Systems", "ardentsystems.com"))


@dataclass
class Rig:
    sandbox: Sandbox
    ledger: Ledger
    ruleset: RuleSet
    notifier: Notifier
    receiver: Receiver
    sf_user: dict[str, str] = field(default_factory=dict)  # rep email -> Salesforce User id
    hs_owner: dict[str, str] = field(default_factory=dict)  # rep email -> HubSpot owner id
    offset: float = 0.0

    def cycle(self, *, minutes_later: float = 10) -> CycleReport:
        """Move the server clock on, then run one cycle at server time with a fresh engine and connectors.

        Fresh connectors because the HubSpot connector measures server time from the last ``Date`` it saw
        plus the real time since: after the test jumps the emulators' clock it would read up to the old
        time (a real clock never jumps). The settings name the login as in a real deployment, so leads the
        API created as it (owned by the integration user) would count as unowned."""
        self.offset += minutes_later * 60
        self.sandbox.clock.set_offset(self.offset)
        return self.engine().run_once()

    def engine(self) -> SyncEngine:
        settings = Settings(salesforce=SalesforceSettings(username=self.sandbox.sf_username))
        config = EngineConfig.from_settings(settings, keep_plans=True)
        return SyncEngine(self.ledger, self.ruleset, self.connectors(), config, self.sandbox.clock.now,
                          notifier=self.notifier)

    def connectors(self) -> list[CrmConnector]:
        return sandbox_connectors(Settings(), self.ruleset, self.sandbox.env())

    def jump_to(self, when: datetime) -> None:
        """Set the emulators' clock (and so the engine's) to just after ``when``."""
        self.offset += (when - self.sandbox.clock.now()).total_seconds() + 60
        self.sandbox.clock.set_offset(self.offset)

    def settle(self) -> None:
        time.sleep(1.1)  # a change within the last second may fall after a window's end (see test_sync_sandbox)

    def person(self, lead_id: str) -> str:
        with self.ledger.reading() as uow:
            found = uow.people.find(Identity(IdentityKind.SALESFORCE_LEAD, lead_id))
        assert found is not None
        return found

    def assignments(self, person: str) -> list[AssignmentRecord]:
        with self.ledger.reading() as uow:
            return uow.assignments.for_person(person)

    def clocks(self, person: str) -> dict[str, SlaClock]:
        with self.ledger.reading() as uow:
            return {c.sla: c for c in uow.sla.for_person(person)}

    def clocks_all(self, person: str) -> list[SlaClock]:
        with self.ledger.reading() as uow:
            return list(uow.sla.for_person(person))

    def lead(self, lead_id: str) -> dict[str, Any]:
        record = self.sandbox.sf.record("Lead", lead_id)
        assert record is not None
        return record

    def contact(self, contact_id: str) -> dict[str, str]:
        return dict(self.sandbox.hs.contact(contact_id).props)


def add_reps(sandbox: Sandbox) -> tuple[dict[str, str], dict[str, str]]:
    """Every routing.toml rep as an active Salesforce user and HubSpot owner (as an admin would add them)."""
    users, owners = {}, {}
    stamp = "2026-01-05T09:00:00.000Z"
    for n, email in enumerate(REPS):
        first, last = email.split("@")[0].split(".")
        users[email] = sandbox.sf.create_record("User", {
            "Username": email, "Email": email, "FirstName": first.title(), "LastName": last.title(),
            "Alias": f"{first[:4]}{n}", "IsActive": True})
        owner_id = str(70_000_000 + n)
        with sandbox.hs.lock:
            sandbox.hs.owners[owner_id] = {"id": owner_id, "email": email, "firstName": first.title(),
                                           "lastName": last.title(), "userId": 9_000_000 + n,
                                           "createdAt": stamp, "updatedAt": stamp, "archived": False}
        owners[email] = owner_id
    return users, owners


@pytest.fixture
def rig(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Rig]:
    ruleset = load_ruleset(MAPPINGS)
    receiver = Receiver()
    notifier = Notifier([Endpoint("hook", receiver.url)], DeadLetters(tmp_path / "dead.jsonl"), FAST)
    try:
        with Sandbox(persons=25, seed=11, rate_limits=False, directory=tmp_path / "sandbox") as sandbox:
            users, owners = add_reps(sandbox)
            ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", auto_upgrade=True)
            ensure_tables(ledger)
            try:
                yield Rig(sandbox, ledger, ruleset, notifier, receiver, users, owners)
            finally:
                ledger.close()
    finally:
        notifier.close(1)
        receiver.close()


@pytest.fixture
def sandbox_app(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Path]:
    """A config file for the daemon on a running sandbox, with a webhook configured."""
    with Sandbox(persons=12, seed=4, rate_limits=False, directory=tmp_path / "sandbox") as sandbox:
        for name, value in sandbox.env().items():
            clean_env.setenv(name, value)
        config = tmp_path / "leadsync.toml"
        config.write_text(f'[ledger]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n'
                          f'[daemon]\nmappings_dir = "{MAPPINGS}"\nlog_level = "warning"\n'
                          '[notifications]\nwebhook_url = "http://127.0.0.1:9/hook"\n', encoding="utf-8")
        yield config


def inbound_queue(rig: Rig) -> str:
    [queue] = [g["Id"] for g in rig.sandbox.sf.records("Group") if g["Name"] == "Inbound Leads"]
    return str(queue)


def prospect(rig: Rig, n: int = 0) -> tuple[str, str]:
    """A new web lead (in the Inbound Leads queue: nobody in sales owns it yet) and its HubSpot contact,
    who filled in the contact form all but once: an Inquiry one form short of MQL. (lead id, contact id)"""
    first, last, company, domain = PROSPECTS[n]
    email = f"{first.lower()}.{last.lower()}@{domain}"
    lead = rig.sandbox.sf.create_record("Lead", {
        "FirstName": first, "LastName": last, "Company": company, "Email": email, "OwnerId": inbound_queue(rig),
        "Title": "VP Operations", "Industry": "Software", "NumberOfEmployees": 200})
    contact = rig.sandbox.hs.create_contact({"email": email, "firstname": first, "lastname": last})
    now = rig.sandbox.clock.now()
    for k in range(FORMS_TO_MQL - 1):
        rig.sandbox.hs.submit_form(contact, FORM, now - timedelta(minutes=30 - k))
    rig.settle()
    return lead, contact


def hand_raise(rig: Rig, contact: str) -> None:
    rig.sandbox.hs.submit_form(contact, FORM, rig.sandbox.clock.now())
    rig.settle()


def queued_left(rig: Rig) -> int:
    with rig.ledger.reading() as uow:
        return len(uow.outbox.queued())


def test_a_new_mql_is_routed_clocked_handed_off_and_its_breach_reaches_both_crms(rig: Rig) -> None:
    rig.cycle()  # the backfill
    lead, contact = prospect(rig)
    before = rig.cycle()
    person = rig.person(lead)
    assert [t.to_status for t in before.transitions if t.person_id == person] == ["Inquiry"]
    assert rig.assignments(person) == [] and rig.clocks(person) == {}

    hand_raise(rig, contact)
    report = rig.cycle()

    assert report.status == "succeeded" and report.errors == []
    assert [t.to_status for t in report.transitions if t.person_id == person] == ["MQL"]
    ivy = "ivy.inside@example.com"  # the backfill routed nobody: round robin starts at the queue's first rep
    [row] = rig.assignments(person)
    assert (row.status, row.queue, row.rule, row.owner_email) == (AssignmentStatus.ASSIGNED, "inside-sales",
                                                                  "default", ivy)
    assert (row.salesforce_owner_id, row.hubspot_owner_id) == (rig.sf_user[ivy], rig.hs_owner[ivy])
    assert (report.followup.assigned, report.followup.clocks_started, report.followup.handoffs) == (1, 1, 1)
    # the owner, written in both emulators' stores
    assert rig.lead(lead)["OwnerId"] == rig.sf_user[ivy]
    assert rig.contact(contact)["hubspot_owner_id"] == rig.hs_owner[ivy]
    # an open clock, its due date written back to both
    clocks = rig.clocks(person)
    assert set(clocks) == {"mql_accepted"}
    clock = clocks["mql_accepted"]
    assert clock.is_open and clock.owner_id == ivy and clock.due_at > report.started_at
    due = wire_value(clock.due_at.replace(microsecond=0))  # date-times are written in whole seconds
    assert isinstance(due, str)
    assert rig.lead(lead)["SLA_Due__c"][:19] == due[:19]
    assert rig.lead(lead)["SLA_Breached__c"] is False
    hs_due = rig.contact(contact)["leadsync_sla_due"]
    assert datetime.fromisoformat(hs_due.replace("Z", "+00:00")) == datetime.fromisoformat(due.replace("Z", "+00:00"))
    # one write call per system for the plan, one for the queued owner + due date (the same record, merged)
    assert report.api_calls["salesforce"]["writes"] == 2 and report.api_calls["hubspot"]["writes"] == 2
    assert report.outcome.queued_sent == 2 and queued_left(rig) == 0
    # exactly one hand-off, naming the rep
    [handoff] = rig.receiver.wait_for(1)
    assert (handoff["event"], handoff["person_id"]) == ("mql_handoff", person)
    assert handoff["details"]["owner"] == ivy and handoff["details"]["queue"] == "inside-sales"

    echo = rig.cycle()  # our own writes come back: nothing is routed, clocked or handed off again...
    assert echo.followup.assigned == 0 and echo.followup.handoffs == 0 and len(rig.assignments(person)) == 1
    # ...the person is evaluated once more (the owner and due-date echo) and only the score, faded by the
    # ten minutes that passed, is written
    assert {w.field for w in echo.writes} == {"Lead_Score__c", "leadsync_score"}
    assert echo.api_calls["salesforce"]["writes"] == 1 and echo.api_calls["hubspot"]["writes"] == 1
    idle = rig.cycle()
    assert all(c["writes"] == 0 for c in idle.api_calls.values()), idle.api_calls

    # Nobody accepts the MQL: time passes beyond the due time and the daemon's sweep runs.
    rig.jump_to(clock.due_at)
    swept = sweep(rig.ledger, rig.ruleset, rig.sandbox.clock.now(), epoch=0, notifier=rig.notifier)
    # (the backfill's MQLs from the generated org breach too; this person's clock is the one followed here)
    assert person in [c.person_id for c in swept.breached if c.sla == "mql_accepted"]
    assert swept.returned_to_pool == []  # shipped sla.toml: an mql_accepted breach writes and notifies only
    assert swept.intents == queued_left(rig) > 0

    after = rig.cycle(minutes_later=1)
    assert after.outcome.queued_sent == swept.intents and queued_left(rig) == 0 and after.errors == []
    assert rig.lead(lead)["SLA_Breached__c"] is True
    assert rig.contact(contact)["leadsync_sla_breached"] == "true"
    # the rules keep the lead with its rep: no new assignment, the owner unchanged in both systems
    assert [r.status for r in rig.assignments(person)] == [AssignmentStatus.ASSIGNED]
    assert rig.lead(lead)["OwnerId"] == rig.sf_user[ivy]
    assert rig.contact(contact)["hubspot_owner_id"] == rig.hs_owner[ivy]

    rig.cycle()  # the breach flags' echo
    quiet = rig.cycle()
    assert quiet.totals.writes == 0 and quiet.outcome.queued_sent == 0 and quiet.transitions == []
    assert all(c["writes"] == 0 for c in quiet.api_calls.values()), quiet.api_calls
    rig.notifier.close(5)  # delivers what is queued
    bodies = [b for b in rig.receiver.bodies if b["person_id"] == person]
    assert [b["event"] for b in bodies] == ["mql_handoff", "sla_breach"]  # each once, nothing repeated
    assert bodies[1]["details"]["sla"] == "mql_accepted" and bodies[1]["details"]["owner"] == ivy
    assert [b["event"] for b in rig.receiver.bodies].count("mql_handoff") == 1


def with_pool(rig: Rig) -> PoolOwner:
    """routing.toml's [pool] for this org: the Inbound Leads queue, no HubSpot owner, the status reset."""
    pool = PoolOwner(inbound_queue(rig), "", "Open - Not Contacted")
    rig.ruleset = dataclasses.replace(rig.ruleset, routing=dataclasses.replace(rig.ruleset.routing, pool=pool))
    return pool


def test_a_lead_without_follow_up_returns_to_the_pool_and_goes_to_the_next_rep(rig: Rig) -> None:
    pool = with_pool(rig)
    rig.cycle()
    lead, contact = prospect(rig)
    rig.cycle()
    hand_raise(rig, contact)
    rig.cycle()
    person = rig.person(lead)
    ivy = INSIDE_SALES[0]
    assert rig.lead(lead)["OwnerId"] == rig.sf_user[ivy]
    rig.cycle()  # the echo

    # Ivy accepts the lead in Salesforce (SAL), then does nothing with it.
    rig.sandbox.sf.update_record("Lead", lead, {"Status": "Working - Contacted"}, rig.sf_user[ivy])
    rig.settle()
    accepted = rig.cycle()
    assert [t.to_status for t in accepted.transitions if t.person_id == person] == ["SAL"]
    clocks = rig.clocks(person)
    assert clocks["mql_accepted"].met_at is not None
    assert clocks["follow_up"].is_open and clocks["follow_up"].owner_id == ivy
    rig.cycle()

    rig.jump_to(max(clocks["follow_up"].due_at, clocks["first_touch"].due_at))
    swept = sweep(rig.ledger, rig.ruleset, rig.sandbox.clock.now(), epoch=0, notifier=rig.notifier)
    assert sorted(c.sla for c in swept.breached if c.person_id == person) == ["first_touch", "follow_up"]
    assert [t.to_status for t in swept.returned_to_pool if t.person_id == person] == ["Recycled"]
    assert not any("[pool]" in p for p in swept.problems), swept.problems
    statuses = [r.status for r in rig.assignments(person)]
    assert statuses == [AssignmentStatus.ASSIGNED, AssignmentStatus.RETURNED]
    assert swept.intents == queued_left(rig)
    with rig.ledger.reading() as uow:
        owner_writes = {(i.intent.object, i.intent.record_id): i.intent.fields for i in uow.outbox.queued()
                        if i.origin is IntentOrigin.ROUTING}
    assert owner_writes[("Lead", lead)] == {"OwnerId": pool.salesforce_owner_id, "Status": "Open - Not Contacted"}
    assert owner_writes[("contacts", contact)] == {"hubspot_owner_id": ""}

    back = rig.cycle(minutes_later=1)  # the recycle move, the pool owner and the breach flags reach both CRMs
    assert back.errors == [] and queued_left(rig) == 0
    assert rig.lead(lead)["Lifecycle_Status__c"] == "Recycled" and rig.lead(lead)["SLA_Breached__c"] is True
    assert rig.lead(lead)["OwnerId"] == pool.salesforce_owner_id  # back in the queue, where reps can claim it
    assert rig.lead(lead)["Status"] == "Open - Not Contacted"
    assert rig.contact(contact)["leadsync_sla_breached"] == "true"
    assert rig.contact(contact).get("hubspot_owner_id") in (None, "")
    rig.cycle()

    assert rig.contact(contact)["lifecyclestage"] == "lead"  # Recycled's HubSpot value (a clear, then a set)
    quiet = rig.cycle()
    assert quiet.transitions == [] and all(c["writes"] == 0 for c in quiet.api_calls.values()), quiet.api_calls

    # The person raises a hand again: MQL on the new evidence (not SAL on the status from before), routed
    # to the next rep of the queue, not back to Ivy.
    hand_raise(rig, contact)
    again = rig.cycle()
    assert again.errors == []
    assert [t.to_status for t in again.transitions if t.person_id == person] == ["MQL"]
    rows = rig.assignments(person)
    assert [r.status for r in rows] == [AssignmentStatus.ASSIGNED, AssignmentStatus.RETURNED,
                                        AssignmentStatus.ASSIGNED]
    nxt = rows[-1].owner_email
    assert nxt in INSIDE_SALES and nxt != ivy
    assert (rows[-1].salesforce_owner_id, rows[-1].hubspot_owner_id) == (rig.sf_user[nxt], rig.hs_owner[nxt])
    assert rig.lead(lead)["OwnerId"] == rig.sf_user[nxt]
    assert rig.contact(contact)["hubspot_owner_id"] == rig.hs_owner[nxt]
    clock = max((c for c in rig.clocks_all(person) if c.sla == "mql_accepted"), key=lambda c: c.started_at)
    assert clock.is_open and clock.owner_id == nxt

    echo = rig.cycle()  # the new owner comes back: still an MQL until the new rep accepts it
    assert [t for t in echo.transitions if t.person_id == person] == [] and echo.followup.assigned == 0
    rig.cycle()
    quiet = rig.cycle()
    assert quiet.transitions == [] and all(c["writes"] == 0 for c in quiet.api_calls.values()), quiet.api_calls

    rig.notifier.close(5)
    mine = [(b["event"], b["details"].get("sla"), b["details"].get("owner")) for b in rig.receiver.bodies
            if b["person_id"] == person]
    assert sorted(mine, key=str) == sorted([("mql_handoff", None, ivy), ("sla_breach", "first_touch", ivy),
                                            ("sla_breach", "follow_up", ivy), ("mql_handoff", None, nxt)], key=str)


def test_without_a_pool_the_sweep_says_the_lead_stays_with_its_rep(rig: Rig) -> None:
    rig.cycle()
    lead, contact = prospect(rig)
    rig.cycle()
    hand_raise(rig, contact)
    rig.cycle()
    person = rig.person(lead)
    ivy = INSIDE_SALES[0]
    rig.sandbox.sf.update_record("Lead", lead, {"Status": "Working - Contacted"}, rig.sf_user[ivy])
    rig.settle()
    rig.cycle()
    follow = rig.clocks(person)["follow_up"]
    rig.jump_to(follow.due_at)
    swept = sweep(rig.ledger, rig.ruleset, rig.sandbox.clock.now(), epoch=0, notifier=rig.notifier)
    assert [t.to_status for t in swept.returned_to_pool if t.person_id == person] == ["Recycled"]
    assert any(p.startswith(f"person {person} returned to the pool, but routing.toml has no [pool]")
               for p in swept.problems), swept.problems
    with rig.ledger.reading() as uow:
        assert [i for i in uow.outbox.queued() if i.origin is IntentOrigin.ROUTING] == []
    rig.cycle(minutes_later=1)
    assert rig.lead(lead)["OwnerId"] == rig.sf_user[ivy] and rig.lead(lead)["Status"] == "Working - Contacted"


def test_round_robin_continues_across_engines_over_the_sandbox(rig: Rig) -> None:
    rig.cycle()
    people = [prospect(rig, n) for n in range(1, 5)]
    rig.cycle()
    for _, contact in people[:2]:
        hand_raise(rig, contact)
    rig.cycle()
    for _, contact in people[2:]:
        hand_raise(rig, contact)
    rig.cycle()  # a new engine and new connectors: the rotation comes from the ledger

    owners = [rig.assignments(rig.person(lead))[0].owner_email or "" for lead, _ in people]
    # within a cycle people are routed in the order of their person ids; across cycles the rotation goes on
    assert sorted(owners[:2]) == sorted(INSIDE_SALES[:2])
    assert sorted(owners[2:]) == sorted([INSIDE_SALES[2], INSIDE_SALES[0]])
    assert [rig.lead(lead)["OwnerId"] for lead, _ in people] == [rig.sf_user[o] for o in owners]
    assert [rig.contact(c)["hubspot_owner_id"] for _, c in people] == [rig.hs_owner[o] for o in owners]


def test_the_daemon_gives_the_cycles_and_the_sweep_one_notifier(sandbox_app: Path) -> None:
    settings = load_settings(sandbox_app)
    with contextlib.ExitStack() as resources:
        ledger = resources.enter_context(open_ledger(settings.ledger.url, auto_upgrade=True))
        jobs = default_jobs(settings, ledger, resources)
        notifiers = {job.job.kind: job.job.notifier for job in jobs if isinstance(job.job, NotifyingJob)}
        assert set(notifiers) == {"sync", "sla_sweep", "rescore"}
        [shared] = {id(n) for n in notifiers.values()}
        notifier = notifiers["sync"]
        assert notifier is not None and id(notifier) == shared
