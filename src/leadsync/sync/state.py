"""What the sync engine keeps in the ledger beyond the ledger's own repositories.

The ledger (``leadsync.ledger``) stores people, identities, history, the outbox and watermarks. The
cycle also needs each CRM record's last pulled state (person fields, CRM facts, the values its mapped
fields hold now), the opportunities linked to people, the people a committed page touched but no
cycle has evaluated yet (so a crash between pull and compute loses nothing), and duplicate flags.
Those live in four ``sync_*`` tables defined here, created on the ledger's engine by
:func:`ensure_tables`; they belong in a ledger migration once that schema settles (see the report).

Everything goes through the caller's :class:`~leadsync.ledger.UnitOfWork` connection, so these rows
commit with the page, watermark and intents they describe.
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
from leadsync.domain.planner import Scalar, Target
from leadsync.ledger import IdentityKind, Ledger, UnitOfWork
from leadsync.ledger.engine import WRITE_OPTION
from leadsync.ledger.records import IntentRecord, IntentState
from leadsync.ledger.schema import Json, UtcDateTime, activities, persons, written_values
from leadsync.ledger.sql import insert

metadata = sa.MetaData()

sync_records = sa.Table(
    "sync_records", metadata,
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=True, index=True),
    sa.Column("modstamp", UtcDateTime(), nullable=False),
    sa.Column("fields", Json, nullable=False),
    sa.Column("facts", Json, nullable=False),
    sa.Column("current", Json, nullable=False),
    sa.Column("deleted", sa.Boolean(), nullable=False),
    # When the CRM facts last changed (lifecycle reads it to tell a fresh CRM verdict from an old one).
    sa.Column("facts_changed_at", UtcDateTime(), nullable=False),
)

sync_opportunity_links = sa.Table(
    "sync_opportunity_links", metadata,
    sa.Column("opportunity_id", sa.String(128), primary_key=True),
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Column("is_closed", sa.Boolean(), nullable=False),
    sa.Column("is_won", sa.Boolean(), nullable=False),
    sa.Column("stage", sa.String(128), nullable=False),
    sa.Column("modstamp", UtcDateTime(), nullable=False),
    sa.Index("ix_sync_opportunity_links_record", "system", "kind", "record_id"),
)

sync_dirty = sa.Table(
    "sync_dirty", metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("marked_at", UtcDateTime(), nullable=False),
)

sync_duplicates = sa.Table(
    "sync_duplicates", metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("other_person_id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("detected_at", UtcDateTime(), nullable=False),
)

SYNC_TABLES = ("sync_records", "sync_opportunity_links", "sync_dirty", "sync_duplicates")

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
    """Create the engine's own tables when missing (idempotent)."""
    metadata.create_all(ledger.engine, checkfirst=True)


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
    """The ``sync_*`` tables over one unit of work, plus a few read queries on ledger tables."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.connection

    # ----- CRM records -----------------------------------------------------------------------------
    def record(self, ref: RecordRef) -> StoredRecord | None:
        t = sync_records
        row = self.conn.execute(sa.select(t).where(
            t.c.system == ref.system.value, t.c.kind == ref.kind, t.c.record_id == ref.record_id,
        )).one_or_none()
        return None if row is None else _stored(row)

    def records_of(self, person_ids: Iterable[str]) -> list[StoredRecord]:
        ids = list(dict.fromkeys(person_ids))
        if not ids:
            return []
        t = sync_records
        query = sa.select(t).where(t.c.person_id.in_(ids)).order_by(t.c.modstamp, t.c.record_id)
        return [_stored(r) for r in self.conn.execute(query)]

    def people_with_email(self, email: str) -> set[str]:
        t = sync_records
        query = sa.select(t.c.person_id).where(t.c.email == email, t.c.deleted.is_(False)).distinct()
        return {r.person_id for r in self.conn.execute(query)}

    def save_record(self, rec: StoredRecord) -> None:
        values = {
            "system": rec.ref.system.value, "kind": rec.ref.kind, "record_id": rec.ref.record_id,
            "person_id": rec.person_id, "email": rec.email, "modstamp": rec.modstamp,
            "fields": {k: plain(v) for k, v in rec.fields.items()}, "facts": facts_to_json(rec.facts),
            "current": {k: plain(v) for k, v in rec.current.items()}, "deleted": rec.deleted,
            "facts_changed_at": rec.facts_changed_at,
        }
        stmt = insert(self.conn, sync_records).values(values)
        keys = ("person_id", "email", "modstamp", "fields", "facts", "current", "deleted", "facts_changed_at")
        self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["system", "kind", "record_id"], set_={k: stmt.excluded[k] for k in keys},
        ))

    def set_current(self, target: Target, values: Mapping[str, Scalar]) -> None:
        """Remember what a successful write put into a record (until the next pull confirms it)."""
        stored = self.record(ref_of(target))
        if stored is not None:
            self.save_record(dataclasses.replace(stored, current={**stored.current, **values}))

    def reassign(self, loser: str, survivor: str) -> None:
        """After a merge of people, the loser's records belong to the survivor."""
        t = sync_records
        self.conn.execute(sa.update(t).where(t.c.person_id == loser).values(person_id=survivor))

    def mark_deleted(self, ref: RecordRef) -> None:
        t = sync_records
        self.conn.execute(sa.update(t).where(
            t.c.system == ref.system.value, t.c.kind == ref.kind, t.c.record_id == ref.record_id,
        ).values(deleted=True))

    # ----- opportunities ---------------------------------------------------------------------------
    def save_opportunity(self, opp: OpportunityRecord) -> bool:
        """Store a deal's links; True when anything about it changed (a re-read in the overlap is not)."""
        t = sync_opportunity_links
        query = sa.select(t.c.system, t.c.kind, t.c.record_id, t.c.is_closed, t.c.is_won, t.c.stage).where(
            t.c.opportunity_id == opp.record_id)
        before = {tuple(r) for r in self.conn.execute(query)}
        after = {(r.system.value, r.kind, r.record_id, opp.is_closed, opp.is_won, opp.stage) for r in opp.contact_refs}
        if before == after:
            return False
        self.conn.execute(sa.delete(t).where(t.c.opportunity_id == opp.record_id))
        rows = [
            {"opportunity_id": opp.record_id, "system": ref.system.value, "kind": ref.kind,
             "record_id": ref.record_id, "is_closed": opp.is_closed, "is_won": opp.is_won, "stage": opp.stage,
             "modstamp": opp.modstamp}
            for ref in dict.fromkeys(opp.contact_refs)
        ]
        if rows:
            self.conn.execute(t.insert(), rows)
        return True

    def opportunities_for(self, refs: Sequence[RecordRef]) -> list[tuple[str, bool, bool, datetime]]:
        """(opportunity id, closed, won, modstamp) of every deal linked to one of ``refs``."""
        if not refs:
            return []
        t = sync_opportunity_links
        match = sa.or_(*(sa.and_(t.c.system == r.system.value, t.c.kind == r.kind, t.c.record_id == r.record_id)
                         for r in refs))
        query = sa.select(t.c.opportunity_id, t.c.is_closed, t.c.is_won, t.c.modstamp).where(match).distinct()
        return [(r.opportunity_id, r.is_closed, r.is_won, r.modstamp) for r in self.conn.execute(query)]

    # ----- people to evaluate ----------------------------------------------------------------------
    def mark_dirty(self, person_ids: Iterable[str], now: datetime) -> None:
        rows = [{"person_id": p, "marked_at": now} for p in dict.fromkeys(person_ids)]
        if rows:
            stmt = insert(self.conn, sync_dirty).on_conflict_do_nothing(index_elements=["person_id"])
            self.conn.execute(stmt, rows)

    def dirty(self) -> list[str]:
        return [r.person_id for r in self.conn.execute(sa.select(sync_dirty.c.person_id).order_by("person_id"))]

    def clear_dirty(self, person_ids: Iterable[str]) -> None:
        ids = list(person_ids)
        for offset in range(0, len(ids), 500):
            self.conn.execute(sa.delete(sync_dirty).where(sync_dirty.c.person_id.in_(ids[offset:offset + 500])))

    def flag_duplicate(self, person_id: str, other: str, email: str | None, now: datetime) -> None:
        stmt = insert(self.conn, sync_duplicates).values(
            person_id=person_id, other_person_id=other, email=email, detected_at=now,
        ).on_conflict_do_nothing(index_elements=["person_id", "other_person_id"])
        self.conn.execute(stmt)

    def duplicates_of(self, person_id: str) -> list[tuple[str, str | None]]:
        t = sync_duplicates
        query = sa.select(t.c.person_id, t.c.other_person_id, t.c.email).where(
            sa.or_(t.c.person_id == person_id, t.c.other_person_id == person_id))
        return sorted((r.other_person_id if r.person_id == person_id else r.person_id, r.email)
                      for r in self.conn.execute(query))

    # ----- reads over ledger tables the repositories do not offer in bulk --------------------------
    def population(self) -> int:
        query = sa.select(sa.func.count()).select_from(persons).where(persons.c.merged_into.is_(None))
        return int(self.conn.execute(query).scalar_one())

    def all_people(self) -> list[str]:
        query = sa.select(persons.c.id).where(persons.c.merged_into.is_(None)).order_by(persons.c.id)
        return [r.id for r in self.conn.execute(query)]

    def merged_into(self, person_id: str) -> list[str]:
        """Every person (transitively) merged into ``person_id``: their activities are this person's."""
        found: list[str] = []
        frontier = [person_id]
        while frontier:
            query = sa.select(persons.c.id).where(persons.c.merged_into.in_(frontier))
            frontier = [r.id for r in self.conn.execute(query) if r.id not in found]
            found.extend(frontier)
        return found

    def known_activities(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, ...]]:
        """(person id, type, occurred_at, properties) of stored activities by (source, source id)."""
        found: dict[tuple[str, str], tuple[Any, ...]] = {}
        t = activities
        for offset in range(0, len(keys), 200):
            chunk = keys[offset:offset + 200]
            match = sa.or_(*(sa.and_(t.c.source == src, t.c.source_id == sid) for src, sid in chunk))
            query = sa.select(t.c.source, t.c.source_id, t.c.person_id, t.c.type, t.c.occurred_at, t.c.properties)
            for r in self.conn.execute(query.where(match)):
                found[(r.source, r.source_id)] = (r.person_id, r.type, r.occurred_at, dict(r.properties))
        return found

    def last_written(self, targets: Sequence[Target]) -> dict[tuple[Target, str], str]:
        """Our last written value hash per (target, field), for a set of targets, in one query each 200."""
        out: dict[tuple[Target, str], str] = {}
        t = written_values
        for offset in range(0, len(targets), 200):
            chunk = targets[offset:offset + 200]
            match = sa.or_(*(sa.and_(t.c.system == g.system.value, t.c.object == g.object,
                                     t.c.record_id == g.record_id) for g in chunk))
            for r in self.conn.execute(sa.select(t).where(match)):
                out[(Target(System(r.system), r.object, r.record_id), r.field)] = r.value_hash
        return out

    def intents_in(self, state: IntentState, limit: int = 10_000) -> list[IntentRecord]:
        """Open intents in ``state``, oldest first; beyond ``limit`` the rest wait for the next cycle."""
        return self.uow.outbox.by_state(state, limit=limit)


def _stored(row: Any) -> StoredRecord:
    return StoredRecord(
        ref=RecordRef(System(row.system), row.kind, row.record_id), person_id=row.person_id, email=row.email,
        modstamp=row.modstamp, fields=row.fields, facts=facts_from_json(row.facts), current=row.current,
        deleted=row.deleted, facts_changed_at=row.facts_changed_at,
    )
