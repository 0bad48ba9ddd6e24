"""MQL hand-offs from the cycle to a real local webhook receiver: one per new MQL, after the commit, never
twice for one transition unless a crash fell between hand-over and mark (then with the same id)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leadsync.domain.model import Transition
from leadsync.ledger import Handoff
from leadsync.notify import DeadLetters, Endpoint, Notifier, SenderPolicy
from leadsync.rules.ruleset import RuleSet
from leadsync.sync.cycle import SyncEngine

from .conftest import World, make_world
from .routing_helpers import Receiver, assignments, with_owners
from .test_routing_engine import mql, person_of

FAST = SenderPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02, rate_per_second=1000, burst=1000, timeout=2)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def run(world: World, notifier: Notifier) -> None:
    world.clock.advance(seconds=30)
    SyncEngine(world.ledger, world.ruleset, [world.sf, world.hs], world.config, world.clock,
               notifier=notifier).run_once()


def test_each_new_mql_sends_one_handoff_with_its_owner(tmp_path: Path, ruleset: RuleSet, receiver: Receiver) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    notifier = Notifier([Endpoint("hook", receiver.url)], DeadLetters(tmp_path / "dead.jsonl"), FAST)
    try:
        lead = mql(world, 1)
        run(world, notifier)
        [body] = receiver.wait_for(1)
        person = person_of(world, lead)
        assert (body["event"], body["person_id"]) == ("mql_handoff", person)
        assert body["details"]["owner"] == "ivy.inside@example.com" and body["details"]["queue"] == "inside-sales"
        assert body["details"]["email"] == "omar.haddad@northwind-1.com"
        [row] = assignments(world, person)
        assert row.handoff is Handoff.SENT and row.handoff_at is not None

        run(world, notifier)  # nothing new: nothing sent
        notifier.close(5)
        assert len(receiver.bodies) == 1
    finally:
        notifier.close(1)
        world.ledger.close()


def test_a_handoff_left_pending_by_a_crash_goes_out_next_cycle_with_the_same_id(
        tmp_path: Path, ruleset: RuleSet, receiver: Receiver) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    notifier = Notifier([Endpoint("hook", receiver.url)], DeadLetters(tmp_path / "dead.jsonl"), FAST)
    try:
        mql(world, 1)
        run(world, notifier)
        [first] = receiver.wait_for(1)
        with world.ledger.unit_of_work() as uow:  # as if the run died between the hand-over and its mark
            uow.connection.exec_driver_sql("UPDATE assignments SET handoff = 'pending', handoff_at = NULL")
        run(world, notifier)
        bodies = receiver.wait_for(2)
        assert len(bodies) == 2 and bodies[1]["id"] == first["id"]  # at least once; receivers drop the repeat
        assert all(r.handoff is Handoff.SENT for r in assignments(world))
    finally:
        notifier.close(1)
        world.ledger.close()


def test_a_dead_receiver_never_fails_the_cycle(tmp_path: Path, ruleset: RuleSet, receiver: Receiver) -> None:
    world = with_owners(make_world(tmp_path, ruleset))
    url = receiver.url
    receiver.close()  # nobody listens there any more
    dead = DeadLetters(tmp_path / "dead.jsonl")
    notifier = Notifier([Endpoint("hook", url)], dead, FAST)
    try:
        lead = mql(world, 1)
        run(world, notifier)
        assert "MQL" in {t.to_status for t in _history(world, person_of(world, lead))}
        notifier.close(5)
        [letter] = dead.read()
        assert letter["notification"]["event"] == "mql_handoff"
    finally:
        world.ledger.close()


def _history(world: World, person: str) -> list[Transition]:
    with world.ledger.reading() as uow:
        return [t.transition for t in uow.transitions.for_person(person)]
