"""SOQL date literals (TODAY, LAST_N_DAYS:n, ...) as half-open ranges, and comparisons against them.

Ranges use the sandbox clock's UTC day: the real API uses the running user's time zone, and the
sandbox's users all live in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from leadsync.sandbox.salesforce.values import format_datetime

Predicate = Callable[[dict[str, Any]], bool]
Getter = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class DateRange:
    start: Any
    end: Any  # exclusive


def relative_range(name: str, amount: int | None, today: date) -> tuple[date, date] | None:
    """Start (inclusive) and end (exclusive) dates of a SOQL date literal such as LAST_N_DAYS:30."""
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    last_month = (month_start - timedelta(days=1)).replace(day=1)
    fixed = {
        "TODAY": (today, today + timedelta(1)), "YESTERDAY": (today - timedelta(1), today),
        "TOMORROW": (today + timedelta(1), today + timedelta(2)),
        "THIS_WEEK": (week_start, week_start + timedelta(7)),
        "LAST_WEEK": (week_start - timedelta(7), week_start),
        "NEXT_WEEK": (week_start + timedelta(7), week_start + timedelta(14)),
        "THIS_MONTH": (month_start, next_month), "LAST_MONTH": (last_month, month_start),
        "NEXT_MONTH": (next_month, (next_month + timedelta(days=32)).replace(day=1)),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        "LAST_90_DAYS": (today - timedelta(90), today + timedelta(1)),
        "NEXT_90_DAYS": (today + timedelta(1), today + timedelta(91)),
    }
    if amount is None:
        return fixed.get(name)
    counted = {
        "LAST_N_DAYS": (today - timedelta(amount), today + timedelta(1)),
        "NEXT_N_DAYS": (today + timedelta(1), today + timedelta(amount + 1)),
        "N_DAYS_AGO": (today - timedelta(amount), today - timedelta(amount - 1)),
    }
    return counted.get(name)


def range_predicate(get: Getter, op: str, bounds: DateRange) -> Predicate:
    start, end = bounds.start, bounds.end
    if op == "=":
        return lambda r: (v := get(r)) is not None and start <= v < end
    if op == "!=":
        return lambda r: (v := get(r)) is None or not start <= v < end
    if op == "<":
        return lambda r: (v := get(r)) is not None and v < start
    if op == "<=":
        return lambda r: (v := get(r)) is not None and v < end
    if op == ">":
        return lambda r: (v := get(r)) is not None and v >= end
    return lambda r: (v := get(r)) is not None and v >= start


def midnight(day: date) -> str:
    return format_datetime(datetime.combine(day, time(0), tzinfo=UTC))
