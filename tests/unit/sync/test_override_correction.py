"""A CRM user overwrites a field leadsync owns: the next cycle corrects it once; an override storm is
corrected only up to the loop guard's limit; a stale read from before our write is not rewritten."""

from __future__ import annotations

from collections import Counter

from leadsync.connectors.memory import MemoryConnector
from leadsync.connectors.port import PersonRecord
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import System
from leadsync.domain.planner import MAX_CORRECTIONS, FieldWrite, Scalar, Target, canonical
from leadsync.sync.dryrun import render_text
from leadsync.sync.state import SyncState

from .conftest import World
from .helpers import ann, form_fill

LEAD = Target(System.SALESFORCE, "Lead", "00Q1")
SCORE = "Lead_Score__c"


def score_writes(world: World) -> Counter[str]:
    """Every value sent to the lead's score so far, as the CRM received it."""
    return Counter(canonical(w.value) for w in world.sf.writes_seen if (w.target, w.field) == (LEAD, SCORE))


def settled(world: World) -> float:
    """Ann synced and quiet (our writes' echoes seen); the score leadsync wrote."""
    ann(world)
    world.cycle()
    world.cycle()
    held = world.sf.record("lead", "00Q1").current[SCORE]
    assert isinstance(held, float) and held > 0
    return held


def serve_stale(connector: MemoryConnector, kind: str, record: PersonRecord) -> None:
    """Hand out an older version of a record, as a lagging search index does (its modstamp included)."""
    connector._put(connector._person_stream(kind), record.ref.record_id, record)


def stored_current(world: World, kind: str, record_id: str) -> dict[str, Scalar]:
    """What the ledger last pulled from a record's mapped fields."""
    with world.ledger.reading() as uow:
        stored = SyncState(uow).record(RecordRef(System.SALESFORCE, kind, record_id))
        assert stored is not None
        return dict(stored.current)


def test_a_users_override_is_corrected_by_the_next_cycle_exactly_once(world: World) -> None:
    ours = settled(world)
    world.sf.edit("lead", "00Q1", current={SCORE: 12})  # a sales rep types a score over ours
    report = world.cycle()

    [write] = report.writes
    assert (write.target, write.field, canonical(write.value), write.previous) == (LEAD, SCORE, canonical(ours), 12)
    assert write.corrects_override
    assert write.note.startswith(f"correcting an override of {SCORE} by the CRM (correction 1 of")
    assert world.sf.record("lead", "00Q1").current[SCORE] == ours
    assert report.api_calls["salesforce"]["writes"] == 1 and report.api_calls["hubspot"]["writes"] == 0

    # The correction comes back as our own echo: nothing more is written, once.
    assert world.cycle().writes == [] and world.cycle().writes == []
    assert score_writes(world) == Counter({canonical(ours): 2})  # the first write and the one correction


def test_an_override_storm_is_corrected_up_to_the_limit_then_left_standing(world: World) -> None:
    ours = settled(world)
    corrections: list[FieldWrite] = []
    for n in range(MAX_CORRECTIONS + 3):  # a workflow resets the score before every cycle
        world.sf.edit("lead", "00Q1", current={SCORE: 5 + n})
        report = world.cycle()
        # Cycles 30 s apart: the score does not decay meanwhile, so every write here can only be a correction.
        assert [canonical(p.evaluation.score.value) for p in report.plans] == [canonical(ours)]
        corrections.extend(w for w in report.writes if w.corrects_override)
        if n >= MAX_CORRECTIONS:
            assert report.writes == [] and report.api_calls["salesforce"]["writes"] == 0
            assert report.totals.skipped["override_limit"] == 1
            [left] = report.plans[0].overrides_left
            assert (left.target, left.field, left.reason) == (LEAD, SCORE, "override_limit")
            assert f"after {MAX_CORRECTIONS} corrections within 24 h" in left.note
            assert world.sf.record("lead", "00Q1").current[SCORE] == 5 + n  # the override stands

    assert [w.note.split("(")[1] for w in corrections] == [
        f"correction {k} of {MAX_CORRECTIONS} within 24 h)" for k in range(1, MAX_CORRECTIONS + 1)]
    assert score_writes(world) == Counter({canonical(ours): 1 + MAX_CORRECTIONS})

    # A dry run says why the field is left alone, and the guard still holds on a quiet cycle.
    world.sf.edit("lead", "00Q1", current={SCORE: 1})
    dry = world.cycle(dry_run=True)
    assert dry.writes == [] and "override_limit=1" in render_text(dry)
    assert world.cycle().writes == [] and world.cycle().writes == []
    assert score_writes(world) == Counter({canonical(ours): 1 + MAX_CORRECTIONS})


def test_a_stale_read_from_before_our_write_is_not_rewritten(world: World) -> None:
    settled(world)
    before_our_write = world.sf.record("lead", "00Q1")  # holds the score we wrote first
    form_fill(world, System.HUBSPOT, "contact", "101", "hs-demo", days_ago=0.01, activity_type="demo_request")
    changed = world.cycle()
    new_score = world.sf.record("lead", "00Q1").current[SCORE]
    assert (LEAD, SCORE) in {(w.target, w.field) for w in changed.writes}
    assert canonical(new_score) != canonical(before_our_write.current[SCORE])
    fresh = world.sf.record("lead", "00Q1")

    serve_stale(world.sf, "lead", before_our_write)  # the next read sees the record as it was before our write
    stale = world.cycle()
    assert canonical(stored_current(world, "lead", "00Q1")[SCORE]) == canonical(before_our_write.current[SCORE])
    assert stale.writes == [] and stale.api_calls["salesforce"]["writes"] == 0
    assert stale.totals.skipped["echo_of_our_write"] >= 1 and stale.totals.skipped["override_limit"] == 0

    serve_stale(world.sf, "lead", fresh)  # the index catches up: our value, nothing to do
    assert world.cycle().writes == [] and world.cycle().writes == []
    assert score_writes(world)[canonical(new_score)] == 1
