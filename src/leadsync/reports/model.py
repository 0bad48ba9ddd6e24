"""What every report is made of, whatever it is rendered as: tables, charts and a few headline figures.

Builders (``leadsync.reports.sla``, ``funnel``, ``audit``, ``scoring``) fill these plain values from the
ledger; renderers (``leadsync.reports.render``, ``html``) turn them into text, CSV, JSON or one HTML file.
Keeping the two apart means every format shows exactly the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

# A table cell: plain values only, so CSV and JSON need no guessing.
Cell = str | int | float | bool | None


@dataclass(frozen=True)
class Table:
    key: str  # machine name, stable across versions (JSON key, CSV section)
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.key}: row {row!r} has {len(row)} cells for {len(self.columns)} columns")

    def records(self) -> list[dict[str, Cell]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


ChartKind = Literal["bars", "hbars", "lines"]


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Chart:
    """Grouped vertical bars, horizontal bars (one series: the funnel), or lines over ``labels``."""

    key: str
    title: str
    kind: ChartKind
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str = ""

    def __post_init__(self) -> None:
        for s in self.series:
            if len(s.values) != len(self.labels):
                raise ValueError(f"chart {self.key}: series {s.name!r} has {len(s.values)} values for "
                                 f"{len(self.labels)} labels")


@dataclass(frozen=True)
class Report:
    name: str  # sla, funnel, audit, scoring, plan
    title: str
    generated_at: datetime
    params: Mapping[str, str]
    headline: tuple[tuple[str, str], ...] = ()  # (label, value) shown first
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(f"report {self.name} has no table {key!r}")


def hours(value: timedelta | None) -> float | None:
    """Durations appear in reports as hours with two decimals (business or wall-clock, as the column says)."""
    return None if value is None else round(value.total_seconds() / 3600, 2)


def percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def text(value: Any) -> Cell:
    """A value for a cell: instants as ISO text in UTC, dates as ISO, mappings and lists as compact text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={text(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    if isinstance(value, Sequence):
        return ", ".join(str(text(v)) for v in value)
    return str(value)
