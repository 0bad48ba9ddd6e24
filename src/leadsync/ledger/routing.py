"""Routing's ledger: every assignment (who got a new MQL, or why it waits, or that it went back to the pool),
the hand-off marker, and the CRM users and owners routing maps reps' emails to.

Round-robin state is not kept anywhere else: each ``assigned``/``waiting`` row carries its queue's credits
after the pick, so the newest row per queue is where the next pick starts (after a restart too).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.domain.model import System
from leadsync.ledger.schema import assignments, crm_owners, transitions
from leadsync.ledger.sql import Tx, insert

BULK_CHUNK = 500


class AssignmentStatus(enum.StrEnum):
    ASSIGNED = "assigned"  # a rep of the queue took the lead (owner written to both systems)
    WAITING = "waiting"  # nobody in the queue could take it; the reason says why
    KEPT = "kept"  # the new MQL already had a rep as owner: nothing routed, the hand-off goes to that rep
    RETURNED = "returned"  # the SLA sweep returned the lead to the pool; the next MQL is routed again


class Handoff(enum.StrEnum):
    PENDING = "pending"  # to hand to the notifier once the assignment committed
    SENT = "sent"  # handed to the notifier (delivery, retries and dead letters are its business)
    NONE = "none"  # no notifier was configured, or the row is no hand-off (returned to the pool)


@dataclass(frozen=True, slots=True)
class NewAssignment:
    person_id: str
    status: AssignmentStatus
    queue: str
    rule: str
    reason: str
    at: datetime
    owner_email: str | None = None
    salesforce_owner_id: str | None = None
    hubspot_owner_id: str | None = None
    credits: Mapping[str, int] = field(default_factory=dict)
    handoff: Handoff = Handoff.NONE


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    id: int
    person_id: str
    status: AssignmentStatus
    queue: str
    owner_email: str | None
    salesforce_owner_id: str | None
    hubspot_owner_id: str | None
    rule: str
    reason: str
    credits: Mapping[str, int]
    at: datetime
    run_id: str | None
    epoch: int
    handoff: Handoff
    handoff_at: datetime | None


@dataclass(frozen=True, slots=True)
class CrmOwner:
    system: System
    owner_id: str
    email: str | None
    active: bool
    is_queue: bool


def _record(row: Any) -> AssignmentRecord:
    return AssignmentRecord(
        row.id, row.person_id, AssignmentStatus(row.status), row.queue, row.owner_email, row.salesforce_owner_id,
        row.hubspot_owner_id, row.rule, row.reason, dict(row.credits or {}), row.at, row.run_id, row.epoch,
        Handoff(row.handoff), row.handoff_at,
    )


class AssignmentRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    @property
    def _conn(self) -> sa.Connection:
        return self._tx.connection

    def add_many(self, items: Sequence[NewAssignment], *, run_id: str | None, epoch: int) -> list[int]:
        """Record assignments (in order); returns their ids."""
        if not items:
            return []
        self._tx.fence(epoch)
        ids = []
        for item in items:  # few per flush (new MQLs); RETURNING ids works on both databases row by row
            stmt = sa.insert(assignments).values(
                person_id=item.person_id, status=item.status.value, queue=item.queue, owner_email=item.owner_email,
                salesforce_owner_id=item.salesforce_owner_id, hubspot_owner_id=item.hubspot_owner_id,
                rule=item.rule, reason=item.reason, credits=dict(item.credits), at=item.at, run_id=run_id,
                epoch=epoch, handoff=item.handoff.value, handoff_at=None,
            ).returning(assignments.c.id)
            ids.append(int(self._conn.execute(stmt).scalar_one()))
        return ids

    def for_person(self, person_id: str) -> list[AssignmentRecord]:
        query = sa.select(assignments).where(assignments.c.person_id == person_id).order_by(assignments.c.id)
        return [_record(r) for r in self._conn.execute(query)]

    def latest_for(self, person_ids: Sequence[str]) -> dict[str, AssignmentRecord]:
        """Each person's newest assignment row (people without one are left out)."""
        found: dict[str, AssignmentRecord] = {}
        unique = list(dict.fromkeys(person_ids))
        for offset in range(0, len(unique), BULK_CHUNK):
            chunk = unique[offset:offset + BULK_CHUNK]
            newest = sa.select(sa.func.max(assignments.c.id)).where(
                assignments.c.person_id.in_(chunk)).group_by(assignments.c.person_id)
            for row in self._conn.execute(sa.select(assignments).where(assignments.c.id.in_(newest))):
                found[row.person_id] = _record(row)
        return found

    def credits(self) -> dict[str, dict[str, int]]:
        """Each queue's round-robin credits as its newest routed row left them."""
        routed = [AssignmentStatus.ASSIGNED.value, AssignmentStatus.WAITING.value]
        newest = sa.select(sa.func.max(assignments.c.id)).where(
            assignments.c.status.in_(routed)).group_by(assignments.c.queue)
        query = sa.select(assignments.c.queue, assignments.c.credits).where(assignments.c.id.in_(newest))
        return {row.queue: {str(k): int(v) for k, v in (row.credits or {}).items()}
                for row in self._conn.execute(query)}

    def open_leads(self, open_statuses: Iterable[str]) -> dict[str, int]:
        """Per rep email: people whose newest assignment gave them to that rep and whose lifecycle status is
        still one of ``open_statuses`` (not yet taken further, disqualified, recycled or returned)."""
        a, t = assignments, transitions
        newest_assignment = sa.select(sa.func.max(a.c.id)).group_by(a.c.person_id)
        newest_transition = sa.select(sa.func.max(t.c.id)).where(
            t.c.person_id.in_(sa.select(a.c.person_id))).group_by(t.c.person_id)
        query = (
            sa.select(a.c.owner_email, sa.func.count())
            .select_from(a.join(t, t.c.person_id == a.c.person_id))
            .where(a.c.id.in_(newest_assignment), a.c.status.in_([AssignmentStatus.ASSIGNED.value,
                                                                   AssignmentStatus.KEPT.value]),
                   a.c.owner_email.is_not(None), t.c.id.in_(newest_transition), t.c.to_status.in_(list(open_statuses)))
            .group_by(a.c.owner_email)
        )
        return {str(email): int(count) for email, count in self._conn.execute(query)}

    def pending_handoffs(self, *, limit: int = 1_000) -> list[AssignmentRecord]:
        query = sa.select(assignments).where(assignments.c.handoff == Handoff.PENDING.value).order_by(
            assignments.c.id).limit(limit)
        return [_record(r) for r in self._conn.execute(query)]

    def mark_handed_off(self, ids: Sequence[int], now: datetime) -> int:
        moved = 0
        for offset in range(0, len(ids), BULK_CHUNK):
            stmt = sa.update(assignments).where(
                assignments.c.id.in_(ids[offset:offset + BULK_CHUNK]), assignments.c.handoff == Handoff.PENDING.value,
            ).values(handoff=Handoff.SENT.value, handoff_at=now)
            moved += self._conn.execute(stmt).rowcount
        return moved

    # ----- the CRM users and owners ------------------------------------------------------------------
    def save_owners(self, owners: Sequence[CrmOwner], now: datetime) -> None:
        """Upsert pulled users, queues and owners (a user's email or active flag may change)."""
        if not owners:
            return
        rows = [{"system": o.system.value, "owner_id": o.owner_id, "email": (o.email or "").strip().lower() or None,
                 "active": o.active, "is_queue": o.is_queue, "updated_at": now} for o in owners]
        stmt = insert(self._conn, crm_owners)
        stmt = stmt.on_conflict_do_update(
            index_elements=["system", "owner_id"],
            set_={"email": stmt.excluded.email, "active": stmt.excluded.active, "is_queue": stmt.excluded.is_queue,
                  "updated_at": stmt.excluded.updated_at},
        )
        self._conn.execute(stmt, rows)

    def owners(self) -> list[CrmOwner]:
        """Every known user, queue and owner (orgs have hundreds, not millions)."""
        query = sa.select(crm_owners).order_by(crm_owners.c.system, crm_owners.c.owner_id)
        return [CrmOwner(System(r.system), r.owner_id, r.email, bool(r.active), bool(r.is_queue))
                for r in self._conn.execute(query)]
