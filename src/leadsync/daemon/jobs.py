"""The job protocol: what the daemon schedules, and what every run of a job gets and gives back.

A job is a plain callable taking a :class:`JobContext` and returning a :class:`JobOutcome`. It works in
batches, each committed in its own fenced unit of work (``ctx.ledger.unit_of_work(epoch=ctx.epoch)``),
and calls :meth:`JobContext.checkpoint` between batches: that is where a shutdown, a run past its
deadline or a lost leadership stops it, so the ledger only ever holds whole batches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from leadsync.ledger import Ledger

MonotonicClock = Callable[[], float]
WallClock = Callable[[], datetime]


class RunStopped(Exception):
    """Raised at a batch boundary: the run must end now (``reason`` says why); committed batches stay."""

    def __init__(self, reason: str, outcome: JobOutcome | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


@dataclass
class JobOutcome:
    """What one run did. ``pulled``/``written`` are records per system; ``budget_remaining`` is the API
    calls each system still allows today (as the connectors' limiters last saw it)."""

    counts: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    pulled: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    budget_remaining: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def recorded_counts(self) -> dict[str, int]:
        """The counts as the run record stores them: flat names, per-system figures prefixed."""
        flat = dict(self.counts)
        for prefix, per_system in (("pulled", self.pulled), ("written", self.written),
                                   ("budget_remaining", self.budget_remaining)):
            flat.update({f"{prefix}.{system}": n for system, n in per_system.items()})
        if self.quarantined:
            flat["quarantined"] = self.quarantined
        return flat


@dataclass
class JobContext:
    """Everything one run of a job may use. ``deadline`` is on the monotonic clock."""

    run_id: str
    kind: str
    epoch: int
    ledger: Ledger
    started_at: datetime
    deadline: float
    stop: threading.Event
    still_leader: Callable[[], bool]
    now: WallClock
    monotonic: MonotonicClock = time.monotonic

    def stop_reason(self) -> str | None:
        """Why the run should end at this batch boundary, or None to carry on."""
        if self.stop.is_set():
            return "shutdown requested"
        if not self.still_leader():
            return "leadership lost"
        if self.monotonic() >= self.deadline:
            return "run deadline passed"
        return None

    def checkpoint(self, outcome: JobOutcome | None = None) -> None:
        """Call between batches: raises :class:`RunStopped` (carrying the partial outcome) if the run
        must end."""
        reason = self.stop_reason()
        if reason is not None:
            raise RunStopped(reason, outcome)

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - self.monotonic())


class Job(Protocol):
    """A schedulable job. ``kind`` names it in run records, logs and metrics (``sync``, ``sla_sweep``...)."""

    @property
    def kind(self) -> str: ...

    def __call__(self, ctx: JobContext) -> JobOutcome: ...


@dataclass(frozen=True)
class FunctionJob:
    """A job made of a kind and a function (what the wiring and tests build most jobs from).
    ``records_own_run``: the function writes its own sync-run record (the sync engine does), so the
    runner does not add a second one."""

    kind: str
    run: Callable[[JobContext], JobOutcome]
    records_own_run: bool = False

    def __call__(self, ctx: JobContext) -> JobOutcome:
        return self.run(ctx)


def merge_counts(into: dict[str, int], more: Mapping[str, int]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0) + value


# The job kinds the daemon schedules; run records and metrics use these names.
SYNC = "sync"
SLA_SWEEP = "sla_sweep"
RESCORE = "rescore"
RECONCILE = "reconcile"
