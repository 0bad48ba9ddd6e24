"""The outbox (write intents recorded before each API call) and the echo-suppression hashes.

An intent moves through a small state machine (``records.INTENT_MOVES``); every move is a conditional
UPDATE on the state it expects, so two writers cannot both apply one intent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.domain.model import System
from leadsync.ledger.errors import IntentStateError, NotFound
from leadsync.ledger.keys import keys_in
from leadsync.ledger.records import INTENT_MOVES, IntentOrigin, IntentRecord, IntentState, WriteIntent
from leadsync.ledger.schema import write_intents, written_values
from leadsync.ledger.sql import Tx, insert

# Errors are kept for people to read, not as a log: cut very long vendor messages.
MAX_ERROR_CHARS = 2_000
# Keys per IN list in the bulk methods.
BULK_CHUNK = 500


def _record(row: Any) -> IntentRecord:
    intent = WriteIntent(System(row.target), row.object, row.record_id, row.fields, row.payload_hash)
    return IntentRecord(
        row.id, intent, IntentState(row.state), row.attempts, row.last_error, row.run_id, row.created_at,
        row.updated_at, IntentOrigin(row.origin), row.dispatched_at,
    )


class OutboxRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    @property
    def _conn(self) -> sa.Connection:
        return self._tx.connection

    def add(self, intent: WriteIntent, now: datetime, *, run_id: str | None = None,
            origin: IntentOrigin = IntentOrigin.SYNC) -> IntentRecord:
        """Record a pending intent. The same payload for the same record while one is still pending is
        the same intent: it is returned, not duplicated. The cycle's own intents (``SYNC``) count as
        dispatched at once (its call follows the commit); other origins are queued for the next cycle."""
        values = {
            "target": intent.target.value, "object": intent.object, "record_id": intent.record_id,
            "fields": intent.fields, "payload_hash": intent.payload_hash, "state": IntentState.PENDING.value,
            "attempts": 0, "last_error": None, "run_id": run_id, "created_at": now, "updated_at": now,
            "origin": origin.value, "dispatched_at": now if origin is IntentOrigin.SYNC else None,
        }
        stmt = insert(self._conn, write_intents).values(values).on_conflict_do_nothing(
            index_elements=["target", "object", "record_id", "payload_hash"],
            # Literal, not bound: once psycopg prepares the statement, PostgreSQL cannot match a
            # parameterised predicate to the partial index and ON CONFLICT finds no arbiter.
            index_where=sa.text(f"state = '{IntentState.PENDING.value}'"),
        )
        self._conn.execute(stmt)
        query = sa.select(write_intents).where(
            write_intents.c.target == values["target"],
            write_intents.c.object == intent.object,
            write_intents.c.record_id == intent.record_id,
            write_intents.c.payload_hash == intent.payload_hash,
            write_intents.c.state == IntentState.PENDING.value,
        )
        return _record(self._conn.execute(query).one())

    def add_many(
        self, intents: Sequence[WriteIntent], now: datetime, *, run_id: str | None = None,
    ) -> list[IntentRecord]:
        """``add`` for many of the cycle's own intents (dispatched: the call follows the commit): one insert,
        one read-back per chunk; records come back in ``intents`` order."""
        if not intents:
            return []
        rows = [
            {"target": i.target.value, "object": i.object, "record_id": i.record_id, "fields": i.fields,
             "payload_hash": i.payload_hash, "state": IntentState.PENDING.value, "attempts": 0, "last_error": None,
             "run_id": run_id, "created_at": now, "updated_at": now, "origin": IntentOrigin.SYNC.value,
             "dispatched_at": now}
            for i in intents
        ]
        # The partial index's predicate as text: a bound parameter there cannot go through executemany.
        stmt = insert(self._conn, write_intents).on_conflict_do_nothing(
            index_elements=["target", "object", "record_id", "payload_hash"],
            index_where=sa.text(f"state = '{IntentState.PENDING.value}'"),
        )
        self._conn.execute(stmt, rows)
        t = write_intents
        keys = [(i.target.value, i.object, i.record_id, i.payload_hash) for i in intents]
        found: dict[tuple[str, str, str, str], IntentRecord] = {}
        # By record (indexed), the payload matched below: several pending payloads of one record are rare.
        key_columns = (t.c.target, t.c.object, t.c.record_id)
        for offset in range(0, len(keys), BULK_CHUNK):
            query = sa.select(t).where(keys_in(key_columns, [k[:3] for k in keys[offset:offset + BULK_CHUNK]]),
                                       t.c.state == IntentState.PENDING.value)
            for row in self._conn.execute(query):
                found[(row.target, row.object, row.record_id, row.payload_hash)] = _record(row)
        return [found[k] for k in keys]

    def mark_applied_many(self, intent_ids: Sequence[int], now: datetime) -> None:
        """``mark_applied`` for many intents (one UPDATE per chunk); every one must be pending."""
        allowed_from = [s.value for s, targets in INTENT_MOVES.items() if IntentState.APPLIED in targets]
        ids = list(dict.fromkeys(intent_ids))
        for offset in range(0, len(ids), BULK_CHUNK):
            chunk = ids[offset:offset + BULK_CHUNK]
            stmt = sa.update(write_intents).where(
                write_intents.c.id.in_(chunk), write_intents.c.state.in_(allowed_from),
            ).values(state=IntentState.APPLIED.value, updated_at=now, attempts=write_intents.c.attempts + 1)
            moved = self._conn.execute(stmt).rowcount
            if moved != len(chunk):  # another writer moved some of them: the caller's transaction must fail
                raise IntentStateError(f"{len(chunk) - moved} of write intents {chunk[0]}..{chunk[-1]} "
                                       "could not become applied (not pending)")

    def remember_written_many(
        self, written: Mapping[tuple[System, str, str], Mapping[str, str]], now: datetime, *, run_id: str | None = None,
    ) -> None:
        """``remember_written`` for many records in one executemany."""
        rows = [
            {"system": system.value, "object": obj, "record_id": record_id, "field": name, "value_hash": digest,
             "written_at": now, "run_id": run_id}
            for (system, obj, record_id), hashes in written.items() for name, digest in hashes.items()
        ]
        self._upsert_written(rows)

    def get(self, intent_id: int) -> IntentRecord:
        row = self._conn.execute(sa.select(write_intents).where(write_intents.c.id == intent_id)).one_or_none()
        if row is None:
            raise NotFound(f"no write intent {intent_id}")
        return _record(row)

    def by_state(self, state: IntentState, *, limit: int = 1_000,
                 origin: IntentOrigin | None = None) -> list[IntentRecord]:
        """Intents in ``state`` (of one ``origin``, or any), oldest first (served by the (state, id) index)."""
        query = sa.select(write_intents).where(write_intents.c.state == state.value)
        if origin is not None:
            query = query.where(write_intents.c.origin == origin.value)
        return [_record(r) for r in self._conn.execute(query.order_by(write_intents.c.id).limit(limit))]

    def dispatched_pending(self, *, limit: int = 10_000) -> list[IntentRecord]:
        """Pending intents already handed to a connector: a crashed run's leftovers, whatever their origin."""
        t = write_intents
        query = sa.select(t).where(t.c.state == IntentState.PENDING.value, t.c.dispatched_at.is_not(None))
        return [_record(r) for r in self._conn.execute(query.order_by(t.c.id).limit(limit))]

    def queued(self, *, after_id: int = 0, limit: int = 1_000) -> list[IntentRecord]:
        """Intents created ahead of the cycle (sweep, routing) that wait to be sent: pending and never
        dispatched, or failed before (a transient failure is retried by the next cycle), oldest first."""
        t = write_intents
        waiting = sa.or_(sa.and_(t.c.state == IntentState.PENDING.value, t.c.dispatched_at.is_(None)),
                         t.c.state == IntentState.FAILED.value)
        query = sa.select(t).where(t.c.origin.in_([o.value for o in IntentOrigin if o is not IntentOrigin.SYNC]),
                                   waiting, t.c.id > after_id)
        return [_record(r) for r in self._conn.execute(query.order_by(t.c.id).limit(limit))]

    def dispatch_many(self, intent_ids: Sequence[int], now: datetime) -> None:
        """Queued intents about to go to a connector: pending (a failed one again) and dispatched, committed
        before the call, so a crash during it leaves intents the next start reads back."""
        ids = list(dict.fromkeys(intent_ids))
        t = write_intents
        for offset in range(0, len(ids), BULK_CHUNK):
            chunk = ids[offset:offset + BULK_CHUNK]
            stmt = sa.update(t).where(
                t.c.id.in_(chunk), t.c.state.in_([IntentState.PENDING.value, IntentState.FAILED.value]),
            ).values(state=IntentState.PENDING.value, dispatched_at=now, updated_at=now, last_error=None)
            moved = self._conn.execute(stmt).rowcount
            if moved != len(chunk):
                raise IntentStateError(f"{len(chunk) - moved} of queued write intents {chunk[0]}..{chunk[-1]} "
                                       "were settled meanwhile by another writer")

    def pending(self, *, limit: int = 1_000) -> list[IntentRecord]:
        return self.by_state(IntentState.PENDING, limit=limit)

    def mark_applied(self, intent_id: int, now: datetime) -> IntentRecord:
        return self._move(intent_id, IntentState.APPLIED, now, error=None, attempted=True)

    def mark_failed(self, intent_id: int, error: str, now: datetime) -> IntentRecord:
        """A transient failure: the intent waits for a retry (``retry``) with the error kept."""
        return self._move(intent_id, IntentState.FAILED, now, error=error, attempted=True)

    def quarantine(self, intent_id: int, error: str, now: datetime) -> IntentRecord:
        """A permanent failure: the intent is parked until its cause changes."""
        return self._move(intent_id, IntentState.QUARANTINED, now, error=error, attempted=True)

    def retry(self, intent_id: int, now: datetime) -> IntentRecord:
        """Back to pending (after a transient failure, or once a quarantine cause changed)."""
        return self._move(intent_id, IntentState.PENDING, now, error=None, attempted=False)

    def _move(
        self, intent_id: int, to: IntentState, now: datetime, *, error: str | None, attempted: bool
    ) -> IntentRecord:
        allowed_from = [s.value for s, targets in INTENT_MOVES.items() if to in targets]
        values: dict[str, Any] = {"state": to.value, "updated_at": now}
        if error is not None:
            values["last_error"] = error[:MAX_ERROR_CHARS]
        if attempted:
            values["attempts"] = write_intents.c.attempts + 1
        stmt = (
            sa.update(write_intents)
            .where(write_intents.c.id == intent_id, write_intents.c.state.in_(allowed_from))
            .values(values)
        )
        if self._conn.execute(stmt).rowcount != 1:
            current = self.get(intent_id)  # raises NotFound when there is no such intent
            raise IntentStateError(f"write intent {intent_id} is {current.state.value}; it cannot become {to.value}")
        return self.get(intent_id)

    def remember_written(
        self, system: System, obj: str, record_id: str, hashes: Mapping[str, str], now: datetime,
        *, run_id: str | None = None,
    ) -> None:
        """Keep the hash of each value just written, so the change it causes on the next read is known
        to be our own echo and not a user's edit."""
        rows = [
            {"system": system.value, "object": obj, "record_id": record_id, "field": name, "value_hash": digest,
             "written_at": now, "run_id": run_id}
            for name, digest in hashes.items()
        ]
        self._upsert_written(rows)

    def _upsert_written(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = insert(self._conn, written_values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["system", "object", "record_id", "field"],
            set_={"value_hash": stmt.excluded.value_hash, "written_at": stmt.excluded.written_at,
                  "run_id": stmt.excluded.run_id},
        )
        self._conn.execute(stmt, rows)

    def written_hash(self, system: System, obj: str, record_id: str, field: str) -> str | None:
        table = written_values
        query = sa.select(table.c.value_hash).where(
            table.c.system == system.value, table.c.object == obj, table.c.record_id == record_id,
            table.c.field == field,
        )
        return self._conn.execute(query).scalar_one_or_none()

    def is_echo(self, system: System, obj: str, record_id: str, field: str, value_hash: str) -> bool:
        return self.written_hash(system, obj, record_id, field) == value_hash
