"""Reliability test 5: a quota storm. 429s and 503s with Retry-After, Salesforce's REQUEST_LIMIT_EXCEEDED
(403) when the org's daily allocation runs out, and leadsync's own daily share spent: every wait the
server asked for is respected, the daily budget is never exceeded, the cycle halts cleanly, and once
the quota is back the sync resumes to the undisturbed run's end state."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leadsync.app import sandbox_connectors
from leadsync.connectors.errors import ConnectorError
from leadsync.ledger import RunStatus
from leadsync.sandbox.server import Emulator

from .harness import (
    RULESET,
    Outcome,
    ReferenceRun,
    Rig,
    assert_not_written_twice,
    assert_same_outcome,
    assert_transitions_legal,
    rig,
    settings_for_tests,
)

PERSONS = 12
RETRY_AFTER = 1.0


def record_answers(emulator: Emulator) -> list[tuple[str, int, float]]:
    """(endpoint, status, monotonic arrival) of every request the emulator answers from now on."""
    seen: list[tuple[str, int, float]] = []
    record_answers_into(emulator, seen)
    return seen


def record_answers_into(emulator: Emulator, seen: list[tuple[str, int, float]]) -> None:
    original = emulator._run

    def run(route: Any, request: Any) -> Any:
        arrived = time.monotonic()
        response = original(route, request)
        seen.append((route.name, response.status, arrived))
        return response

    emulator._run = run  # type: ignore[method-assign]


def waits_after_refusals(seen: list[tuple[str, int, float]]) -> list[float]:
    """For each 429/503, the seconds until the next request to the same endpoint."""
    gaps = []
    for n, (endpoint, status, at) in enumerate(seen):
        if status in (429, 503):
            later = [t for e, _, t in seen[n + 1:] if e == endpoint]
            if later:
                gaps.append(later[0] - at)
    return gaps


def test_429_and_503_with_retry_after_are_waited_out_and_the_run_ends_as_undisturbed(
        tmp_path: Path, ledger_url: str, reference: ReferenceRun) -> None:
    expected, _ = reference(PERSONS, 7)
    with rig(tmp_path / "storm", ledger_url=ledger_url, persons=PERSONS, seed=7) as storm:
        hs_seen, sf_seen = record_answers(storm.sandbox.hs), record_answers(storm.sandbox.sf)
        for endpoint in ("contacts.search", "contacts.batch_update", "calls.search"):
            storm.sandbox.hs.faults.add(kind="status", status=429, retry_after=RETRY_AFTER, endpoint=endpoint, times=2)
        for endpoint in ("query", "composite.sobjects"):
            storm.sandbox.sf.faults.add(kind="status", status=503, retry_after=RETRY_AFTER, endpoint=endpoint, times=2)
        storm.run_until_quiet()

        gaps = waits_after_refusals(hs_seen) + waits_after_refusals(sf_seen)
        assert len(gaps) == 10
        assert min(gaps) >= RETRY_AFTER * 0.95, gaps
        outcome = storm.outcome()
        assert_same_outcome(outcome, expected)
        assert_not_written_twice(outcome, expected)
        assert_transitions_legal(storm)


def some_user_edits(target: Rig) -> None:
    """Sales works some leads and marketing edits some contacts: the next cycle has reading and writing."""
    leads = sorted(str(r["Id"]) for r in target.sandbox.sf.records("Lead") if not r.get("IsConverted"))[:4]
    for lead in leads:
        target.sandbox.sf.update_record("Lead", lead, {"Status": "Working - Contacted"})
    contacts = sorted(r.id for r in target.sandbox.hs.stores["contacts"].records.values() if not r.archived)[:3]
    for contact in contacts:
        target.sandbox.hs.update_contact(contact, {"jobtitle": "Chief Executive Officer"})
    target.settle()


def run_with_quota(directory: Path, ledger_url: str | None, squeeze: Callable[[Rig], None] | None,
                   seen: list[tuple[str, int, float]]) -> tuple[Outcome, str, int]:
    """First sync, user edits, then (with ``squeeze``) a cycle under a quota that runs out; then the quota
    is back, leadsync restarts (fresh connectors: a new process) and cycles run until quiet. Returns the
    outcome, how the squeezed cycle halted and the org's API usage at that moment. ``seen`` (filled by
    ``squeeze``) keeps only the answers given up to the halt."""
    halted_with, usage_at_halt = "", 0
    with rig(directory, ledger_url=ledger_url, persons=PERSONS, seed=7) as target:
        target.run_until_quiet()
        some_user_edits(target)
        if squeeze is not None:
            squeeze(target)
            with pytest.raises(ConnectorError) as halted:
                target.cycle()
            halted_with = f"{type(halted.value).__name__}: {halted.value}"
            usage_at_halt = target.sandbox.sf.api_usage
            answered_until_halt = list(seen)
            with target.ledger.reading() as uow:
                assert uow.runs.latest(1)[0].status is RunStatus.FAILED  # recorded, not silently dropped
            target.sandbox.sf.daily_limit = 100_000
            target.sandbox.sf.reset_api_usage()
            target.connectors = sandbox_connectors(settings_for_tests(), RULESET, target.sandbox.env())
        target.run_until_quiet()
        if squeeze is not None:
            seen[:] = answered_until_halt
        assert_transitions_legal(target)
        return target.outcome(), halted_with, usage_at_halt


def test_another_integration_spending_the_orgs_allocation_halts_at_the_first_403_and_resumes_losslessly(
        tmp_path: Path, ledger_url: str) -> None:
    expected, _, _ = run_with_quota(tmp_path / "reference", None, None, [])
    seen: list[tuple[str, int, float]] = []

    def spent_by_someone_else(target: Rig) -> None:
        record_answers_into(target.sandbox.sf, seen)
        target.sandbox.sf.api_usage = target.sandbox.sf.daily_limit  # our last header said plenty was left

    outcome, halted_with, _ = run_with_quota(tmp_path / "faulty", ledger_url, spent_by_someone_else, seen)
    assert "REQUEST_LIMIT_EXCEEDED" in halted_with, halted_with
    refusals = [e for e, status, _ in seen if status == 403]
    assert 1 <= len(refusals) <= 2, refusals  # stopped, not hammering a spent allocation
    assert_same_outcome(outcome, expected)
    assert_not_written_twice(outcome, expected)


def test_leadsyncs_daily_share_stops_the_cycle_before_the_org_budget_is_exceeded_and_resumes_losslessly(
        tmp_path: Path, ledger_url: str) -> None:
    expected, _, _ = run_with_quota(tmp_path / "reference", None, None, [])
    seen: list[tuple[str, int, float]] = []
    allowance: list[int] = []

    def nearly_spent(target: Rig) -> None:
        record_answers_into(target.sandbox.sf, seen)
        sf = target.sandbox.sf
        sf.daily_limit = 2 * sf.api_usage + 8  # leadsync's 50% share leaves it four more calls
        allowance.append(sf.daily_limit // 2)

    outcome, halted_with, usage_at_halt = run_with_quota(tmp_path / "faulty", ledger_url, nearly_spent, seen)
    assert "DAILY_SHARE_SPENT" in halted_with, halted_with
    assert [status for _, status, _ in seen if status == 403] == []  # the org's own limit never reached
    assert_same_outcome(outcome, expected)
    assert_not_written_twice(outcome, expected)
    assert usage_at_halt <= allowance[0]  # leadsync's share of the org's allocation never exceeded
