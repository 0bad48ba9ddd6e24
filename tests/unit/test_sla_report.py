from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from leadsync.domain.calendar import BusinessCalendar, OpeningInterval
from leadsync.domain.sla_report import SlaCase, build_sla_report

BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_FIVE = (OpeningInterval.parse("09:00-17:00"),)
CAL = BusinessCalendar(BERLIN, (NINE_TO_FIVE,) * 5 + ((), ()))
# Monday 2 Nov 2026, 10:00 Berlin (CET, UTC+1).
MON10 = datetime(2026, 11, 2, 10, 0, tzinfo=BERLIN)
H = timedelta(hours=1)


def case(pid: str, start: datetime, due_h: float, stop_h: float | None, owner: str, sla: str = "mql_accept"
         ) -> SlaCase:
    stopped = None if stop_h is None else start + stop_h * H
    return SlaCase(pid, sla, start, start + due_h * H, stopped, owner=owner, team="emea" if owner != "cy" else "us")


def test_compliance_medians_and_breaches_worked_example() -> None:
    now = MON10 + 30 * H
    cases = [
        case("p1", MON10, 6, 1, "ann"),  # met, 1 business hour
        case("p2", MON10, 6, 3, "ann"),  # met, 3 business hours
        case("p3", MON10, 6, 7, "ann"),  # stopped 17:00: met? due 16:00 -> breached (past), 7 business hours
        case("p4", MON10, 6, None, "bob"),  # still open at now, due long passed: open breach
        case("p5", MON10 + 29 * H, 6, None, "bob"),  # open, not yet due
    ]
    report = build_sla_report(cases, CAL, now=now)
    ann = next(g for g in report.groups if g.group == "ann")
    assert (ann.clocks, ann.met, ann.breached, ann.open) == (3, 2, 1, 0)
    assert ann.compliance == pytest.approx(2 / 3)
    assert ann.median == 3 * H and ann.p90 == 7 * H
    bob = next(g for g in report.groups if g.group == "bob")
    assert (bob.met, bob.breached, bob.open, bob.compliance) == (0, 1, 1, 0.0)
    assert [c.person_id for c in report.open_breaches] == ["p4"]
    assert [c.person_id for c in report.past_breaches] == ["p3"]


def test_business_time_excludes_nights_but_speed_to_lead_is_wall_clock() -> None:
    friday_4pm = datetime(2026, 11, 6, 16, 0, tzinfo=BERLIN)
    monday_10am = datetime(2026, 11, 9, 10, 0, tzinfo=BERLIN)
    c = SlaCase("p1", "mql_accept", friday_4pm, friday_4pm + 70 * H, monday_10am, owner="ann")
    report = build_sla_report([c], CAL, now=monday_10am + H)
    (stats,) = report.groups
    assert stats.median == 2 * H  # Friday 16-17 and Monday 09-10
    speed = dict(report.speed_to_lead)
    assert speed["1 week"] == 1 and speed["1 hour"] == 0  # 66 wall-clock hours: the prospect waited the weekend


def test_group_by_team_and_unknown_grouping() -> None:
    cases = [case("p1", MON10, 6, 1, "ann"), case("p2", MON10, 6, 1, "cy")]
    report = build_sla_report(cases, CAL, now=MON10 + 2 * H, by="team")
    assert sorted(g.group for g in report.groups) == ["emea", "us"]
    with pytest.raises(ValueError, match="cannot group by"):
        build_sla_report(cases, CAL, now=MON10, by="planet")


def test_speed_distribution_counts_every_clock_once() -> None:
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    waits = [timedelta(minutes=3), timedelta(minutes=30), timedelta(hours=3), timedelta(hours=30), None]
    cases = [SlaCase(f"p{i}", "mql_accept", start, start + 8 * H, None if w is None else start + w)
             for i, w in enumerate(waits)]
    speed = dict(build_sla_report(cases, CAL, now=start + 48 * H).speed_to_lead)
    assert speed == {"5 min": 1, "1 hour": 1, "4 hours": 1, "24 hours": 0, "42 hours": 1, "1 week": 0,
                     "longer": 0, "not yet": 1}
