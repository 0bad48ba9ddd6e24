"""One person across a Salesforce Lead or Contact and a HubSpot contact.

Matching order: a record id leadsync already knows wins; then the normalised email. The same person in
both systems is linked. Several records *in one system* with one email are flagged as duplicates and
kept apart, never silently merged: merging people is a decision for a human or for the CRM's own merge,
which leadsync then follows:

* a Salesforce lead conversion moves the lead's history to the contact it became;
* a HubSpot merge (``hs_merged_object_ids``) moves the merged-away contact to the survivor's person.

Pure: the index is passed in, new ids come from a caller-supplied factory, the result is a plan the
ledger applies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from leadsync.domain.model import System


@dataclass(frozen=True, slots=True, order=True)
class RecordRef:
    """A record in one system: ``kind`` is ``lead``/``contact`` (Salesforce) or ``contact`` (HubSpot)."""

    system: System
    kind: str
    record_id: str


@dataclass(frozen=True, slots=True)
class IncomingRecord:
    ref: RecordRef
    email: str | None
    converted_to: RecordRef | None = None  # Salesforce: the Contact a converted Lead became
    merged_from: tuple[str, ...] = ()  # HubSpot: ids merged into this contact


@dataclass(frozen=True, slots=True)
class IdentityIndex:
    """What the ledger knows: the person of each record, and the people behind each email."""

    person_of: Mapping[RecordRef, str] = field(default_factory=dict)
    people_by_email: Mapping[str, frozenset[str]] = field(default_factory=dict)
    records_of: Mapping[str, frozenset[RecordRef]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    """A change to identities the ledger records: ``link``, ``new``, ``conversion``, ``merge``, ``duplicate``."""

    kind: str
    person_id: str
    ref: RecordRef
    detail: str
    other_person_id: str | None = None


@dataclass(frozen=True)
class IdentityPlan:
    assignments: dict[RecordRef, str]
    events: tuple[IdentityEvent, ...]

    def of_kind(self, kind: str) -> list[IdentityEvent]:
        return [e for e in self.events if e.kind == kind]


def normalise_email(raw: str | None) -> str | None:
    """Lower-cased and trimmed; None when it cannot be an address. No provider-specific folding
    (dots, plus tags): two spellings may be two people, and a wrong merge is worse than a miss."""
    if raw is None:
        return None
    email = raw.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or " " in email or domain.startswith(".") or domain.endswith("."):
        return None
    return email


class _Working:
    """Mutable view of the index while one batch is resolved, so records in one batch see each other."""

    def __init__(self, index: IdentityIndex) -> None:
        self.person_of: dict[RecordRef, str] = dict(index.person_of)
        self.by_email: dict[str, set[str]] = {k: set(v) for k, v in index.people_by_email.items()}
        self.records_of: dict[str, set[RecordRef]] = {k: set(v) for k, v in index.records_of.items()}

    def attach(self, ref: RecordRef, person_id: str, email: str | None) -> None:
        self.person_of[ref] = person_id
        self.records_of.setdefault(person_id, set()).add(ref)
        if email:
            self.by_email.setdefault(email, set()).add(person_id)

    def has_other_record_in(self, person_id: str, ref: RecordRef) -> bool:
        """Does the person already hold a different record of the same system?"""
        return any(r.system == ref.system and r != ref for r in self.records_of.get(person_id, ()))


def resolve(records: Iterable[IncomingRecord], index: IdentityIndex, new_id: Callable[[], str]) -> IdentityPlan:
    """Assign a person to every incoming record; report links, new people, duplicates, conversions, merges."""
    work = _Working(index)
    assignments: dict[RecordRef, str] = {}
    events: list[IdentityEvent] = []
    # Deterministic whatever the pull order. Records that carry a conversion or a merge go first, so the
    # contact a lead became (or a merged-away contact) joins the right person instead of being flagged
    # as a duplicate of it.
    ordered = sorted(records, key=lambda r: (r.converted_to is None and not r.merged_from, r.ref))
    for record in ordered:
        person = _assign(record, work, events, new_id)
        assignments[record.ref] = person
        _follow_conversion(record, person, work, assignments, events)
        _follow_merges(record, person, work, assignments, events)
    return IdentityPlan(assignments=assignments, events=tuple(events))


def _assign(record: IncomingRecord, work: _Working, events: list[IdentityEvent], new_id: Callable[[], str]) -> str:
    email = normalise_email(record.email)
    known = work.person_of.get(record.ref)
    if known is not None:
        if email:
            work.by_email.setdefault(email, set()).add(known)
        return known
    candidates = sorted(work.by_email.get(email, ())) if email else []
    linkable = [p for p in candidates if not work.has_other_record_in(p, record.ref)]
    if len(candidates) == 1 and linkable:
        person = linkable[0]
        work.attach(record.ref, person, email)
        events.append(IdentityEvent("link", person, record.ref, f"same email as an existing person ({email})"))
        return person
    person = new_id()
    work.attach(record.ref, person, email)
    events.append(IdentityEvent("new", person, record.ref, "no known record or email"))
    if candidates:
        # Same email, but the match is ambiguous or already has a record in this system: keep apart, flag.
        for other in candidates:
            events.append(IdentityEvent(
                "duplicate", person, record.ref, f"shares email {email} with another person", other_person_id=other,
            ))
    return person


def _follow_conversion(record: IncomingRecord, person: str, work: _Working,
                       assignments: dict[RecordRef, str], events: list[IdentityEvent]) -> None:
    target = record.converted_to
    if target is None:
        return
    current = work.person_of.get(target)
    if current == person:
        return
    work.attach(target, person, None)
    assignments[target] = person
    detail = f"lead {record.ref.record_id} converted to contact {target.record_id}"
    events.append(IdentityEvent("conversion", person, target, detail, other_person_id=current))


def _follow_merges(record: IncomingRecord, person: str, work: _Working,
                   assignments: dict[RecordRef, str], events: list[IdentityEvent]) -> None:
    for merged_id in record.merged_from:
        merged = RecordRef(record.ref.system, record.ref.kind, merged_id)
        previous = work.person_of.get(merged)
        if previous == person:
            continue
        work.attach(merged, person, None)
        assignments[merged] = person
        detail = f"{record.ref.system} merged {merged_id} into {record.ref.record_id}"
        events.append(IdentityEvent("merge", person, merged, detail, other_person_id=previous))
