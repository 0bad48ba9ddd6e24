"""Running one job: a run id on every log line, a run record in the ledger, a deadline, and no failure
that can reach (and kill) the scheduler."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from leadsync.daemon.jobs import Job, JobContext, JobOutcome, RunStopped
from leadsync.daemon.leadership import Leadership
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.ledger import Ledger, LedgerError, RunStatus, StaleEpoch
from leadsync.logging import get_logger, redact_text, start_job

log = get_logger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class JobFailed(Exception):
    """A job that did part of its work and could not do the rest (say, one CRM's listing failed while the
    other's was repaired): the run is recorded as failed *with* what it did. Its errors say why."""

    def __init__(self, reason: str, outcome: JobOutcome) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


class JobRunner:
    """Runs jobs for the scheduler (one at a time per job: the scheduler's ``max_instances=1``)."""

    def __init__(self, ledger: Ledger, leadership: Leadership, metrics: DaemonMetrics, stop: threading.Event, *,
                 deadline_seconds: float, now: Callable[[], datetime] = _utcnow) -> None:
        self.ledger = ledger
        self.leadership = leadership
        self.metrics = metrics
        self.stop = stop
        self.deadline_seconds = deadline_seconds
        self.now = now
        self._active = 0
        self._active_lock = threading.Condition()

    def active_runs(self) -> int:
        with self._active_lock:
            return self._active

    def wait_idle(self, timeout: float) -> bool:
        """True once no run is in progress; False if one still is after ``timeout`` seconds."""
        with self._active_lock:
            return self._active_lock.wait_for(lambda: self._active == 0, timeout=timeout)

    def run(self, job: Job) -> RunStatus | None:
        """Run ``job`` once if this process leads and is not stopping; returns the recorded status."""
        epoch = self.leadership.epoch()
        if epoch is None or self.stop.is_set():
            return None  # standbys keep their schedule idle; the leader's runs are the only ones
        with self._active_lock:
            self._active += 1
        try:
            return self._run(job, epoch)
        finally:
            with self._active_lock:
                self._active -= 1
                self._active_lock.notify_all()

    def _run(self, job: Job, epoch: int) -> RunStatus | None:
        run_id = start_job(job=job.kind)
        started = self.now()
        # The sync engine writes its own run record (with its cycle's counts); others get one from here.
        records_own_run = bool(getattr(job, "records_own_run", False))
        if not records_own_run and not self._record_start(job, run_id, started, epoch):
            return None
        ctx = JobContext(
            run_id=run_id, kind=job.kind, epoch=epoch, ledger=self.ledger, started_at=started,
            deadline=time.monotonic() + self.deadline_seconds, stop=self.stop,
            still_leader=lambda: self.leadership.epoch() == epoch, now=self.now,
        )
        log.info("job started", epoch=epoch, deadline_seconds=self.deadline_seconds)
        status, outcome = self._call(job, ctx)
        if not records_own_run:
            self._record_finish(ctx, status, outcome)
        self.metrics.observe_run(job.kind, status.value, outcome)
        log.info("job finished", status=status.value, counts=outcome.recorded_counts(),
                 api_calls=outcome.api_calls, errors=len(outcome.errors))
        return status

    def _record_start(self, job: Job, run_id: str, started: datetime, epoch: int) -> bool:
        try:
            with self.ledger.unit_of_work(epoch=epoch) as uow:
                uow.runs.start(job.kind, started, epoch=epoch, run_id=run_id)
        except StaleEpoch as exc:
            self.leadership.relinquish(str(exc))
            return False
        except LedgerError as exc:
            log.error("job not started: the ledger refused its run record", error=str(exc))
            self.metrics.observe_run(job.kind, "not_started", None)
            return False
        return True

    def _call(self, job: Job, ctx: JobContext) -> tuple[RunStatus, JobOutcome]:
        try:
            outcome = job(ctx)
        except RunStopped as stopped:
            outcome = stopped.outcome or JobOutcome()
            outcome.errors.append(f"stopped at a batch boundary: {stopped.reason}")
            log.warning("job stopped", reason=stopped.reason)
            return RunStatus.ABORTED, outcome
        except StaleEpoch as exc:
            self.leadership.relinquish(str(exc))
            return RunStatus.ABORTED, JobOutcome(errors=[str(exc)])
        except JobFailed as failed:
            log.error("job failed", reason=failed.reason)
            return RunStatus.FAILED, failed.outcome
        except Exception as exc:
            log.exception("job failed")
            return RunStatus.FAILED, JobOutcome(errors=[redact_text(f"{type(exc).__name__}: {exc}")])
        if ctx.monotonic() > ctx.deadline:
            # It finished, but late: say so, since the deadline is what keeps cycles from piling up.
            log.warning("job finished after its deadline", deadline_seconds=self.deadline_seconds)
        return RunStatus.SUCCEEDED, outcome

    def _record_finish(self, ctx: JobContext, status: RunStatus, outcome: JobOutcome) -> None:
        errors = [redact_text(e) for e in outcome.errors]
        try:
            with self.ledger.unit_of_work(epoch=ctx.epoch) as uow:
                uow.runs.finish(ctx.run_id, status, self.now(), counts=outcome.recorded_counts(),
                                api_calls=outcome.api_calls, errors=errors)
        except StaleEpoch as exc:
            self.leadership.relinquish(str(exc))
        except LedgerError as exc:
            log.error("could not record the end of the run", error=str(exc))
