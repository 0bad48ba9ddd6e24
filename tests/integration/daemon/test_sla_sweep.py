"""The SLA sweep on a real ledger: overdue open clocks are marked breached once, at their due time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from leadsync.daemon import snapshot
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.runner import JobRunner
from leadsync.daemon.sla_sweep import sla_sweep_job
from leadsync.ledger import Ledger, RunStatus
from tests.integration.daemon.helpers import FixedLeadership

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_overdue_clocks_are_breached_once_and_others_left_alone(ledger: Ledger) -> None:
    hour = timedelta(hours=1)
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1", "p2", "p3", "p4"], NOW - 5 * hour)
        uow.sla.start("p1", "mql_follow_up", NOW - 5 * hour, NOW - 2 * hour)
        uow.sla.start("p2", "mql_follow_up", NOW - 5 * hour, NOW - hour)
        uow.sla.start("p3", "mql_follow_up", NOW - hour, NOW + hour)  # not due yet
        uow.sla.start("p4", "mql_follow_up", NOW - 5 * hour, NOW - 3 * hour)
        uow.sla.meet("p4", "mql_follow_up", NOW - 4 * hour)  # met in time
    leadership = FixedLeadership(ledger)
    leadership.start()
    runner = JobRunner(ledger, leadership, DaemonMetrics(), threading.Event(), deadline_seconds=30, now=lambda: NOW)

    assert runner.run(sla_sweep_job()) is RunStatus.SUCCEEDED
    with ledger.reading() as uow:
        breached = {c.person_id: c.breached_at for c in snapshot.open_clocks(uow) if c.breached_at}
        [run] = uow.runs.latest(1)
        assert snapshot.take(uow).open_breaches[0].person_id == "p1"
        assert uow.sla.for_person("p4")[0].breached_at is None
    assert breached == {"p1": NOW - 2 * hour, "p2": NOW - hour}
    assert run.counts == {"overdue": 2, "breached": 2}

    assert runner.run(sla_sweep_job()) is RunStatus.SUCCEEDED  # a second sweep changes nothing
    with ledger.reading() as uow:
        assert uow.runs.latest(1)[0].counts == {"overdue": 0, "breached": 0}
        assert len(snapshot.take(uow).open_breaches) == 2
