"""SLA clocks (worked examples in business time) and the sla.toml loader (shipped file and located errors)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from leadsync.domain.calendar import BusinessCalendar, OpeningInterval, is_business_time
from leadsync.domain.sla import (
    BreachAction,
    ClockEvent,
    ClockStatus,
    EventKind,
    SlaDefinition,
    SlaRules,
    Trigger,
    clocks_for,
    due_at,
    evaluate,
)
from leadsync.domain.version import content_version
from leadsync.rules import sla as sla_rules
from leadsync.rules.source import RuleSetError, parse_toml, read_toml

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
NINE_TO_FIVE = (OpeningInterval.parse("09:00-17:00"),)
CAL = BusinessCalendar(BERLIN, (NINE_TO_FIVE,) * 5 + ((), ()), frozenset({date(2026, 12, 25)}))

MQL_ACCEPTED = SlaDefinition(
    name="mql_accepted",
    start=Trigger(statuses=("MQL",)),
    stop=Trigger(statuses=("SAL", "Disqualified")),
    within=8 * H,
    warn_after=6 * H,  # 75 %
    on_breach=frozenset({BreachAction.WRITE_FIELDS, BreachAction.NOTIFY}),
)
FOLLOW_UP = SlaDefinition(
    name="follow_up",
    start=Trigger(statuses=("SAL",)),
    restart=Trigger(activities=("call", "email_sent", "meeting")),
    stop=Trigger(statuses=("Disqualified", "Recycled")),
    within=16 * H,
    on_breach=frozenset({BreachAction.RETURN_TO_POOL}),
)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


FRIDAY_4PM = berlin(2026, 11, 20, 16)
MONDAY_4PM = berlin(2026, 11, 23, 16)


# ---- clock evaluation ------------------------------------------------------------------------------


def test_mql_on_friday_afternoon_is_due_monday_afternoon() -> None:
    assert due_at(MQL_ACCEPTED, CAL, FRIDAY_4PM) == MONDAY_4PM


def test_accepted_after_three_business_hours_is_met() -> None:
    # Friday 16-17 is one hour, Monday 09-11 two more.
    accepted = berlin(2026, 11, 23, 11)
    clock = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, accepted, now=berlin(2026, 11, 24, 12))
    assert clock.state is ClockStatus.MET
    assert (clock.elapsed, clock.remaining, clock.overdue) == (3 * H, 5 * H, timedelta(0))
    assert clock.stopped_at == accepted
    assert clock.due_at == MONDAY_4PM


def test_unaccepted_at_the_due_time_is_breached() -> None:
    clock = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, None, now=MONDAY_4PM)
    assert clock.state is ClockStatus.BREACHED
    assert (clock.elapsed, clock.remaining) == (8 * H, timedelta(0))
    just_before = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, None, now=MONDAY_4PM - timedelta(microseconds=1))
    assert just_before.state is ClockStatus.WARNING


def test_accepted_exactly_at_the_due_time_is_met() -> None:
    clock = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, MONDAY_4PM, now=MONDAY_4PM)
    assert clock.state is ClockStatus.MET


def test_warning_at_seventy_five_percent() -> None:
    # 6 business hours after Friday 16:00: Friday 1 h + Monday 09-14.
    warn_at = berlin(2026, 11, 23, 14)
    before = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, None, now=berlin(2026, 11, 23, 13, 59))
    at = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, None, now=warn_at)
    assert before.state is ClockStatus.RUNNING
    assert before.warn_at == warn_at
    assert at.state is ClockStatus.WARNING
    assert (at.elapsed, at.remaining) == (6 * H, 2 * H)


def test_accepted_late_is_breached_with_the_overdue_business_time() -> None:
    clock = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, berlin(2026, 11, 24, 10), now=berlin(2026, 11, 25, 9))
    assert clock.state is ClockStatus.BREACHED
    assert clock.overdue == 2 * H  # Monday 16-17 and Tuesday 09-10


def test_acceptance_on_saturday_after_a_friday_closing_deadline_is_late() -> None:
    started = berlin(2026, 11, 20, 9)
    assert due_at(MQL_ACCEPTED, CAL, started) == berlin(2026, 11, 20, 17)
    clock = evaluate(MQL_ACCEPTED, CAL, started, berlin(2026, 11, 21, 10), now=berlin(2026, 11, 21, 10))
    assert clock.state is ClockStatus.BREACHED


def test_a_stop_after_now_has_not_happened_yet() -> None:
    clock = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, berlin(2026, 11, 23, 11), now=berlin(2026, 11, 23, 10))
    assert clock.state is ClockStatus.RUNNING
    assert clock.stopped_at is None
    assert clock.elapsed == 2 * H


def test_clock_over_christmas_skips_the_holiday() -> None:
    due = due_at(MQL_ACCEPTED, CAL, berlin(2026, 12, 24, 15))
    assert due == berlin(2026, 12, 28, 15)  # Thu 15-17, Fri 25 holiday, weekend, Mon 09-15
    assert is_business_time(CAL, due)


def test_results_are_utc_instants() -> None:
    clock = evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, None, now=FRIDAY_4PM)
    assert clock.due_at.tzinfo is UTC and clock.started_at.tzinfo is UTC
    assert clock.due_at == datetime(2026, 11, 23, 15, tzinfo=UTC)


def test_now_before_start_and_stop_before_start_are_refused() -> None:
    with pytest.raises(ValueError, match="before the clock started"):
        evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, None, now=FRIDAY_4PM - H)
    with pytest.raises(ValueError, match="before it started"):
        evaluate(MQL_ACCEPTED, CAL, FRIDAY_4PM, FRIDAY_4PM - H, now=MONDAY_4PM)


@pytest.mark.parametrize(
    ("within", "warn", "start", "stop", "message"),
    [
        (timedelta(0), None, Trigger(("MQL",)), Trigger(("SAL",)), "positive"),
        (-H, None, Trigger(("MQL",)), Trigger(("SAL",)), "positive"),
        (8 * H, 8 * H, Trigger(("MQL",)), Trigger(("SAL",)), "warning"),
        (8 * H, None, Trigger(), Trigger(("SAL",)), "starts"),
        (8 * H, None, Trigger(("MQL",)), Trigger(), "stops"),
    ],
)
def test_definitions_that_cannot_work_are_refused(
    within: timedelta, warn: timedelta | None, start: Trigger, stop: Trigger, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SlaDefinition("x", start=start, stop=stop, within=within, warn_after=warn)


# ---- clocks from a person's history ----------------------------------------------------------------


def status(name: str, at: datetime) -> ClockEvent:
    return ClockEvent(EventKind.STATUS, name, at)


def activity(name: str, at: datetime) -> ClockEvent:
    return ClockEvent(EventKind.ACTIVITY, name, at)


T = [berlin(2026, 11, 2, 9) + n * H for n in range(10)]


def test_mql_clock_starts_on_mql_and_stops_on_acceptance_or_rejection() -> None:
    events = [
        status("Inquiry", T[0]),
        status("MQL", T[1]),
        activity("page_view", T[2]),
        status("MQL", T[3]),  # re-entering while running does not restart the clock
        status("SAL", T[4]),
        status("MQL", T[5]),
        status("Disqualified", T[6]),
        status("MQL", T[7]),
    ]
    assert clocks_for(MQL_ACCEPTED, events) == [(T[1], T[4]), (T[5], T[6]), (T[7], None)]


def test_follow_up_clock_restarts_on_each_touch_and_ends_when_the_lead_leaves() -> None:
    events = [
        activity("call", T[0]),  # a touch before the lead is claimed starts nothing
        status("SAL", T[1]),
        activity("call", T[2]),
        activity("email_open", T[3]),  # the lead's own activity is not a follow-up
        activity("email_sent", T[4]),
        status("Recycled", T[5]),
        activity("meeting", T[6]),
    ]
    assert clocks_for(FOLLOW_UP, events) == [(T[1], T[2]), (T[2], T[4]), (T[4], T[5])]


def test_no_events_no_clocks_and_disorder_is_refused() -> None:
    assert clocks_for(MQL_ACCEPTED, []) == []
    with pytest.raises(ValueError, match="ordered"):
        clocks_for(MQL_ACCEPTED, [status("MQL", T[2]), status("SAL", T[1])])


# ---- the shipped sla.toml ---------------------------------------------------------------------------


def load_text(text: str) -> SlaRules:
    data, source = parse_toml(text, "sla.toml")
    return sla_rules.load(data, source)


def test_shipped_file_has_the_three_default_clocks(mappings_dir: Path) -> None:
    data, source = read_toml(mappings_dir / sla_rules.FILE_NAME, "sla.toml")
    rules = sla_rules.load(data, source)
    clocks = {d.name: d for d in rules.definitions}
    assert clocks["mql_accepted"].within == 8 * H and clocks["mql_accepted"].warn_after == 6 * H
    assert {"SAL", "Disqualified"} <= set(clocks["mql_accepted"].stop.statuses)
    assert clocks["first_touch"].within == 4 * H
    assert set(clocks["first_touch"].stop.activities) == {"call", "email_sent", "meeting"}
    assert clocks["follow_up"].within == 16 * H
    assert BreachAction.RETURN_TO_POOL in clocks["follow_up"].on_breach
    assert rules.version == content_version({"sla.toml": data})
    assert ("MQL", "sla[0].start.statuses[0]") in rules.referenced_statuses()
    cal = rules.calendar
    assert not is_business_time(cal, berlin(2026, 12, 24, 10))  # company shutdown
    assert not is_business_time(cal, berlin(2026, 12, 25, 10))  # Christmas
    assert not is_business_time(cal, berlin(2027, 3, 8, 10))  # Women's Day: a Monday, a holiday in Berlin only
    assert is_business_time(cal, berlin(2026, 11, 24, 10))


VALID = """\
[calendar]
time_zone = "Europe/Berlin"

[calendar.working_hours]
monday = ["09:00-12:00", "13:00-17:00"]
tuesday = ["09:00-17:00"]
wednesday = ["09:00-17:00"]
thursday = ["09:00-17:00"]
friday = ["09:00-17:00"]
saturday = []
sunday = []

[calendar.holidays]
country = "DE"
first_year = 2026
last_year = 2027
extra_closed = [2026-12-24]
removed = [2026-05-01]

[[sla]]
name = "mql_accepted"
start = { statuses = ["MQL"] }
stop = { statuses = ["SAL", "Disqualified"] }
within_business_hours = 8
warn_at_percent = 75
on_breach = ["notify"]

[[sla]]
name = "follow_up"
start = { statuses = ["SAL"] }
restart = { activities = ["call"] }
within_business_hours = 1.5
"""


def test_a_valid_file_builds_the_calendar_it_describes() -> None:
    rules = load_text(VALID)
    cal = rules.calendar
    assert cal.weekly_hours[0] == (OpeningInterval.parse("09:00-12:00"), OpeningInterval.parse("13:00-17:00"))
    assert cal.weekly_hours[5] == ()
    assert date(2026, 12, 24) in cal.holidays and date(2026, 12, 25) in cal.holidays
    assert date(2026, 5, 1) not in cal.holidays  # removed: the team works on Labour Day
    assert date(2027, 1, 1) in cal.holidays and date(2028, 1, 1) not in cal.holidays
    assert rules.by_name("follow_up").within == timedelta(minutes=90)


def test_version_ignores_comments_and_follows_meaning() -> None:
    base = load_text(VALID).version
    assert load_text("# a comment\n" + VALID).version == base
    assert load_text(VALID.replace("within_business_hours = 8", "within_business_hours = 9")).version != base


def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleSetError) as info:
        load_text(text)
    return [str(e) for e in info.value.errors]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"Europe/Berlin"', '"Europe/Berlim"', "sla.toml:2: [calendar.time_zone] unknown time zone"),
        ('country = "DE"', 'country = "XX"', "sla.toml:14: [calendar.holidays.country] unknown holiday country"),
        ('"DE"', '"DE"\nsubdivision = "ZZ"', "sla.toml:15: [calendar.holidays.subdivision] unknown"),
        ('y = ["09:00-17:00"]', 'y = ["17:00-09:00"]', "sla.toml:6: [calendar.working_hours.tuesday[0]] end"),
        ('tuesday = ["09:00-17:00"]', 'tuesday = ["9am-5pm"]', "sla.toml:6: [calendar.working_hours.tuesday[0]]"),
        ('"13:00-17:00"]', '"11:00-17:00"]', "sla.toml:5: [calendar.working_hours.monday[1]] 11:00-17:00 overlaps"),
        ("within_business_hours = 8", "within_business_hours = -8", "sla.toml:24: [sla[0].within_business_hours]"),
        ("within_business_hours = 8", 'within_business_hours = "8"', "sla.toml:24: [sla[0].within_business_hours]"),
        ("warn_at_percent = 75", "warn_at_percent = 120", "sla.toml:25: [sla[0].warn_at_percent]"),
        ('name = "follow_up"', 'name = "mql_accepted"', "sla.toml:29: [sla[1].name] duplicate SLA name"),
        ('["call"]', '["cal"]', "sla.toml:31: [sla[1].restart.activities[0]] unknown activity type 'cal'"),
        ("removed = [2026-05-01]", "removed = [2026-05-02]", "sla.toml:18: [calendar.holidays.removed[0]] 2026-05-02"),
        ("last_year = 2027", "last_year = 2025", "sla.toml:16: [calendar.holidays.last_year] last_year 2025"),
        ('on_breach = ["notify"]', 'on_breach = ["email_boss"]', "sla.toml:26: [sla[0].on_breach[0]]"),
        ("warn_at_percent = 75", "warn_at_percent = 75\nwarn_at = 3", "sla.toml:26: [sla[0].warn_at] unknown key"),
        ('restart = { activities = ["call"] }\n', "", "sla.toml:28: [sla[1]] SLA 'follow_up': nothing stops"),
    ],
)
def test_bad_input_is_located(old: str, new: str, expected: str) -> None:
    assert old in VALID
    rendered = errors_of(VALID.replace(old, new, 1))
    assert any(e.startswith(expected) for e in rendered), rendered


def test_no_working_hours_at_all_is_an_error() -> None:
    text = VALID
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday"):
        text = "\n".join(f"{day} = []" if line.startswith(f"{day} =") else line for line in text.splitlines())
    assert any("[calendar.working_hours] no working hours" in e for e in errors_of(text))


def test_every_problem_is_reported_at_once() -> None:
    text = (
        VALID.replace('"Europe/Berlin"', '"Mars/Olympus"')
        .replace('name = "follow_up"', 'name = "mql_accepted"')
        .replace('tuesday = ["09:00-17:00"]', 'tuesday = ["17:00-09:00"]')
    )
    rendered = errors_of(text)
    assert len(rendered) == 3, rendered


def test_unknown_statuses_are_located_for_the_cross_check() -> None:
    data, source = parse_toml(VALID, "sla.toml")
    rules = sla_rules.load(data, source)
    assert rules.referenced_statuses() == {
        ("MQL", "sla[0].start.statuses[0]"),
        ("SAL", "sla[0].stop.statuses[0]"),
        ("Disqualified", "sla[0].stop.statuses[1]"),
        ("SAL", "sla[1].start.statuses[0]"),
    }
    errors = sla_rules.unknown_status_errors(rules, {"MQL", "SAL"}, source)
    expected = "sla.toml:23: [sla[0].stop.statuses[1]] unknown lifecycle status 'Disqualified'"
    assert [str(e) for e in errors] == [expected]
