"""The job context's batch-boundary decisions and how outcomes are recorded."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from leadsync.daemon.jobs import JobContext, JobOutcome, RunStopped


def context(*, now: float = 0.0, deadline: float = 10.0, leader: bool = True) -> JobContext:
    clock = {"now": now}
    # These decisions never touch the ledger; None stands in for it.
    ctx = JobContext(run_id="r1", kind="sync", epoch=3, ledger=None, started_at=datetime(2026, 1, 1, tzinfo=UTC),
                     deadline=deadline, stop=threading.Event(), still_leader=lambda: leader,
                     now=lambda: datetime(2026, 1, 1, tzinfo=UTC), monotonic=lambda: clock["now"])
    return ctx


def test_a_run_carries_on_until_a_reason_to_stop() -> None:
    ctx = context(now=5.0, deadline=10.0)
    ctx.checkpoint()
    assert ctx.stop_reason() is None and ctx.seconds_left() == 5.0


@pytest.mark.parametrize(("ctx_args", "reason"), [
    ({"now": 10.0, "deadline": 10.0}, "run deadline passed"),
    ({"leader": False}, "leadership lost"),
])
def test_deadline_and_lost_leadership_stop_at_the_boundary(ctx_args: dict[str, Any], reason: str) -> None:
    partial = JobOutcome(counts={"batches": 2})
    with pytest.raises(RunStopped) as stopped:
        context(**ctx_args).checkpoint(partial)
    assert stopped.value.reason == reason and stopped.value.outcome is partial


def test_shutdown_wins_over_the_other_reasons() -> None:
    ctx = context(now=99.0, deadline=1.0, leader=False)
    ctx.stop.set()
    assert ctx.stop_reason() == "shutdown requested"


def test_recorded_counts_flatten_per_system_figures() -> None:
    outcome = JobOutcome(counts={"records": 5}, pulled={"salesforce": 3, "hubspot": 2}, written={"hubspot": 1},
                         quarantined=1, budget_remaining={"salesforce": 4900})
    assert outcome.recorded_counts() == {
        "records": 5, "pulled.salesforce": 3, "pulled.hubspot": 2, "written.hubspot": 1,
        "budget_remaining.salesforce": 4900, "quarantined": 1,
    }
