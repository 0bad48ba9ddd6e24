"""Look rows up by composite keys in a way both databases can answer from an index.

``(a, b, c) IN ((...), (...))`` is a row-value comparison that SQLite answers with a full table scan (its
planner cannot use an index for it), which made every per-page lookup of activities, written values and
records grow with the table: quadratic over a backfill. Grouping the keys by all but their last column gives
``(a = ? AND b = ? AND c IN (...)) OR ...``, which SQLite and PostgreSQL both resolve by index seeks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa


def keys_in(columns: Sequence[sa.ColumnElement[Any]], keys: Iterable[Sequence[Any]]) -> sa.ColumnElement[bool]:
    """A condition true for rows whose ``columns`` equal one of ``keys`` (tuples as long as ``columns``)."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for key in keys:
        if len(key) != len(columns):
            raise ValueError(f"key {key!r} does not have {len(columns)} parts")
        groups.setdefault(tuple(key[:-1]), []).append(key[-1])
    if not groups:
        return sa.false()
    *prefix_columns, last = columns
    return sa.or_(*(
        sa.and_(*(column == value for column, value in zip(prefix_columns, prefix, strict=True)),
                last.in_(dict.fromkeys(values)))
        for prefix, values in groups.items()
    ))
