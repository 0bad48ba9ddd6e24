"""Business-time arithmetic: opening hours in a local time zone, minus holidays.

Business time is *real elapsed time* while the business is open. Each working day is turned into a few
UTC intervals, and every function walks those intervals day by day (never minute by minute), so a
year-long span costs a few hundred steps and every result is microsecond-exact ``timedelta`` arithmetic.

Opening hours are local wall-clock times, and wall clocks jump twice a year. The rule used here:
an interval opens the first time the clock shows its opening time (or, when the clock skips that time
in a spring-forward gap, the moment it jumps past it) and closes the last time the clock shows its
closing time (or, in a gap, the moment the clock jumps past it). A 09:00-17:00 day is therefore 8 hours on
both transition days in Europe and North America, where clocks change at night; hours that span the
change are one hour shorter (spring) or longer (autumn), because that much real time passed.

All instants given must be aware; all instants returned are in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise

DAY = timedelta(days=1)
ZERO = timedelta(0)
WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class OpeningInterval:
    """One stretch of working time within a day, as offsets from local midnight (end may be 24:00)."""

    start: timedelta
    end: timedelta

    def __post_init__(self) -> None:
        if not ZERO <= self.start < self.end <= DAY:
            raise ValueError(f"opening interval must satisfy 00:00 <= start < end <= 24:00, got {self}")

    @classmethod
    def parse(cls, text: str) -> OpeningInterval:
        """``"09:00-17:00"`` (``HH:MM``, end may be ``24:00``); ValueError explains what is wrong."""
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
        start, end = (_parse_clock(p.strip()) for p in parts)
        if end <= start:
            raise ValueError(f"end {parts[1].strip()} is not after start {parts[0].strip()} in {text!r}")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{_format_clock(self.start)}-{_format_clock(self.end)}"


def _parse_clock(text: str) -> timedelta:
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and 1 <= len(hours) <= 2):
        raise ValueError(f"expected a time as HH:MM, got {text!r}")
    value = timedelta(hours=int(hours), minutes=int(minutes))
    if int(minutes) >= 60 or value > DAY:
        raise ValueError(f"not a time of day: {text!r}")
    return value


def _format_clock(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When the business is open: a zone, opening intervals per weekday (Monday first), closed dates."""

    tz: tzinfo
    weekly_hours: tuple[tuple[OpeningInterval, ...], ...]
    holidays: frozenset[date] = field(default_factory=frozenset)
    # The last date the holiday list covers (None: no public holidays configured, nothing to run out).
    holidays_until: date | None = None

    def __post_init__(self) -> None:
        if len(self.weekly_hours) != 7:
            raise ValueError("weekly_hours needs exactly seven entries, Monday first")
        for name, intervals in zip(WEEKDAYS, self.weekly_hours, strict=True):
            for before, after in pairwise(intervals):
                if after.start < before.end:
                    raise ValueError(f"{name}: {after} overlaps or precedes {before}")
        # Without a single open weekday every search for "the next opening" would run forever.
        if not any(self.weekly_hours):
            raise ValueError("the calendar has no working hours on any weekday")

    def horizon_warning(self, today: date, *, ahead_days: int = 365) -> str | None:
        """A warning when the holiday list ends within ``ahead_days`` of ``today``: past its end every public
        holiday counts as a working day, and SLA clocks run through them without anyone noticing."""
        if self.holidays_until is None or (self.holidays_until - today).days > ahead_days:
            return None
        if self.holidays_until < today:
            return (f"the SLA calendar's public holidays ended on {self.holidays_until}: holidays are working days "
                    "now; extend [calendar.holidays] last_year in sla.toml")
        return (f"the SLA calendar's public holidays end on {self.holidays_until}: extend [calendar.holidays] "
                "last_year in sla.toml before then")

    def hours_on(self, day: date) -> tuple[OpeningInterval, ...]:
        """The opening intervals of a local date: none on holidays and days off."""
        if day in self.holidays:
            return ()
        return self.weekly_hours[day.weekday()]


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _local_wall(instant: datetime, tz: tzinfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def _gap_end(wall: datetime, tz: tzinfo) -> datetime:
    """The instant the clock jumps past ``wall``, a local time skipped by a spring-forward gap.

    The two PEP 495 readings of a skipped time bracket the transition; bisect between them in whole
    microseconds (tz transitions fall on whole seconds, so this is exact)."""
    readings = [wall.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1)]
    low, high = min(readings), max(readings)  # wall(low) < wall, wall(high) > wall
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) // 2
        if _local_wall(middle, tz) < wall:
            low = middle
        else:
            high = middle
    return high


def _first_instant(wall: datetime, tz: tzinfo) -> datetime:
    """The first instant whose local wall time is ``wall``, or the jump past it if it never exists."""
    instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return instant if _local_wall(instant, tz) == wall else _gap_end(wall, tz)


def _last_instant(wall: datetime, tz: tzinfo) -> datetime:
    """The last instant whose local wall time is ``wall``, or the jump past it if it never exists."""
    instant = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return instant if _local_wall(instant, tz) == wall else _gap_end(wall, tz)


def _open_intervals(cal: BusinessCalendar, first_day: date) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals as ascending, non-overlapping UTC pairs from ``first_day`` on (endless).

    Clipping each start to the latest end seen keeps intervals disjoint where a fall-back fold makes
    consecutive wall-time intervals overlap in real time (e.g. 00:00-02:30 and 02:30-05:00)."""
    latest_end: datetime | None = None
    day = first_day
    while True:
        midnight = datetime.combine(day, time())
        for interval in cal.hours_on(day):
            start = _first_instant(midnight + interval.start, cal.tz)
            end = _last_instant(midnight + interval.end, cal.tz)
            if latest_end is not None:
                start = max(start, latest_end)
            if start < end:
                latest_end = end
                yield start, end
        day += DAY


def _intervals_from(cal: BusinessCalendar, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals that end after ``instant`` (a UTC instant), in order."""
    # Start a day early so the clipping above sees the interval before the local day of ``instant``.
    first_day = instant.astimezone(cal.tz).date() - DAY
    for start, end in _open_intervals(cal, first_day):
        if end > instant:
            yield start, end


def add_business_time(cal: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The instant when ``duration`` of business time has passed since ``start``.

    Starting outside hours counts from the next opening, so a zero duration gives ``next_opening``.
    When the duration runs out exactly at a closing time, the closing instant is returned (a deadline of
    "Friday 17:00", not "Monday 09:00"): the result is always open business time or such a closing instant.
    """
    if duration < ZERO:
        raise ValueError(f"duration must not be negative, got {duration}")
    remaining = duration
    at = _require_aware(start, "start")
    for open_at, close_at in _intervals_from(cal, at):
        begin = max(open_at, at)
        available = close_at - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise AssertionError("unreachable: the calendar yields intervals forever")


def business_time_between(cal: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    """Business time in ``[a, b)``; zero when ``b <= a``."""
    low, high = _require_aware(a, "a"), _require_aware(b, "b")
    total = ZERO
    if high <= low:
        return total
    for open_at, close_at in _intervals_from(cal, low):
        if open_at >= high:
            break
        total += min(close_at, high) - max(open_at, low)
    return total


def is_business_time(cal: BusinessCalendar, t: datetime) -> bool:
    """True when ``t`` is inside an opening interval (openings count, closings do not)."""
    at = _require_aware(t, "t")
    open_at, _ = next(_intervals_from(cal, at))
    return open_at <= at


def next_opening(cal: BusinessCalendar, t: datetime) -> datetime:
    """The first business instant at or after ``t``: ``t`` itself (in UTC) when already open."""
    at = _require_aware(t, "t")
    open_at, _ = next(_intervals_from(cal, at))
    return max(open_at, at)
