"""Step 2 of the cycle: from what the ledger holds about a person to the writes that person needs.

Reads only: the person's records (Salesforce lead/contact, HubSpot contact), their activities, deals
and history are folded into a :class:`PersonState`; the pure core evaluates it; the planner compares the
desired field values with what each target holds and with what we last wrote. Records held in
quarantine for the same cause are left out (they are retried once the cause changes).
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
from leadsync.domain.model import PERSON_FIELDS, Activity, CrmFacts, OwnerKind, Person, System, Transition
from leadsync.domain.planner import FieldWrite, Scalar, Target, plan_writes, value_hash
from leadsync.ledger import ScoreSnapshot, UnitOfWork
from leadsync.rules.ruleset import RuleSet
from leadsync.sync.reopen import crm_user_reopen
from leadsync.sync.state import StoredRecord, SyncState, target_of


@dataclass
class PersonPlan:
    """Everything the cycle decided for one person."""

    person_id: str
    evaluation: Evaluation
    transitions: list[Transition]
    writes: list[FieldWrite]
    skipped: Counter[str]  # fields left alone, by reason (unchanged, echo_of_our_write, not_owned)
    held: dict[Target, str] = field(default_factory=dict)  # target -> quarantine reason
    fingerprints: dict[Target, str] = field(default_factory=dict)
    snapshot: ScoreSnapshot | None = None
    known_before: bool = True  # had a lifecycle status before this cycle (the guard protects only those)
    targets: list[Target] = field(default_factory=list)  # the person's writable records


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


def load_state(uow: UnitOfWork, state: SyncState, person_id: str,
               ruleset: RuleSet) -> tuple[PersonState, list[StoredRecord]]:
    """The :class:`PersonState` of one person, and their live records."""
    family = [person_id, *state.merged_into(person_id)]
    records = [r for r in state.records_of(family) if not r.deleted]
    deals = state.opportunities_for([r.ref for r in records])
    activities: list[Activity] = []
    history: list[Transition] = []
    contact = []
    for pid in family:
        activities.extend(uow.activities.for_person(pid))
        history.extend(t.transition for t in uow.transitions.for_person(pid))
        contact.extend(uow.transitions.contact_status_for_person(pid))
    history.sort(key=lambda t: t.at)
    contact.sort(key=lambda c: c.at)
    last = history[-1] if history else None
    changed = [r.facts_changed_at for r in records] + [d[3] for d in deals]
    state_ = PersonState(
        person=build_person(person_id, records), activities=activities, crm=merge_facts(records, deals),
        lifecycle_status=last.to_status if last else None, status_since=last.at if last else None,
        lifecycle_reason=last.reason if last else None, crm_changed_at=max(changed) if changed else None,
        contact_status=contact[-1].to_status if contact else None, mql_at=_mql_at(history, ruleset),
    )
    return state_, records


def _mql_at(history: Sequence[Transition], ruleset: RuleSet) -> datetime | None:
    names = {s.name: s.role for s in ruleset.lifecycle.statuses}
    return next((t.at for t in history if names.get(t.to_status) is Role.MQL), None)


def payload_hash(fields: Mapping[str, Scalar]) -> str:
    text = "|".join(f"{name}={value_hash(fields[name])}" for name in sorted(fields))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def cause_fingerprint(ruleset_version: str, record: StoredRecord, fields: Iterable[str]) -> str:
    """What a permanent failure depended on: the rules and mappings, the record's version, and which fields
    we write. Not the values: a score decaying by 0.01 must not re-send a write the org refuses anyway."""
    text = f"{ruleset_version}|{record.modstamp.isoformat()}|{','.join(sorted(fields))}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def plan_person(uow: UnitOfWork, state: SyncState, person_id: str, ruleset: RuleSet,
                now: datetime) -> PersonPlan | None:
    """Evaluate one person and plan their writes; None when no live record is left to speak for them."""
    person_state, records = load_state(uow, state, person_id, ruleset)
    if not records:
        return None
    transitions: list[Transition] = []
    reopen = crm_user_reopen(uow, person_state, records, ruleset, now)
    if reopen is not None:
        transitions.append(reopen)
        person_state = PersonState(
            person=person_state.person, activities=person_state.activities, crm=person_state.crm,
            lifecycle_status=reopen.to_status, status_since=now, lifecycle_reason=reopen.reason,
            crm_changed_at=person_state.crm_changed_at, contact_status=person_state.contact_status,
            mql_at=person_state.mql_at,
        )
    evaluation = evaluate(person_state, ruleset, now)
    if evaluation.transition is not None:
        transitions.append(evaluation.transition)
    writable = {target_of(r.ref): r for r in records if r.writable}
    targets = sorted(writable)
    desired = desired_fields(evaluation, targets, ruleset.fields)
    current = {(t, f.field): writable[t].current.get(f.field) for t in targets for f in desired if f.target == t}
    plan = plan_writes(desired, current, state.last_written(targets))
    result = PersonPlan(person_id, evaluation, transitions, list(plan.writes),
                        Counter(skip.reason for skip in plan.skipped),
                        known_before=person_state.lifecycle_status is not None, targets=targets)
    _hold_quarantined(uow, result, writable, ruleset.version)
    result.snapshot = _snapshot(uow, evaluation, ruleset.version, now)
    return result


def _hold_quarantined(uow: UnitOfWork, plan: PersonPlan, records: Mapping[Target, StoredRecord],
                      version: str) -> None:
    by_target: dict[Target, dict[str, Scalar]] = {}
    for write in plan.writes:
        by_target.setdefault(write.target, {})[write.field] = write.value
    for target, fields in by_target.items():
        fingerprint = cause_fingerprint(version, records[target], fields)
        plan.fingerprints[target] = fingerprint
        if not uow.quarantine.should_retry(target.system, target.object, target.record_id, fingerprint):
            held = uow.quarantine.get(target.system, target.object, target.record_id)
            plan.held[target] = held.reason if held else "quarantined"
    plan.writes = [w for w in plan.writes if w.target not in plan.held]


def _snapshot(uow: UnitOfWork, evaluation: Evaluation, version: str, now: datetime) -> ScoreSnapshot | None:
    """A new snapshot only when score, grade or rule-set version moved (history, not a per-cycle log)."""
    latest = uow.scores.latest(evaluation.person_id)
    score, letter = evaluation.score.value, evaluation.grade.letter
    if latest is not None and (latest.score, latest.grade, latest.ruleset_version) == (score, letter, version):
        return None
    breakdown = {
        "score": [c._asdict() for c in evaluation.score.breakdown],
        "grade": [m._asdict() for m in evaluation.grade.matched],
    }
    return ScoreSnapshot(evaluation.person_id, now, score, letter, version, breakdown)
