"""The sync engine with the real connectors over HTTPS against the sandbox emulators."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from leadsync.app import sandbox_connectors
from leadsync.config.settings import Settings
from leadsync.connectors.port import CrmConnector
from leadsync.domain.model import Move, System
from leadsync.domain.planner import Target
from leadsync.ledger import Identity, IdentityEventKind, IdentityKind, Ledger, open_ledger
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sandbox.runtime import Sandbox
from leadsync.sync.cycle import CycleReport, EngineConfig, SyncEngine, budget_remaining
from leadsync.sync.state import SyncState, ensure_tables, target_of

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"


@dataclass
class Rig:
    sandbox: Sandbox
    ledger: Ledger
    ruleset: RuleSet
    connectors: list[CrmConnector]
    offset: float = 0.0

    def cycle(self, *, dry_run: bool = False, minutes_later: float = 10) -> CycleReport:
        """Move the server clock on (past the overlap window), then run one cycle at server time.

        The connectors measure server time from the last response's ``Date`` (whole seconds) plus the
        real time elapsed since, so a change made within the last second may fall just after a window's
        end and wait for the next cycle, as it would in a real org. Tests that just made a change wait
        that second out first (``settle``)."""
        self.offset += minutes_later * 60
        self.sandbox.clock.set_offset(self.offset)
        config = EngineConfig.from_settings(Settings(), keep_plans=True)
        engine = SyncEngine(self.ledger, self.ruleset, self.connectors, config, self.sandbox.clock.now)
        return engine.run_once(dry_run=dry_run)

    def settle(self) -> None:
        time.sleep(1.1)

    def connector(self, system: System) -> CrmConnector:
        return next(c for c in self.connectors if c.system is system)

    def person(self, kind: IdentityKind, record_id: str) -> str:
        with self.ledger.reading() as uow:
            found = uow.people.find(Identity(kind, record_id))
        assert found is not None
        return found


@pytest.fixture
def rig(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Rig]:
    ruleset = load_ruleset(MAPPINGS)
    with Sandbox(persons=25, seed=11, rate_limits=False, directory=tmp_path / "sandbox") as sandbox:
        ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", auto_upgrade=True)
        ensure_tables(ledger)
        connectors = sandbox_connectors(Settings(), ruleset, sandbox.env())
        try:
            yield Rig(sandbox, ledger, ruleset, connectors)
        finally:
            ledger.close()


def statuses(rig: Rig) -> dict[Target, str]:
    """The lifecycle status the ledger holds for every writable record's person."""
    out: dict[Target, str] = {}
    with rig.ledger.reading() as uow:
        state = SyncState(uow)
        for person in state.all_people():
            status = uow.transitions.current_status(person)
            for record in state.records_of([person]):
                if record.writable and status is not None:
                    out[target_of(record.ref)] = status
    return out


def held(rig: Rig, system: System, field: str, targets: list[Target]) -> dict[Target, object]:
    found = rig.connector(system).read_current(targets, [field])
    return {t: found.get(t, {}).get(field) for t in targets}


def test_first_sync_brings_both_crms_to_the_ledger_state(rig: Rig) -> None:
    report = rig.cycle()

    assert report.status == "succeeded" and report.outcome.applied > 0
    assert report.errors == [] and report.outcome.failed == 0
    with rig.ledger.reading() as uow:  # `leadsync status` shows what the limiters said was left
        counts = uow.runs.get(report.run_id).counts
    for connector in rig.connectors:
        left = budget_remaining(connector)
        assert left is not None and left > 0
        assert counts[f"budget_remaining.{connector.system.value}"] == left
    expected = statuses(rig)
    for system, field in ((System.SALESFORCE, "Lifecycle_Status__c"), (System.HUBSPOT, "lifecyclestage")):
        [mapping] = [m for m in rig.ruleset.fields.for_value("lifecycle_status") if m.system is system][:1]
        targets = sorted(t for t in expected if t.system is system)
        assert targets
        values = held(rig, system, field, targets)
        assert mapping.values is not None
        assert values == {t: mapping.values[expected[t]] for t in targets}


def test_an_idle_cycle_makes_zero_writes_and_one_read_per_stream(rig: Rig) -> None:
    rig.cycle()
    rig.cycle()  # our writes come back (HubSpot's search index shows them a moment later)
    rig.cycle()
    before = {c.system: dict(c.calls().by_endpoint) for c in rig.connectors}
    idle = rig.cycle()

    assert idle.writes == [] and idle.transitions == [] and idle.pull.people_changed == set()
    for connector in rig.connectors:
        spent = {k: v - before[connector.system].get(k, 0) for k, v in connector.calls().by_endpoint.items()}
        spent = {k: v for k, v in spent.items() if v}
        assert idle.api_calls[connector.system.value]["writes"] == 0
        # One read per stream: HubSpot's archived owners are listed only when an active owner went missing,
        # and its server time comes from the owners page the owners stream uses anyway.
        assert idle.api_calls[connector.system.value]["reads"] == len(connector.streams()), spent
        assert sum(spent.values()) == len(connector.streams())


def test_a_converted_lead_keeps_its_person_and_its_contact_is_written(rig: Rig) -> None:
    rig.cycle()
    lead_id = rig.sandbox.sf.create_record("Lead", {"LastName": "Rivera", "Company": "Nimbus Freight",
                                                    "Email": "m.rivera@nimbusfreight.io", "Title": "Director"})
    rig.settle()
    rig.cycle()
    person = rig.person(IdentityKind.SALESFORCE_LEAD, lead_id)
    result = rig.sandbox.sf.convert_lead(lead_id)
    contact_id = str(result["contactId"])
    rig.settle()
    report = rig.cycle()

    assert rig.person(IdentityKind.SALESFORCE_CONTACT, contact_id) == person
    with rig.ledger.reading() as uow:
        assert IdentityEventKind.LEAD_CONVERSION in [e.kind for e in uow.people.events(person)]
        status = uow.transitions.current_status(person)
    assert any(t.person_id == person for t in report.transitions)
    contact = Target(System.SALESFORCE, "Contact", contact_id)
    assert held(rig, System.SALESFORCE, "Lifecycle_Status__c", [contact]) == {contact: status}


def test_a_crm_user_recycling_a_person_moves_hubspot_backwards_by_clear_then_set(rig: Rig) -> None:
    rig.cycle()
    rig.cycle()
    expected = statuses(rig)
    person_target = next(t for t, s in sorted(expected.items()) if t.system is System.SALESFORCE
                         and t.object == "Lead" and s in ("MQL", "SAL", "SQL"))
    person = rig.person(IdentityKind.SALESFORCE_LEAD, person_target.record_id)
    rig.sandbox.sf.update_record("Lead", person_target.record_id, {"Status": "Nurture"})
    rig.settle()
    report = rig.cycle()

    [recycle] = [t for t in report.transitions if t.person_id == person]
    assert (recycle.move, recycle.to_status) == (Move.RECYCLE, "Recycled")
    hs_targets = [t for t in statuses(rig) if t.system is System.HUBSPOT
                  and rig.person(IdentityKind.HUBSPOT_CONTACT, t.record_id) == person]
    for target in hs_targets:
        [write] = [w for w in report.writes if w.target == target and w.field == "lifecyclestage"]
        assert write.clear_first and write.value == "lead"
        assert held(rig, System.HUBSPOT, "lifecyclestage", [target]) == {target: "lead"}
    assert held(rig, System.SALESFORCE, "Lifecycle_Status__c", [person_target]) == {person_target: "Recycled"}


def test_a_dry_run_against_the_sandbox_changes_nothing(rig: Rig) -> None:
    rig.cycle()
    with rig.ledger.reading() as uow:
        marks_before = uow.watermarks.all()
    lead_id = rig.sandbox.sf.create_record("Lead", {"LastName": "Okafor", "Company": "Delta Grid",
                                                    "Email": "n.okafor@deltagrid.io"})
    rig.settle()
    report = rig.cycle(dry_run=True)

    assert report.status == "planned"
    assert any(w.target.record_id == lead_id for w in report.writes)  # the plan saw the new lead...
    assert all(c["writes"] == 0 for c in report.api_calls.values())
    with rig.ledger.reading() as uow:
        assert uow.watermarks.all() == marks_before
        assert uow.people.find(Identity(IdentityKind.SALESFORCE_LEAD, lead_id)) is None  # ...the ledger did not
    assert held(rig, System.SALESFORCE, "Lifecycle_Status__c",
                [Target(System.SALESFORCE, "Lead", lead_id)])[Target(System.SALESFORCE, "Lead", lead_id)] is None


