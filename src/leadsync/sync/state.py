"""What the sync engine keeps in the ledger beyond the ledger's own repositories.

The ledger (``leadsync.ledger``) stores people, identities, history, the outbox and watermarks. The
cycle also needs each CRM record's last pulled state (person fields, CRM facts, the values its mapped
fields hold now), the opportunities linked to people, the people a committed page touched but no
cycle has evaluated yet (so a crash between pull and compute loses nothing), and duplicate flags.
Those live in four ``sync_*`` tables (ledger revision 0002), read and written through the unit of
work's ``sync`` repository (:mod:`leadsync.ledger.sync_state`); this module turns its rows into domain
types. Everything goes through the caller's :class:`~leadsync.ledger.UnitOfWork`, so these rows commit
with the page, watermark and intents they describe. The methods take sets of keys: a page or a chunk
of people costs a few statements, not a few per person.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.connectors.port import OpportunityRecord
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import CrmFacts, OwnerKind, System
from leadsync.domain.planner import Key, Scalar, Target, corrections_in
from leadsync.ledger import IdentityKind, Ledger, SchemaOutOfDate, UnitOfWork
from leadsync.ledger.engine import WRITE_OPTION
from leadsync.ledger.keys import keys_in
from leadsync.ledger.records import IntentRecord, IntentState
from leadsync.ledger.schema import SYNC_TABLES, activities, write_intents, written_values
from leadsync.ledger.sync_state import OpportunityLink, RecordKey, SyncRecordRow, chunks

# The ledger identity kind and the object a write names, for each record kind of each system.
IDENTITY_KINDS: Mapping[tuple[System, str], IdentityKind] = {
    (System.SALESFORCE, "lead"): IdentityKind.SALESFORCE_LEAD,
    (System.SALESFORCE, "contact"): IdentityKind.SALESFORCE_CONTACT,
    (System.HUBSPOT, "contact"): IdentityKind.HUBSPOT_CONTACT,
}
OBJECTS: Mapping[tuple[System, str], str] = {
    (System.SALESFORCE, "lead"): "Lead",
    (System.SALESFORCE, "contact"): "Contact",
    (System.HUBSPOT, "contact"): "contacts",
}
KINDS_OF_OBJECTS: Mapping[tuple[System, str], str] = {(system, obj): kind for (system, kind), obj in OBJECTS.items()}


@contextlib.contextmanager
def rolled_back(ledger: Ledger) -> Iterator[UnitOfWork]:
    """A writing unit of work that is always rolled back: a dry run does everything and keeps nothing."""
    with ledger.engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        transaction = connection.begin()
        try:
            yield UnitOfWork(connection, leader=ledger.leader)
        finally:
            transaction.rollback()


def ensure_tables(ledger: Ledger) -> None:
    """Check the engine's tables exist. They come with ledger revision 0002 now; this stays for callers
    that opened a ledger without requiring the current schema, so they fail with the fix in the message."""
    missing = set(SYNC_TABLES) - set(sa.inspect(ledger.engine).get_table_names())
    if missing:
        raise SchemaOutOfDate(f"the ledger lacks the sync tables {', '.join(sorted(missing))}: "
                              "run `leadsync db upgrade`")


def target_of(ref: RecordRef) -> Target:
    return Target(ref.system, OBJECTS[(ref.system, ref.kind)], ref.record_id)


def ref_of(target: Target) -> RecordRef:
    return RecordRef(target.system, KINDS_OF_OBJECTS[(target.system, target.object)], target.record_id)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    ref: RecordRef
    person_id: str
    email: str | None
    modstamp: datetime
    fields: Mapping[str, Any]
    facts: CrmFacts
    current: Mapping[str, Scalar]
    deleted: bool
    facts_changed_at: datetime

    @property
    def writable(self) -> bool:
        """A deleted record or a converted lead is history, not a place to write."""
        return not self.deleted and not (self.ref.kind == "lead" and self.facts.is_converted)


@dataclass(frozen=True, slots=True)
class LastWrite:
    """Our last write of one field of one record: the hash of the value and when it was applied."""

    value_hash: str
    written_at: datetime


def facts_to_json(facts: CrmFacts) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, OwnerKind) else v) for k, v in dataclasses.asdict(facts).items()}


def facts_from_json(data: Mapping[str, Any]) -> CrmFacts:
    known = {f.name for f in dataclasses.fields(CrmFacts)}
    values = {k: v for k, v in data.items() if k in known}
    if "owner_kind" in values:
        values["owner_kind"] = OwnerKind(values["owner_kind"])
    return CrmFacts(**values)


def plain(value: Any) -> Any:
    """A JSON-storable form of a pulled value (datetimes as ISO text; the planner compares canonically)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


class SyncState:
    """The engine's view of its ``sync_*`` rows (as domain types), plus bulk reads of ledger tables."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = uow.sync
        self.conn = uow.connection

    # ----- CRM records -----------------------------------------------------------------------------
    def record(self, ref: RecordRef) -> StoredRecord | None:
        return self.records([ref]).get(ref)

    def records(self, refs: Iterable[RecordRef]) -> dict[RecordRef, StoredRecord]:
        rows = self.repo.records(_key(r) for r in refs)
        return {stored.ref: stored for stored in map(_stored, rows.values())}

    def records_of(self, person_ids: Iterable[str]) -> list[StoredRecord]:
        return [_stored(r) for r in self.repo.records_of(person_ids)]

    def people_with_email(self, email: str) -> set[str]:
        return self.repo.people_with_emails([email]).get(email, set())

    def people_with_emails(self, emails: Iterable[str]) -> dict[str, set[str]]:
        return self.repo.people_with_emails(emails)

    def save_record(self, rec: StoredRecord) -> None:
        self.save_records([rec])

    def save_records(self, recs: Sequence[StoredRecord]) -> None:
        self.repo.save_records([_row(r) for r in recs])

    def set_current(self, target: Target, values: Mapping[str, Scalar]) -> None:
        self.set_currents({target: values})

    def set_currents(self, values: Mapping[Target, Mapping[str, Scalar]]) -> None:
        """Remember what successful writes put into records (until the next pull confirms it)."""
        stored = self.records(ref_of(t) for t in values)
        self.save_records([dataclasses.replace(rec, current={**rec.current, **values[target_of(ref)]})
                           for ref, rec in stored.items()])

    def reassign(self, loser: str, survivor: str) -> None:
        self.repo.reassign(loser, survivor)

    def mark_deleted(self, ref: RecordRef) -> None:
        self.repo.mark_deleted(_key(ref))

    # ----- opportunities ---------------------------------------------------------------------------
    def save_opportunity(self, opp: OpportunityRecord) -> bool:
        return bool(self.save_opportunities([opp]))

    def save_opportunities(self, opps: Sequence[OpportunityRecord]) -> list[OpportunityRecord]:
        """Store deals' links; return the deals where anything changed (a re-read in the overlap is not)."""
        latest = {o.record_id: o for o in opps}
        stored = self.repo.opportunity_links(latest)
        changed = []
        for opp in latest.values():
            before = {(*link.record, link.is_closed, link.is_won, link.stage) for link in stored.get(opp.record_id, ())}
            if before != {(*_key(r), opp.is_closed, opp.is_won, opp.stage) for r in opp.contact_refs}:
                changed.append(opp)
        links = [OpportunityLink(o.record_id, _key(ref), o.is_closed, o.is_won, o.stage, o.modstamp)
                 for o in changed for ref in dict.fromkeys(o.contact_refs)]
        self.repo.replace_opportunity_links([o.record_id for o in changed], links)
        return changed

    def opportunities_for(self, refs: Sequence[RecordRef]) -> list[tuple[str, bool, bool, datetime]]:
        """(opportunity id, closed, won, modstamp) of every deal linked to one of ``refs``."""
        found = {(link.opportunity_id, link.is_closed, link.is_won, link.modstamp)
                 for link in self.repo.opportunities_for(_key(r) for r in refs)}
        return sorted(found)

    def opportunities_by_record(self, refs: Iterable[RecordRef]) -> dict[RecordRef, list[OpportunityLink]]:
        found: dict[RecordRef, list[OpportunityLink]] = {}
        for link in self.repo.opportunities_for(_key(r) for r in refs):
            system, kind, record_id = link.record
            found.setdefault(RecordRef(System(system), kind, record_id), []).append(link)
        return found

    # ----- people to evaluate ----------------------------------------------------------------------
    def mark_dirty(self, person_ids: Iterable[str], now: datetime) -> None:
        self.repo.mark_dirty(person_ids, now)

    def dirty(self) -> list[str]:
        return self.repo.dirty()

    def clear_dirty(self, person_ids: Iterable[str]) -> None:
        self.repo.clear_dirty(person_ids)

    def flag_duplicate(self, person_id: str, other: str, email: str | None, now: datetime) -> None:
        self.repo.flag_duplicates([(person_id, other, email)], now)

    def flag_duplicates(self, pairs: Iterable[tuple[str, str, str | None]], now: datetime) -> None:
        self.repo.flag_duplicates(pairs, now)

    def duplicates_of(self, person_id: str) -> list[tuple[str, str | None]]:
        return self.repo.duplicates_of(person_id)

    def population(self) -> int:
        return self.repo.population()

    def all_people(self) -> list[str]:
        return self.repo.all_people()

    def merged_into(self, person_id: str) -> list[str]:
        """Every person (transitively) merged into ``person_id``: their activities are this person's."""
        return self.repo.merged_into([person_id])[person_id]

    # ----- reads over ledger tables the repositories do not offer in bulk --------------------------
    def known_activities(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, ...]]:
        """(person id, type, occurred_at, properties) of stored activities by (source, source id)."""
        found: dict[tuple[str, str], tuple[Any, ...]] = {}
        t = activities
        query = sa.select(t.c.source, t.c.source_id, t.c.person_id, t.c.type, t.c.occurred_at, t.c.properties)
        for chunk in chunks(list(dict.fromkeys(keys))):
            for r in self.conn.execute(query.where(keys_in((t.c.source, t.c.source_id), chunk))):
                found[(r.source, r.source_id)] = (r.person_id, r.type, r.occurred_at, dict(r.properties))
        return found

    def last_written(self, targets: Iterable[Target]) -> dict[Key, str]:
        """Our last written value hash per (target, field), for a set of targets."""
        return {key: last.value_hash for key, last in self.last_writes(targets).items()}

    def last_writes(self, targets: Iterable[Target]) -> dict[Key, LastWrite]:
        """Our last write per (target, field), with its time, for a set of targets."""
        out: dict[Key, LastWrite] = {}
        t = written_values
        keys = [(g.system.value, g.object, g.record_id) for g in dict.fromkeys(targets)]
        for chunk in chunks(keys):
            query = sa.select(t).where(keys_in((t.c.system, t.c.object, t.c.record_id), chunk))
            for r in self.conn.execute(query):
                out[(Target(System(r.system), r.object, r.record_id), r.field)] = LastWrite(r.value_hash, r.written_at)
        return out

    def corrections(self, targets: Iterable[Target]) -> dict[Key, list[datetime]]:
        """When we corrected a CRM user's override of each field of these records, oldest first.

        Read from the outbox's applied intents (nothing extra is stored): intents applied together (an
        older failed attempt settled with its successor) count as one write. The outbox has no index on the
        record, so callers ask only about records a user may have overridden, which are few."""
        t = write_intents
        history: dict[Target, dict[datetime, dict[str, Scalar]]] = {}
        keys = [(g.system.value, g.object, g.record_id) for g in dict.fromkeys(targets)]
        for chunk in chunks(keys):
            query = sa.select(t.c.target, t.c.object, t.c.record_id, t.c.fields, t.c.updated_at).where(
                t.c.state == IntentState.APPLIED.value,
                keys_in((t.c.target, t.c.object, t.c.record_id), chunk),
            ).order_by(t.c.updated_at, t.c.id)
            for r in self.conn.execute(query):
                target = Target(System(r.target), r.object, r.record_id)
                history.setdefault(target, {}).setdefault(r.updated_at, {}).update(r.fields)
        return {(target, name): times for target, writes in history.items()
                for name, times in corrections_in(sorted(writes.items())).items()}

    def intents_in(self, state: IntentState, limit: int = 10_000) -> list[IntentRecord]:
        """Open intents in ``state``, oldest first; beyond ``limit`` the rest wait for the next cycle."""
        return self.uow.outbox.by_state(state, limit=limit)


def _key(ref: RecordRef) -> RecordKey:
    return (ref.system.value, ref.kind, ref.record_id)


def _row(rec: StoredRecord) -> SyncRecordRow:
    return SyncRecordRow(
        rec.ref.system.value, rec.ref.kind, rec.ref.record_id, rec.person_id, rec.email, rec.modstamp,
        {k: plain(v) for k, v in rec.fields.items()}, facts_to_json(rec.facts),
        {k: plain(v) for k, v in rec.current.items()}, rec.deleted, rec.facts_changed_at,
    )


def _stored(row: SyncRecordRow) -> StoredRecord:
    return StoredRecord(
        ref=RecordRef(System(row.system), row.kind, row.record_id), person_id=row.person_id, email=row.email,
        modstamp=row.modstamp, fields=row.fields, facts=facts_from_json(row.facts), current=row.current,
        deleted=row.deleted, facts_changed_at=row.facts_changed_at,
    )
