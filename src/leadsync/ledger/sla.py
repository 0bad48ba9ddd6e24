"""SLA clocks: one open clock per (person, SLA) at a time, met, breached or stopped once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.ledger.errors import NotFound
from leadsync.ledger.records import SlaClock
from leadsync.ledger.schema import sla_clocks
from leadsync.ledger.sql import Tx, insert

_OPEN = sa.and_(sla_clocks.c.met_at.is_(None), sla_clocks.c.stopped_at.is_(None))


def clock_from_row(row: Any) -> SlaClock:
    return SlaClock(
        row.id, row.person_id, row.sla, row.started_at, row.due_at, row.warn_at, row.owner_id, row.met_at,
        row.breached_at, row.stopped_at, row.stop_reason,
    )


class SlaRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    @property
    def _conn(self) -> sa.Connection:
        return self._tx.connection

    def start(
        self, person_id: str, sla: str, started_at: datetime, due_at: datetime, *,
        warn_at: datetime | None = None, owner_id: str | None = None,
    ) -> SlaClock:
        """Start a clock unless one is already open for this person and SLA (then that one is returned,
        unchanged: a re-run of the same cycle must not restart the clock)."""
        stmt = insert(self._conn, sla_clocks).values(
            person_id=person_id, sla=sla, owner_id=owner_id, started_at=started_at, due_at=due_at, warn_at=warn_at
        ).on_conflict_do_nothing(index_elements=["person_id", "sla"], index_where=_OPEN)
        self._conn.execute(stmt)
        found = self.open_clock(person_id, sla)
        assert found is not None
        return found

    def open_clock(self, person_id: str, sla: str) -> SlaClock | None:
        query = sa.select(sla_clocks).where(sla_clocks.c.person_id == person_id, sla_clocks.c.sla == sla, _OPEN)
        row = self._conn.execute(query).one_or_none()
        return None if row is None else clock_from_row(row)

    def meet(self, person_id: str, sla: str, at: datetime) -> SlaClock | None:
        """Close the open clock as met (late or not); None when no clock was open."""
        return self._close(person_id, sla, {"met_at": at})

    def stop(self, person_id: str, sla: str, at: datetime, reason: str) -> SlaClock | None:
        """Close the open clock without meeting it (disqualified, recycled, owner changed...)."""
        return self._close(person_id, sla, {"stopped_at": at, "stop_reason": reason})

    def _close(self, person_id: str, sla: str, values: dict[str, Any]) -> SlaClock | None:
        clock = self.open_clock(person_id, sla)
        if clock is None:
            return None
        self._conn.execute(sa.update(sla_clocks).where(sla_clocks.c.id == clock.id).values(values))
        return self.get(clock.id)

    def mark_breached(self, clock_id: int, at: datetime) -> bool:
        """Record the breach once; True when this call recorded it."""
        stmt = sa.update(sla_clocks).where(
            sla_clocks.c.id == clock_id, sla_clocks.c.breached_at.is_(None), _OPEN
        ).values(breached_at=at)
        return self._conn.execute(stmt).rowcount == 1

    def get(self, clock_id: int) -> SlaClock:
        row = self._conn.execute(sa.select(sla_clocks).where(sla_clocks.c.id == clock_id)).one_or_none()
        if row is None:
            raise NotFound(f"no SLA clock {clock_id}")
        return clock_from_row(row)

    def for_people(self, person_ids: Sequence[str]) -> dict[str, list[SlaClock]]:
        """Each person's clocks, oldest first (one query per chunk of people)."""
        found: dict[str, list[SlaClock]] = {}
        unique = list(dict.fromkeys(person_ids))
        for offset in range(0, len(unique), 500):
            query = sa.select(sla_clocks).where(sla_clocks.c.person_id.in_(unique[offset:offset + 500])).order_by(
                sla_clocks.c.started_at, sla_clocks.c.id)
            for row in self._conn.execute(query):
                found.setdefault(row.person_id, []).append(clock_from_row(row))
        return found

    def with_open_clocks(self, person_ids: Sequence[str]) -> set[str]:
        """The people of ``person_ids`` that have an open clock (an activity may stop it)."""
        found: set[str] = set()
        unique = list(dict.fromkeys(person_ids))
        for offset in range(0, len(unique), 500):
            query = sa.select(sla_clocks.c.person_id).where(
                sla_clocks.c.person_id.in_(unique[offset:offset + 500]), _OPEN).distinct()
            found.update(self._conn.execute(query).scalars())
        return found

    def for_person(self, person_id: str) -> list[SlaClock]:
        query = sa.select(sla_clocks).where(sla_clocks.c.person_id == person_id).order_by(
            sla_clocks.c.started_at, sla_clocks.c.id
        )
        return [clock_from_row(r) for r in self._conn.execute(query)]
