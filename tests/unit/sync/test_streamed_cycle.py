"""A streamed cycle (``keep_plans=False``): planned and applied chunk by chunk, flushed in full batches.

Small chunk and batch sizes force many flushes, writes carried from one flush to the next, and people
finished in different flushes; the outcome must equal the kept-plans cycle's, with no extra write call.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from leadsync.connectors import memory
from leadsync.domain.model import System
from leadsync.domain.planner import Target, canonical
from leadsync.ledger import IntentState
from leadsync.rules.ruleset import RuleSet
from leadsync.sync import applier, cycle, totals

from .conftest import World, make_world, table_counts
from .helpers import form_fill

PEOPLE = 13


def _people(world: World) -> None:
    for n in range(PEOPLE):
        email = f"p{n}@acme-corp.io"
        world.sf.add_person("lead", f"00Q{n:02}", email=email, fields={"email": email, "title": "VP Marketing"})
        if n % 2:
            world.hs.add_person("contact", f"1{n:02}", email=email, fields={"email": email})
        form_fill(world, System.SALESFORCE, "lead", f"00Q{n:02}", f"task-{n}")


def _outcome(world: World) -> tuple[Counter[tuple[Target, str, str]], dict[str, int], dict[str, int]]:
    sent = Counter((w.target, w.field, canonical(w.value)) for w in [*world.sf.writes_seen, *world.hs.writes_seen])
    calls = {c.system.value: c.calls().writes for c in (world.sf, world.hs)}
    counts = table_counts(world.ledger)
    return sent, calls, {k: counts[k] for k in ("persons", "transitions", "contact_status_changes", "score_snapshots",
                                                "write_intents", "written_values", "sync_dirty")}


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cycle, "PEOPLE_PER_CHUNK", 4)
    monkeypatch.setattr(applier, "FLUSH_TARGETS", 3)
    monkeypatch.setattr(applier, "FLUSH_PEOPLE", 2)
    sizes = {System.SALESFORCE: 3, System.HUBSPOT: 2}
    monkeypatch.setattr(applier, "WRITE_BATCH", sizes)
    monkeypatch.setattr(totals, "WRITE_BATCH", sizes)
    monkeypatch.setattr(memory, "BATCH_SIZE", sizes)


def _run(world: World, *, keep_plans: bool) -> cycle.CycleReport:
    world.clock.advance(seconds=30)
    return world.engine(dataclasses.replace(world.config, keep_plans=keep_plans)).run_once()


@pytest.mark.usefixtures("small_batches")
def test_a_streamed_cycle_writes_and_records_what_a_kept_one_does(world: World, tmp_path: Path,
                                                                   ruleset: RuleSet) -> None:
    _people(world)
    streamed = _run(world, keep_plans=False)
    assert streamed.status == "succeeded" and streamed.plans == []
    assert streamed.totals.people == PEOPLE and streamed.outcome.applied == PEOPLE + PEOPLE // 2
    sent, calls, counts = _outcome(world)
    assert all(n == 1 for n in sent.values())  # nothing written twice
    # Full batches only until the last flush: exactly the minimum number of write calls.
    assert calls == {"salesforce": -(-PEOPLE // 3), "hubspot": -(-(PEOPLE // 2) // 2)}
    assert streamed.would_write_calls == calls
    assert counts["sync_dirty"] == 0 and counts["transitions"] == PEOPLE and counts["score_snapshots"] == PEOPLE
    with world.ledger.reading() as uow:
        assert uow.outbox.pending() == [] and len(uow.outbox.by_state(IntentState.APPLIED)) == counts["write_intents"]
        run = uow.runs.get(streamed.run_id)
    assert (run.counts["people_evaluated"], run.counts["writes"]) == (PEOPLE, streamed.totals.writes)

    (tmp_path / "kept").mkdir()
    kept_world = make_world(tmp_path / "kept", ruleset)
    try:
        _people(kept_world)
        kept = _run(kept_world, keep_plans=True)
        assert len(kept.plans) == PEOPLE and len(kept.writes) == streamed.totals.writes
        kept_sent, kept_calls, kept_counts = _outcome(kept_world)
    finally:
        kept_world.ledger.close()
    assert (sorted((t.system, t.object, f, v) for t, f, v in kept_sent), kept_calls, kept_counts) == (
        sorted((t.system, t.object, f, v) for t, f, v in sent), calls, counts)

    again = _run(world, keep_plans=False)  # our writes come back: recognised, nothing written
    assert again.status == "succeeded" and again.totals.writes == 0 and _outcome(world)[1] == calls
