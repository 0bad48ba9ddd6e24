"""The jobs ``leadsync run`` schedules, built from the settings through the one composition root."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from leadsync.app import AppError, build_app
from leadsync.config.settings import Settings
from leadsync.daemon.engine_jobs import cycle_job, sla_sweep_job
from leadsync.daemon.reconcile import reconcile_job
from leadsync.daemon.scheduler import ScheduledJob, daily_at, every
from leadsync.daemon.service import DaemonError
from leadsync.ledger import Ledger
from leadsync.notify import notifier_from_settings

DEAD_LETTERS = "leadsync-notifications.dead.jsonl"


def dead_letter_path(settings: Settings) -> Path:
    """Undeliverable notifications are kept next to the config file (the working directory without one)."""
    base = settings.source_path.resolve().parent if settings.source_path else Path.cwd()
    return base / DEAD_LETTERS


def default_jobs(settings: Settings, ledger: Ledger, resources: contextlib.ExitStack) -> Sequence[ScheduledJob]:
    """Sync every interval (first one at start), SLA sweep, daily rescore, nightly reconciliation."""
    try:
        app = resources.enter_context(build_app(settings))
    except AppError as exc:
        raise DaemonError(str(exc)) from None
    notifier = notifier_from_settings(settings.notifications, dead_letter_path(settings))
    if notifier is not None:
        resources.callback(notifier.close)
    schedule = settings.schedule
    return [
        ScheduledJob(cycle_job(app, rescore_all=False), every(schedule.sync_interval_seconds), run_at_start=True),
        ScheduledJob(sla_sweep_job(app, notifier), every(schedule.sla_sweep_interval_seconds)),
        ScheduledJob(cycle_job(app, rescore_all=True), daily_at(schedule.rescore_at)),
        ScheduledJob(reconcile_job(app), daily_at(schedule.reconcile_at)),
    ]
