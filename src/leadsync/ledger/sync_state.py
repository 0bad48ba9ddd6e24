"""The sync engine's bookkeeping: each CRM record's last pulled state, deal links, people awaiting
evaluation, duplicate flags; plus the leader row ``leadsync status`` shows.

Every method works on sets of keys, so the engine spends a handful of statements per page or per chunk
of people instead of several per person: lookups are chunked ``IN`` queries, writes are one
``executemany`` upsert. Values stay in their stored form (JSON mappings, system names as text); the
engine (``leadsync.sync.state``) turns them into domain types.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from leadsync.ledger.keys import keys_in
from leadsync.ledger.schema import (
    leader_epochs,
    persons,
    sync_dirty,
    sync_duplicates,
    sync_opportunity_links,
    sync_records,
)
from leadsync.ledger.sql import Tx, insert

# Keys per IN list: far below both dialects' bound-parameter limits, large enough to amortise a query.
CHUNK = 500

RecordKey = tuple[str, str, str]  # (system, kind, record id)
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for offset in range(0, len(items), size):
        yield items[offset:offset + size]


@dataclass(frozen=True, slots=True)
class SyncRecordRow:
    """One CRM record as last pulled (``fields``, ``facts`` and ``current`` are JSON mappings)."""

    system: str
    kind: str
    record_id: str
    person_id: str
    email: str | None
    modstamp: datetime
    fields: Mapping[str, Any]
    facts: Mapping[str, Any]
    current: Mapping[str, Any]
    deleted: bool
    facts_changed_at: datetime

    @property
    def key(self) -> RecordKey:
        return (self.system, self.kind, self.record_id)


@dataclass(frozen=True, slots=True)
class OpportunityLink:
    opportunity_id: str
    record: RecordKey
    is_closed: bool
    is_won: bool
    stage: str
    modstamp: datetime


@dataclass(frozen=True, slots=True)
class LeaderRow:
    name: str
    epoch: int
    holder: str
    taken_at: datetime


_RECORD_UPDATED = ("person_id", "email", "modstamp", "fields", "facts", "current", "deleted", "facts_changed_at")


def _row(row: Any) -> SyncRecordRow:
    return SyncRecordRow(row.system, row.kind, row.record_id, row.person_id, row.email, row.modstamp, row.fields,
                         row.facts, row.current, row.deleted, row.facts_changed_at)


class SyncStateRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    @property
    def _conn(self) -> sa.Connection:
        return self._tx.connection

    # ----- CRM records ---------------------------------------------------------------------------------
    def records(self, keys: Iterable[RecordKey]) -> dict[RecordKey, SyncRecordRow]:
        t = sync_records
        found: dict[RecordKey, SyncRecordRow] = {}
        for chunk in chunks(list(dict.fromkeys(keys))):
            query = sa.select(t).where(keys_in((t.c.system, t.c.kind, t.c.record_id), chunk))
            found.update((r.key, r) for r in map(_row, self._conn.execute(query)))
        return found

    def records_of(self, person_ids: Iterable[str]) -> list[SyncRecordRow]:
        """Every record (deleted ones too) of these people, oldest modstamp first."""
        t = sync_records
        found: list[SyncRecordRow] = []
        for chunk in chunks(list(dict.fromkeys(person_ids))):
            found.extend(map(_row, self._conn.execute(sa.select(t).where(t.c.person_id.in_(chunk)))))
        return sorted(found, key=lambda r: (r.modstamp, r.record_id))

    def people_with_emails(self, emails: Iterable[str]) -> dict[str, set[str]]:
        """The people holding a live record with each email."""
        t = sync_records
        found: dict[str, set[str]] = {}
        for chunk in chunks(list(dict.fromkeys(emails))):
            query = sa.select(t.c.email, t.c.person_id).where(t.c.email.in_(chunk), t.c.deleted.is_(False)).distinct()
            for r in self._conn.execute(query):
                found.setdefault(r.email, set()).add(r.person_id)
        return found

    def save_records(self, rows: Sequence[SyncRecordRow]) -> None:
        """Upsert records on their key, in one executemany (the last row per key wins)."""
        by_key = {r.key: r for r in rows}
        if not by_key:
            return
        values = [
            {"system": r.system, "kind": r.kind, "record_id": r.record_id, "person_id": r.person_id, "email": r.email,
             "modstamp": r.modstamp, "fields": dict(r.fields), "facts": dict(r.facts), "current": dict(r.current),
             "deleted": r.deleted, "facts_changed_at": r.facts_changed_at}
            for r in by_key.values()
        ]
        stmt = insert(self._conn, sync_records)
        stmt = stmt.on_conflict_do_update(index_elements=["system", "kind", "record_id"],
                                          set_={k: stmt.excluded[k] for k in _RECORD_UPDATED})
        self._conn.execute(stmt, values)

    def reassign(self, loser: str, survivor: str) -> None:
        """After a merge of people, the loser's records belong to the survivor."""
        t = sync_records
        self._conn.execute(sa.update(t).where(t.c.person_id == loser).values(person_id=survivor))

    def mark_deleted(self, key: RecordKey) -> None:
        t = sync_records
        self._conn.execute(sa.update(t).where(
            t.c.system == key[0], t.c.kind == key[1], t.c.record_id == key[2]).values(deleted=True))

    def live_record_keys(self, systems: Iterable[str]) -> set[RecordKey]:
        """(system, kind, record id) of every record not deleted, for these systems (reconciliation)."""
        t = sync_records
        query = sa.select(t.c.system, t.c.kind, t.c.record_id).where(t.c.deleted.is_(False),
                                                                     t.c.system.in_(list(systems)))
        return {(r.system, r.kind, r.record_id) for r in self._conn.execute(query)}

    # ----- deals -----------------------------------------------------------------------------------------
    def opportunity_links(self, opportunity_ids: Iterable[str]) -> dict[str, list[OpportunityLink]]:
        t = sync_opportunity_links
        found: dict[str, list[OpportunityLink]] = {}
        for chunk in chunks(list(dict.fromkeys(opportunity_ids))):
            for r in self._conn.execute(sa.select(t).where(t.c.opportunity_id.in_(chunk))):
                found.setdefault(r.opportunity_id, []).append(_link(r))
        return found

    def replace_opportunity_links(self, opportunity_ids: Iterable[str], links: Sequence[OpportunityLink]) -> None:
        """Drop every link of these deals, then store ``links`` (a deal's contact roles are replaced whole)."""
        t = sync_opportunity_links
        for chunk in chunks(list(dict.fromkeys(opportunity_ids))):
            self._conn.execute(sa.delete(t).where(t.c.opportunity_id.in_(chunk)))
        rows = {(link.opportunity_id, *link.record): {
            "opportunity_id": link.opportunity_id, "system": link.record[0], "kind": link.record[1],
            "record_id": link.record[2], "is_closed": link.is_closed, "is_won": link.is_won, "stage": link.stage,
            "modstamp": link.modstamp} for link in links}
        if rows:
            self._conn.execute(t.insert(), list(rows.values()))

    def opportunities_for(self, keys: Iterable[RecordKey]) -> list[OpportunityLink]:
        """Every link naming one of these records."""
        t = sync_opportunity_links
        found: list[OpportunityLink] = []
        for chunk in chunks(list(dict.fromkeys(keys))):
            query = sa.select(t).where(keys_in((t.c.system, t.c.kind, t.c.record_id), chunk))
            found.extend(_link(r) for r in self._conn.execute(query))
        return found

    # ----- people to evaluate ------------------------------------------------------------------------------
    def mark_dirty(self, person_ids: Iterable[str], now: datetime) -> None:
        rows = [{"person_id": p, "marked_at": now} for p in dict.fromkeys(person_ids)]
        if rows:
            stmt = insert(self._conn, sync_dirty).on_conflict_do_nothing(index_elements=["person_id"])
            self._conn.execute(stmt, rows)

    def dirty(self) -> list[str]:
        query = sa.select(sync_dirty.c.person_id).order_by(sync_dirty.c.person_id)
        return [r.person_id for r in self._conn.execute(query)]

    def clear_dirty(self, person_ids: Iterable[str]) -> None:
        for chunk in chunks(list(person_ids)):
            self._conn.execute(sa.delete(sync_dirty).where(sync_dirty.c.person_id.in_(chunk)))

    # ----- duplicates ----------------------------------------------------------------------------------------
    def flag_duplicates(self, pairs: Iterable[tuple[str, str, str | None]], now: datetime) -> None:
        """Flag (person, other person, email) pairs; flagging a pair again changes nothing."""
        rows = {(p, o): {"person_id": p, "other_person_id": o, "email": e, "detected_at": now} for p, o, e in pairs}
        if rows:
            stmt = insert(self._conn, sync_duplicates).on_conflict_do_nothing(
                index_elements=["person_id", "other_person_id"])
            self._conn.execute(stmt, list(rows.values()))

    def duplicates_of(self, person_id: str) -> list[tuple[str, str | None]]:
        t = sync_duplicates
        query = sa.select(t.c.person_id, t.c.other_person_id, t.c.email).where(
            sa.or_(t.c.person_id == person_id, t.c.other_person_id == person_id))
        return sorted((r.other_person_id if r.person_id == person_id else r.person_id, r.email)
                      for r in self._conn.execute(query))

    # ----- people ------------------------------------------------------------------------------------------
    def population(self) -> int:
        """People not merged into someone else."""
        query = sa.select(sa.func.count()).select_from(persons).where(persons.c.merged_into.is_(None))
        return int(self._conn.execute(query).scalar_one())

    def all_people(self) -> list[str]:
        query = sa.select(persons.c.id).where(persons.c.merged_into.is_(None)).order_by(persons.c.id)
        return [r.id for r in self._conn.execute(query)]

    def merged_into(self, person_ids: Iterable[str]) -> dict[str, list[str]]:
        """For each person, everyone (transitively) merged into them: their activities are this person's.
        One query per level of merging for the whole set, not per person."""
        found: dict[str, list[str]] = {p: [] for p in person_ids}
        root_of = {p: p for p in found}
        frontier = list(found)
        while frontier:
            level: list[str] = []
            for chunk in chunks(frontier):
                query = sa.select(persons.c.id, persons.c.merged_into).where(persons.c.merged_into.in_(chunk))
                for r in self._conn.execute(query):
                    root = root_of[r.merged_into]
                    if r.id in root_of:
                        continue  # a cycle would be corruption; never loop on it
                    root_of[r.id] = root
                    found[root].append(r.id)
                    level.append(r.id)
            frontier = level
        return found

    # ----- leadership ----------------------------------------------------------------------------------------
    def leader(self) -> LeaderRow | None:
        """The first leader row (by name): who leads, with which epoch, since when."""
        row = self._conn.execute(sa.select(leader_epochs).order_by(leader_epochs.c.name)).first()
        return None if row is None else LeaderRow(row.name, int(row.epoch), row.holder, row.taken_at)


def _link(row: Any) -> OpportunityLink:
    return OpportunityLink(row.opportunity_id, (row.system, row.kind, row.record_id), row.is_closed, row.is_won,
                           row.stage, row.modstamp)
