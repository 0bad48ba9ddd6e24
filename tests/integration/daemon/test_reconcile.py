"""Nightly reconciliation repairs drift: against the sandbox emulators over HTTPS, on SQLite and PostgreSQL.

Records are made behind the ledger's back with old modification stamps (as an import or a restore does),
so the incremental pulls never see them; deletes are made between a cycle and the reconciliation.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadsync.app import App
from leadsync.config.settings import DaemonSettings, Settings
from leadsync.daemon.engine_jobs import cycle_job
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.reconcile import reconcile_job
from leadsync.daemon.runner import JobRunner
from leadsync.demo.world import World
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import System
from leadsync.ledger import Ledger, RunStatus, SyncRun
from leadsync.logging import configure_logging
from leadsync.sync.state import StoredRecord, SyncState
from tests.integration.daemon.helpers import FixedLeadership

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
LONG_AGO = datetime.now(UTC) - timedelta(days=40)


@dataclass
class Rig:
    world: World
    app: App
    runner: JobRunner
    epoch: int

    def run(self, job: Any, *, deadline: float = 120) -> RunStatus | None:
        runner = self.runner if deadline == 120 else JobRunner(
            self.app.ledger, self.runner.leadership, DaemonMetrics(), threading.Event(), deadline_seconds=deadline)
        return runner.run(job)

    def cycle(self) -> None:
        assert self.run(cycle_job(self.app, rescore_all=False)) is RunStatus.SUCCEEDED

    def reconcile(self, **daemon: Any) -> RunStatus | None:
        app = self.app
        if daemon:
            settings = app.settings.model_copy(update={"daemon": app.settings.daemon.model_copy(update=daemon)})
            app = dataclasses.replace(app, settings=settings)
        return self.run(reconcile_job(app))

    def last_run(self) -> SyncRun:
        with self.app.ledger.reading() as uow:
            return uow.runs.latest(1)[0]

    def stored(self, system: System, kind: str, record_id: str) -> StoredRecord | None:
        with self.app.ledger.reading() as uow:
            return SyncState(uow).record(RecordRef(system, kind, record_id))

    def dirty(self) -> set[str]:
        with self.app.ledger.reading() as uow:
            return set(SyncState(uow).dirty())

    # ----- behind the ledger's back ---------------------------------------------------------------
    def old_lead(self, email: str) -> str:
        sf = self.world.sandbox.sf
        with sf.lock:
            lead_id = sf.store.ids.new("00Q")
        stamp = LONG_AGO.isoformat()
        sf.load_org({"Lead": [{"Id": lead_id, "FirstName": "Restored", "LastName": "Lead", "Company": "Oldco",
                               "Email": email, "SystemModstamp": stamp, "CreatedDate": stamp,
                               "LastModifiedDate": stamp}]})
        return lead_id

    def old_contact(self, email: str) -> str:
        hs = self.world.sandbox.hs
        with hs.lock:
            contact_id = hs.stores["contacts"].new_id()
        stamp = LONG_AGO.isoformat()
        hs.load_org({"contacts": [{"id": contact_id, "createdAt": stamp, "updatedAt": stamp,
                                   "properties": {"email": email, "firstname": "Imported", "lastname": "Contact"}}]})
        return contact_id

    def live_leads(self, count: int) -> list[str]:
        leads = [str(r["Id"]) for r in self.world.sandbox.sf.records("Lead") if not r.get("IsConverted")]
        known = [i for i in leads if (s := self.stored(System.SALESFORCE, "lead", i)) and not s.deleted]
        assert len(known) >= count
        return known[:count]

    def live_contact(self) -> str:
        hs = self.world.sandbox.hs
        with hs.lock:
            ids = sorted(r for r in hs.stores["contacts"].records)
        return next(i for i in ids if (s := self.stored(System.HUBSPOT, "contact", i)) and not s.deleted)


def crm_writes(rig: Rig) -> tuple[int, int]:
    sf, hs = rig.world.sandbox.sf.counters.snapshot(), rig.world.sandbox.hs.counters.snapshot()
    return sf.get("composite.sobjects", 0), hs.get("contacts.batch_update", 0)


@pytest.fixture
def rig(tmp_path: Path, clean_env: pytest.MonkeyPatch, ledger: Ledger) -> Iterator[Rig]:
    """The demo world's sandbox and connectors over the parametrised ledger (SQLite or PostgreSQL)."""
    (tmp_path / "world").mkdir()
    settings = Settings(daemon=DaemonSettings(mappings_dir=MAPPINGS))
    with World(settings, tmp_path / "world", persons=40, seed=5) as world:
        app = App(world.settings, world.ruleset, ledger, world.app.connectors, clock=world.clock.now)
        leadership = FixedLeadership(ledger)
        leadership.start()
        epoch = leadership.epoch()
        assert epoch is not None
        runner = JobRunner(ledger, leadership, DaemonMetrics(), threading.Event(), deadline_seconds=120)
        rig = Rig(world, app, runner, epoch)
        rig.cycle()  # the backfill
        yield rig


def test_missing_records_are_ingested_orphans_deleted_and_the_next_cycle_writes_the_missing(rig: Rig) -> None:
    lead_id, contact_id = rig.old_lead("restored.lead@example.com"), rig.old_contact("imported@example.com")
    rig.cycle()  # an incremental cycle cannot see them: their stamps are older than its watermarks
    assert rig.stored(System.SALESFORCE, "lead", lead_id) is None
    assert rig.stored(System.HUBSPOT, "contact", contact_id) is None
    [gone_lead] = rig.live_leads(1)
    gone_contact = rig.live_contact()
    rig.world.sandbox.sf.delete_record("Lead", gone_lead)
    rig.world.sandbox.hs.archive_contact(gone_contact)
    writes_before = crm_writes(rig)

    assert rig.reconcile() is RunStatus.SUCCEEDED
    run = rig.last_run()
    assert (run.kind, run.epoch) == ("reconcile", rig.epoch)
    for system in ("salesforce", "hubspot"):
        assert run.counts[f"missing.{system}"] == run.counts[f"repaired_missing.{system}"] == 1
        assert run.counts[f"orphaned.{system}"] == run.counts[f"repaired_orphaned.{system}"] == 1
    assert crm_writes(rig) == writes_before  # the reconciliation itself writes nothing to a CRM

    new_lead = rig.stored(System.SALESFORCE, "lead", lead_id)
    new_contact = rig.stored(System.HUBSPOT, "contact", contact_id)
    assert new_lead is not None and not new_lead.deleted and new_lead.email == "restored.lead@example.com"
    assert new_contact is not None and not new_contact.deleted and new_contact.email == "imported@example.com"
    old_lead, old_contact = rig.stored(System.SALESFORCE, "lead", gone_lead), rig.stored(
        System.HUBSPOT, "contact", gone_contact)
    assert old_lead is not None and old_lead.deleted and old_contact is not None and old_contact.deleted
    assert {new_lead.person_id, new_contact.person_id, old_lead.person_id, old_contact.person_id} <= rig.dirty()

    rig.cycle()  # scores and writes them like any other change
    assert all(after > before for after, before in zip(crm_writes(rig), writes_before, strict=True))
    assert rig.world.sandbox.sf.record("Lead", lead_id)["Lead_Score__c"] is not None  # type: ignore[index]
    assert rig.world.sandbox.hs.contact(contact_id).props.get("leadsync_score")
    assert rig.dirty() == set()

    assert rig.reconcile() is RunStatus.SUCCEEDED  # nothing left to repair
    again = rig.last_run()
    assert again.errors == ()
    assert all(again.counts[f"{side}.{s}"] == 0 for side in ("missing", "orphaned", "repaired_missing",
                                                            "repaired_orphaned") for s in ("salesforce", "hubspot"))


def test_a_failed_or_stopped_listing_repairs_nothing_for_its_system(rig: Rig) -> None:
    lead_id, contact_id = rig.old_lead("restored.lead@example.com"), rig.old_contact("imported@example.com")
    [gone_lead] = rig.live_leads(1)
    rig.world.sandbox.sf.delete_record("Lead", gone_lead)

    assert rig.run(reconcile_job(rig.app), deadline=0) is RunStatus.ABORTED  # stopped after its first page
    stopped = rig.last_run()
    assert "run deadline passed" in stopped.errors[-1]
    assert not [k for k in stopped.counts if k.startswith("repaired")]
    assert rig.stored(System.SALESFORCE, "lead", lead_id) is None
    assert rig.stored(System.HUBSPOT, "contact", contact_id) is None

    sf = rig.world.sandbox.sf
    sf.faults.add(kind="sf_short_page", endpoint="query", params={"size": 5}, times=1)
    sf.faults.add(kind="status", endpoint="query_more", status=400, times=1,
                  body=[{"message": "injected failure", "errorCode": "INVALID_QUERY_FILTER_OPERATOR"}])
    assert rig.reconcile() is RunStatus.FAILED
    failed = rig.last_run()
    assert any(e.startswith("listing salesforce failed, nothing repaired for it") for e in failed.errors)
    assert "repaired_missing.salesforce" not in failed.counts and "orphaned.salesforce" not in failed.counts
    assert rig.stored(System.SALESFORCE, "lead", lead_id) is None
    gone = rig.stored(System.SALESFORCE, "lead", gone_lead)
    assert gone is not None and not gone.deleted
    assert failed.counts["repaired_missing.hubspot"] == 1  # the other system's complete listing is repaired
    assert rig.stored(System.HUBSPOT, "contact", contact_id) is not None

    assert rig.reconcile() is RunStatus.SUCCEEDED  # the fault is spent: the next night repairs Salesforce
    assert rig.last_run().counts["repaired_missing.salesforce"] == rig.last_run().counts[
        "repaired_orphaned.salesforce"] == 1


def test_orphans_over_the_mass_change_guard_are_held_with_an_alert(rig: Rig) -> None:
    gone = rig.live_leads(15)
    for lead in gone:
        rig.world.sandbox.sf.delete_record("Lead", lead)
    gone_contact = rig.live_contact()
    rig.world.sandbox.hs.archive_contact(gone_contact)
    lead_id = rig.old_lead("restored.lead@example.com")
    log = io.StringIO()
    configure_logging("info", "json", stream=log)
    try:
        assert rig.reconcile() is RunStatus.SUCCEEDED
    finally:
        configure_logging("info", "json")
    run = rig.last_run()
    assert run.counts["orphaned.salesforce"] == run.counts["orphans_held.salesforce"] == 15
    assert run.counts["repaired_orphaned.salesforce"] == 0
    assert run.errors[0].startswith("alert: 15 of ") and "max_change_share" in run.errors[0]
    held = [e for e in map(json.loads, log.getvalue().splitlines()) if "held back its orphans" in e["event"]]
    assert held and held[0]["system"] == "salesforce" and held[0]["orphans"] == 15
    assert all((s := rig.stored(System.SALESFORCE, "lead", i)) is not None and not s.deleted for i in gone)
    assert run.counts["repaired_missing.salesforce"] == 1  # additions are not held
    assert rig.stored(System.SALESFORCE, "lead", lead_id) is not None
    assert run.counts["repaired_orphaned.hubspot"] == 1  # one system's alert does not hold the other's
    contact = rig.stored(System.HUBSPOT, "contact", gone_contact)
    assert contact is not None and contact.deleted

    assert rig.reconcile(max_change_share=0.9) is RunStatus.SUCCEEDED  # an operator raised the guard
    assert rig.last_run().counts["repaired_orphaned.salesforce"] == 15


def test_a_record_changed_since_the_listing_began_is_not_an_orphan(rig: Rig) -> None:
    [gone_lead] = rig.live_leads(1)
    rig.world.sandbox.sf.delete_record("Lead", gone_lead)
    ref = RecordRef(System.SALESFORCE, "lead", gone_lead)
    with rig.app.ledger.unit_of_work(epoch=rig.epoch) as uow:  # the ledger's copy is newer than the run
        state = SyncState(uow)
        stored = state.record(ref)
        assert stored is not None
        state.save_record(dataclasses.replace(stored, modstamp=rig.world.clock.now() + timedelta(hours=1)))
    assert rig.reconcile() is RunStatus.SUCCEEDED
    run = rig.last_run()
    assert run.counts["orphaned.salesforce"] == run.counts["orphans_recent.salesforce"] == 1
    assert run.counts["repaired_orphaned.salesforce"] == 0
    kept = rig.stored(System.SALESFORCE, "lead", gone_lead)
    assert kept is not None and not kept.deleted


def test_with_repair_off_the_drift_is_only_reported(rig: Rig) -> None:
    lead_id = rig.old_lead("restored.lead@example.com")
    [gone_lead] = rig.live_leads(1)
    rig.world.sandbox.sf.delete_record("Lead", gone_lead)
    assert rig.reconcile(reconcile_repair=False) is RunStatus.SUCCEEDED
    run = rig.last_run()
    assert run.counts["missing.salesforce"] == run.counts["orphaned.salesforce"] == 1
    assert not [k for k in run.counts if k.startswith("repaired")]
    assert rig.stored(System.SALESFORCE, "lead", lead_id) is None
    kept = rig.stored(System.SALESFORCE, "lead", gone_lead)
    assert kept is not None and not kept.deleted and rig.dirty() == set()
