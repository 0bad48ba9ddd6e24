"""The job runner on a real ledger: run records, deadlines, failures, stale epochs."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator

import pytest

from leadsync.daemon.jobs import FunctionJob, JobContext, JobOutcome
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.runner import JobRunner
from leadsync.ledger import Ledger, RunStatus, StaleEpoch, Watermark
from leadsync.logging import configure_logging
from tests.integration.daemon.helpers import FixedLeadership, batch_job


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    yield stream
    configure_logging("info", "json")


def make_runner(ledger: Ledger, *, deadline: float = 60.0) -> tuple[JobRunner, FixedLeadership, DaemonMetrics]:
    leadership = FixedLeadership(ledger)
    leadership.start()
    metrics = DaemonMetrics()
    return JobRunner(ledger, leadership, metrics, threading.Event(), deadline_seconds=deadline), leadership, metrics


def runs(ledger: Ledger) -> list:
    with ledger.reading() as uow:
        return uow.runs.latest(10)


def sample(metrics: DaemonMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_run_is_recorded_with_its_counts_and_epoch(ledger: Ledger) -> None:
    runner, leadership, metrics = make_runner(ledger)
    assert runner.run(batch_job("sync", 3)) is RunStatus.SUCCEEDED
    [run] = runs(ledger)
    assert (run.kind, run.status, run.epoch) == ("sync", RunStatus.SUCCEEDED, leadership.epoch())
    assert run.counts == {"batches": 3, "pulled.salesforce": 30}
    assert run.ended_at is not None and run.errors == ()
    assert sample(metrics, "leadsync_records_pulled_total", system="salesforce") == 30
    assert sample(metrics, "leadsync_job_runs_total", job="sync", outcome="succeeded") == 1


def test_a_failing_job_is_recorded_and_logged_with_its_traceback(ledger: Ledger, json_log: io.StringIO) -> None:
    def explode(ctx: JobContext) -> JobOutcome:
        raise ValueError("the CRM said no")

    runner, _, metrics = make_runner(ledger)
    assert runner.run(FunctionJob("sync", explode)) is RunStatus.FAILED
    [run] = runs(ledger)
    assert run.status is RunStatus.FAILED and run.errors == ("ValueError: the CRM said no",)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [failed] = [line for line in lines if line["event"] == "job failed"]
    assert failed["run_id"] == run.id and failed["job"] == "sync"
    assert "Traceback" in failed["exception"] and "ValueError: the CRM said no" in failed["exception"]
    assert sample(metrics, "leadsync_job_runs_total", job="sync", outcome="failed") == 1
    # The runner survives: the next run goes ahead.
    assert runner.run(batch_job("sync", 1)) is RunStatus.SUCCEEDED


def test_a_run_past_its_deadline_stops_at_the_next_batch_and_keeps_what_it_committed(ledger: Ledger) -> None:
    runner, _, _ = make_runner(ledger, deadline=0.3)
    assert runner.run(batch_job("reconcile", 50, pause=0.1)) is RunStatus.ABORTED
    [run] = runs(ledger)
    assert run.status is RunStatus.ABORTED
    assert run.errors == ("stopped at a batch boundary: run deadline passed",)
    with ledger.reading() as uow:
        mark = uow.watermarks.get("reconcile")
    assert mark is not None and 1 <= int(mark.value) < 50
    assert run.counts["batches"] == int(mark.value)  # the partial outcome matches what was committed


def test_a_stop_request_ends_the_run_at_a_batch_boundary(ledger: Ledger) -> None:
    runner, _, _ = make_runner(ledger)
    started = threading.Event()
    result: list[RunStatus | None] = []
    worker = threading.Thread(target=lambda: result.append(runner.run(batch_job("sync", 1000, pause=0.02,
                                                                                started=started))))
    worker.start()
    assert started.wait(10)
    runner.stop.set()
    assert runner.wait_idle(10)
    worker.join(10)
    assert result == [RunStatus.ABORTED]
    assert runs(ledger)[0].errors == ("stopped at a batch boundary: shutdown requested",)
    assert runner.run(batch_job("sync", 1)) is None  # nothing starts once stopping


def test_a_stale_leader_writes_nothing_and_steps_down(ledger: Ledger) -> None:
    runner, leadership, _ = make_runner(ledger)
    old_epoch = leadership.epoch()
    started, go_on = threading.Event(), threading.Event()

    def slow(ctx: JobContext) -> JobOutcome:
        started.set()
        go_on.wait(10)
        with ctx.ledger.unit_of_work(epoch=ctx.epoch) as uow:
            uow.watermarks.save(Watermark("stale", "1"), ctx.now())
        return JobOutcome()

    worker = threading.Thread(target=runner.run, args=[FunctionJob("sync", slow)])
    worker.start()
    assert started.wait(10)
    FixedLeadership(ledger, "usurper").start()  # another process became leader meanwhile
    go_on.set()
    worker.join(10)
    assert leadership.relinquished and "stale fencing epoch" in leadership.relinquished[0]
    with ledger.reading() as uow:
        assert uow.watermarks.get("stale") is None
        [run] = uow.runs.latest(5)
    assert run.status is RunStatus.RUNNING and run.epoch == old_epoch  # its end could not be written either
    assert runner.run(batch_job("sync", 1)) is None  # no longer leader: no more runs
    with pytest.raises(StaleEpoch), ledger.unit_of_work(epoch=old_epoch) as uow:
        uow.runs.start("sync", run.started_at, epoch=old_epoch)
