"""Steps 4 and 5 of the cycle, streamed: planned people go in chunk by chunk, writes go out in full batches.

A cycle with 100,000 people cannot hold every plan until the end. The :class:`Applier` takes each chunk
of plans as it is computed and keeps only what is still waiting: writes are sent once a full batch per
system and object has gathered (so streaming costs no extra API calls; the last flush sends the rest),
and a person's history (score snapshot, transitions, contact-status change) commits, and their mark is
cleared, in the same unit of work as the outcome of their last write. A person without writes is done at
once. Every flush commits on its own: a crash or a stop between flushes keeps what was acknowledged and
leaves the rest marked for the next cycle, exactly as one big commit at the end would, only smaller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadsync.connectors.port import CrmConnector
from leadsync.domain.model import System
from leadsync.domain.planner import FieldWrite, Target
from leadsync.ledger import IntentRecord, IntentState, UnitOfWork
from leadsync.sync import apply as applying
from leadsync.sync.compute import PersonPlan
from leadsync.sync.followup import FollowUp
from leadsync.sync.state import SyncState
from leadsync.sync.totals import WRITE_BATCH

UowFactory = Callable[[], contextlib.AbstractContextManager[UnitOfWork]]

# Flush once this many targets are ready (full batches), or this many people are done without writes.
FLUSH_TARGETS = 1_000
FLUSH_PEOPLE = 500


@dataclass
class _Waiting:
    plan: PersonPlan
    targets: set[Target]
    marks: list[str]  # the person's ids as marked (merged-away ids included), cleared when done


@dataclass
class Applier:
    """Applies plans in bounded flushes; see the module docstring."""

    connectors: Mapping[System, CrmConnector]
    uow_factory: UowFactory
    now: datetime
    run_id: str
    epoch: int
    stats: applying.ApplyStats
    followup: FollowUp | None = None  # routing, SLA clocks and hand-offs, committed with each person's history
    open_intents: applying.OpenIntents = field(default_factory=dict)
    failed_intents: list[IntentRecord] = field(default_factory=list)
    _waiting: dict[str, _Waiting] = field(default_factory=dict)
    _buffer: dict[Target, list[FieldWrite]] = field(default_factory=dict)
    _owner: dict[Target, str] = field(default_factory=dict)
    _done: list[_Waiting] = field(default_factory=list)
    _marks_only: list[str] = field(default_factory=list)

    def start(self) -> None:
        """Read the open intents once: older attempts at a record are settled with the new one."""
        with self.uow_factory() as uow:
            self.open_intents = applying.open_intents_by_target(SyncState(uow))
        self.failed_intents = [i for items in self.open_intents.values() for i in items
                               if i.state is IntentState.FAILED]

    def add(self, plans: Sequence[PersonPlan], marks: Mapping[str, list[str]], unplanned: Sequence[str]) -> None:
        """A chunk of plans (``marks``: each person's marked ids); ``unplanned``: marked ids with no plan."""
        self._marks_only.extend(unplanned)
        for plan in plans:
            self.stats.held += len(plan.held)
            waiting = _Waiting(plan, {w.target for w in plan.writes}, marks.get(plan.person_id, [plan.person_id]))
            if not waiting.targets:
                self._done.append(waiting)
                continue
            self._waiting[plan.person_id] = waiting
            for write in plan.writes:
                self._buffer.setdefault(write.target, []).append(write)
                self._owner[write.target] = plan.person_id
        ready = self._ready(final=False)
        if len(ready) >= FLUSH_TARGETS or len(self._done) + len(self._marks_only) >= FLUSH_PEOPLE:
            self._flush(ready)

    def finish(self) -> None:
        self._flush(self._ready(final=True))

    def _ready(self, *, final: bool) -> list[Target]:
        """Targets that fill whole batches per (system, object); all of them on the final flush. Records
        cleared before their set (HubSpot's backward stage moves) cost a clear batch and a read-back per
        apply call, so they gather in full batches of their own too."""
        groups: dict[tuple[System, str, bool], list[Target]] = {}
        for target in sorted(self._buffer):
            clears = any(w.clear_first for w in self._buffer[target])
            groups.setdefault((target.system, target.object, clears), []).append(target)
        ready: list[Target] = []
        for (system, _, _), targets in groups.items():
            size = WRITE_BATCH[system]
            ready.extend(targets if final else targets[:len(targets) - len(targets) % size])
        return ready

    def _flush(self, ready: Sequence[Target]) -> None:
        writes = {t: self._buffer.pop(t) for t in ready}
        plans = [self._waiting[p].plan for p in {self._owner[t] for t in writes}]
        if writes:
            with self.uow_factory() as uow:
                intents = applying.record_intents(uow, writes, self.now, self.run_id, self.open_intents)
            results = applying.call_connectors(self.connectors, writes)
        for target in writes:
            person = self._owner.pop(target)
            self._waiting[person].targets.discard(target)
            if not self._waiting[person].targets:
                self._done.append(self._waiting.pop(person))
        done, self._done = self._done, []
        marks, self._marks_only = self._marks_only, []
        with self.uow_factory() as uow:
            if writes:
                applying.record_outcomes(uow, plans, intents, results, writes, self.now, self.run_id, self.stats,
                                         self.open_intents)
            done_plans = [d.plan for d in done]
            if done_plans:  # the failed intents as the cycle began; the person check keeps it to these people
                applying.settle_unplanned(uow, done_plans, self.now, self.failed_intents)
            record_history(uow, done_plans, self.run_id, self.epoch)
            if self.followup is not None:  # same unit of work: no history without its clocks and assignments
                self.followup.record(uow, done_plans)
            SyncState(uow).clear_dirty([m for d in done for m in d.marks] + marks)
        if self.followup is not None:
            self.followup.hand_off(self.uow_factory)

    def send_queued(self) -> int:
        """Send the intents queued ahead of this step (the SLA sweep's, routing's, and those this cycle's
        flushes queued), a page at a time: dispatched (committed) before the call, outcomes recorded after
        it like the cycle's own writes. Returns how many records were written."""
        after, before = 0, self.stats.queued_sent
        while True:
            with self.uow_factory() as uow:
                page = uow.outbox.queued(after_id=after, limit=applying.QUEUED_PAGE)
                # A system not connected this run (disabled) keeps its intents queued for a run that has it.
                queued = [i for i in page if i.intent.target in self.connectors]
                if queued:
                    uow.outbox.dispatch_many([i.id for i in queued], self.now)
            if not page:
                return self.stats.queued_sent - before
            after = page[-1].id
            if not queued:
                continue
            writes = applying.queued_writes(queued)
            results = applying.call_connectors(self.connectors, writes)
            with self.uow_factory() as uow:
                applying.record_queued_outcomes(uow, queued, results, writes, self.now, self.run_id, self.stats)


def record_history(uow: UnitOfWork, plans: Sequence[PersonPlan], run_id: str, epoch: int) -> None:
    """The plans' score snapshots, transitions and contact-status changes, in the caller's unit of work."""
    snapshots = [p.snapshot for p in plans if p.snapshot is not None]
    uow.scores.record(snapshots, run_id=run_id)
    uow.transitions.append([t for p in plans for t in p.transitions], run_id=run_id, epoch=epoch)
    changes = [p.evaluation.contact_change for p in plans if p.evaluation.contact_change is not None]
    uow.transitions.append_contact_status(changes, run_id=run_id, epoch=epoch)
