"""The indexed business time and SLA statistics agree exactly with the calendar and the domain report."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.domain.calendar import BusinessCalendar, OpeningInterval, business_time_between
from leadsync.domain.sla_report import SlaCase, build_sla_report
from leadsync.reports.business_time import BusinessTimeIndex

BERLIN = ZoneInfo("Europe/Berlin")
SPLIT = (OpeningInterval.parse("09:00-12:00"), OpeningInterval.parse("13:00-17:30"))
CAL = BusinessCalendar(BERLIN, (SPLIT,) * 5 + ((OpeningInterval.parse("10:00-14:00"),), ()),
                       frozenset({date(2026, 10, 26), date(2026, 12, 24), date(2026, 12, 25)}))
# A calendar whose hours span the autumn change at night (02:00-03:00 happens twice).
NIGHT = BusinessCalendar(BERLIN, ((OpeningInterval.parse("00:00-24:00"),),) * 7)
START = datetime(2026, 9, 1, tzinfo=UTC)
END = datetime(2027, 1, 15, tzinfo=UTC)
INSTANTS = st.integers(0, int((END - START).total_seconds())).map(lambda s: START + timedelta(seconds=s))


@pytest.mark.parametrize("cal", [CAL, NIGHT], ids=["office", "round-the-clock"])
@settings(max_examples=300, deadline=None)
@given(a=INSTANTS, b=INSTANTS)
def test_between_equals_the_calendar_function(cal: BusinessCalendar, a: datetime, b: datetime) -> None:
    index = BusinessTimeIndex(cal, START, END)
    assert index.between(a, b) == business_time_between(cal, a, b)


def test_dst_and_holiday_days_exactly() -> None:
    index = BusinessTimeIndex(CAL, START, END)
    cases = [  # (a, b, hours): worked out by hand
        (datetime(2026, 10, 23, 16, tzinfo=BERLIN), datetime(2026, 10, 27, 10, tzinfo=BERLIN), 1.5 + 4 + 1),
        (datetime(2026, 12, 23, 17, tzinfo=BERLIN), datetime(2026, 12, 28, 9, 30, tzinfo=BERLIN), 0.5 + 4 + 0.5),
    ]  # Fri 16-17:30, Sat 10-14, Mon 26 Oct closed, Tue 09-10 | Wed 17-17:30, 24/25 closed, Sat 4 h, Mon 0.5 h
    for a, b, hours in cases:
        assert index.between(a, b) == timedelta(hours=hours)


def test_outside_the_span_falls_back_and_before_refuses() -> None:
    index = BusinessTimeIndex(CAL, START, START + timedelta(days=3))
    far = START + timedelta(days=40)
    assert index.between(START, far) == business_time_between(CAL, START, far)
    with pytest.raises(ValueError, match="outside the indexed span"):
        index.before(far)


def test_statistics_match_the_domain_report_on_random_clocks() -> None:
    rng = random.Random(7)
    now = datetime(2026, 12, 30, 12, tzinfo=UTC)
    cases = []
    for n in range(400):
        started = START + timedelta(hours=rng.uniform(0, 2800))
        due = started + timedelta(hours=rng.uniform(4, 60))
        stopped = started + timedelta(hours=rng.uniform(0, 90)) if rng.random() < 0.7 else None
        cases.append(SlaCase(f"p{n}", rng.choice(["a", "b"]), started, due, stopped,
                             owner=rng.choice(["ann", "bob", None]), team=rng.choice(["x", "y"])))
    index = BusinessTimeIndex(CAL, START, now + timedelta(days=5))
    for by in ("owner", "team"):
        indexed = build_sla_report(cases, CAL, now=now, by=by, business_time=index.between)
        assert indexed == build_sla_report(cases, CAL, now=now, by=by)
