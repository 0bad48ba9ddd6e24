"""``score explain``: why a person has the score, grade and statuses they have, from the ledger alone.

The score and grade are recomputed with the current rule set at ``now`` (decay included) and shown
beside the stored snapshot and its rule-set version, so a reader sees both what was written and what
the rules say today.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadsync.domain.evaluate import evaluate
from leadsync.ledger import Identity, IdentityKind, UnitOfWork
from leadsync.rules.ruleset import RuleSet
from leadsync.sync.compute import load_state
from leadsync.sync.state import SyncState

LAST_TRANSITIONS = 10


class PersonNotFound(LookupError):
    pass


def find_person(uow: UnitOfWork, key: str) -> str:
    """A person by email, leadsync id, or CRM record id."""
    key = key.strip()
    if "@" in key:
        candidates = SyncState(uow).people_with_email(Identity.email(key).value)
        linked = uow.people.find(Identity.email(key))
        found = {uow.people.resolve(p) for p in candidates | ({linked} if linked else set())}
        if len(found) > 1:
            raise PersonNotFound(f"{key} belongs to {len(found)} people (flagged duplicates): "
                                 f"{', '.join(sorted(found))}; explain one by id")
        if found:
            return found.pop()
        raise PersonNotFound(f"no person with email {key} in the ledger")
    if uow.people.get(key) is not None:
        return uow.people.resolve(key)
    for kind in (IdentityKind.SALESFORCE_LEAD, IdentityKind.SALESFORCE_CONTACT, IdentityKind.HUBSPOT_CONTACT):
        person = uow.people.find(Identity(kind, key))
        if person is not None:
            return person
    raise PersonNotFound(f"no person, Salesforce record or HubSpot contact {key!r} in the ledger")


def explain(uow: UnitOfWork, ruleset: RuleSet, key: str, now: datetime) -> dict[str, Any]:
    person_id = find_person(uow, key)
    sync_state = SyncState(uow)
    state, records = load_state(uow, sync_state, person_id, ruleset)
    evaluation = evaluate(state, ruleset, now)
    stored = uow.people.get(person_id)
    snapshot = uow.scores.latest(person_id)
    history = uow.transitions.for_person(person_id)[-LAST_TRANSITIONS:]
    contact = uow.transitions.contact_status_for_person(person_id)[-LAST_TRANSITIONS:]
    return {
        "person": person_id,
        "identities": sorted(f"{i.kind.value}:{i.value}" for i in (stored.identities if stored else ())),
        "records": [f"{r.ref.system.value} {r.ref.kind} {r.ref.record_id}" for r in records],
        "duplicates": [{"person": p, "email": e} for p, e in sync_state.duplicates_of(person_id)],
        "score": {
            "value": evaluation.score.value, "ruleset_version": ruleset.version, "at": now.isoformat(),
            "breakdown": [c._asdict() for c in evaluation.score.breakdown],
        },
        "grade": {
            "letter": evaluation.grade.letter, "points": evaluation.grade.points,
            "matched": [m._asdict() for m in evaluation.grade.matched],
        },
        "stored_snapshot": None if snapshot is None else {
            "score": snapshot.score, "grade": snapshot.grade, "ruleset_version": snapshot.ruleset_version,
            "at": snapshot.at.isoformat(),
        },
        "lifecycle_status": state.lifecycle_status,
        "lifecycle_reason": state.lifecycle_reason,
        "contact_status": state.contact_status,
        "pending_transition": None if evaluation.transition is None else {
            "to": evaluation.transition.to_status, "rule": evaluation.transition.rule,
            "reason": evaluation.transition.reason},
        "transitions": [
            {"at": r.transition.at.isoformat(), "from": r.transition.from_status, "to": r.transition.to_status,
             "move": r.transition.move.value, "rule": r.transition.rule, "reason": r.transition.reason,
             "facts": dict(r.transition.facts), "cause": r.transition.cause.kind.value,
             "actor": r.transition.cause.actor, "run_id": r.run_id, "ruleset_version": r.transition.ruleset_version}
            for r in reversed(history)
        ],
        "contact_status_changes": [
            {"at": c.at.isoformat(), "from": c.from_status, "to": c.to_status, "rule": c.rule, "reason": c.reason}
            for c in reversed(contact)
        ],
    }


def render_text(data: dict[str, Any]) -> str:
    score, grade, snap = data["score"], data["grade"], data["stored_snapshot"]
    lines = [f"person {data['person']}", "  identities: " + ", ".join(data["identities"])]
    lines += [f"  duplicate of {d['person']} (email {d['email']})" for d in data["duplicates"]]
    lines.append(f"score {score['value']:g} now (rules {score['ruleset_version']}, decay to {score['at']})")
    for c in score["breakdown"]:
        capped = f" capped by {', '.join(c['capped_by'])}" if c["capped_by"] else ""
        lines.append(f"  {c['rule']}: {c['activities']} x {c['activity_type']}: raw {c['raw_points']:g}, "
                     f"decayed {c['decayed_points']:g}, counts {c['points']:g}{capped}")
    lines.append(f"grade {grade['letter']} ({grade['points']:g} points)")
    for m in grade["matched"]:
        counted = "" if m["counted"] else " (not counted: a better match in its group)"
        lines.append(f"  {m['name']} on {m['field']}: {m['adjustment']:+g}{counted}")
    if snap:
        lines.append(f"stored: score {snap['score']:g}, grade {snap['grade']} with rules {snap['ruleset_version']} "
                     f"at {snap['at']}")
    lines.append(f"lifecycle: {data['lifecycle_status']} ({data['lifecycle_reason']}); "
                 f"contact status: {data['contact_status']}")
    if data["pending_transition"]:
        p = data["pending_transition"]
        lines.append(f"  next cycle would move to {p['to']} [{p['rule']}] {p['reason']}")
    lines.append("last transitions:")
    for t in data["transitions"]:
        actor = f" by {t['actor']}" if t["actor"] else ""
        lines.append(f"  {t['at']} {t['from']} -> {t['to']} ({t['move']}, {t['cause']}{actor}) [{t['rule']}] "
                     f"{t['reason']} facts={t['facts']}")
    return "\n".join(lines)
