"""Reliability test 2: a write's response is lost after the server committed it (``drop_after_commit``
on the write endpoint). The write is not re-sent: the connector reads its records back at once (one
read-back call) and each record that holds what was sent is applied. Nothing is sent twice on the wire
or written twice into the ledger's history, and the end state equals the undisturbed run's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leadsync.sync import apply as applying

from .harness import (
    ReferenceRun,
    assert_no_write_of_a_held_value,
    assert_not_written_twice,
    assert_nothing_sent_twice,
    assert_same_outcome,
    assert_transitions_legal,
    rig,
)

PERSONS = 12
WRITE_ENDPOINTS = [("sf", "composite.sobjects"), ("hs", "contacts.batch_update")]
READ_BACK = {"sf": "query", "hs": "contacts.batch_read"}


def log_routes(emulator: Any) -> list[str]:
    """Every request the emulator receives, by route name, in order (faults included)."""
    seen: list[str] = []
    original = emulator._run

    def run(route: Any, request: Any) -> Any:
        seen.append(route.name)
        return original(route, request)

    emulator._run = run
    return seen


@pytest.mark.parametrize(("system", "endpoint"), WRITE_ENDPOINTS)
def test_one_lost_write_response_ends_as_the_undisturbed_run(
        system: str, endpoint: str, ledger_url: str, tmp_path: Path, reference: ReferenceRun) -> None:
    expected, reference_writes = reference(PERSONS, 7)
    with rig(tmp_path / "faulty", ledger_url=ledger_url, persons=PERSONS, seed=7) as faulty:
        emulator = faulty.sandbox.sf if system == "sf" else faulty.sandbox.hs
        routes = log_routes(emulator)
        fault = emulator.faults.add(kind="drop_after_commit", endpoint=endpoint, times=1)
        first = faulty.cycle()

        assert fault.fired == 1
        lost = routes.index(endpoint)  # the first write met the fault; the very next request reads it back
        assert routes[lost + 1] == READ_BACK[system], routes[lost:lost + 3]
        assert first.outcome.failed == 0  # the read-back found what the server had committed: applied
        faulty.run_until_quiet()
        # Exactly the undisturbed run's write calls (the lost one was not re-sent), nothing twice on the wire.
        assert faulty.write_calls() == reference_writes
        assert_nothing_sent_twice(faulty)
        outcome = faulty.outcome()
        assert_same_outcome(outcome, expected)
        assert_not_written_twice(outcome, expected)
        assert_transitions_legal(faulty)


@pytest.mark.parametrize(("system", "endpoint"), WRITE_ENDPOINTS)
def test_every_response_lost_for_a_cycle_then_no_write_is_resent_once_the_records_are_read(
        system: str, endpoint: str, ledger_url: str, tmp_path: Path, reference: ReferenceRun) -> None:
    expected, _ = reference(PERSONS, 7)
    with rig(tmp_path / "faulty", ledger_url=ledger_url, persons=PERSONS, seed=7) as faulty:
        emulator = faulty.sandbox.sf if system == "sf" else faulty.sandbox.hs
        routes = log_routes(emulator)
        emulator.faults.add(kind="drop_after_commit", endpoint=endpoint, times=None)
        first = faulty.cycle()
        # No answer came, but each write is read back once, right after it, and found committed: applied.
        writes = [n for n, name in enumerate(routes) if name == endpoint]
        assert writes and all(routes[n + 1] == READ_BACK[system] for n in writes)
        assert first.outcome.failed == 0 and first.outcome.applied > 0
        emulator.faults.clear()
        before = faulty.outcome()
        later = faulty.run_until_quiet()

        # The server had committed what it was sent: the next cycles send nothing it already holds.
        assert_no_write_of_a_held_value(later, before)
        assert_nothing_sent_twice(faulty)
        outcome = faulty.outcome()
        assert_same_outcome(outcome, expected)
        assert_transitions_legal(faulty)


def test_a_process_dying_after_the_server_committed_leaves_pending_intents_resolved_by_read_back(
        ledger_url: str, tmp_path: Path, reference: ReferenceRun, monkeypatch: pytest.MonkeyPatch) -> None:
    expected, _ = reference(PERSONS, 7)
    with rig(tmp_path / "faulty", ledger_url=ledger_url, persons=PERSONS, seed=7) as faulty:
        original = applying.call_connectors

        def written_then_lost(*args: object, **kwargs: object) -> object:
            original(*args, **kwargs)  # type: ignore[arg-type]
            raise ConnectionError("the answers never arrived")

        monkeypatch.setattr(applying, "call_connectors", written_then_lost)
        with pytest.raises(ConnectionError):
            faulty.cycle()
        monkeypatch.setattr(applying, "call_connectors", original)
        pending = faulty.outcome().open_intents["pending"]
        assert pending > 0
        reports = faulty.run_until_quiet()

        assert reports[0].outcome.resolved_pending == pending
        assert_nothing_sent_twice(faulty)  # read back, not resent
        outcome = faulty.outcome()
        assert_same_outcome(outcome, expected)
        assert_not_written_twice(outcome, expected)
        assert_transitions_legal(faulty)
