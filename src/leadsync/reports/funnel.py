"""``leadsync report funnel``: people per stage per period, cohort conversion, time in stage, and the
abnormal flows called out (skipped stages, backward moves, re-entries counted once, bulk imports, spikes
and drops against the trailing average, people stuck in a stage).

The numbers come from :mod:`leadsync.reports.funnel_queries` (one ordered read walked in Python on SQLite,
aggregate queries on PostgreSQL: the same answers as :func:`leadsync.domain.funnel.build_funnel` over each
person's history before the window's end) and are turned into the report by
:func:`leadsync.domain.funnel.funnel_from_aggregates`. Anomalies list the first
``SAMPLE_PEOPLE`` people by id and the total.
"""

from __future__ import annotations

from datetime import timedelta

from leadsync.domain.funnel import FunnelReport, FunnelSettings, funnel_from_aggregates
from leadsync.domain.lifecycle import Role
from leadsync.ledger import Ledger
from leadsync.reports.common import Window
from leadsync.reports.funnel_queries import funnel_aggregates
from leadsync.reports.model import Chart, Report, Series, Table, hours, percent
from leadsync.rules.ruleset import RuleSet

# How long a person may sit in a stage before the report calls them stuck, per role. The SLA clocks police
# the hand-off itself; these catch what no clock covers (an SQL nobody turns into a deal).
STUCK_AFTER: dict[Role, timedelta] = {
    Role.MQL: timedelta(days=14),
    Role.SAL: timedelta(days=30),
    Role.SQL: timedelta(days=60),
    Role.OPPORTUNITY: timedelta(days=120),
}
# People listed per anomaly (the first by id; the total is counted in full). Tables, JSON and CSV carry this
# sample: a bulk import or a recycling wave can concern a hundred thousand people.
SAMPLE_PEOPLE = 10


def settings_for(ruleset: RuleSet, period: str) -> FunnelSettings:
    stuck = {s.name: STUCK_AFTER[s.role] for s in ruleset.lifecycle.statuses if s.role in STUCK_AFTER}
    return FunnelSettings(period=period, stuck_after=stuck, people_sample=SAMPLE_PEOPLE)


def build(ledger: Ledger, ruleset: RuleSet, window: Window, *, period: str = "week",
          method: str | None = None) -> Report:
    """``method``: how the aggregates are computed (``stream`` or ``sql``; default: the database's best)."""
    stages = tuple(s.name for s in ruleset.lifecycle.funnel())
    settings = settings_for(ruleset, period)
    with ledger.reading() as uow:
        aggregates = funnel_aggregates(uow.connection, stages, now=window.now, tz=ruleset.sla.calendar.tz,
                                       settings=settings, since=window.since, until=window.end, method=method)
    funnel = funnel_from_aggregates(aggregates, stages, settings)
    return report_from_funnel(funnel, ruleset, window, period=period)


def report_from_funnel(funnel: FunnelReport, ruleset: RuleSet, window: Window, *, period: str) -> Report:
    stages = funnel.stages
    periods = funnel.periods
    counts = Table(
        "counts", f"People entering each stage per {period} (each person once per stage and {period})",
        ("period", *stages),
        tuple((p.isoformat(), *(funnel.counts.get((s, p), 0) for s in stages)) for p in periods),
    )
    conversions = _conversion_table(funnel)
    timing = Table("time_in_stage", "Time in stage (wall-clock, people who left the stage)",
                   ("stage", "samples", "median h", "p90 h"),
                   tuple((t.stage, t.samples, hours(t.median), hours(t.p90)) for t in funnel.time_in_stage))
    anomalies = Table(
        "anomalies", f"Abnormal flows (called out, not absorbed); people: all of them, example people: the first "
        f"{SAMPLE_PEOPLE} by id",
        ("kind", "stage", "period", "at", "people", "detail", "example people"),
        tuple((a.kind, a.stage, a.period.isoformat() if a.period else None, a.at.isoformat() if a.at else None,
               a.people_count, a.detail, ", ".join(a.people[:SAMPLE_PEOPLE])) for a in funnel.anomalies),
    )
    entered = {s: sum(funnel.counts.get((s, p), 0) for p in periods) for s in stages}
    firsts = {s: sum(funnel.cohorts.get((s, p), 0) for p in periods) for s in stages}
    charts = (
        Chart("funnel", "Funnel: people first entering each stage in the window", "hbars", stages,
              (Series("people", tuple(float(firsts[s]) for s in stages)),)),
        Chart("trend", f"Entries per stage per {period}", "lines", tuple(p.isoformat() for p in periods),
              tuple(Series(s, tuple(float(funnel.counts.get((s, p), 0)) for p in periods)) for s in stages)),
    )
    kinds = sorted({a.kind for a in funnel.anomalies})
    headline = (
        *((f"entered {s}", f"{entered[s]:,}") for s in stages if entered[s]),
        ("abnormal flows", ", ".join(kinds) if kinds else "none"),
    )
    return Report(
        name="funnel", title="Lead funnel", generated_at=window.now,
        params={**window.params(), "period": period, "time zone": str(ruleset.sla.calendar.tz),
                "rule-set version": ruleset.version},
        headline=headline, tables=(counts, conversions, timing, anomalies), charts=charts,
    )


def _conversion_table(funnel: FunnelReport) -> Table:
    """Each cohort (people first entering a stage in a period) and the share reaching the next stages."""
    stages = funnel.stages
    rows = []
    for (stage, period), size in sorted(funnel.cohorts.items(), key=lambda kv: (kv[0][1], stages.index(kv[0][0]))):
        later = stages[stages.index(stage) + 1:]
        if not later:
            continue
        shares = [percent(funnel.conversions.get((stage, nxt, period))) for nxt in later]
        rows.append((period.isoformat(), stage, size, later[0], shares[0], later[-1], shares[-1]))
    return Table("conversions", "Cohort conversion (people first entering a stage, and how many got further)",
                 ("cohort", "stage", "people", "next stage", "reached next %", "last stage", "reached last %"),
                 tuple(rows), note="Skipping a stage still counts as reaching the later one.")
