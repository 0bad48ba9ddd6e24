"""Steps 4 and 5 of the cycle: record intents, call the connectors, record every outcome.

Intents are committed (pending) before any API call, so a response lost to a crash or a timeout is
resolved on the next start by reading the target back (:func:`resolve_pending`) instead of by
resending blindly. Outcomes, last-written hashes, history and the run record commit in one unit of
work after the calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadsync.connectors.port import CrmConnector, WriteResult
from leadsync.domain.model import System
from leadsync.domain.planner import FieldWrite, Scalar, Target, canonical, value_hash
from leadsync.ledger import IntentOrigin, IntentRecord, IntentState, UnitOfWork, WriteIntent
from leadsync.sync.compute import PersonPlan, payload_hash
from leadsync.sync.pull import identity
from leadsync.sync.state import SyncState, plain, ref_of

OPEN_STATES = (IntentState.FAILED, IntentState.QUARANTINED)


@dataclass
class ApplyStats:
    applied: int = 0
    failed: int = 0
    quarantined: int = 0
    held: int = 0
    resolved_pending: int = 0
    queued_sent: int = 0  # records written for queued intents (SLA fields, routed owners)
    errors: list[str] = field(default_factory=list)


def group_writes(plans: Sequence[PersonPlan]) -> dict[Target, list[FieldWrite]]:
    grouped: dict[Target, list[FieldWrite]] = {}
    for plan in plans:
        for write in plan.writes:
            grouped.setdefault(write.target, []).append(write)
    return grouped


OpenIntents = dict[Target, list[IntentRecord]]


def record_intents(uow: UnitOfWork, writes: Mapping[Target, list[FieldWrite]], now: datetime, run_id: str,
                   open_ones: OpenIntents | None = None) -> dict[Target, IntentRecord]:
    """One pending intent per target record, committed before the API is called (one insert for all)."""
    if open_ones is None:
        open_ones = open_intents_by_target(SyncState(uow))
    targets = sorted(writes)
    intents: list[WriteIntent] = []
    for target in targets:
        fields = {w.field: w.value for w in writes[target]}
        intent = WriteIntent(target.system, target.object, target.record_id,
                             {k: plain(v) for k, v in fields.items()}, payload_hash(fields))
        # The same payload failed before: that intent is retried rather than a twin recorded beside it.
        for older in open_ones.get(target, ()):
            if older.intent.payload_hash == intent.payload_hash:
                uow.outbox.retry(older.id, now)
                break
        intents.append(intent)
    return dict(zip(targets, uow.outbox.add_many(intents, now, run_id=run_id), strict=True))


def call_connectors(connectors: Mapping[System, CrmConnector],
                    writes: Mapping[Target, list[FieldWrite]]) -> dict[Target, WriteResult]:
    """Apply per system; a target the connector returned no result for counts as a transient failure."""
    results: dict[Target, WriteResult] = {}
    for system, connector in connectors.items():
        batch = [w for target, items in sorted(writes.items()) if target.system is system for w in items]
        if not batch:
            continue
        for result in connector.apply(batch):
            results[result.target] = result
    for target, items in writes.items():
        if target not in results:
            names = tuple(w.field for w in items)
            results[target] = WriteResult(target, False, "NO_RESULT", "the connector returned no result", names, True)
    return results


def record_outcomes(uow: UnitOfWork, plans: Sequence[PersonPlan], intents: Mapping[Target, IntentRecord],
                    results: Mapping[Target, WriteResult], writes: Mapping[Target, list[FieldWrite]],
                    now: datetime, run_id: str, stats: ApplyStats, open_ones: OpenIntents | None = None) -> None:
    """Every result matched to its intent; successes recorded in bulk (intents, echo hashes, record values,
    quarantine releases), failures one by one (they are few). ``plans`` give the quarantine fingerprints;
    records held in quarantine are counted by the caller, once per person."""
    state = SyncState(uow)
    fingerprints = {t: f for plan in plans for t, f in plan.fingerprints.items()}
    if open_ones is None:
        open_ones = open_intents_by_target(state)
    applied: list[Target] = []
    for target, intent in intents.items():
        result = results[target]
        older = [i.id for i in open_ones.get(target, ()) if i.id != intent.id]
        if result.ok:
            applied.append(target)
            _settle(uow, older, now, IntentState.APPLIED, None)
            continue
        reason = f"{result.error_code or 'ERROR'}: {result.error or 'no message'}"
        stats.errors.append(f"{target.system.value} {target.object} {target.record_id}: {reason}")
        if result.transient:
            uow.outbox.mark_failed(intent.id, reason, now)
            _settle(uow, older, now, IntentState.FAILED, reason)
            stats.failed += 1
        else:
            uow.outbox.quarantine(intent.id, reason, now)
            _settle(uow, older, now, IntentState.QUARANTINED, reason)
            uow.quarantine.put(target.system, target.object, target.record_id, reason,
                               fingerprints.get(target, intent.intent.payload_hash), now, run_id=run_id)
            stats.quarantined += 1
    _applied(uow, state, {t: writes[t] for t in applied}, [intents[t].id for t in applied], now, run_id)
    stats.applied += len(applied)


def open_intents_by_target(state: SyncState) -> OpenIntents:
    """Failed and quarantined intents, by record, read once per step instead of once per record."""
    found: OpenIntents = {}
    for intent_state in OPEN_STATES:  # the cycle's own: queued ones are sent by :func:`send_queued`
        for record in state.uow.outbox.by_state(intent_state, limit=10_000, origin=IntentOrigin.SYNC):
            key = Target(record.intent.target, record.intent.object, record.intent.record_id)
            found.setdefault(key, []).append(record)
    return found


def _settle(uow: UnitOfWork, older: Sequence[int], now: datetime, outcome: IntentState, reason: str | None) -> None:
    """Earlier open attempts at a record share the outcome of this one (one at a time: at most one
    pending intent per payload may exist)."""
    for intent_id in older:
        uow.outbox.retry(intent_id, now)
        if outcome is IntentState.APPLIED:
            uow.outbox.mark_applied(intent_id, now)
        elif outcome is IntentState.FAILED:
            uow.outbox.mark_failed(intent_id, reason or "failed", now)
        else:
            uow.outbox.quarantine(intent_id, reason or "quarantined", now)


def _applied(uow: UnitOfWork, state: SyncState, writes: Mapping[Target, Sequence[FieldWrite]],
             intent_ids: Sequence[int], now: datetime, run_id: str) -> None:
    if not writes:
        return
    uow.outbox.mark_applied_many(intent_ids, now)
    uow.outbox.remember_written_many(
        {(t.system, t.object, t.record_id): {w.field: w.value_hash for w in items} for t, items in writes.items()},
        now, run_id=run_id)
    state.set_currents({t: {w.field: w.value for w in items} for t, items in writes.items()})
    uow.quarantine.release_many(((t.system, t.object, t.record_id) for t in writes), now)


def settle_unplanned(uow: UnitOfWork, plans: Sequence[PersonPlan], now: datetime,
                     failed: Sequence[IntentRecord] | None = None) -> int:
    """Failed intents of people evaluated this cycle that no write was planned for: a record that already
    holds what we want is done; a record that can no longer be written (deleted, converted lead) is
    quarantined with that reason, so it stops pulling its person into every cycle. ``failed`` are the
    failed intents to consider (read from the ledger when not given)."""
    planned = {w.target for p in plans for w in p.writes} | {t for p in plans for t in p.held}
    writable = {t for p in plans for t in p.targets}
    evaluated = {p.person_id for p in plans}
    if failed is None:
        failed = uow.outbox.by_state(IntentState.FAILED, limit=10_000, origin=IntentOrigin.SYNC)
    candidates = [i for i in failed if _target(i) not in planned and i.origin is IntentOrigin.SYNC]
    person_of = uow.people.find_many(identity(ref_of(_target(i))) for i in candidates if _target(i) not in writable)
    settled = 0
    for intent in candidates:
        target = _target(intent)
        if target in writable:
            uow.outbox.retry(intent.id, now)
            uow.outbox.mark_applied(intent.id, now)
        elif person_of.get(identity(ref_of(target))) in evaluated:
            uow.outbox.quarantine(intent.id, "the record can no longer be written (deleted or converted)", now)
        else:
            continue
        settled += 1
    return settled


def _target(intent: IntentRecord) -> Target:
    return Target(intent.intent.target, intent.intent.object, intent.intent.record_id)


def resolve_pending(uow: UnitOfWork, connectors: Mapping[System, CrmConnector], now: datetime,
                    run_id: str) -> int:
    """Pending intents a crashed run left behind (dispatched to a connector, outcome never recorded; queued
    ones that were never sent are not leftovers): read each target; what it holds decides the outcome."""
    pending = uow.outbox.dispatched_pending()
    resolved = 0
    for system, connector in connectors.items():
        mine = [i for i in pending if i.intent.target is system]
        if not mine:
            continue
        targets = sorted({Target(system, i.intent.object, i.intent.record_id) for i in mine})
        names = sorted({name for i in mine for name in i.intent.fields})
        held = connector.read_current(targets, names)
        for intent in mine:
            target = Target(system, intent.intent.object, intent.intent.record_id)
            now_holds = held.get(target, {})
            if all(canonical(now_holds.get(k)) == canonical(v) for k, v in intent.intent.fields.items()):
                uow.outbox.mark_applied(intent.id, now)
                hashes = {k: value_hash(_scalar(v)) for k, v in intent.intent.fields.items()}
                uow.outbox.remember_written(system, target.object, target.record_id, hashes, now, run_id=run_id)
            else:
                uow.outbox.mark_failed(intent.id, "response lost; the record does not hold the write", now)
            resolved += 1
    return resolved


def _scalar(value: object) -> Scalar:
    assert value is None or isinstance(value, str | int | float | bool)
    return value


# ----- queued intents (the SLA sweep's, routing's) -------------------------------------------------------
QUEUED_PAGE = 1_000


def queued_writes(intents: Sequence[IntentRecord]) -> dict[Target, list[FieldWrite]]:
    """One write per (record, field): intents for one record are merged oldest first, so a later value
    (a cleared breach flag after a set one) wins."""
    merged: dict[Target, dict[str, Scalar]] = {}
    for intent in sorted(intents, key=lambda i: i.id):
        fields = merged.setdefault(_target(intent), {})
        fields.update({k: _scalar(v) for k, v in intent.intent.fields.items()})
    return {
        target: [FieldWrite(target, name, value, None, value_hash(value)) for name, value in sorted(fields.items())]
        for target, fields in merged.items()
    }


def record_queued_outcomes(uow: UnitOfWork, intents: Sequence[IntentRecord], results: Mapping[Target, WriteResult],
                           writes: Mapping[Target, list[FieldWrite]], now: datetime, run_id: str,
                           stats: ApplyStats) -> None:
    """The outcome of each record's write for every queued intent that went into it, recorded the way the
    cycle records its own: applied in bulk with their echo hashes; failures kept for the next cycle's
    retry; permanent refusals quarantined."""
    by_target: dict[Target, list[IntentRecord]] = {}
    for intent in intents:
        by_target.setdefault(_target(intent), []).append(intent)
    applied: list[Target] = []
    for target, mine in by_target.items():
        result = results[target]
        if result.ok:
            applied.append(target)
            continue
        reason = f"{result.error_code or 'ERROR'}: {result.error or 'no message'}"
        stats.errors.append(f"{target.system.value} {target.object} {target.record_id}: {reason}")
        for intent in mine:
            if result.transient:
                uow.outbox.mark_failed(intent.id, reason, now)
            else:
                uow.outbox.quarantine(intent.id, reason, now)
        if result.transient:
            stats.failed += 1
        else:
            uow.quarantine.put(target.system, target.object, target.record_id, reason,
                               payload_hash({w.field: w.value for w in writes[target]}), now, run_id=run_id)
            stats.quarantined += 1
    _applied(uow, SyncState(uow), {t: writes[t] for t in applied}, [i.id for t in applied for i in by_target[t]],
             now, run_id)
    stats.applied += len(applied)
    stats.queued_sent += len(applied)
