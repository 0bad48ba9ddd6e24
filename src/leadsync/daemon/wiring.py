"""The jobs ``leadsync run`` schedules, built from the settings and the engine's public API."""

from __future__ import annotations

from collections.abc import Sequence

from leadsync.config.settings import Settings
from leadsync.daemon.scheduler import ScheduledJob, daily_at, every
from leadsync.daemon.sla_sweep import sla_sweep_job
from leadsync.ledger import Ledger


def default_jobs(settings: Settings, ledger: Ledger) -> Sequence[ScheduledJob]:
    schedule = settings.schedule
    return [
        ScheduledJob(sla_sweep_job(), every(schedule.sla_sweep_interval_seconds), run_at_start=True),
    ]


__all__ = ["daily_at", "default_jobs"]
