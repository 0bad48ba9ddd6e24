"""The real jobs on the real engine, against the sandbox emulators over HTTPS and a SQLite ledger."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from leadsync.config.settings import DaemonSettings, Settings
from leadsync.daemon.engine_jobs import cycle_job, sla_sweep_job
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.reconcile import reconcile_job
from leadsync.daemon.runner import JobRunner
from leadsync.demo.world import World
from leadsync.ledger import RunStatus, SyncRun
from leadsync.logging import configure_logging
from tests.integration.daemon.helpers import FixedLeadership

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"


@pytest.fixture
def world(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[World]:
    settings = Settings(daemon=DaemonSettings(mappings_dir=MAPPINGS))
    with World(settings, tmp_path, persons=40, seed=5) as opened:
        yield opened


def runner_for(world: World, *, deadline: float = 120) -> tuple[JobRunner, DaemonMetrics, int]:
    leadership = FixedLeadership(world.app.ledger)
    leadership.start()
    metrics = DaemonMetrics()
    runner = JobRunner(world.app.ledger, leadership, metrics, threading.Event(), deadline_seconds=deadline)
    epoch = leadership.epoch()
    assert epoch is not None
    return runner, metrics, epoch


def runs(world: World) -> list[SyncRun]:
    with world.app.ledger.reading() as uow:
        return uow.runs.latest(50)


def test_the_sync_job_runs_a_fenced_cycle_recorded_once_with_metrics(world: World) -> None:
    runner, metrics, epoch = runner_for(world)
    log = io.StringIO()
    configure_logging("info", "json", stream=log)  # not a terminal: the backfill's progress is two lines each
    try:
        assert runner.run(cycle_job(world.app, rescore_all=False)) is RunStatus.SUCCEEDED
        backfill_log = [json.loads(line) for line in log.getvalue().splitlines()]
        assert runner.run(cycle_job(world.app, rescore_all=False)) is RunStatus.SUCCEEDED
        later_log = [json.loads(line) for line in log.getvalue().splitlines()][len(backfill_log):]
    finally:
        configure_logging("info", "json")
    done = {e["operation"]: e["count"] for e in backfill_log if e["event"] == "done" and "operation" in e}
    assert done["backfill salesforce Lead"] > 0 and done["backfill hubspot contacts"] > 0
    assert not [e for e in later_log if e["event"] == "done" and "operation" in e]  # incremental pulls are quiet
    assert [r.status for r in runs(world)] == [RunStatus.SUCCEEDED] * 2
    run = runs(world)[1]  # the backfill: the engine's own record; the runner adds none
    assert (run.kind, run.status, run.epoch) == ("sync", RunStatus.SUCCEEDED, epoch)
    assert run.counts["records"] > 0
    for system in ("salesforce", "hubspot"):
        assert metrics.registry.get_sample_value("leadsync_records_pulled_total", {"system": system}) > 0
        assert metrics.registry.get_sample_value("leadsync_api_budget_remaining", {"system": system}) > 0
    assert metrics.registry.get_sample_value("leadsync_records_written_total", {"system": "salesforce"}) > 0


def test_a_cycle_past_its_deadline_stops_at_a_page_boundary_and_the_next_one_resumes(world: World) -> None:
    late, metrics, _ = runner_for(world, deadline=0)
    assert late.run(cycle_job(world.app, rescore_all=False)) is RunStatus.ABORTED
    [stopped] = runs(world)
    assert stopped.status is RunStatus.ABORTED and "run deadline passed" in stopped.errors[0]
    assert metrics.registry.get_sample_value("leadsync_job_runs_total", {"job": "sync", "outcome": "aborted"}) == 1
    with world.app.ledger.reading() as uow:
        assert uow.watermarks.all() == []  # stopped before the first page: nothing half-written
    on_time, _, _ = runner_for(world)
    assert on_time.run(cycle_job(world.app, rescore_all=False)) is RunStatus.SUCCEEDED


def test_reconciliation_reports_drift_between_the_crms_and_the_ledger(world: World) -> None:
    runner, _, _ = runner_for(world)
    assert runner.run(cycle_job(world.app, rescore_all=False)) is RunStatus.SUCCEEDED
    assert runner.run(reconcile_job(world.app)) is RunStatus.SUCCEEDED
    clean = runs(world)[0]
    assert clean.kind == "reconcile" and clean.errors == ()
    assert clean.counts["crm.salesforce"] == clean.counts["ledger.salesforce"] > 0
    assert clean.counts["crm.hubspot"] == clean.counts["ledger.hubspot"] > 0
    assert clean.counts["missing.salesforce"] == clean.counts["orphaned.hubspot"] == 0

    lead = next(r for r in world.sandbox.sf.records("Lead") if not r.get("IsConverted"))
    world.sandbox.sf.delete_record("Lead", str(lead["Id"]))  # a delete the incremental feed has not shown yet
    contact = world.sandbox.hs.create_contact({"email": "late.arrival@example.com"})
    assert runner.run(reconcile_job(world.app)) is RunStatus.SUCCEEDED
    drift = runs(world)[0]
    assert drift.counts["orphaned.salesforce"] == 1 and drift.counts["missing.hubspot"] == 1
    assert drift.counts["missing.salesforce"] == drift.counts["orphaned.hubspot"] == 0
    assert f"missing from the ledger: hubspot contact {contact}" in drift.errors
    assert any(str(lead["Id"]) in e and e.startswith("gone from the CRM") for e in drift.errors)


def test_a_cycle_stopped_by_the_mass_change_guard_counts_as_aborted(world: World) -> None:
    runner, metrics, _ = runner_for(world)
    assert runner.run(cycle_job(world.app, rescore_all=False)) is RunStatus.SUCCEEDED
    leads = [str(r["Id"]) for r in world.sandbox.sf.records("Lead") if not r.get("IsConverted")]
    world.sandbox.sf.touch_records("Lead", leads, {"Status": "Unqualified"})  # someone's bad bulk edit
    assert runner.run(cycle_job(world.app, rescore_all=False)) is RunStatus.ABORTED
    guarded = runs(world)[0]
    assert guarded.status is RunStatus.ABORTED and guarded.errors[0].startswith("mass-change guard")
    assert metrics.registry.get_sample_value("leadsync_job_runs_total", {"job": "sync", "outcome": "aborted"}) == 1


def test_the_sla_sweep_job_records_breaches_and_queues_the_breach_flag(world: World) -> None:
    runner, _, epoch = runner_for(world)
    assert runner.run(cycle_job(world.app, rescore_all=False)) is RunStatus.SUCCEEDED
    person = next(p for p in world.people() if p.sf_lead and p.hs_contact)
    now = world.clock.now()
    with world.app.ledger.unit_of_work(epoch=epoch) as uow:
        uow.sla.start(person.person_id, "mql_accepted", now - timedelta(days=3), now - timedelta(days=1))
    assert runner.run(sla_sweep_job(world.app, None)) is RunStatus.SUCCEEDED
    swept = runs(world)[0]
    assert swept.kind == "sla_sweep" and swept.counts["breached"] == 1 and swept.epoch == epoch
    with world.app.ledger.reading() as uow:
        [clock] = uow.sla.for_person(person.person_id)
    assert clock.breached_at is not None
    assert runner.run(sla_sweep_job(world.app, None)) is RunStatus.SUCCEEDED
    assert runs(world)[0].counts["breached"] == 0  # a breach is recorded once
