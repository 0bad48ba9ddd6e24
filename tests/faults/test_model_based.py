"""Reliability test 12 (model-based, Hypothesis state machine over the whole sync against the sandbox):
random CRM edits on both sides, merges, deletes and archives, crashes at seeded points in the cycle
(exceptions raised in-process mid-pull, before the writes, after the writes, before the outcomes commit),
restarts (fresh connectors), 429/503 storms and clock moves (forward, and back within the lag margins).
After every step each recorded transition is legal; once activity stops, the sync goes quiet within a few
cycles and both CRMs hold the ledger's status.

CI runs a few short examples on a small org; ``--soak`` runs many longer ones. (The same machine on the
in-memory connectors is tests/unit/sync/test_convergence.py.)"""

from __future__ import annotations

import contextlib
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from leadsync.app import sandbox_connectors
from leadsync.sync import apply as applying
from leadsync.sync import cycle

from .harness import (
    RULESET,
    Rig,
    assert_transitions_legal,
    lifecycle_mismatches,
    rig,
    settings_for_tests,
    soak_requested,
)
from .storm import edit_storm, live_contacts, live_leads

CRASH_POINTS = {
    "mid_pull": (cycle, "ingest_page"),
    "before_writes": (applying, "call_connectors"),
    "before_outcomes": (applying, "record_outcomes"),
}


class Crash(RuntimeError):
    """The process died here (raised in-process at a seeded point)."""


@contextlib.contextmanager
def crashing_at(point: str, after_calls: int) -> Iterator[None]:
    module, name = CRASH_POINTS[point]
    original = getattr(module, name)
    calls = 0

    def crash(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > after_calls:
            raise Crash(f"crash at {point}")
        return original(*args, **kwargs)

    setattr(module, name, crash)
    try:
        yield
    finally:
        setattr(module, name, original)


class WholeSync(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory(prefix="leadsync-model-")
        self.opened = rig(Path(self.directory.name), persons=8, seed=21)
        self.target: Rig = self.opened.__enter__()
        self.chooser = random.Random(0)
        self.target.run_until_quiet()

    def teardown(self) -> None:
        try:
            self.target.sandbox.sf.faults.clear()
            self.target.sandbox.hs.faults.clear()
            self.target.sandbox.hs.set_index_lag(0)
            self.target.settle()
            quiet = self.target.run_until_quiet(max_cycles=5)
            idle = self.target.cycle()
            assert len(quiet) <= 5 and idle.writes == []
            assert lifecycle_mismatches(self.target) == []
            assert_transitions_legal(self.target)
        finally:
            self.opened.__exit__(None, None, None)
            self.directory.cleanup()

    @rule(seed=st.integers(min_value=0, max_value=2**16), edits=st.integers(min_value=1, max_value=5))
    def users_edit(self, seed: int, edits: int) -> None:
        edit_storm(self.target, random.Random(seed), edits, override_owned=False)
        self.target.settle()

    @precondition(lambda self: len(live_contacts(self.target)) > 2)
    @rule(pick=st.integers(min_value=0, max_value=100))
    def hubspot_merge(self, pick: int) -> None:
        contacts = live_contacts(self.target)
        primary = contacts[pick % len(contacts)]
        secondary = contacts[(pick + 1) % len(contacts)]
        self.target.sandbox.hs.merge_contacts(primary, secondary)
        self.target.settle()

    @precondition(lambda self: len(live_leads(self.target)) > 2 and len(live_contacts(self.target)) > 2)
    @rule(pick=st.integers(min_value=0, max_value=100), in_salesforce=st.booleans())
    def delete_or_archive(self, pick: int, in_salesforce: bool) -> None:
        if in_salesforce:
            leads = live_leads(self.target)
            self.target.sandbox.sf.delete_record("Lead", leads[pick % len(leads)])
        else:
            contacts = live_contacts(self.target)
            self.target.sandbox.hs.archive_contact(contacts[pick % len(contacts)])
        self.target.settle()

    @rule(minutes=st.sampled_from([0.5, 2.0, 7.0]))
    def sync_cycle(self, minutes: float) -> None:
        self.target.cycle(minutes_later=minutes)

    @rule(point=st.sampled_from(sorted(CRASH_POINTS)), after_calls=st.integers(min_value=0, max_value=3))
    def crash_then_restart(self, point: str, after_calls: int) -> None:
        with crashing_at(point, after_calls), contextlib.suppress(Crash):
            self.target.cycle()
        # A new process: fresh connectors (new sessions, new rate limiters), the same ledger.
        self.target.connectors = sandbox_connectors(settings_for_tests(), RULESET, self.target.sandbox.env())

    @rule(hubspot=st.booleans(), status=st.sampled_from([429, 503]))
    def rate_limit_storm(self, hubspot: bool, status: int) -> None:
        emulator = self.target.sandbox.hs if hubspot else self.target.sandbox.sf
        emulator.faults.add(kind="status", status=status, retry_after=0.2, endpoint="*", times=2)

    @rule(seconds_back=st.integers(min_value=1, max_value=20))
    def server_clock_moves_back(self, seconds_back: int) -> None:
        """A skew within HubSpot's 30 s lag margin (and far inside Salesforce's 5-minute overlap)."""
        self.target.sandbox.clock.set_offset(self.target.offset - seconds_back)
        self.target.offset -= seconds_back

    @invariant()
    def every_transition_is_legal(self) -> None:
        assert_transitions_legal(self.target)


WholeSync.TestCase.settings = settings(
    max_examples=30 if soak_requested() else 3, stateful_step_count=25 if soak_requested() else 6,
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_whole_sync_model = WholeSync.TestCase
