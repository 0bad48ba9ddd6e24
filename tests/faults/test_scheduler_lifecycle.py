"""Reliability test 10: scheduler lifecycle. Most of it is proven by the daemon's tests, not repeated:
- a missed job runs once (coalesce, max_instances=1, misfire grace):
  tests/integration/daemon/test_scheduler.py::test_jobs_get_the_safe_defaults_and_a_busy_job_is_not_run_twice;
- a run past its deadline stops at a page boundary and the next resumes from committed state:
  tests/integration/daemon/test_engine_jobs.py::test_a_cycle_past_its_deadline_stops_at_a_page_boundary_and_the_next_one_resumes
  and tests/integration/daemon/test_runner.py::
  test_a_run_past_its_deadline_stops_at_the_next_batch_and_keeps_what_it_committed;
- SIGTERM mid-run, shutdown within its deadline:
  tests/e2e/test_daemon.py::test_the_daemon_serves_health_runs_cycles_and_stops_cleanly_on_sigterm and
  tests/e2e/test_daemon.py::test_a_job_that_overruns_the_shutdown_deadline_exits_non_zero_with_a_clear_message.

Added here: a hung HTTP call (the emulator holds its answer far past the client's timeout) dies at the
call's deadline instead of hanging the cycle; a hung read is retried to the undisturbed end state, hung
writes (committed, never answered) end as failed results that the next cycle settles by reading."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leadsync.app import sandbox_connectors
from leadsync.config.settings import Settings

from .harness import (
    RULESET,
    ReferenceRun,
    Rig,
    assert_no_write_of_a_held_value,
    assert_nothing_sent_twice,
    assert_same_outcome,
    assert_transitions_legal,
    rig,
)

PERSONS = 12
CALL_TIMEOUT = 1.0
HANG = 6.0  # seconds the emulator sits on its answer: far past the call timeout
GIVE_UP = 120.0  # only a hang detector: a healthy cycle here takes a few seconds


def short_timeouts(target: Rig) -> None:
    base = Settings()
    settings = base.model_copy(update={
        "salesforce": base.salesforce.model_copy(update={"timeout_seconds": CALL_TIMEOUT}),
        "hubspot": base.hubspot.model_copy(update={"timeout_seconds": CALL_TIMEOUT}),
    })
    target.connectors = sandbox_connectors(settings, RULESET, target.sandbox.env())


def finishes(action: Callable[[], Any]) -> Any:
    """Run ``action`` in a thread; fail (instead of hanging the suite) if it never returns."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(action())
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(GIVE_UP)
    assert not worker.is_alive(), "the cycle hung on a call that should have died at its timeout"
    if errors:
        raise errors[0]
    return result[0]


def test_a_hung_read_dies_at_its_timeout_and_the_retry_reaches_the_undisturbed_state(
        tmp_path: Path, ledger_url: str, reference: ReferenceRun) -> None:
    expected, _ = reference(PERSONS, 7)
    with rig(tmp_path / "hung-read", ledger_url=ledger_url, persons=PERSONS, seed=7) as target:
        short_timeouts(target)
        hung = target.sandbox.sf.faults.add(kind="delay", endpoint="query", seconds=HANG, times=1, after=2)
        hs_hung = target.sandbox.hs.faults.add(kind="delay", endpoint="contacts.search", seconds=HANG, times=1)
        finishes(target.run_until_quiet)

        assert hung.fired == 1 and hs_hung.fired == 1
        assert_same_outcome(target.outcome(), expected)
        assert_nothing_sent_twice(target)
        assert_transitions_legal(target)


def test_hung_writes_end_as_failed_results_not_a_hung_cycle_and_the_next_cycle_settles_them(
        tmp_path: Path, ledger_url: str, reference: ReferenceRun) -> None:
    expected, _ = reference(PERSONS, 7)
    with rig(tmp_path / "hung-write", ledger_url=ledger_url, persons=PERSONS, seed=7) as target:
        short_timeouts(target)
        target.sandbox.hs.faults.add(kind="delay", endpoint="contacts.batch_update", seconds=HANG, times=None)
        first = finishes(target.cycle)
        # The emulator commits, then hangs: the timed-out writes are not re-sent but read back, found
        # committed, and recorded as applied (reliability.md #9), in a cycle that still ends.
        assert first.outcome.failed == 0 and first.outcome.applied > 0 and first.status == "succeeded"
        target.sandbox.hs.faults.clear()
        before = target.outcome()
        later = finishes(target.run_until_quiet)

        assert_no_write_of_a_held_value(later, before)
        assert_same_outcome(target.outcome(), expected)
        assert_transitions_legal(target)
