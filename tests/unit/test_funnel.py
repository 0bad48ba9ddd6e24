from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadsync.domain.funnel import (
    FunnelAggregates,
    FunnelSettings,
    PeopleGroup,
    StageTiming,
    build_funnel,
    flow_kind,
    funnel_from_aggregates,
    people_group,
    period_start,
    stage_timing,
    timing_ranks,
)
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


def test_flow_kind_skips_backward_and_out_of_funnel_moves() -> None:
    rank = {s: i for i, s in enumerate(STAGES)}
    assert flow_kind("Inquiry", "SQL", Move.FORWARD, rank) == "skipped_stage"
    assert flow_kind("Inquiry", "MQL", Move.FORWARD, rank) is None
    assert flow_kind("SQL", "MQL", Move.FORWARD, rank) == "backward_move"
    assert flow_kind("MQL", "MQL", Move.REOPEN, rank) == "backward_move"
    assert flow_kind("MQL", "Recycled", Move.RECYCLE, rank) == "backward_move"
    assert flow_kind("MQL", "Disqualified", Move.DISQUALIFY, rank) is None
    assert flow_kind(None, "SQL", Move.INITIAL, rank) is None


def test_timing_ranks_match_median_low_and_rounded_p90() -> None:
    assert timing_ranks(1) == (0, 0)
    assert timing_ranks(10) == (4, 8)  # round(8.1)
    assert timing_ranks(6) == (2, 4)  # round(4.5) is 4: Python rounds half to even
    assert stage_timing("MQL", [timedelta(hours=h) for h in (3, 1, 2)]) == StageTiming(
        "MQL", 3, timedelta(hours=2), timedelta(hours=3))


def test_report_from_aggregates_samples_people_and_keeps_totals() -> None:
    week = MON.date()
    aggregates = FunnelAggregates(
        counts={("Inquiry", week): 4, ("MQL", week): 2}, cohorts={("Inquiry", week): 4}, reached={
            ("Inquiry", "MQL", week): 2, ("Inquiry", "SQL", week): 1},
        time_in_stage=(), skipped={("Inquiry", "SQL"): PeopleGroup(5_000, ("a", "b"))}, backward={},
        re_entries={"MQL": PeopleGroup(3, ("c", "d", "e"))}, stuck={"MQL": PeopleGroup(120, ("f",))},
        initial_moves=[(MON + timedelta(seconds=n), "Raw", f"i{n}") for n in range(4)])
    settings = FunnelSettings(bulk_import_count=3, stuck_after={"MQL": timedelta(days=3)}, people_sample=2)
    report = funnel_from_aggregates(aggregates, STAGES, settings)
    assert report.conversions[("Inquiry", "MQL", week)] == 0.5
    assert report.conversions[("Inquiry", "Customer", week)] == 0.0  # nobody: a real zero, not missing
    (skipped,) = report.anomalies_of("skipped_stage")
    assert skipped.people == ("a", "b") and skipped.people_count == 5_000
    (stuck,) = report.anomalies_of("stuck")
    assert stuck.detail.startswith("120 people in MQL")
    (bulk,) = report.anomalies_of("bulk_import")
    assert bulk.people == ("i0", "i1") and bulk.people_count == 4 and "4 people" in bulk.detail
    assert people_group(["b", "a", "b"], None) == PeopleGroup(2, ("a", "b"))
