"""Business time for many instants at once: a cumulative index over a report's span.

``leadsync.domain.calendar.business_time_between`` walks opening intervals from its first instant, which
is right for one clock but costs tens of microseconds per call and grows with the span: a report over
100,000 clocks (or an open breach a year old) spends seconds there. This index computes, once per local
day of the span, the business time before that day (with the calendar's own function, so holidays and
DST follow its rules), and the day's opening intervals in UTC; then the business time before any instant
is a bisection plus a few subtractions, and ``between(a, b)`` is ``before(b) - before(a)``.

Days whose UTC offset changes (DST transitions) are not decomposed: instants on them are measured with
the calendar function from that day's start, so the calendar's gap and fold rules stay the only ones.
"""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, time, timedelta

from leadsync.domain.calendar import BusinessCalendar, business_time_between

ZERO = timedelta(0)
DAY = timedelta(days=1)


class BusinessTimeIndex:
    def __init__(self, cal: BusinessCalendar, start: datetime, end: datetime) -> None:
        self.cal = cal
        first = start.astimezone(cal.tz).date() - DAY
        last = end.astimezone(cal.tz).date() + 2 * DAY
        self._days: list[date] = []
        self._starts: list[datetime] = []  # UTC instant each local day begins
        day = first
        while day <= last:
            self._days.append(day)
            self._starts.append(self._midnight(day))
            day += DAY
        self._before: list[timedelta] = [ZERO]  # business time from the first day's start to each day's start
        self._intervals: list[list[tuple[datetime, datetime]] | None] = []
        for index in range(len(self._starts) - 1):
            whole = business_time_between(cal, self._starts[index], self._starts[index + 1])
            self._before.append(self._before[-1] + whole)
            self._intervals.append(self._regular_day(index, whole))

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self.cal.tz).astimezone(UTC)

    def _regular_day(self, index: int, whole: timedelta) -> list[tuple[datetime, datetime]] | None:
        """The day's opening intervals in UTC, or None when its offset changes (measured directly)."""
        day, tz = self._days[index], self.cal.tz
        midnight = datetime.combine(day, time(), tzinfo=tz)
        next_midnight = datetime.combine(day + DAY, time(), tzinfo=tz)
        if midnight.utcoffset() != next_midnight.utcoffset() or self._starts[index + 1] - self._starts[index] != DAY:
            return None
        start = self._starts[index]
        intervals = [(start + o.start, start + o.end) for o in self.cal.hours_on(day)]
        if sum((e - s for s, e in intervals), ZERO) != whole:
            return None  # something this shortcut does not model: trust the calendar function
        return intervals

    def covers(self, at: datetime) -> bool:
        return self._starts[0] <= at < self._starts[-1]

    def before(self, at: datetime) -> timedelta:
        """Business time from the index's first instant to ``at``."""
        if not self.covers(at):
            raise ValueError(f"{at.isoformat()} is outside the indexed span "
                             f"{self._starts[0].isoformat()} .. {self._starts[-1].isoformat()}")
        index = bisect.bisect_right(self._starts, at) - 1
        day_start = self._starts[index]
        intervals = self._intervals[index]
        if intervals is None:
            return self._before[index] + business_time_between(self.cal, day_start, at)
        within = ZERO
        for open_at, close_at in intervals:
            if open_at >= at:
                break
            within += min(close_at, at) - open_at
        return self._before[index] + within

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time in ``[a, b)`` (zero when ``b <= a``), as ``business_time_between`` gives it."""
        if b <= a:
            return ZERO
        if self.covers(a) and self.covers(b):
            return self.before(b) - self.before(a)
        return business_time_between(self.cal, a, b)
