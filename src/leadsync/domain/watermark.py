"""Incremental-pull cursors that survive ties, overlap and late visibility.

A watermark keeps the last timestamp fully processed *and* the record ids already seen at exactly that
timestamp. Re-reading the boundary is then harmless (repeats are dropped) and a strict ``>`` never
loses the other rows that share the timestamp (imports, nightly jobs). Each pull window:

* starts ``overlap`` before the watermark, so rows committed late with an older timestamp are caught;
* ends a ``lag margin`` before *server* time, so rows not yet visible (HubSpot's search index, long
  Salesforce transactions) are left for the next cycle instead of being skipped for ever;
* is read on the keyset ``(ts, id)`` in ascending order; the cursor advances only over records
  actually handed back, and never beyond the window's end.

The cursor is committed in the same transaction as the rows it describes (the ledger does that); these
functions only compute it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Watermark:
    """``value`` is the newest timestamp fully processed; ``ids_at_value`` the ids seen at it."""

    value: datetime | None = None
    ids_at_value: frozenset[str] = field(default_factory=frozenset)

    def is_new(self, ts: datetime, record_id: str) -> bool:
        """True when ``(ts, record_id)`` lies after the cursor (repeats at the boundary are not new)."""
        if self.value is None or ts > self.value:
            return True
        return ts == self.value and record_id not in self.ids_at_value


@dataclass(frozen=True, slots=True)
class Window:
    """One pull: records with ``start <= ts <= end`` (``start`` None: from the beginning)."""

    start: datetime | None
    end: datetime

    @property
    def empty(self) -> bool:
        return self.start is not None and self.start > self.end


def window(mark: Watermark, server_now: datetime, *, overlap: timedelta, lag_margin: timedelta) -> Window:
    """The next pull window for a stream, measured from the server's clock (never ours)."""
    end = server_now - lag_margin
    start = None if mark.value is None else mark.value - overlap
    return Window(start=start, end=end)


def advance(mark: Watermark, seen: Iterable[tuple[datetime, str]], *, limit: datetime | None = None) -> Watermark:
    """The watermark after processing ``seen`` (``(ts, id)`` pairs, any order).

    Records newer than ``limit`` (the window's end) do not move the cursor: they were read early and will
    be read again, which is harmless. The cursor never moves backwards.
    """
    value = mark.value
    ids: set[str] = set(mark.ids_at_value)
    for ts, record_id in seen:
        if limit is not None and ts > limit:
            continue
        if value is None or ts > value:
            value = ts
            ids = {record_id}
        elif ts == value:
            ids.add(record_id)
    if value == mark.value and ids == mark.ids_at_value:
        return mark
    return Watermark(value=value, ids_at_value=frozenset(ids))


def keyset_after(mark: Watermark, window_start: datetime | None) -> tuple[datetime | None, str | None]:
    """Where a keyset query resumes: ``(ts, id)`` to page strictly after, given the overlap start.

    With an overlap the query restarts at the window start (id ``None``: every id at that timestamp);
    without one it resumes after the largest id already seen at the watermark.
    """
    if mark.value is None:
        return None, None
    if window_start is not None and window_start < mark.value:
        return window_start, None
    return mark.value, max(mark.ids_at_value) if mark.ids_at_value else None
