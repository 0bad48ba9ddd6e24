"""The APScheduler 3 scheduler: one per process, memory job store, runs logged whatever happens to them.

``coalesce`` folds a backlog of missed runs into one, ``max_instances=1`` keeps a slow cycle from
overlapping the next, and a generous ``misfire_grace_time`` (APScheduler's default of 1 s silently
skips runs after any pause) lets a late run still happen. One worker thread: every job writes the same
ledger, and serialising them keeps SQLite free of write contention and cycles from interleaving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from leadsync.config.settings import ScheduleSettings
from leadsync.daemon.jobs import Job
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.runner import JobRunner
from leadsync.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    job: Job
    trigger: BaseTrigger
    run_at_start: bool = False


def every(seconds: float) -> BaseTrigger:
    return IntervalTrigger(seconds=seconds, timezone=UTC)


def daily_at(hh_mm: str) -> BaseTrigger:
    hours, _, minutes = hh_mm.partition(":")
    return CronTrigger(hour=int(hours), minute=int(minutes), timezone=UTC)


def job_defaults(schedule: ScheduleSettings) -> dict[str, object]:
    return {"coalesce": True, "max_instances": 1, "misfire_grace_time": schedule.misfire_grace_seconds}


def build_scheduler(schedule: ScheduleSettings, jobs: Sequence[ScheduledJob], runner: JobRunner,
                    metrics: DaemonMetrics) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults=job_defaults(schedule),
        timezone=UTC,
    )
    for scheduled in jobs:
        kind = scheduled.job.kind
        extra = {"next_run_time": datetime.now(UTC)} if scheduled.run_at_start else {}
        scheduler.add_job(runner.run, scheduled.trigger, args=[scheduled.job], id=kind, name=kind, **extra)

    def on_event(event: JobEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("scheduled run missed", job=event.job_id, scheduled_for=str(event.scheduled_run_time))
            metrics.missed.labels(job=event.job_id, why="missed").inc()
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("scheduled run skipped: the previous run is still going", job=event.job_id)
            metrics.missed.labels(job=event.job_id, why="still_running").inc()
        elif event.code == EVENT_JOB_ERROR:  # the runner catches everything; this is the last guard
            log.error("job raised past its runner", job=event.job_id, error=repr(getattr(event, "exception", None)))

    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
    return scheduler
