"""The SLA sweep: open clocks whose due time has passed are marked breached (once each).

Clocks are started, met and stopped by the sync cycle as people move; between cycles only the clock
moves, so this job is what turns "due 14:00" into "breached" at 14:00 and not at the next change.
Breaches are marked in batches, each its own fenced unit of work, with a checkpoint between them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leadsync.daemon.jobs import SLA_SWEEP, FunctionJob, JobContext, JobOutcome

BATCH = 500
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def sweep(ctx: JobContext, *, batch: int = BATCH) -> JobOutcome:
    now = ctx.now()
    with ctx.ledger.reading() as uow:
        overdue = [c for c in uow.reports.open_clocks_due(_BEGINNING, now) if c.breached_at is None]
    outcome = JobOutcome(counts={"overdue": len(overdue), "breached": 0})
    for start in range(0, len(overdue), batch):
        ctx.checkpoint(outcome)
        with ctx.ledger.unit_of_work(epoch=ctx.epoch) as uow:
            # mark_breached is a no-op for a clock met or breached since we read it: the count stays true.
            marked = sum(uow.sla.mark_breached(c.id, c.due_at) for c in overdue[start:start + batch])
        outcome.counts["breached"] += marked
    return outcome


def sla_sweep_job() -> FunctionJob:
    return FunctionJob(SLA_SWEEP, sweep)
