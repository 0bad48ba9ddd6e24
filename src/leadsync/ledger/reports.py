"""The queries the SLA and funnel reports need, shaped for the indexes the schema defines.

``bench/ledger_bench.py`` times exactly these, at 1,000,000 transitions.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from leadsync.ledger.records import SlaClock, StageWeekCount
from leadsync.ledger.schema import sla_clocks, transitions
from leadsync.ledger.sla import clock_from_row
from leadsync.ledger.sql import Tx


class ReportQueries:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def open_clocks_due(self, now: datetime, horizon: datetime, *, limit: int | None = None) -> list[SlaClock]:
        """Open SLA clocks due in [now, horizon), soonest first (the partial index on due_at)."""
        query = (
            sa.select(sla_clocks)
            .where(
                sla_clocks.c.met_at.is_(None), sla_clocks.c.stopped_at.is_(None),
                sla_clocks.c.due_at >= now, sla_clocks.c.due_at < horizon,
            )
            .order_by(sla_clocks.c.due_at, sla_clocks.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return [clock_from_row(r) for r in self._tx.connection.execute(query)]

    def transitions_per_stage_per_week(self, since: datetime, until: datetime) -> list[StageWeekCount]:
        """Transitions into each status per ISO week (Monday, UTC) for ``since <= at < until``."""
        window = sa.and_(transitions.c.at >= since, transitions.c.at < until)
        if self._tx.connection.dialect.name == "postgresql":
            week = sa.func.date_trunc("week", sa.func.timezone("UTC", transitions.c.at), type_=sa.DateTime())
            query = (
                sa.select(transitions.c.to_status, week.label("week"), sa.func.count().label("n"))
                .where(window).group_by(transitions.c.to_status, week)
            )
            counts = Counter({(r.to_status, r.week.date()): int(r.n) for r in self._tx.connection.execute(query)})
        else:
            # SQLite has no week truncation; count per day over the (at, to_status) index, fold weeks here.
            # Instants are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text, so the day is the first ten
            # characters (cheaper than date(), which parses every row).
            day = sa.func.substr(transitions.c.at, 1, 10, type_=sa.String())
            query = (
                sa.select(transitions.c.to_status, day.label("day"), sa.func.count().label("n"))
                .where(window).group_by(day, transitions.c.to_status)
            )
            counts = Counter[tuple[str, date]]()
            for row in self._tx.connection.execute(query):
                counts[(row.to_status, _monday(date.fromisoformat(row.day)))] += int(row.n)
        ordered = sorted(counts.items(), key=lambda item: (item[0][1], item[0][0]))
        return [StageWeekCount(stage, week, n) for (stage, week), n in ordered]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())
