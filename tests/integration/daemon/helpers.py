"""Small real pieces the daemon tests share: a leadership that is simply told its epoch, and fake jobs."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from leadsync.daemon.jobs import FunctionJob, JobContext, JobOutcome
from leadsync.daemon.leadership import Role
from leadsync.ledger import Ledger, Watermark


class FixedLeadership:
    """Leads with the epoch it took from the ledger at start (the real ones add only the lock)."""

    def __init__(self, ledger: Ledger, holder: str = "test") -> None:
        self.ledger = ledger
        self.holder = holder
        self._epoch: int | None = None
        self.relinquished: list[str] = []

    def prepare(self) -> None:
        pass

    def start(self) -> None:
        self._epoch = self.ledger.take_epoch(self.holder, datetime.now(UTC))

    def role(self) -> Role:
        return Role.LEADER if self._epoch is not None else Role.STANDBY

    def epoch(self) -> int | None:
        return self._epoch

    def is_leader(self) -> bool:
        return self._epoch is not None

    def relinquish(self, reason: str) -> None:
        self.relinquished.append(reason)
        self._epoch = None

    def stop(self) -> None:
        self._epoch = None


def batch_job(kind: str, batches: int, *, pause: float = 0.0, started: threading.Event | None = None) -> FunctionJob:
    """Writes one watermark per batch (stream ``<kind>``, value = batch number), fenced by the run's epoch."""

    def run(ctx: JobContext) -> JobOutcome:
        outcome = JobOutcome(counts={"batches": 0}, pulled={"salesforce": 0})
        for n in range(1, batches + 1):
            ctx.checkpoint(outcome)
            with ctx.ledger.unit_of_work(epoch=ctx.epoch) as uow:
                uow.watermarks.save(Watermark(kind, str(n)), ctx.now(), run_id=ctx.run_id)
            outcome.counts["batches"] = n
            outcome.pulled["salesforce"] += 10
            if started is not None:
                started.set()
            time.sleep(pause)
        return outcome

    return FunctionJob(kind, run)
