"""Step 2 of the cycle: from what the ledger holds about a person to the writes that person needs.

Reads only: the person's records (Salesforce lead/contact, HubSpot contact), their activities, deals
and history are folded into a :class:`PersonState`; the pure core evaluates it; the planner compares the
desired field values with what each target holds and with what we last wrote (and, where a target holds
something else than our last write, when the record was modified and how often we corrected it lately:
a CRM user's override is corrected, within the planner's loop guard). Records held in quarantine for the
same cause are left out (they are retried once the cause changes).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadsync.domain.evaluate import Evaluation, PersonState, desired_fields, evaluate
from leadsync.domain.lifecycle import Role
from leadsync.domain.model import (
    PERSON_FIELDS,
    Activity,
    ContactStatusChange,
    CrmFacts,
    OwnerKind,
    Person,
    System,
    Transition,
)
from leadsync.domain.planner import FieldWrite, Key, Scalar, Skip, Target, plan_writes, value_hash
from leadsync.ledger import QuarantinedRecord, ScoreSnapshot, UnitOfWork
from leadsync.rules.ruleset import RuleSet
from leadsync.sync.reopen import crm_user_reopen
from leadsync.sync.state import LastWrite, StoredRecord, SyncState, target_of


@dataclass
class PersonPlan:
    """Everything the cycle decided for one person."""

    person_id: str
    evaluation: Evaluation
    transitions: list[Transition]
    writes: list[FieldWrite]
    skipped: Counter[str]  # fields left alone, by reason (unchanged, echo_of_our_write, not_owned, override_limit)
    held: dict[Target, str] = field(default_factory=dict)  # target -> quarantine reason
    fingerprints: dict[Target, str] = field(default_factory=dict)
    snapshot: ScoreSnapshot | None = None
    known_before: bool = True  # had a lifecycle status before this cycle (the guard protects only those)
    targets: list[Target] = field(default_factory=list)  # the person's writable records
    overrides_left: list[Skip] = field(default_factory=list)  # CRM overrides the loop guard leaves standing


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(float(value))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


# Which record speaks first for who a person is: the CRM's contact, then its lead, then HubSpot. A fixed
# order, not "latest modstamp wins": our own writes bump modstamps, and a merge that followed them would
# flip fields (and grades) back and forth between the systems every cycle.
FIELD_PRECEDENCE = {(System.HUBSPOT, "contact"): 0, (System.SALESFORCE, "lead"): 1, (System.SALESFORCE, "contact"): 2}


def build_person(person_id: str, records: Sequence[StoredRecord]) -> Person:
    """Person fields from all live records; where several hold a value, the record first in
    :data:`FIELD_PRECEDENCE` wins (then the lowest record id, so the outcome never depends on order)."""
    merged: dict[str, Any] = {}
    ranked = sorted(records, key=lambda r: (FIELD_PRECEDENCE.get((r.ref.system, r.ref.kind), -1), r.ref),
                    reverse=True)
    for record in reversed(ranked):
        merged.update({k: v for k, v in record.fields.items() if v not in (None, "")})
    canonical: dict[str, Any] = {k: merged.pop(k) for k in list(merged) if k in PERSON_FIELDS}
    canonical["employees"] = _int(canonical.get("employees"))
    canonical["annual_revenue"] = _float(canonical.get("annual_revenue"))
    tech = canonical.get("technologies")
    if isinstance(tech, str):
        canonical["technologies"] = tuple(t.strip() for t in tech.split(";") if t.strip())
    elif isinstance(tech, list | tuple):
        canonical["technologies"] = tuple(str(t) for t in tech)
    for name in PERSON_FIELDS - {"employees", "annual_revenue", "technologies"}:
        if canonical.get(name) is not None:
            canonical[name] = str(canonical[name])
    extra = {k: str(v) for k, v in merged.items()}
    return Person(id=person_id, extra=extra, **canonical)


def merge_facts(records: Sequence[StoredRecord], deals: Iterable[tuple[str, bool, bool, datetime]]) -> CrmFacts:
    """One set of CRM facts from every record: the latest Salesforce record speaks for status and owner."""
    ordered = sorted(records, key=lambda r: (r.modstamp, r.ref))
    sf = [r.facts for r in ordered if r.ref.system is System.SALESFORCE]
    hs = [r.facts for r in ordered if r.ref.system is System.HUBSPOT]
    every = [r.facts for r in ordered]
    owned = [f for f in sf if f.owner_kind is not OwnerKind.NONE] or [
        f for f in every if f.owner_kind is not OwnerKind.NONE]
    deal_list = list(deals)
    return CrmFacts(
        crm_status=next((f.crm_status for f in reversed(sf) if f.crm_status), None),
        owner_kind=owned[-1].owner_kind if owned else OwnerKind.NONE,
        owner_id=owned[-1].owner_id if owned else None,
        is_converted=any(f.is_converted for f in every),
        is_contact=any(f.is_contact for f in every) or any(r.ref.kind == "contact" and
                                                            r.ref.system is System.SALESFORCE for r in ordered),
        has_open_opportunity=any(f.has_open_opportunity for f in every) or any(not c for _, c, _, _ in deal_list),
        has_won_opportunity=any(f.has_won_opportunity for f in every) or any(c and w for _, c, w, _ in deal_list),
        has_lost_opportunity=any(f.has_lost_opportunity for f in every) or any(c and not w for _, c, w, _ in deal_list),
        hubspot_stage=next((f.hubspot_stage for f in reversed(hs) if f.hubspot_stage), None),
        imported=any(f.imported for f in every),
        disqualified_reason=next((f.disqualified_reason for f in reversed(every) if f.disqualified_reason), None),
    )


@dataclass
class ChunkState:
    """What the ledger holds about a chunk of people, read in a few queries for the whole chunk."""

    family: dict[str, list[str]]  # person -> [person, everyone merged into them]
    records: dict[str, list[StoredRecord]]  # person -> live records of the family, oldest modstamp first
    deals: dict[str, list[tuple[str, bool, bool, datetime]]]
    activities: dict[str, list[Activity]]
    history: dict[str, list[Transition]]
    contact: dict[str, list[ContactStatusChange]]
    written: dict[Key, str]  # our last written hash per (record, field)
    written_at: dict[Key, datetime]  # ... and when it was written
    corrections: dict[Key, list[datetime]]  # when we corrected overrides (only of records that may need one)
    quarantined: dict[tuple[System, str, str], QuarantinedRecord]
    latest_scores: dict[str, ScoreSnapshot]


def load_chunk(uow: UnitOfWork, state: SyncState, person_ids: Sequence[str]) -> ChunkState:
    merged = state.repo.merged_into(person_ids)
    family = {p: [p, *merged[p]] for p in person_ids}
    root = {member: p for p, members in family.items() for member in members}
    everyone = list(root)
    records: dict[str, list[StoredRecord]] = {p: [] for p in person_ids}
    for record in state.records_of(everyone):
        if not record.deleted and record.person_id in root:
            records[root[record.person_id]].append(record)
    refs = {r.ref: p for p, recs in records.items() for r in recs}
    deals: dict[str, set[tuple[str, bool, bool, datetime]]] = {p: set() for p in person_ids}
    for ref, links in state.opportunities_by_record(refs).items():
        deals[refs[ref]].update((k.opportunity_id, k.is_closed, k.is_won, k.modstamp) for k in links)
    targets = [target_of(r.ref) for recs in records.values() for r in recs if r.writable]
    last = state.last_writes(targets)
    suspects = _overridden_since_our_write([r for recs in records.values() for r in recs if r.writable], last)
    return ChunkState(
        family=family, records=records, deals={p: sorted(d) for p, d in deals.items()},
        activities=uow.activities.for_people(everyone), history=uow.transitions.for_people(everyone),
        contact=uow.transitions.contact_status_for_people(everyone),
        written={k: w.value_hash for k, w in last.items()}, written_at={k: w.written_at for k, w in last.items()},
        corrections=state.corrections(suspects) if suspects else {},
        quarantined=uow.quarantine.get_many((t.system, t.object, t.record_id) for t in targets),
        latest_scores=uow.scores.latest_for(person_ids),
    )


def _overridden_since_our_write(records: Sequence[StoredRecord], last: Mapping[Key, LastWrite]) -> list[Target]:
    """Records that hold something else than our last write of a field and were modified after it: only
    these can need a correction, so only their correction history is read."""
    by_target = {target_of(r.ref): r for r in records}
    found = {target for (target, name), write in last.items()
             if (record := by_target.get(target)) is not None and record.modstamp > write.written_at
             and value_hash(record.current.get(name)) != write.value_hash}
    return sorted(found)


def person_state(chunk: ChunkState, person_id: str, ruleset: RuleSet) -> tuple[PersonState, list[StoredRecord]]:
    """The :class:`PersonState` of one person of a loaded chunk, and their live records."""
    family = chunk.family[person_id]
    records = chunk.records[person_id]
    deals = chunk.deals[person_id]
    activities = [a for pid in family for a in chunk.activities.get(pid, ())]
    history = sorted((t for pid in family for t in chunk.history.get(pid, ())), key=lambda t: t.at)
    contact = sorted((c for pid in family for c in chunk.contact.get(pid, ())), key=lambda c: c.at)
    # A merge brings the merged-away people's activities and facts, not their status: the survivor's own
    # latest transition is its status (else a newer one of a merged-away person would become the "from" of
    # the survivor's next transition and break its chain). Only a survivor with no history of its own
    # takes the family's latest.
    own_history = sorted(chunk.history.get(person_id, ()), key=lambda t: t.at)
    own_contact = sorted(chunk.contact.get(person_id, ()), key=lambda c: c.at)
    last = own_history[-1] if own_history else (history[-1] if history else None)
    contact = own_contact or contact
    changed = [r.facts_changed_at for r in records] + [d[3] for d in deals]
    state_ = PersonState(
        person=build_person(person_id, records), activities=activities, crm=merge_facts(records, deals),
        lifecycle_status=last.to_status if last else None, status_since=last.at if last else None,
        lifecycle_reason=last.reason if last else None, crm_changed_at=max(changed) if changed else None,
        contact_status=contact[-1].to_status if contact else None, mql_at=_mql_at(history, ruleset),
        recycled_at=_recycled_at(own_history or history, ruleset),
    )
    return state_, records


def load_state(uow: UnitOfWork, state: SyncState, person_id: str,
               ruleset: RuleSet) -> tuple[PersonState, list[StoredRecord]]:
    """The :class:`PersonState` of one person, and their live records."""
    return person_state(load_chunk(uow, state, [person_id]), person_id, ruleset)


def _mql_at(history: Sequence[Transition], ruleset: RuleSet) -> datetime | None:
    names = {s.name: s.role for s in ruleset.lifecycle.statuses}
    return next((t.at for t in history if names.get(t.to_status) is Role.MQL), None)


def _recycled_at(history: Sequence[Transition], ruleset: RuleSet) -> datetime | None:
    """When the person last entered a recycled status: evidence older than that no longer moves them on."""
    names = {s.name: s.role for s in ruleset.lifecycle.statuses}
    return next((t.at for t in reversed(history) if names.get(t.to_status) is Role.RECYCLED), None)


def payload_hash(fields: Mapping[str, Scalar]) -> str:
    text = "|".join(f"{name}={value_hash(fields[name])}" for name in sorted(fields))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def cause_fingerprint(ruleset_version: str, record: StoredRecord, fields: Iterable[str]) -> str:
    """What a permanent failure depended on: the rules and mappings, the record's version, and which fields
    we write. Not the values: a score decaying by 0.01 must not re-send a write the org refuses anyway."""
    text = f"{ruleset_version}|{record.modstamp.isoformat()}|{','.join(sorted(fields))}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def plan_chunk(uow: UnitOfWork, state: SyncState, person_ids: Sequence[str], ruleset: RuleSet,
               now: datetime) -> list[PersonPlan]:
    """Evaluate a chunk of people and plan their writes (reads only; a few queries for the chunk)."""
    chunk = load_chunk(uow, state, person_ids)
    return [plan for p in person_ids if (plan := _plan(uow, chunk, p, ruleset, now)) is not None]


def plan_person(uow: UnitOfWork, state: SyncState, person_id: str, ruleset: RuleSet,
                now: datetime) -> PersonPlan | None:
    """Evaluate one person and plan their writes; None when no live record is left to speak for them."""
    plans = plan_chunk(uow, state, [person_id], ruleset, now)
    return plans[0] if plans else None


def _plan(uow: UnitOfWork, chunk: ChunkState, person_id: str, ruleset: RuleSet, now: datetime) -> PersonPlan | None:
    person_state_, records = person_state(chunk, person_id, ruleset)
    if not records:
        return None
    transitions: list[Transition] = []
    reopen = crm_user_reopen(uow, person_state_, records, ruleset, now)
    if reopen is not None:
        transitions.append(reopen)
        person_state_ = PersonState(
            person=person_state_.person, activities=person_state_.activities, crm=person_state_.crm,
            lifecycle_status=reopen.to_status, status_since=now, lifecycle_reason=reopen.reason,
            crm_changed_at=person_state_.crm_changed_at, contact_status=person_state_.contact_status,
            mql_at=person_state_.mql_at,
        )
    evaluation = evaluate(person_state_, ruleset, now)
    if evaluation.transition is not None:
        transitions.append(evaluation.transition)
    writable = {target_of(r.ref): r for r in records if r.writable}
    targets = sorted(writable)
    desired = desired_fields(evaluation, targets, ruleset.fields)
    current = {(t, f.field): writable[t].current.get(f.field) for t in targets for f in desired if f.target == t}
    plan = plan_writes(desired, current, chunk.written, observed_at={t: writable[t].modstamp for t in targets},
                       written_at=chunk.written_at, corrections=chunk.corrections, now=now)
    result = PersonPlan(person_id, evaluation, transitions, list(plan.writes),
                        Counter(skip.reason for skip in plan.skipped),
                        known_before=person_state_.lifecycle_status is not None, targets=targets,
                        overrides_left=[s for s in plan.skipped if s.reason == "override_limit"])
    _hold_quarantined(chunk, result, writable, ruleset.version)
    result.snapshot = _snapshot(chunk.latest_scores.get(person_id), evaluation, ruleset.version, now)
    return result


def _hold_quarantined(chunk: ChunkState, plan: PersonPlan, records: Mapping[Target, StoredRecord],
                      version: str) -> None:
    by_target: dict[Target, dict[str, Scalar]] = {}
    for write in plan.writes:
        by_target.setdefault(write.target, {})[write.field] = write.value
    for target, fields in by_target.items():
        fingerprint = cause_fingerprint(version, records[target], fields)
        plan.fingerprints[target] = fingerprint
        held = chunk.quarantined.get((target.system, target.object, target.record_id))
        # Held for this very cause: left out until the cause changes (see QuarantineRepository.should_retry).
        if held is not None and held.released_at is None and held.cause_fingerprint == fingerprint:
            plan.held[target] = held.reason
    plan.writes = [w for w in plan.writes if w.target not in plan.held]


def _snapshot(latest: ScoreSnapshot | None, evaluation: Evaluation, version: str,
              now: datetime) -> ScoreSnapshot | None:
    """A new snapshot only when score, grade or rule-set version moved (history, not a per-cycle log)."""
    score, letter = evaluation.score.value, evaluation.grade.letter
    if latest is not None and (latest.score, latest.grade, latest.ruleset_version) == (score, letter, version):
        return None
    breakdown = {
        "score": [c._asdict() for c in evaluation.score.breakdown],
        "grade": [m._asdict() for m in evaluation.grade.matched],
    }
    return ScoreSnapshot(evaluation.person_id, now, score, letter, version, breakdown)
