"""SLA clocks from the ledger: replay a person's transitions and activities through each SLA definition
(:func:`leadsync.domain.sla.clocks_for`) and bring the recorded clocks in line.

Recorded clocks are matched to replayed ones by (SLA, start instant). A replayed clock the ledger does not
have is started (and, when the replay already saw its stop, closed as met at that instant: late or not,
the report decides); an open recorded clock whose replayed twin has stopped is closed as met. A clock the
engine itself stopped (returned to the pool) is never reopened. Running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadsync.domain.calendar import add_business_time
from leadsync.domain.fields import FieldMappings
from leadsync.domain.model import Activity, Transition, is_backfill
from leadsync.domain.sla import ClockEvent, EventKind, SlaDefinition, SlaRules, clocks_for, due_at
from leadsync.ledger import SlaClock, UnitOfWork
from leadsync.sla_engine.writes import queue_sla_fields


@dataclass
class ClockChanges:
    started: list[SlaClock] = field(default_factory=list)
    met: list[SlaClock] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.started or self.met)


def person_events(uow: UnitOfWork, person_id: str, now: datetime) -> list[ClockEvent]:
    """The person's status entries and activities up to ``now``, oldest first; at one instant a status
    comes before an activity (a call logged with the acceptance counts as the first touch)."""
    return _events([t.transition for t in uow.transitions.for_person(person_id)],
                   uow.activities.for_person(person_id), now)


def _events(history: Sequence[Transition], activities: Sequence[Activity], now: datetime) -> list[ClockEvent]:
    # A backfilled first status is where the person stood when leadsync arrived, not an entry it saw happen.
    events = [(t.at, 0, ClockEvent(EventKind.STATUS, t.to_status, t.at)) for t in history if not is_backfill(t)]
    events += [(a.occurred_at, 1, ClockEvent(EventKind.ACTIVITY, a.type, a.occurred_at)) for a in activities]
    return [event for at, _, event in sorted(events, key=lambda e: (e[0], e[1])) if at <= now]


def reconcile(uow: UnitOfWork, rules: SlaRules, person_id: str, now: datetime, *,
              owner_id: str | None = None, fields: FieldMappings | None = None,
              run_id: str | None = None) -> ClockChanges:
    """Start and close this person's clocks to match their history (call inside the sync's unit of work,
    after its transitions and activities are written). With ``fields``, a change queues the write-back of
    the due date (the earliest due time of the clocks still open; cleared when none is) and, when a clock
    started, a cleared breach flag."""
    changes = _reconcile_one(uow, rules, person_id, person_events(uow, person_id, now),
                             uow.sla.for_person(person_id), owner_id)
    if fields is not None and changes:
        _queue_due_date(uow, fields, person_id, changes, now, run_id)
    return changes


def reconcile_many(uow: UnitOfWork, rules: SlaRules, person_ids: Sequence[str], now: datetime, *,
                   owners: Mapping[str, str | None] | None = None, fields: FieldMappings | None = None,
                   run_id: str | None = None) -> dict[str, ClockChanges]:
    """:func:`reconcile` for a batch of people (the sync engine's flush): their history, activities and
    clocks are read in a few queries for the whole batch; only people whose clocks change cost writes.
    Returns the changes of those people."""
    ids = list(dict.fromkeys(person_ids))
    if not ids or not rules.definitions:
        return {}
    history = uow.transitions.for_people(ids)
    activities = uow.activities.for_people(ids)
    clocks = uow.sla.for_people(ids)
    changed: dict[str, ClockChanges] = {}
    for person in ids:
        events = _events(history.get(person, ()), activities.get(person, ()), now)
        changes = _reconcile_one(uow, rules, person, events, clocks.get(person, []), (owners or {}).get(person))
        if changes:
            changed[person] = changes
            if fields is not None:
                _queue_due_date(uow, fields, person, changes, now, run_id)
    return changed


def _reconcile_one(uow: UnitOfWork, rules: SlaRules, person_id: str, events: Sequence[ClockEvent],
                   recorded: Sequence[SlaClock], owner_id: str | None) -> ClockChanges:
    changes = ClockChanges()
    for defn in rules.definitions:
        mine = {c.started_at: c for c in recorded if c.sla == defn.name}
        for started, stopped in clocks_for(defn, events):
            clock = mine.get(started)
            if clock is None:
                clock = _start(uow, rules, defn, person_id, started, owner_id)
                changes.started.append(clock)
            if clock.is_open and stopped is not None:
                closed = uow.sla.meet(person_id, defn.name, stopped)
                if closed is not None:
                    changes.met.append(closed)
    return changes


def _queue_due_date(uow: UnitOfWork, fields: FieldMappings, person_id: str, changes: ClockChanges,
                    now: datetime, run_id: str | None) -> None:
    still_open = [c.due_at for c in uow.sla.for_person(person_id) if c.is_open]
    values: dict[str, object] = {"sla_due_at": min(still_open) if still_open else None}
    if any(c.is_open for c in changes.started):
        values["sla_breached"] = False
    queue_sla_fields(uow, fields, person_id, values, now, run_id=run_id)


def _start(uow: UnitOfWork, rules: SlaRules, defn: SlaDefinition, person_id: str, started: datetime,
           owner_id: str | None) -> SlaClock:
    cal = rules.calendar
    warn = add_business_time(cal, started, defn.warn_after) if defn.warn_after is not None else None
    return uow.sla.start(person_id, defn.name, started, due_at(defn, cal, started), warn_at=warn, owner_id=owner_id)
