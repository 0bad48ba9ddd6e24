from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadsync.domain.funnel import FunnelSettings, build_funnel, period_start
from leadsync.domain.model import Move, Transition

STAGES = ("Raw", "Inquiry", "MQL", "SAL", "SQL", "Opportunity", "Customer")
MON = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday


def tr(person: str, src: str | None, dst: str, at: datetime, move: Move = Move.FORWARD) -> Transition:
    return Transition(person, src, dst, at, move if src else Move.INITIAL, "r", "v1", "because")


def test_period_start_week_and_month() -> None:
    assert period_start(MON + timedelta(days=3), "week", UTC) == MON.date()
    assert period_start(MON, "month", UTC).day == 1


def test_counts_cohorts_and_conversion_worked_example() -> None:
    d = timedelta(days=1)
    ts = [
        # p1: Inquiry -> MQL -> SAL in week 1
        tr("p1", None, "Inquiry", MON), tr("p1", "Inquiry", "MQL", MON + d), tr("p1", "MQL", "SAL", MON + 2 * d),
        # p2: Inquiry -> MQL week 1, recycled, MQL again week 2 (counted once per period, once in cohort)
        tr("p2", None, "Inquiry", MON), tr("p2", "Inquiry", "MQL", MON + d),
        tr("p2", "MQL", "Recycled", MON + 3 * d, Move.RECYCLE), tr("p2", "Recycled", "MQL", MON + 8 * d),
        # p3: Inquiry week 1, straight to SQL week 2 (skipped MQL and SAL)
        tr("p3", None, "Inquiry", MON), tr("p3", "Inquiry", "SQL", MON + 9 * d),
    ]
    report = build_funnel(ts, STAGES, now=MON + 14 * d, tz=UTC)
    week1, week2 = MON.date(), (MON + 7 * d).date()
    assert report.counts[("Inquiry", week1)] == 3
    assert report.counts[("MQL", week1)] == 2
    assert report.counts[("MQL", week2)] == 1  # p2 re-entered in another week
    assert report.cohorts[("MQL", week1)] == 2 and ("MQL", week2) not in report.cohorts
    # Of the 3 Inquiry people of week 1: MQL reached by p1 and p2 (2/3); SQL by p3 only (1/3).
    assert report.conversions[("Inquiry", "MQL", week1)] == 2 / 3
    assert report.conversions[("Inquiry", "SQL", week1)] == 1 / 3
    assert report.conversions[("MQL", "SAL", week1)] == 1 / 2
    kinds = {a.kind: a for a in report.anomalies}
    assert kinds["skipped_stage"].people == ("p3",) and "MQL, SAL" in kinds["skipped_stage"].detail
    assert kinds["re_entry"].people == ("p2",)
    assert kinds["backward_move"].people == ("p2",)


def test_time_in_stage_median_and_p90() -> None:
    ts = []
    for i in range(10):
        ts += [tr(f"p{i}", None, "MQL", MON), tr(f"p{i}", "MQL", "SAL", MON + timedelta(hours=i + 1))]
    report = build_funnel(ts, STAGES, now=MON + timedelta(days=2), tz=UTC)
    mql = next(t for t in report.time_in_stage if t.stage == "MQL")
    assert mql.samples == 10
    assert mql.median == timedelta(hours=5)  # median_low of 1..10 hours
    assert mql.p90 == timedelta(hours=9)


def test_bulk_import_spike_drop_and_stuck() -> None:
    ts = [tr(f"imp{i}", None, "Raw", MON + timedelta(seconds=i)) for i in range(150)]
    # Weekly MQL counts: 10, 10, 10, 10, then 30 (spike), then 1 (drop).
    n = 0
    for week, count in enumerate([10, 10, 10, 10, 30, 1]):
        for _ in range(count):
            ts.append(tr(f"m{n}", None, "MQL", MON + timedelta(weeks=week, hours=3)))
            n += 1
    opts = FunnelSettings(stuck_after={"MQL": timedelta(days=3)})
    report = build_funnel(ts, STAGES, now=MON + timedelta(weeks=6), tz=UTC, settings=opts)
    (bulk,) = report.anomalies_of("bulk_import")
    assert len(bulk.people) == 150 and "150 Raw" in bulk.detail
    mql = [a for a in report.anomalies if a.stage == "MQL"]
    assert [a.period for a in mql if a.kind == "spike"] == [(MON + timedelta(weeks=4)).date()]
    assert [a.period for a in mql if a.kind == "drop"] == [(MON + timedelta(weeks=5)).date()]
    # After the import week, Raw falls far below its trailing mean: reported too, and rightly so.
    assert (MON + timedelta(weeks=4)).date() in [a.period for a in report.anomalies if a.stage == "Raw"]
    (stuck,) = report.anomalies_of("stuck")
    assert len(stuck.people) == n  # every MQL person never moved on


def test_since_until_window_limits_counts() -> None:
    ts = [tr("a", None, "Inquiry", MON), tr("b", None, "Inquiry", MON + timedelta(days=10))]
    report = build_funnel(ts, STAGES, now=MON + timedelta(days=20), tz=UTC, since=MON + timedelta(days=7))
    assert sum(report.counts.values()) == 1
