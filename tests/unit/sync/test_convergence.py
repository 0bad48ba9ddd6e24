"""Model-based: random CRM edits, write failures and crashes, then quiet: both CRMs converge on what the
ledger decided, and a further cycle writes nothing."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from leadsync.connectors.memory import MemoryConnector, MemoryCrashError
from leadsync.domain.identity import RecordRef
from leadsync.domain.lifecycle import is_legal
from leadsync.domain.model import Activity, CrmFacts, System
from leadsync.ledger import open_ledger
from leadsync.rules.ruleset import load_ruleset
from leadsync.sync.cycle import EngineConfig, SyncEngine
from leadsync.sync.state import SyncState, ensure_tables, target_of

from .conftest import Clock

RULESET = load_ruleset(Path(__file__).resolve().parents[3] / "mappings")
IDS = st.integers(min_value=0, max_value=5)
ACTIVITY = st.sampled_from(["form_fill", "page_view", "email_click", "demo_request", "webinar_attended"])
CRM_STATUS = st.sampled_from([None, "Working - Contacted", "Unqualified", "Nurture", "Qualified"])


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.ledger = open_ledger(f"sqlite:///{self.directory.name}/ledger.db", auto_upgrade=True)
        ensure_tables(self.ledger)
        self.clock = Clock()
        self.sf = MemoryConnector(System.SALESFORCE, self.clock, page_size=2)
        self.hs = MemoryConnector(System.HUBSPOT, self.clock, page_size=2)
        self.config = EngineConfig(overlap={System.SALESFORCE: timedelta(seconds=20), System.HUBSPOT:
                                            timedelta(seconds=20)},
                                   lag_margin={System.SALESFORCE: timedelta(0), System.HUBSPOT: timedelta(0)},
                                   max_change_share=1.0, max_change_min=1000, keep_plans=True)
        self.leads: set[int] = set()
        self.contacts: set[int] = set()
        self.activity_count = 0

    def teardown(self) -> None:
        try:
            self.converge_when_quiet()
        finally:
            self.ledger.close()
            self.directory.cleanup()

    def cycle(self) -> None:
        self.clock.advance(seconds=30)
        SyncEngine(self.ledger, RULESET, [self.sf, self.hs], self.config, self.clock).run_once()

    @rule(n=IDS)
    def add_lead(self, n: int) -> None:
        if n not in self.leads:
            self.sf.add_person("lead", f"00Q{n}", email=f"p{n}@acme-corp.io",
                               fields={"email": f"p{n}@acme-corp.io", "title": "Manager"})
            self.leads.add(n)

    @rule(n=IDS)
    def add_hubspot_contact(self, n: int) -> None:
        if n not in self.contacts:
            self.hs.add_person("contact", f"{100 + n}", email=f"p{n}@acme-corp.io")
            self.contacts.add(n)

    @precondition(lambda self: self.leads or self.contacts)
    @rule(n=IDS, kind=ACTIVITY, in_sf=st.booleans())
    def activity(self, n: int, kind: str, in_sf: bool) -> None:
        pool = self.leads if in_sf and self.leads else self.contacts or self.leads
        who = sorted(pool)[n % len(pool)]
        self.activity_count += 1
        if pool is self.leads:
            activity = Activity(System.SALESFORCE, f"t{self.activity_count}", kind, self.clock.now, {})
            self.sf.add_activity(activity, RecordRef(System.SALESFORCE, "lead", f"00Q{who}"))
        else:
            activity = Activity(System.HUBSPOT, f"e{self.activity_count}", kind, self.clock.now, {})
            self.hs.add_activity(activity, RecordRef(System.HUBSPOT, "contact", f"{100 + who}"))

    @precondition(lambda self: self.leads)
    @rule(n=IDS, status=CRM_STATUS)
    def sales_sets_status(self, n: int, status: str | None) -> None:
        who = sorted(self.leads)[n % len(self.leads)]
        self.sf.edit("lead", f"00Q{who}", facts=CrmFacts(crm_status=status))

    @precondition(lambda self: self.leads)
    @rule(n=IDS, score=st.integers(min_value=0, max_value=500))
    def user_overwrites_our_score(self, n: int, score: int) -> None:
        who = sorted(self.leads)[n % len(self.leads)]
        self.sf.edit("lead", f"00Q{who}", current={"Lead_Score__c": score})

    @precondition(lambda self: self.leads)
    @rule(n=IDS, transient=st.booleans())
    def next_write_fails(self, n: int, transient: bool) -> None:
        who = sorted(self.leads)[n % len(self.leads)]
        self.sf.fail_writes(f"00Q{who}", "UNABLE_TO_LOCK_ROW" if transient else "INVALID_OPTION",
                            transient=transient, times=1)

    @rule()
    def run_cycle(self) -> None:
        self.cycle()

    @rule()
    def crash_mid_pull(self) -> None:
        self.sf.crash_after_pages = 1
        with contextlib.suppress(MemoryCrashError):
            self.cycle()
        self.sf.crash_after_pages = None

    @invariant()
    def every_transition_is_legal(self) -> None:
        with self.ledger.reading() as uow:
            for person in SyncState(uow).all_people():
                history = [r.transition for r in uow.transitions.for_person(person)]
                for before, after in zip([None, *history], history, strict=False):
                    assert after.from_status == (before.to_status if before else None)
                    assert is_legal(after.from_status, after.to_status, after.move, RULESET.lifecycle), after

    def converge_when_quiet(self) -> None:
        if not (self.leads or self.contacts):
            return
        self.sf.clear_failures()
        self.hs.clear_failures()
        saved = self.clock.now
        for _ in range(3):  # pick up the last edits, retries and the echoes of our writes
            self.cycle()
        before = len(self.sf.writes_seen) + len(self.hs.writes_seen)
        self.cycle()
        assert len(self.sf.writes_seen) + len(self.hs.writes_seen) == before, "a quiet cycle wrote"
        with self.ledger.reading() as uow:
            state = SyncState(uow)
            assert state.dirty() == []
            for person in state.all_people():
                status = uow.transitions.current_status(person)
                for record in state.records_of([person]):
                    if not record.writable or status is None:
                        continue
                    target = target_of(record.ref)
                    crm = self.sf if target.system is System.SALESFORCE else self.hs
                    held = crm.record(record.ref.kind, record.ref.record_id).current
                    field = "Lifecycle_Status__c" if target.system is System.SALESFORCE else "lifecyclestage"
                    [mapping] = [m for m in RULESET.fields.outbound(target.system, target.object)
                                 if m.value == "lifecycle_status"]
                    if uow.quarantine.get(target.system, target.object, target.record_id) is None:
                        assert mapping.values is not None
                        assert held.get(field) == mapping.values[status], (target, held, status)
        assert self.clock.now > saved


SyncMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=15, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
TestSyncConvergence = SyncMachine.TestCase
