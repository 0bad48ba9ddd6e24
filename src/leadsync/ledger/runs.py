"""Sync runs (what each cycle did and spent) and quarantined records (what it could not write, and why)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.domain.model import System
from leadsync.ledger.errors import LedgerError, NotFound
from leadsync.ledger.keys import keys_in
from leadsync.ledger.records import QuarantinedRecord, RunStatus, SyncRun
from leadsync.ledger.schema import quarantine, sync_runs
from leadsync.ledger.sql import Tx, insert


def _run(row: Any) -> SyncRun:
    return SyncRun(
        row.id, row.kind, row.started_at, RunStatus(row.status), row.epoch, row.ended_at, row.counts,
        row.api_calls, tuple(row.errors),
    )


class RunRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def start(self, kind: str, now: datetime, *, epoch: int, run_id: str | None = None) -> SyncRun:
        """Record a run as running. Commit this on its own so a crash leaves a visible unfinished run."""
        self._tx.fence(epoch)
        run = SyncRun(run_id or uuid.uuid4().hex, kind, now, RunStatus.RUNNING, epoch)
        self._tx.connection.execute(
            sync_runs.insert().values(
                id=run.id, kind=kind, started_at=now, status=run.status.value, epoch=epoch, counts={},
                api_calls={}, errors=[],
            )
        )
        return run

    def finish(
        self, run_id: str, status: RunStatus, now: datetime, *, counts: Mapping[str, int] | None = None,
        api_calls: Mapping[System | str, int] | None = None, errors: Sequence[str] = (),
    ) -> SyncRun:
        if status is RunStatus.RUNNING:
            raise LedgerError("a run is finished with a final status, not 'running'")
        values = {
            "status": status.value, "ended_at": now, "counts": dict(counts or {}),
            "api_calls": {str(k): v for k, v in (api_calls or {}).items()}, "errors": list(errors),
        }
        stmt = sa.update(sync_runs).where(
            sync_runs.c.id == run_id, sync_runs.c.status == RunStatus.RUNNING.value
        ).values(values)
        if self._tx.connection.execute(stmt).rowcount != 1:
            raise LedgerError(f"sync run {run_id} is {self.get(run_id).status.value}, not running")
        return self.get(run_id)

    def abandon_unfinished(self, now: datetime, reason: str) -> int:
        """Mark runs a crashed process left 'running' as aborted (called by the new leader at start)."""
        stmt = sa.update(sync_runs).where(sync_runs.c.status == RunStatus.RUNNING.value).values(
            status=RunStatus.ABORTED.value, ended_at=now, errors=[reason]
        )
        return self._tx.connection.execute(stmt).rowcount

    def get(self, run_id: str) -> SyncRun:
        row = self._tx.connection.execute(sa.select(sync_runs).where(sync_runs.c.id == run_id)).one_or_none()
        if row is None:
            raise NotFound(f"no sync run {run_id!r}")
        return _run(row)

    def any_succeeded(self, kind: str) -> bool:
        """Whether a run of ``kind`` ever succeeded (the first sync of a ledger is its backfill)."""
        query = sa.select(sync_runs.c.id).where(sync_runs.c.kind == kind,
                                                 sync_runs.c.status == RunStatus.SUCCEEDED.value).limit(1)
        return self._tx.connection.execute(query).first() is not None

    def latest(self, limit: int = 20) -> list[SyncRun]:
        query = sa.select(sync_runs).order_by(sync_runs.c.started_at.desc()).limit(limit)
        return [_run(r) for r in self._tx.connection.execute(query)]


def _quarantined(row: Any) -> QuarantinedRecord:
    return QuarantinedRecord(
        System(row.system), row.object, row.record_id, row.reason, row.cause_fingerprint, row.first_seen,
        row.last_seen, row.attempts, row.released_at,
    )


class QuarantineRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def put(
        self, system: System, obj: str, record_id: str, reason: str, cause_fingerprint: str, now: datetime,
        *, run_id: str | None = None,
    ) -> QuarantinedRecord:
        """Quarantine a record (again): keeps first_seen, counts attempts, re-opens a released entry."""
        values = {
            "system": system.value, "object": obj, "record_id": record_id, "reason": reason,
            "cause_fingerprint": cause_fingerprint, "first_seen": now, "last_seen": now, "attempts": 1,
            "released_at": None, "run_id": run_id,
        }
        stmt = insert(self._tx.connection, quarantine).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["system", "object", "record_id"],
            set_={
                "reason": stmt.excluded.reason, "cause_fingerprint": stmt.excluded.cause_fingerprint,
                "last_seen": stmt.excluded.last_seen, "attempts": quarantine.c.attempts + 1,
                "released_at": None, "run_id": stmt.excluded.run_id,
            },
        )
        self._tx.connection.execute(stmt)
        found = self.get(system, obj, record_id)
        assert found is not None
        return found

    def get(self, system: System, obj: str, record_id: str) -> QuarantinedRecord | None:
        row = self._tx.connection.execute(self._select(system, obj, record_id)).one_or_none()
        return None if row is None else _quarantined(row)

    def should_retry(self, system: System, obj: str, record_id: str, cause_fingerprint: str) -> bool:
        """True unless the record is held in quarantine for this very cause."""
        found = self.get(system, obj, record_id)
        return found is None or found.released_at is not None or found.cause_fingerprint != cause_fingerprint

    def release(self, system: System, obj: str, record_id: str, now: datetime) -> bool:
        stmt = sa.update(quarantine).where(
            quarantine.c.system == system.value, quarantine.c.object == obj, quarantine.c.record_id == record_id,
            quarantine.c.released_at.is_(None),
        ).values(released_at=now)
        return self._tx.connection.execute(stmt).rowcount == 1

    def get_many(self, keys: Iterable[tuple[System, str, str]]) -> dict[tuple[System, str, str], QuarantinedRecord]:
        """Quarantine entries (held or released) of these (system, object, record id) keys."""
        t = quarantine
        wanted = [(s.value, o, r) for s, o, r in dict.fromkeys(keys)]
        found: dict[tuple[System, str, str], QuarantinedRecord] = {}
        key_columns = (t.c.system, t.c.object, t.c.record_id)
        for offset in range(0, len(wanted), 500):
            query = sa.select(t).where(keys_in(key_columns, wanted[offset:offset + 500]))
            for row in self._tx.connection.execute(query):
                entry = _quarantined(row)
                found[(entry.system, entry.object, entry.record_id)] = entry
        return found

    def release_many(self, keys: Iterable[tuple[System, str, str]], now: datetime) -> int:
        """``release`` for many records in one statement per chunk; returns how many were held."""
        t = quarantine
        wanted = [(s.value, o, r) for s, o, r in dict.fromkeys(keys)]
        released = 0
        for offset in range(0, len(wanted), 500):
            stmt = sa.update(t).where(keys_in((t.c.system, t.c.object, t.c.record_id), wanted[offset:offset + 500]),
                                      t.c.released_at.is_(None)).values(released_at=now)
            released += self._tx.connection.execute(stmt).rowcount
        return released

    def held(self, *, limit: int = 1_000) -> list[QuarantinedRecord]:
        query = sa.select(quarantine).where(quarantine.c.released_at.is_(None)).order_by(
            quarantine.c.first_seen
        ).limit(limit)
        return [_quarantined(r) for r in self._tx.connection.execute(query)]

    @staticmethod
    def _select(system: System, obj: str, record_id: str) -> sa.Select[Any]:
        return sa.select(quarantine).where(
            quarantine.c.system == system.value, quarantine.c.object == obj, quarantine.c.record_id == record_id
        )
