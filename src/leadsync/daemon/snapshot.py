"""What the ledger says about the service's health: shared by ``/readyz``, ``/metrics`` and ``status``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from leadsync.daemon.jobs import RESCORE, SYNC
from leadsync.ledger import RunStatus, SlaClock, SyncRun, UnitOfWork

# open_clocks_due takes a window; these bounds cover every clock a ledger can hold.
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_END = datetime(9999, 1, 1, tzinfo=UTC)
RECENT_RUNS = 50


@dataclass(frozen=True)
class LedgerSnapshot:
    runs: list[SyncRun]
    last_good_cycle: datetime | None
    quarantined: int
    open_breaches: list[SlaClock]


def last_good_cycle(runs: list[SyncRun]) -> datetime | None:
    ends = [r.ended_at for r in runs if r.kind in (SYNC, RESCORE) and r.status is RunStatus.SUCCEEDED and r.ended_at]
    return max(ends, default=None)


def open_clocks(uow: UnitOfWork) -> list[SlaClock]:
    return uow.reports.open_clocks_due(_BEGINNING, _END)


def take(uow: UnitOfWork, *, quarantine_limit: int = 100_000) -> LedgerSnapshot:
    runs = uow.runs.latest(RECENT_RUNS)
    breaches = [c for c in open_clocks(uow) if c.breached_at is not None]
    return LedgerSnapshot(runs, last_good_cycle(runs), len(uow.quarantine.held(limit=quarantine_limit)), breaches)
