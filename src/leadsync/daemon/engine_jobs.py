"""The real jobs, on the engine's public API: the sync cycle, the daily rescore, the SLA sweep.

Each run builds a :class:`~leadsync.sync.cycle.SyncEngine` with the leader's epoch (so every ledger write
of the cycle is fenced by it) over connectors wrapped with the run's checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadsync.app import App
from leadsync.connectors.port import CrmConnector
from leadsync.daemon.checkpointed import CheckpointedConnector
from leadsync.daemon.jobs import RESCORE, SLA_SWEEP, SYNC, FunctionJob, JobContext, JobOutcome, RunStopped
from leadsync.notify import Notifier
from leadsync.sla_engine import sweep
from leadsync.sync.cycle import CycleReport, SyncEngine


def budget_remaining(connector: CrmConnector) -> int | None:
    """Calls the connector's daily share still allows, as its limiter last saw it (None: not known yet)."""
    limiter: Any = getattr(getattr(connector, "connection", None), "limiter", None)
    daily: Any = getattr(limiter, "daily", None)
    if daily is None or daily.allowance is None:
        return None
    return max(0, int(daily.allowance) - int(daily.used))


def outcome_of(report: CycleReport, connectors: list[CheckpointedConnector]) -> JobOutcome:
    # The daemon's cycles are streamed (no plans kept): everything comes from the totals.
    totals = report.totals
    outcome = JobOutcome(
        counts={"records": report.pull.records, "transitions": totals.transitions, "writes": totals.writes,
                "queued_sent": report.outcome.queued_sent, "assigned": report.followup.assigned,
                "clocks_started": report.followup.clocks_started, "handoffs": report.followup.handoffs},
        api_calls={system: c["reads"] + c["writes"] for system, c in report.api_calls.items()},
        pulled={c.system.value: c.pulled for c in connectors},
        # records the cycle sent writes to (per-record failures are in errors)
        written=totals.records_written(),
        quarantined=report.outcome.quarantined,
        errors=list(report.errors),
    )
    for connector in connectors:
        remaining = budget_remaining(connector.inner)
        if remaining is not None:
            outcome.budget_remaining[connector.system.value] = remaining
    return outcome


@dataclass(frozen=True)
class NotifyingJob(FunctionJob):
    """A job that sends notifications, with the notifier it sends them through (None: none configured).
    The daemon gives the cycle and the sweep the same one, so one rate limit paces all its webhooks."""

    notifier: Notifier | None = None


def cycle_job(app: App, *, rescore_all: bool, notifier: Notifier | None = None) -> NotifyingJob:
    """The sync (or full rescore) cycle; MQL hand-offs go through ``notifier`` (the app's own, built from
    ``[notifications]``, when none is given; the daemon passes the one its sweep uses)."""
    sender = notifier if notifier is not None else app.notifier()

    def run(ctx: JobContext) -> JobOutcome:
        connectors = [CheckpointedConnector(c, ctx) for c in app.connectors]
        config = app.engine_config(epoch=ctx.epoch)
        engine = SyncEngine(app.ledger, app.ruleset, connectors, config, app.clock, notifier=sender)
        report = engine.run_once(rescore_all=rescore_all)
        outcome = outcome_of(report, connectors)
        if report.status == "guard_tripped":  # nothing was written; an operator must look (the engine logged it)
            raise RunStopped(report.errors[0] if report.errors else "mass-change guard", outcome)
        return outcome

    return NotifyingJob(RESCORE if rescore_all else SYNC, run, records_own_run=True, notifier=sender)


def sla_sweep_job(app: App, notifier: Notifier | None) -> NotifyingJob:
    warned_until: list[Any] = [None]  # the previous sweep's time: warnings before it were sent

    def run(ctx: JobContext) -> JobOutcome:
        result = sweep(app.ledger, app.ruleset, ctx.now(), epoch=ctx.epoch, notifier=notifier,
                       warned_until=warned_until[0], run_id=ctx.run_id)
        warned_until[0] = result.swept_at
        return JobOutcome(counts={
            "breached": len(result.breached), "warned": len(result.warned), "intents": result.intents,
            "returned_to_pool": len(result.returned_to_pool), "notified": result.notified,
        }, errors=list(result.problems))

    return NotifyingJob(SLA_SWEEP, run, notifier=notifier)
