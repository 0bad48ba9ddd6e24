"""People: one leadsync id per person, every identity it has, and the history of merges and conversions.

An identity (a CRM id or a normalised email) belongs to exactly one person. Merging moves the loser's
identities to the survivor and marks the loser ``merged_into``; lookups follow that pointer, so old ids
keep resolving. Nothing here deletes a person: their transitions must stay attributable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.domain.model import EMPTY
from leadsync.ledger.errors import IdentityConflict, LedgerError, NotFound
from leadsync.ledger.records import (
    Identity,
    IdentityEvent,
    IdentityEventKind,
    IdentityKind,
    PersonRecord,
    normalise_email,
)
from leadsync.ledger.schema import identity_events, person_identities, persons
from leadsync.ledger.sql import Tx, insert

# A chain of merges longer than this is a cycle or corruption, not history.
MAX_MERGE_DEPTH = 32
# Values per IN list in the bulk lookups (well below both dialects' bound-parameter limits).
BULK_CHUNK = 500


def _normalised(identity: Identity) -> Identity:
    if identity.kind is IdentityKind.EMAIL:
        return Identity(IdentityKind.EMAIL, normalise_email(identity.value))
    return identity


class PeopleRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    @property
    def _conn(self) -> sa.Connection:
        return self._tx.connection

    def ensure(self, person_ids: Iterable[str], now: datetime) -> int:
        """Create the persons that do not exist yet (idempotent); return how many were new."""
        rows = [{"id": pid, "created_at": now} for pid in dict.fromkeys(person_ids)]
        if not rows:
            return 0
        # RETURNING lists only the rows really inserted (executemany rowcounts are not reliable on PostgreSQL).
        stmt = insert(self._conn, persons).on_conflict_do_nothing(index_elements=["id"]).returning(persons.c.id)
        return len(self._conn.execute(stmt, rows).all())

    def link(self, person_id: str, identities: Iterable[Identity], now: datetime) -> None:
        """Attach identities to a person. Re-linking the same identity is a no-op; an identity already
        owned by someone else raises IdentityConflict (a merge is the way to move it)."""
        wanted = {_normalised(i) for i in identities}
        if not wanted:
            return
        rows = [{"kind": i.kind.value, "value": i.value, "person_id": person_id, "linked_at": now} for i in wanted]
        stmt = insert(self._conn, person_identities).on_conflict_do_nothing(index_elements=["kind", "value"])
        self._conn.execute(stmt, rows)
        for identity in wanted:
            owner = self._owner(identity)
            if owner != person_id:
                raise IdentityConflict(
                    f"{identity.kind.value} {identity.value!r} already belongs to person {owner}, not {person_id}"
                )

    def _owner(self, identity: Identity) -> str | None:
        query = sa.select(person_identities.c.person_id).where(
            person_identities.c.kind == identity.kind.value, person_identities.c.value == identity.value
        )
        return self._conn.execute(query).scalar_one_or_none()

    def find(self, identity: Identity) -> str | None:
        """The current person id for an identity, following merges; None when unknown."""
        owner = self._owner(_normalised(identity))
        return None if owner is None else self.resolve(owner)

    def resolve(self, person_id: str) -> str:
        """Follow ``merged_into`` to the surviving person."""
        current = person_id
        for _ in range(MAX_MERGE_DEPTH):
            query = sa.select(persons.c.merged_into).where(persons.c.id == current)
            row = self._conn.execute(query).one_or_none()
            if row is None:
                raise NotFound(f"no person {current!r} in the ledger")
            if row.merged_into is None:
                return current
            current = row.merged_into
        raise LedgerError(f"person {person_id!r} has a merge chain longer than {MAX_MERGE_DEPTH}")

    # ----- the same, for a page or a chunk of people at a time (a few statements, not a few per person) -----
    def find_many(self, identities: Iterable[Identity]) -> dict[Identity, str]:
        """The current person id of each known identity (merges followed); unknown ones are left out."""
        wanted = {_normalised(i): i for i in identities}
        owners = self._owners(wanted)
        survivors = self.resolve_many(owners.values())
        return {asked: survivors[owners[norm]] for norm, asked in wanted.items() if norm in owners}

    def resolve_many(self, person_ids: Iterable[str]) -> dict[str, str]:
        """Each person's survivor (``merged_into`` followed), one query per level of merging for the set."""
        pointer: dict[str, str | None] = {}
        todo = list(dict.fromkeys(person_ids))
        for _ in range(MAX_MERGE_DEPTH + 1):
            todo = [p for p in todo if p not in pointer]
            if not todo:
                break
            for offset in range(0, len(todo), BULK_CHUNK):
                query = sa.select(persons.c.id, persons.c.merged_into).where(
                    persons.c.id.in_(todo[offset:offset + BULK_CHUNK]))
                pointer.update((r.id, r.merged_into) for r in self._conn.execute(query))
            missing = [p for p in todo if p not in pointer]
            if missing:
                raise NotFound(f"no person {missing[0]!r} in the ledger")
            todo = [m for p in todo if (m := pointer[p]) is not None]
        return {p: self._survivor(p, pointer) for p in dict.fromkeys(person_ids)}

    @staticmethod
    def _survivor(person_id: str, pointer: Mapping[str, str | None]) -> str:
        current = person_id
        for _ in range(MAX_MERGE_DEPTH):
            following = pointer.get(current)
            if following is None:
                return current
            current = following
        raise LedgerError(f"person {person_id!r} has a merge chain longer than {MAX_MERGE_DEPTH}")

    def link_many(self, links: Iterable[tuple[str, Identity]], now: datetime) -> None:
        """``link`` for many (person, identity) pairs: one insert, one read-back of the owners."""
        wanted = {(p, _normalised(i)) for p, i in links}
        if not wanted:
            return
        rows = [{"kind": i.kind.value, "value": i.value, "person_id": p, "linked_at": now} for p, i in wanted]
        stmt = insert(self._conn, person_identities).on_conflict_do_nothing(index_elements=["kind", "value"])
        self._conn.execute(stmt, rows)
        owners = self._owners({i for _, i in wanted})
        for person_id, identity in sorted(wanted, key=lambda w: (w[1].kind.value, w[1].value)):
            owner = owners.get(identity)
            if owner != person_id:
                raise IdentityConflict(
                    f"{identity.kind.value} {identity.value!r} already belongs to person {owner}, not {person_id}"
                )

    def _owners(self, identities: Iterable[Identity]) -> dict[Identity, str]:
        found: dict[Identity, str] = {}
        table = person_identities
        wanted = list(identities)
        for kind in {i.kind for i in wanted}:
            values = [i.value for i in wanted if i.kind is kind]
            for offset in range(0, len(values), BULK_CHUNK):
                query = sa.select(table.c.value, table.c.person_id).where(
                    table.c.kind == kind.value, table.c.value.in_(values[offset:offset + BULK_CHUNK]))
                found.update((Identity(kind, r.value), r.person_id) for r in self._conn.execute(query))
        return found

    def get(self, person_id: str) -> PersonRecord | None:
        row = self._conn.execute(sa.select(persons).where(persons.c.id == person_id)).one_or_none()
        if row is None:
            return None
        query = sa.select(person_identities.c.kind, person_identities.c.value).where(
            person_identities.c.person_id == person_id
        )
        found = frozenset(Identity(IdentityKind(r.kind), r.value) for r in self._conn.execute(query))
        return PersonRecord(row.id, row.created_at, found, row.merged_into)

    def merge(
        self, loser: str, survivor: str, at: datetime, *, run_id: str | None = None,
        details: Mapping[str, Any] = EMPTY,
    ) -> None:
        """Fold ``loser`` into ``survivor``: identities move, the loser points at the survivor, and one
        merge event is recorded on each side."""
        survivor = self.resolve(survivor)
        if self.resolve(loser) != loser:
            raise LedgerError(f"person {loser!r} was already merged into {self.resolve(loser)!r}")
        if loser == survivor:
            raise LedgerError(f"cannot merge person {loser!r} into itself")
        self._conn.execute(
            sa.update(person_identities).where(person_identities.c.person_id == loser).values(person_id=survivor)
        )
        self._conn.execute(sa.update(persons).where(persons.c.id == loser).values(merged_into=survivor, merged_at=at))
        info = {**dict(details), "loser": loser, "survivor": survivor}
        self._event(survivor, IdentityEventKind.MERGE, at, info, run_id)
        self._event(loser, IdentityEventKind.MERGE, at, info, run_id)

    def record_conversion(
        self, person_id: str, lead_id: str, contact_id: str, at: datetime, *, run_id: str | None = None,
        details: Mapping[str, Any] = EMPTY,
    ) -> None:
        """A Salesforce lead became a contact: the person keeps the lead id and gains the contact id, so
        the lead's history follows the contact."""
        self.link(
            person_id,
            [Identity(IdentityKind.SALESFORCE_LEAD, lead_id), Identity(IdentityKind.SALESFORCE_CONTACT, contact_id)],
            at,
        )
        info = {**dict(details), "lead_id": lead_id, "contact_id": contact_id}
        self._event(person_id, IdentityEventKind.LEAD_CONVERSION, at, info, run_id)

    def _event(
        self, person_id: str, kind: IdentityEventKind, at: datetime, details: Mapping[str, Any], run_id: str | None
    ) -> None:
        self._conn.execute(
            identity_events.insert().values(
                person_id=person_id, kind=kind.value, at=at, details=dict(details), run_id=run_id
            )
        )

    def events(self, person_id: str) -> list[IdentityEvent]:
        query = (
            sa.select(identity_events)
            .where(identity_events.c.person_id == person_id)
            .order_by(identity_events.c.at, identity_events.c.id)
        )
        return [
            IdentityEvent(r.person_id, IdentityEventKind(r.kind), r.at, r.details, r.run_id)
            for r in self._conn.execute(query)
        ]
