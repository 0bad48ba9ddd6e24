"""The real APScheduler scheduler with the runner: defaults, runs, and runs skipped while one is going."""

from __future__ import annotations

import threading
import time

from leadsync.config.settings import ScheduleSettings
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.runner import JobRunner
from leadsync.daemon.scheduler import ScheduledJob, build_scheduler, daily_at, every
from leadsync.ledger import Ledger, RunStatus
from tests.integration.daemon.helpers import FixedLeadership, batch_job


def test_jobs_get_the_safe_defaults_and_a_busy_job_is_not_run_twice(sqlite_ledger: Ledger) -> None:
    schedule = ScheduleSettings(misfire_grace_seconds=123)
    leadership = FixedLeadership(sqlite_ledger)
    leadership.start()
    metrics = DaemonMetrics()
    runner = JobRunner(sqlite_ledger, leadership, metrics, threading.Event(), deadline_seconds=30)
    slow = ScheduledJob(batch_job("sync", 10, pause=0.1), every(0.2), run_at_start=True)
    nightly = ScheduledJob(batch_job("reconcile", 1), daily_at("02:00"))
    scheduler = build_scheduler(schedule, [slow, nightly], runner, metrics)
    scheduler.start(paused=True)  # the defaults are applied to jobs when the scheduler starts
    try:
        jobs = scheduler.get_jobs()
        assert {job.id for job in jobs} == {"sync", "reconcile"}
        assert {(job.coalesce, job.max_instances, job.misfire_grace_time) for job in jobs} == {(True, 1, 123)}
        scheduler.resume()
        time.sleep(2.5)
    finally:
        scheduler.shutdown(wait=True)
    recorded = [r for r in uow_runs(sqlite_ledger) if r.kind == "sync"]
    assert 1 <= len(recorded) <= 3  # each run takes ~1s; the 0.2s ticks in between were skipped
    assert {r.status for r in recorded} == {RunStatus.SUCCEEDED}
    skipped = metrics.registry.get_sample_value("leadsync_job_runs_missed_total", {"job": "sync",
                                                                                   "why": "still_running"})
    assert skipped is not None and skipped >= 3
    assert not [r for r in uow_runs(sqlite_ledger) if r.kind == "reconcile"]  # not due until 02:00


def uow_runs(ledger: Ledger) -> list:
    with ledger.reading() as uow:
        return uow.runs.latest(50)


def test_a_run_later_than_the_misfire_grace_time_is_logged_and_counted_as_missed(sqlite_ledger: Ledger) -> None:
    leadership = FixedLeadership(sqlite_ledger)
    leadership.start()
    metrics = DaemonMetrics()
    runner = JobRunner(sqlite_ledger, leadership, metrics, threading.Event(), deadline_seconds=30)
    hourly = ScheduledJob(batch_job("rescore", 1), every(3600), run_at_start=True)
    scheduler = build_scheduler(ScheduleSettings(misfire_grace_seconds=1), [hourly], runner, metrics)
    scheduler.start(paused=True)  # a process frozen past the due time (suspended VM, long GC pause)
    try:
        time.sleep(2.2)
        scheduler.resume()
        time.sleep(0.5)
    finally:
        scheduler.shutdown(wait=True)
    assert metrics.registry.get_sample_value("leadsync_job_runs_missed_total", {"job": "rescore", "why": "missed"}) == 1
    assert [r for r in uow_runs(sqlite_ledger) if r.kind == "rescore"] == []
