"""Incremental cursors per stream: the last value read plus the ids already seen at exactly that value.

Keeping the ids lets a reader re-read the boundary (``>=``) and drop repeats instead of losing rows that
share a timestamp. Saved in the same unit of work as the rows they describe.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from leadsync.ledger.records import Watermark
from leadsync.ledger.schema import watermarks
from leadsync.ledger.sql import Tx, insert


class WatermarkRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def get(self, stream: str) -> Watermark | None:
        row = self._tx.connection.execute(
            sa.select(watermarks).where(watermarks.c.stream == stream)
        ).one_or_none()
        if row is None:
            return None
        return Watermark(row.stream, row.value, frozenset(row.seen_ids))

    def save(self, watermark: Watermark, now: datetime, *, run_id: str | None = None) -> None:
        values = {
            "stream": watermark.stream, "value": watermark.value, "seen_ids": sorted(watermark.seen_ids),
            "updated_at": now, "run_id": run_id,
        }
        stmt = insert(self._tx.connection, watermarks).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["stream"],
            set_={name: stmt.excluded[name] for name in ("value", "seen_ids", "updated_at", "run_id")},
        )
        self._tx.connection.execute(stmt)

    def all(self) -> list[Watermark]:
        query = sa.select(watermarks).order_by(watermarks.c.stream)
        return [Watermark(r.stream, r.value, frozenset(r.seen_ids)) for r in self._tx.connection.execute(query)]
