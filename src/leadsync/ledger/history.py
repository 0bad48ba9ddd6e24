"""What happened to people: activities, score snapshots, and the append-only status history.

Transitions and contact-status changes are only ever inserted. There is no update or delete method here
by design, and the migration adds database triggers that refuse UPDATE and DELETE on both dialects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from leadsync.domain.model import Activity, Cause, CauseKind, ContactStatusChange, Move, System, Transition
from leadsync.ledger import bulk
from leadsync.ledger.records import RecordedTransition, ScoreSnapshot
from leadsync.ledger.schema import activities, contact_status_changes, score_snapshots, transitions
from leadsync.ledger.sql import Tx, insert

# Rows per executemany call: large enough to amortise round trips, small enough to bound memory.
BATCH_ROWS = 5_000


def _batches(rows: Iterable[tuple[Any, ...]]) -> Iterable[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


# Column order of the prepared tuples below; the table names carry no values, so the SQL is static.
HISTORY_COLUMNS = (
    "person_id", "from_status", "to_status", "at", "rule", "ruleset_version", "reason", "facts", "cause_kind",
    "cause_actor", "run_id", "epoch",
)


def _history_row(
    item: Transition | ContactStatusChange, run_id: str | None, epoch: int, dialect: str
) -> tuple[Any, ...]:
    return (
        item.person_id, item.from_status, item.to_status, bulk.instant(item.at, dialect), item.rule,
        item.ruleset_version, item.reason, bulk.json_text(item.facts), item.cause.kind.value, item.cause.actor,
        run_id, epoch,
    )


class TransitionRepository:
    """Lifecycle transitions and contact-status changes: append and read, nothing else."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def append(self, items: Iterable[Transition], *, run_id: str | None, epoch: int) -> int:
        """Insert transitions in bulk, stamped with the run and the writer's fencing epoch."""
        self._tx.fence(epoch)
        dialect = self._tx.connection.dialect.name
        rows = ((*_history_row(t, run_id, epoch, dialect), t.move.value) for t in items)
        return self._insert_all(transitions, (*HISTORY_COLUMNS, "move"), rows)

    def append_contact_status(self, items: Iterable[ContactStatusChange], *, run_id: str | None, epoch: int) -> int:
        self._tx.fence(epoch)
        dialect = self._tx.connection.dialect.name
        rows = (_history_row(c, run_id, epoch, dialect) for c in items)
        return self._insert_all(contact_status_changes, HISTORY_COLUMNS, rows)

    def _insert_all(self, table: sa.Table, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> int:
        written = 0
        for batch in _batches(rows):
            written += bulk.insert_rows(self._tx.connection, table, columns, batch)
        return written

    def for_person(self, person_id: str) -> list[RecordedTransition]:
        query = sa.select(transitions).where(transitions.c.person_id == person_id).order_by(
            transitions.c.at, transitions.c.id
        )
        return [
            RecordedTransition(
                r.id,
                Transition(
                    r.person_id, r.from_status, r.to_status, r.at, Move(r.move), r.rule, r.ruleset_version,
                    r.reason, r.facts, Cause(CauseKind(r.cause_kind), r.cause_actor),
                ),
                r.run_id,
                r.epoch,
            )
            for r in self._tx.connection.execute(query)
        ]

    def for_people(self, person_ids: Sequence[str]) -> dict[str, list[Transition]]:
        """Each person's transitions, oldest first (one query per chunk of people)."""
        found: dict[str, list[Transition]] = {p: [] for p in person_ids}
        for chunk in _chunks(person_ids):
            query = sa.select(transitions).where(transitions.c.person_id.in_(chunk)).order_by(
                transitions.c.at, transitions.c.id)
            for r in self._tx.connection.execute(query):
                found[r.person_id].append(Transition(
                    r.person_id, r.from_status, r.to_status, r.at, Move(r.move), r.rule, r.ruleset_version, r.reason,
                    r.facts, Cause(CauseKind(r.cause_kind), r.cause_actor)))
        return found

    def contact_status_for_people(self, person_ids: Sequence[str]) -> dict[str, list[ContactStatusChange]]:
        table = contact_status_changes
        found: dict[str, list[ContactStatusChange]] = {p: [] for p in person_ids}
        for chunk in _chunks(person_ids):
            query = sa.select(table).where(table.c.person_id.in_(chunk)).order_by(table.c.at, table.c.id)
            for r in self._tx.connection.execute(query):
                found[r.person_id].append(ContactStatusChange(
                    r.person_id, r.from_status, r.to_status, r.at, r.rule, r.ruleset_version, r.reason, r.facts,
                    Cause(CauseKind(r.cause_kind), r.cause_actor)))
        return found

    def contact_status_for_person(self, person_id: str) -> list[ContactStatusChange]:
        table = contact_status_changes
        query = sa.select(table).where(table.c.person_id == person_id).order_by(table.c.at, table.c.id)
        return [
            ContactStatusChange(
                r.person_id, r.from_status, r.to_status, r.at, r.rule, r.ruleset_version, r.reason, r.facts,
                Cause(CauseKind(r.cause_kind), r.cause_actor),
            )
            for r in self._tx.connection.execute(query)
        ]

    def current_status(self, person_id: str) -> str | None:
        """The status of the person's latest transition (by time, then insertion order)."""
        query = (
            sa.select(transitions.c.to_status)
            .where(transitions.c.person_id == person_id)
            .order_by(transitions.c.at.desc(), transitions.c.id.desc())
            .limit(1)
        )
        return self._tx.connection.execute(query).scalar_one_or_none()


class ActivityRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def upsert(self, items: Iterable[tuple[str | None, Activity]]) -> int:
        """Store (person id, activity) pairs, unique per (source, source id): re-reading a page of
        activities updates them in place instead of counting them twice. Returns rows written."""
        # One row per key (the last wins): PostgreSQL refuses to upsert the same row twice in one statement.
        by_key = {
            (a.source.value, a.source_id): {
                "source": a.source.value, "source_id": a.source_id, "person_id": person_id, "type": a.type,
                "occurred_at": a.occurred_at, "properties": a.properties,
            }
            for person_id, a in items
        }
        rows = list(by_key.values())
        if not rows:
            return 0
        stmt = insert(self._tx.connection, activities)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "source_id"],
            set_={
                "person_id": sa.func.coalesce(stmt.excluded.person_id, activities.c.person_id),
                "type": stmt.excluded.type,
                "occurred_at": stmt.excluded.occurred_at,
                "properties": stmt.excluded.properties,
            },
        )
        self._tx.connection.execute(stmt, rows)
        return len(rows)

    def for_person(self, person_id: str) -> list[Activity]:
        query = (
            sa.select(activities)
            .where(activities.c.person_id == person_id)
            .order_by(activities.c.occurred_at, activities.c.id)
        )
        return [
            Activity(System(r.source), r.source_id, r.type, r.occurred_at, r.properties)
            for r in self._tx.connection.execute(query)
        ]

    def for_people(self, person_ids: Sequence[str]) -> dict[str, list[Activity]]:
        """Each person's activities, oldest first (one query per chunk of people)."""
        found: dict[str, list[Activity]] = {p: [] for p in person_ids}
        for chunk in _chunks(person_ids):
            query = sa.select(activities).where(activities.c.person_id.in_(chunk)).order_by(
                activities.c.occurred_at, activities.c.id)
            for r in self._tx.connection.execute(query):
                found[r.person_id].append(Activity(System(r.source), r.source_id, r.type, r.occurred_at, r.properties))
        return found

    def count(self) -> int:
        return int(self._tx.connection.execute(sa.select(sa.func.count()).select_from(activities)).scalar_one())


class ScoreRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def record(self, snapshots: Sequence[ScoreSnapshot], *, run_id: str | None) -> int:
        rows = [
            {
                "person_id": s.person_id, "at": s.at, "score": s.score, "grade": s.grade,
                "ruleset_version": s.ruleset_version, "breakdown": s.breakdown, "run_id": run_id,
            }
            for s in snapshots
        ]
        if rows:
            self._tx.connection.execute(score_snapshots.insert(), rows)
        return len(rows)

    def latest(self, person_id: str) -> ScoreSnapshot | None:
        table = score_snapshots
        query = (
            sa.select(table).where(table.c.person_id == person_id).order_by(table.c.at.desc(), table.c.id.desc())
            .limit(1)
        )
        row = self._tx.connection.execute(query).one_or_none()
        if row is None:
            return None
        return ScoreSnapshot(row.person_id, row.at, row.score, row.grade, row.ruleset_version, row.breakdown)

    def latest_for(self, person_ids: Sequence[str]) -> dict[str, ScoreSnapshot]:
        """Each person's latest snapshot (people without one are left out), one query per chunk."""
        table = score_snapshots
        found: dict[str, ScoreSnapshot] = {}
        for chunk in _chunks(person_ids):
            ranked = sa.select(table, sa.func.row_number().over(
                partition_by=table.c.person_id, order_by=(table.c.at.desc(), table.c.id.desc())).label("rank"),
            ).where(table.c.person_id.in_(chunk)).subquery()
            for r in self._tx.connection.execute(sa.select(ranked).where(ranked.c.rank == 1)):
                found[r.person_id] = ScoreSnapshot(r.person_id, r.at, r.score, r.grade, r.ruleset_version, r.breakdown)
        return found


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    unique = list(dict.fromkeys(items))
    for offset in range(0, len(unique), size):
        yield unique[offset:offset + size]
