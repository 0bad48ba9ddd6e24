"""The jobs ``leadsync run`` schedules, built from the settings through the one composition root."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from leadsync.app import App, AppError, build_app
from leadsync.config.settings import Settings
from leadsync.connectors.errors import ConnectorError
from leadsync.daemon.engine_jobs import cycle_job, sla_sweep_job
from leadsync.daemon.jobs import FunctionJob, JobContext, JobOutcome
from leadsync.daemon.reconcile import reconcile_job
from leadsync.daemon.scheduler import ScheduledJob, daily_at, every
from leadsync.daemon.service import DaemonError
from leadsync.ledger import Ledger, RunStatus
from leadsync.sync.preflight import PreflightFailed

DEAD_LETTERS = "leadsync-notifications.dead.jsonl"


def dead_letter_path(settings: Settings) -> Path:
    """Undeliverable notifications are kept next to the config file (the working directory without one)."""
    base = settings.source_path.resolve().parent if settings.source_path else Path.cwd()
    return base / DEAD_LETTERS


def default_jobs(settings: Settings, ledger: Ledger, resources: contextlib.ExitStack) -> Sequence[ScheduledJob]:
    """Sync every interval (first one at start), SLA sweep, daily rescore, nightly reconciliation."""
    try:
        app = resources.enter_context(build_app(settings))
        app.gate.require(app.ruleset, app.connectors)  # fail fast, before anything is scheduled
    except (AppError, PreflightFailed) as exc:
        raise DaemonError(str(exc)) from None
    except ConnectorError as exc:
        raise DaemonError(f"preflight could not reach the CRM: {exc}") from None
    # One notifier for the whole daemon (the app's, closed with it): the cycles' MQL hand-offs and the
    # sweep's SLA warnings and breaches share its queue, its rate limit and its dead letters.
    notifier = app.notifier()
    schedule = settings.schedule
    return [
        ScheduledJob(preflighted(app, cycle_job(app, rescore_all=False, notifier=notifier)),
                     every(schedule.sync_interval_seconds), run_at_start=True),
        ScheduledJob(sla_sweep_job(app, notifier), every(schedule.sla_sweep_interval_seconds)),
        ScheduledJob(preflighted(app, cycle_job(app, rescore_all=True, notifier=notifier)),
                     daily_at(schedule.rescore_at)),
        ScheduledJob(reconcile_job(app), daily_at(schedule.reconcile_at)),
    ]


def preflighted(app: App, job: FunctionJob) -> FunctionJob:
    """The cycle job behind the preflight gate (a pass is reused for an hour per rule-set version). An org
    changed under the running daemon fails the run with every mapping line in its run record; the daemon
    stays up for health and metrics and checks again next cycle."""
    def run(ctx: JobContext) -> JobOutcome:
        try:
            app.gate.require(app.ruleset, app.connectors)
        except PreflightFailed as exc:
            # The engine writes the sync job's run record, and it never started: write the failed one here.
            with ctx.ledger.unit_of_work(epoch=ctx.epoch) as uow:
                uow.runs.start(job.kind, ctx.started_at, epoch=ctx.epoch, run_id=ctx.run_id)
                uow.runs.finish(ctx.run_id, RunStatus.FAILED, ctx.now(), errors=exc.lines[:100])
            raise
        return job.run(ctx)

    return dataclasses.replace(job, run=run)
