"""Reliability test 9: split brain. Two writers on one ledger; exactly one may write.

The daemon-level halves are proven by the daemon's own end-to-end tests, not repeated here:
- tests/e2e/test_daemon.py::test_two_daemons_on_postgresql_one_leads_and_the_other_takes_over_after_sigkill
  (advisory lock, failover, one leader at a time);
- tests/e2e/test_daemon.py::test_a_paused_leader_that_wakes_after_a_failover_writes_nothing (SIGSTOP the
  leader, cut its lock connection, fail over, resume: the stale leader steps down and writes nothing);
- tests/integration/daemon/test_runner.py::test_a_stale_leader_writes_nothing_and_steps_down.

Here, at engine level, on SQLite and PostgreSQL: a sync engine whose fencing epoch went stale (another
leader took over before it started, while it pulled, or after its API writes) commits nothing, sends no
CRM write once the takeover is visible, and the new leader ends exactly where a single writer would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leadsync.ledger import StaleEpoch
from leadsync.sync import apply as applying
from leadsync.sync import cycle

from .harness import Outcome, Rig, assert_not_written_twice, assert_same_outcome, assert_transitions_legal, rig

PERSONS = 4
Takeover = Callable[[Rig, pytest.MonkeyPatch], None]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared-ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def some_sales_work(target: Rig) -> None:
    leads = sorted(str(r["Id"]) for r in target.sandbox.sf.records("Lead") if not r.get("IsConverted"))
    target.sandbox.sf.update_record("Lead", leads[0], {"Status": "Working - Contacted", "Title": "CTO"})
    target.settle()


def take_over(target: Rig) -> int:
    return target.ledger.take_epoch("replica-b", datetime.now(UTC))


def before_the_cycle(target: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    take_over(target)


def after_the_pull(target: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between planning and recording the intents (the guard runs there, outside any transaction)."""
    original = cycle.mass_change_guard

    def taken_over_first(*args: Any, **kwargs: Any) -> Any:
        take_over(target)
        return original(*args, **kwargs)

    monkeypatch.setattr(cycle, "mass_change_guard", taken_over_first)


def after_the_writes(target: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    original = applying.call_connectors

    def written_then_taken_over(*args: object, **kwargs: object) -> object:
        results = original(*args, **kwargs)  # type: ignore[arg-type]
        take_over(target)
        return results

    monkeypatch.setattr(applying, "call_connectors", written_then_taken_over)


def single_writer(directory: Path) -> Outcome:
    with rig(directory, persons=PERSONS, seed=17) as target:
        target.run_until_quiet()
        some_sales_work(target)
        target.run_until_quiet()
        return target.outcome()


@pytest.mark.parametrize("takeover", [before_the_cycle, after_the_pull, after_the_writes],
                         ids=["before-the-cycle", "after-the-pull", "after-the-writes"])
def test_a_stale_engine_commits_nothing_and_the_new_leader_ends_as_a_single_writer(
        takeover: Takeover, shared_ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = single_writer(tmp_path / "reference")
    with rig(tmp_path / "split", ledger_url=shared_ledger, persons=PERSONS, seed=17) as target:
        epoch_a = target.ledger.take_epoch("replica-a", datetime.now(UTC))
        while target.cycle(epoch=epoch_a).writes:
            pass
        some_sales_work(target)
        with target.ledger.reading() as uow:
            marks, history = uow.watermarks.all(), target.outcome().transitions
        calls_before = target.write_calls()

        takeover(target, monkeypatch)
        with pytest.raises(StaleEpoch):
            target.cycle(epoch=epoch_a)
        monkeypatch.undo()

        with target.ledger.reading() as uow:
            if takeover is before_the_cycle:
                assert uow.watermarks.all() == marks  # not even its first page was taken
            epoch_b = uow.current_epoch()
        assert target.outcome().transitions == history
        if takeover is not after_the_writes:
            assert target.write_calls() == calls_before  # refused before any CRM write
        assert epoch_b is not None and epoch_b > epoch_a
        for _ in range(6):
            if not target.cycle(epoch=epoch_b).writes:
                break
        outcome = target.outcome()
        assert_same_outcome(outcome, expected)
        assert_not_written_twice(outcome, expected)
        assert_transitions_legal(target)
