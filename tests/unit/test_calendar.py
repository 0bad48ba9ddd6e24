"""Business-time arithmetic: worked examples (overnight, weekend, holiday, DST) and Hypothesis properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.domain.calendar import (
    BusinessCalendar,
    OpeningInterval,
    add_business_time,
    business_time_between,
    is_business_time,
    next_opening,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def hours(*spans: str) -> tuple[OpeningInterval, ...]:
    return tuple(OpeningInterval.parse(s) for s in spans)


def office(
    tz: ZoneInfo, *spans: str, every_day: bool = False, closed: frozenset[date] = frozenset()
) -> BusinessCalendar:
    day = hours(*(spans or ("09:00-17:00",)))
    week = (day,) * 7 if every_day else (day,) * 5 + ((), ())
    return BusinessCalendar(tz, week, closed)


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz, fold=fold)


DE_2026 = frozenset(holidays.country_holidays("DE", years=2026))
BERLIN_OFFICE = office(BERLIN, closed=DE_2026)


# ---- worked examples -------------------------------------------------------------------------------


def test_overnight_carries_the_rest_into_the_next_morning() -> None:
    due = add_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 11, 17, 16), 2 * H)  # a Tuesday
    assert due == local(BERLIN, 2026, 11, 18, 10)
    assert due.tzinfo is UTC


def test_friday_evening_counts_from_monday_opening() -> None:
    friday_evening = local(BERLIN, 2026, 11, 20, 18)
    assert add_business_time(BERLIN_OFFICE, friday_evening, H) == local(BERLIN, 2026, 11, 23, 10)
    assert add_business_time(BERLIN_OFFICE, friday_evening, timedelta(0)) == local(BERLIN, 2026, 11, 23, 9)
    assert business_time_between(BERLIN_OFFICE, friday_evening, local(BERLIN, 2026, 11, 23, 12)) == 3 * H


def test_friday_afternoon_plus_eight_hours_is_monday_afternoon() -> None:
    due = add_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 11, 20, 16), 8 * H)
    assert due == local(BERLIN, 2026, 11, 23, 16)


def test_christmas_in_germany_is_skipped() -> None:
    # Thu 24 Dec is a working day, Fri 25 is a holiday, Sat 26 a holiday and a weekend day.
    due = add_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 12, 24, 16), 2 * H)
    assert due == local(BERLIN, 2026, 12, 28, 10)
    assert not is_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 12, 25, 11))
    assert next_opening(BERLIN_OFFICE, local(BERLIN, 2026, 12, 25, 11)) == local(BERLIN, 2026, 12, 28, 9)


def test_lunch_break_is_not_business_time() -> None:
    cal = office(BERLIN, "09:00-12:00", "13:00-17:00")
    assert add_business_time(cal, local(BERLIN, 2026, 11, 17, 11), 2 * H) == local(BERLIN, 2026, 11, 17, 14)
    assert business_time_between(cal, local(BERLIN, 2026, 11, 17, 8), local(BERLIN, 2026, 11, 18, 8)) == 7 * H
    assert not is_business_time(cal, local(BERLIN, 2026, 11, 17, 12, 30))


def test_duration_ending_at_closing_time_is_due_at_closing() -> None:
    due = add_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 11, 20, 9), 8 * H)
    assert due == local(BERLIN, 2026, 11, 20, 17)
    assert not is_business_time(BERLIN_OFFICE, due)
    assert is_business_time(BERLIN_OFFICE, due - US)


def test_opening_is_business_time_and_closing_is_not() -> None:
    assert is_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 11, 17, 9))
    assert not is_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 11, 17, 17))
    inside = local(BERLIN, 2026, 11, 17, 10, 15)
    assert next_opening(BERLIN_OFFICE, inside) == inside


def test_a_year_with_german_holidays() -> None:
    # 2026 has 261 weekdays; 7 national holidays fall on weekdays (Jan 1, Apr 3, Apr 6, May 1, May 14,
    # May 25, Dec 25; Oct 3 and Dec 26 are Saturdays): 254 days of 8 hours.
    year = business_time_between(BERLIN_OFFICE, local(BERLIN, 2026, 1, 1), local(BERLIN, 2027, 1, 1))
    assert year == 254 * 8 * H
    assert add_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 1, 1), year) == local(BERLIN, 2026, 12, 31, 17)


def test_reversed_or_empty_span_is_zero() -> None:
    t = local(BERLIN, 2026, 11, 17, 10)
    assert business_time_between(BERLIN_OFFICE, t, t) == timedelta(0)
    assert business_time_between(BERLIN_OFFICE, t + H, t) == timedelta(0)


# ---- DST days of 2026 (both are Sundays, so these calendars open every day) --------------------------


@pytest.mark.parametrize(
    ("tz", "day"),
    [
        (BERLIN, date(2026, 3, 29)),
        (BERLIN, date(2026, 10, 25)),
        (NEW_YORK, date(2026, 3, 8)),
        (NEW_YORK, date(2026, 11, 1)),
    ],
)
def test_nine_to_five_is_eight_hours_on_dst_days(tz: ZoneInfo, day: date) -> None:
    cal = office(tz, every_day=True)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    next_midnight = midnight.replace(day=day.day + 1)
    assert business_time_between(cal, midnight, next_midnight) == 8 * H
    assert add_business_time(cal, midnight, 8 * H) == local(tz, day.year, day.month, day.day, 17)


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (BERLIN, date(2026, 3, 29), 5 * H),  # 00:00-06:00 loses the skipped hour
        (BERLIN, date(2026, 10, 25), 7 * H),  # and gains the repeated one
        (NEW_YORK, date(2026, 3, 8), 5 * H),
        (NEW_YORK, date(2026, 11, 1), 7 * H),
    ],
)
def test_hours_spanning_the_change_measure_real_time(tz: ZoneInfo, day: date, expected: timedelta) -> None:
    cal = office(tz, "00:00-06:00", every_day=True)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    assert business_time_between(cal, midnight, midnight + timedelta(hours=12)) == expected


def test_opening_inside_the_spring_gap_opens_when_the_clock_jumps() -> None:
    cal = office(BERLIN, "02:30-05:00", every_day=True)
    # 02:00 CET jumps to 03:00 CEST at 01:00 UTC; 05:00 CEST is 03:00 UTC.
    assert next_opening(cal, local(BERLIN, 2026, 3, 29, 0)) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert business_time_between(cal, local(BERLIN, 2026, 3, 29, 0), local(BERLIN, 2026, 3, 29, 12)) == 2 * H


def test_closing_inside_the_autumn_fold_closes_the_second_time() -> None:
    cal = office(BERLIN, "00:00-02:30", every_day=True)
    # Open from 00:00 CEST (22:00 UTC the day before) to the second 02:30, in CET (01:30 UTC).
    start = local(BERLIN, 2026, 10, 25, 0)
    assert business_time_between(cal, start, start + timedelta(hours=12)) == timedelta(hours=3, minutes=30)
    # 00:00 CEST + 3 h is the second 02:00 (CET). Compared in UTC: PEP 495 makes an ambiguous local time
    # unequal to every instant of another zone.
    assert add_business_time(cal, start, 3 * H) == local(BERLIN, 2026, 10, 25, 2, fold=1).astimezone(UTC)
    assert add_business_time(cal, start, 3 * H) == datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert is_business_time(cal, local(BERLIN, 2026, 10, 25, 2, 15, fold=1))


def test_back_to_back_intervals_around_the_fold_do_not_count_the_repeated_hour_twice() -> None:
    # 00:00-02:30 closes at the second 02:30; 02:30-05:00 would open at the first one: they overlap in real
    # time, and the day is still just midnight CEST to 05:00 CET, 6 real hours.
    cal = office(BERLIN, "00:00-02:30", "02:30-05:00", every_day=True)
    start = local(BERLIN, 2026, 10, 25, 0)
    assert business_time_between(cal, start, start + timedelta(hours=12)) == 6 * H
    assert add_business_time(cal, start, 6 * H) == local(BERLIN, 2026, 10, 25, 5)


def test_adding_across_spring_forward_lands_on_the_right_wall_time() -> None:
    cal = office(BERLIN, every_day=True)
    due = add_business_time(cal, local(BERLIN, 2026, 3, 28, 16), 2 * H)
    assert due == datetime(2026, 3, 29, 8, tzinfo=UTC)  # 10:00 CEST


# ---- bad input ------------------------------------------------------------------------------------------


def test_naive_instants_and_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_time(BERLIN_OFFICE, datetime(2026, 1, 5, 10), H)
    with pytest.raises(ValueError, match="negative"):
        add_business_time(BERLIN_OFFICE, local(BERLIN, 2026, 1, 5, 10), -H)


@pytest.mark.parametrize("text", ["9-17", "09:00", "17:00-09:00", "09:00-09:00", "09:60-10:00", "00:00-24:01", "x-y"])
def test_bad_opening_intervals_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        OpeningInterval.parse(text)


def test_calendar_must_open_sometime_and_not_overlap() -> None:
    with pytest.raises(ValueError, match="no working hours"):
        BusinessCalendar(BERLIN, ((),) * 7)
    with pytest.raises(ValueError, match="overlaps"):
        BusinessCalendar(BERLIN, (hours("09:00-12:00", "11:00-17:00"),) + ((),) * 6)


def test_interval_renders_as_written_and_full_day_works() -> None:
    assert str(OpeningInterval.parse("09:00-24:00")) == "09:00-24:00"
    always = office(BERLIN, "00:00-24:00", every_day=True)
    assert business_time_between(always, local(BERLIN, 2026, 6, 1), local(BERLIN, 2026, 6, 8)) == 7 * 24 * H


# ---- properties --------------------------------------------------------------------------------------


def public_holidays(country: str, subdiv: str | None = None) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=range(2024, 2032)))


CALENDARS = [
    office(BERLIN, "09:00-12:00", "13:00-17:00", closed=public_holidays("DE")),
    office(NEW_YORK, closed=public_holidays("US")),
    office(SYDNEY, "08:30-17:30", closed=public_holidays("AU", "NSW")),
    # Hours that contain the transitions (Sydney changes at 02:00/03:00 local, on Sundays).
    BusinessCalendar(
        SYDNEY, ((),) * 5 + (hours("01:00-04:00"), hours("00:00-04:00", "22:00-24:00")), public_holidays("AU", "NSW")
    ),
    office(BERLIN, "00:00-06:00", "18:00-24:00", every_day=True),
]

# Half the instants fall within three days of a DST change in one of the zones, where bugs would hide.
TRANSITIONS = [
    datetime(year, month, day, tzinfo=UTC)
    for year, month, day in [(2026, 3, 29), (2026, 10, 25), (2026, 3, 8), (2026, 11, 1), (2026, 4, 5), (2026, 10, 4)]
]
instants = st.one_of(
    st.datetimes(
        min_value=datetime(2024, 1, 1),
        max_value=datetime(2030, 12, 31),
        timezones=st.sampled_from([BERLIN, NEW_YORK, SYDNEY, UTC]),
    ),
    st.builds(
        lambda base, us: base + timedelta(microseconds=us),
        st.sampled_from(TRANSITIONS),
        st.integers(-3 * 86400 * 10**6, 3 * 86400 * 10**6),
    ),
)
durations = st.integers(0, 200 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us))
calendars = st.sampled_from(CALENDARS)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations)
def test_elapsed_after_add_is_exactly_the_duration(cal: BusinessCalendar, t: datetime, h: timedelta) -> None:
    assert business_time_between(cal, t, add_business_time(cal, t, h)) == h


@settings(max_examples=200, deadline=None)
@given(calendars, instants, durations, durations)
def test_add_is_monotone_in_the_duration(cal: BusinessCalendar, t: datetime, h1: timedelta, h2: timedelta) -> None:
    low, high = sorted((h1, h2))
    assert add_business_time(cal, t, low) <= add_business_time(cal, t, high)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations)
def test_results_are_open_time_or_exactly_a_closing(cal: BusinessCalendar, t: datetime, h: timedelta) -> None:
    result = add_business_time(cal, t, h)
    assert result >= t
    if is_business_time(cal, result):
        wall = result.astimezone(cal.tz)
        assert wall.date() not in cal.holidays
        offset = wall.replace(tzinfo=None) - datetime.combine(wall.date(), datetime.min.time())
        assert any(i.start <= offset < i.end for i in cal.hours_on(wall.date()))
    else:
        # Only a positive duration that runs out exactly at a closing may end outside hours.
        assert h > timedelta(0)
        assert is_business_time(cal, result - US)
    if h == timedelta(0):
        assert result == next_opening(cal, t)


@settings(max_examples=200, deadline=None)
@given(calendars, instants, durations, durations)
def test_elapsed_is_additive(cal: BusinessCalendar, t: datetime, h1: timedelta, h2: timedelta) -> None:
    middle = add_business_time(cal, t, h1)
    end = add_business_time(cal, middle, h2)
    assert business_time_between(cal, t, end) == h1 + h2


def test_the_holiday_horizon_warns_a_year_ahead_and_after_it_ran_out() -> None:
    calendar = BusinessCalendar(BERLIN, BERLIN_OFFICE.weekly_hours, DE_2026, holidays_until=date(2026, 12, 31))
    assert calendar.horizon_warning(date(2025, 12, 30)) is None
    ahead = calendar.horizon_warning(date(2026, 1, 1))
    assert ahead is not None and "end on 2026-12-31" in ahead and "last_year" in ahead
    gone = calendar.horizon_warning(date(2027, 1, 1))
    assert gone is not None and "ended on 2026-12-31" in gone and "working days" in gone
    assert BusinessCalendar(BERLIN, BERLIN_OFFICE.weekly_hours).horizon_warning(date(2099, 1, 1)) is None


def test_the_shipped_calendar_knows_its_horizon() -> None:
    from leadsync.rules.ruleset import load_ruleset

    calendar = load_ruleset(Path(__file__).resolve().parents[2] / "mappings").sla.calendar
    assert calendar.holidays_until == date(2035, 12, 31)
    assert calendar.horizon_warning(date(2026, 11, 24)) is None
    assert calendar.horizon_warning(date(2035, 6, 1)) is not None
