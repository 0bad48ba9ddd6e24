"""Step 1 of the cycle: store one pulled page in the ledger, in the caller's unit of work.

Identities are resolved first (stored ids, then email; duplicates flagged, never merged; conversions and
CRM merges followed), then each record's state is upserted and the people whose facts really changed
are marked for evaluation. Re-reading a page is harmless: records upsert on their key, activities on
``(system, source id)``, and a record whose only change is our own write coming back is not a change.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from leadsync.connectors.port import ActivityRecord, OpportunityRecord, OwnerRecord, Page, PersonRecord
from leadsync.domain.identity import IdentityIndex, IdentityPlan, IncomingRecord, RecordRef, normalise_email, resolve
from leadsync.domain.model import Activity, System
from leadsync.domain.planner import HUBSPOT_STAGE_FIELD, Target, canonical, is_echo
from leadsync.ledger import Identity, UnitOfWork
from leadsync.sync.state import IDENTITY_KINDS, StoredRecord, SyncState, target_of

# Our last written value hash per (record, field), as :meth:`SyncState.last_written` returns it.
Written = Mapping[tuple[Target, str], str]


@dataclass
class PullStats:
    """What the pull of one cycle saw; the report and the sync run record these."""

    pages: int = 0
    records: int = 0
    people_changed: set[str] = field(default_factory=set)
    activities: int = 0
    activities_unattached: int = 0
    activities_deleted: int = 0
    opportunities: int = 0
    owners: int = 0
    echoes: int = 0
    new_people: int = 0
    duplicates: int = 0
    conversions: int = 0
    merges: int = 0
    deleted: int = 0


def identity(ref: RecordRef) -> Identity:
    return Identity(IDENTITY_KINDS[(ref.system, ref.kind)], ref.record_id)


def ingest_page(uow: UnitOfWork, page: Page, now: datetime, run_id: str, stats: PullStats) -> None:
    """Store one page: a few statements for the whole page (bulk lookups and upserts), not per record."""
    state = SyncState(uow)
    marked_before = set(stats.people_changed)  # earlier pages of this cycle committed their own marks
    people = [r for r in page.records if isinstance(r, PersonRecord)]
    assigned = _resolve_identities(uow, state, people, now, run_id, stats)
    _store_people(state, people, assigned, stats)
    activities = [r for r in page.records if isinstance(r, ActivityRecord)]
    _store_activities(uow, state, activities, now, stats)
    opportunities = [r for r in page.records if isinstance(r, OpportunityRecord)]
    stats.opportunities += len(opportunities)
    changed = state.save_opportunities(opportunities)
    linked = uow.people.find_many(identity(ref) for opp in changed for ref in opp.contact_refs if _known_kind(ref))
    stats.people_changed.update(linked.values())
    stats.owners += sum(1 for r in page.records if isinstance(r, OwnerRecord))
    stats.pages += 1
    stats.records += len(page.records)
    state.mark_dirty(stats.people_changed - marked_before, now)


def _index(uow: UnitOfWork, state: SyncState, people: Sequence[PersonRecord]) -> IdentityIndex:
    """The part of the ledger's identity knowledge this page can touch."""
    refs: set[RecordRef] = set()
    for record in people:
        refs.add(record.ref)
        if record.converted_to is not None:
            refs.add(record.converted_to)
        refs.update(RecordRef(record.ref.system, record.ref.kind, m) for m in record.merged_from)
    found = uow.people.find_many(identity(ref) for ref in refs)
    person_of = {ref: found[identity(ref)] for ref in refs if identity(ref) in found}
    emails = list(dict.fromkeys(e for r in people if (e := normalise_email(r.email))))
    owners = state.people_with_emails(emails)
    linked = uow.people.find_many(Identity.email(e) for e in emails)
    by_email: dict[str, frozenset[str]] = {}
    for email in emails:
        link = linked.get(Identity.email(email))
        by_email[email] = frozenset(owners.get(email, set()) | ({link} if link else set()))
    candidates = set(person_of.values()).union(*by_email.values()) if by_email else set(person_of.values())
    records_of: dict[str, set[RecordRef]] = {}
    for stored in state.records_of(candidates):
        if not stored.deleted:
            records_of.setdefault(stored.person_id, set()).add(stored.ref)
    return IdentityIndex(person_of, by_email, {k: frozenset(v) for k, v in records_of.items()})


def _resolve_identities(uow: UnitOfWork, state: SyncState, people: Sequence[PersonRecord], now: datetime,
                        run_id: str, stats: PullStats) -> dict[RecordRef, str]:
    incoming = [IncomingRecord(r.ref, r.email, r.converted_to, r.merged_from) for r in people]
    plan = resolve(incoming, _index(uow, state, people), lambda: uuid.uuid4().hex)
    stats.new_people += uow.people.ensure(plan.assignments.values(), now)
    _follow_merges(uow, state, plan, people, now, run_id, stats)
    survivor = uow.people.resolve_many(plan.assignments.values())
    uow.people.link_many([(survivor[p], identity(ref)) for ref, p in plan.assignments.items()], now)
    # An email is linked to the first person on the page that has it, unless someone holds it already.
    first_with: dict[str, str] = {}
    for record in people:
        email = normalise_email(record.email)
        if email:
            first_with.setdefault(email, survivor[plan.assignments[record.ref]])
    taken = uow.people.find_many(Identity.email(e) for e in first_with)
    uow.people.link_many([(p, Identity.email(e)) for e, p in first_with.items() if Identity.email(e) not in taken],
                         now)
    duplicates = [(e.person_id, e.other_person_id, normalise_email(_email_of(people, e.ref)))
                  for e in plan.of_kind("duplicate") if e.other_person_id is not None]
    state.flag_duplicates(duplicates, now)
    stats.duplicates += len(duplicates)
    return {ref: survivor[p] for ref, p in plan.assignments.items()}


def _follow_merges(uow: UnitOfWork, state: SyncState, plan: IdentityPlan, people: Sequence[PersonRecord],
                   now: datetime, run_id: str, stats: PullStats) -> None:
    """A converted lead or a CRM merge joins two people the ledger kept apart: fold them together."""
    for event in (*plan.of_kind("conversion"), *plan.of_kind("merge")):
        survivor = uow.people.resolve(event.person_id)
        if event.other_person_id is not None:
            loser = uow.people.resolve(event.other_person_id)
            if loser != survivor:
                uow.people.merge(loser, survivor, now, run_id=run_id, details={"cause": event.detail})
                state.reassign(loser, survivor)
                stats.people_changed.discard(loser)
        if event.kind == "conversion":
            lead = next(r.ref for r in people if r.converted_to == event.ref)
            uow.people.record_conversion(survivor, lead.record_id, event.ref.record_id, now, run_id=run_id)
            stats.conversions += 1
        else:
            uow.people.link(survivor, [identity(event.ref)], now)
            state.mark_deleted(event.ref)  # a merged-away record no longer exists in its CRM
            stats.merges += 1
        stats.people_changed.add(survivor)


def _email_of(people: Sequence[PersonRecord], ref: RecordRef) -> str | None:
    return next((r.email for r in people if r.ref == ref), None)


def _store_people(state: SyncState, people: Sequence[PersonRecord], assigned: Mapping[RecordRef, str],
                  stats: PullStats) -> None:
    before_of: dict[RecordRef, StoredRecord | None] = dict(state.records(r.ref for r in people))
    # Our last written hashes for the records we knew: the echo checks below need them.
    written = state.last_written(target_of(ref) for ref, rec in before_of.items() if rec is not None)
    stored_all: list[StoredRecord] = []
    for record in people:
        before = before_of.get(record.ref)
        facts_changed = before is None or not _same_facts(written, before, record)
        stored = StoredRecord(
            ref=record.ref, person_id=assigned[record.ref], email=normalise_email(record.email),
            modstamp=record.modstamp, fields=dict(record.fields), facts=record.facts, current=dict(record.current),
            deleted=record.deleted,
            facts_changed_at=record.modstamp if facts_changed or before is None else before.facts_changed_at,
        )
        stored_all.append(stored)
        before_of[record.ref] = stored  # a record twice on one page: the second compares with the first
        stats.deleted += record.deleted
        if _really_changed(written, before, stored, stats):
            stats.people_changed.add(stored.person_id)
    state.save_records(stored_all)


def _really_changed(written: Written, before: StoredRecord | None, after: StoredRecord, stats: PullStats) -> bool:
    """False when nothing but our own writes came back (echo suppression) or nothing changed at all."""
    if before is None or before.person_id != after.person_id:
        return True
    same = (before.email == after.email and before.deleted == after.deleted and _same_facts(written, before, after)
            and _canonical_map(before.fields) == _canonical_map(after.fields))
    if not same:
        return True
    target = target_of(after.ref)
    changed = [k for k in set(before.current) | set(after.current)
               if canonical(before.current.get(k)) != canonical(after.current.get(k))]
    for name in changed:
        if not is_echo(after.current.get(name), written.get((target, name))):
            return True  # a CRM user edited one of the mapped fields
    stats.echoes += bool(changed)
    return False


def _same_facts(written: Written, before: StoredRecord, after: StoredRecord | PersonRecord) -> bool:
    """Equal facts, or facts that differ only by HubSpot's stage now holding the value we wrote into it
    (our write echoing back through an input fact is not news)."""
    if before.facts == after.facts:
        return True
    stage = after.facts.hubspot_stage
    if after.ref.system is not System.HUBSPOT or replace(before.facts, hubspot_stage=stage) != after.facts:
        return False
    return is_echo(stage, written.get((target_of(after.ref), HUBSPOT_STAGE_FIELD)))


def _canonical_map(values: object) -> dict[str, str]:
    assert isinstance(values, dict)
    return {str(k): canonical(v) if not isinstance(v, list | tuple) else repr(v) for k, v in values.items()}


def _known_kind(ref: RecordRef) -> bool:
    return (ref.system, ref.kind) in IDENTITY_KINDS


def _store_activities(uow: UnitOfWork, state: SyncState, items: Sequence[ActivityRecord], now: datetime,
                      stats: PullStats) -> None:
    rows: list[tuple[str | None, Activity]] = []
    known = state.known_activities([(i.activity.source.value, i.activity.source_id) for i in items])
    # One identity lookup for the page, not per activity (people have dozens of them).
    whos = {i.who for i in items if _known_kind(i.who)}
    found = uow.people.find_many(identity(ref) for ref in whos)
    people = {ref: found.get(identity(ref)) for ref in whos}
    for item in items:
        if item.deleted:
            stats.activities_deleted += 1  # the ledger keeps activities; a CRM delete does not unscore history
            continue
        person = people.get(item.who)
        a = item.activity
        if person is None:
            stats.activities_unattached += 1
        elif known.get((a.source.value, a.source_id)) != (person, a.type, a.occurred_at, dict(a.properties)):
            stats.people_changed.add(person)  # new or changed; a re-read in the overlap changes nothing
        rows.append((person, item.activity))
    stats.activities += uow.activities.upsert(rows)
