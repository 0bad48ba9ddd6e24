"""``leadsync report sla``: SLA compliance per owner, team or source, business-time medians, speed to lead,
and the breaches still open and already past, from the SLA clocks the engine recorded.

A clock closed as met counts by when it was met (late or not); a clock the engine stopped after a breach
(the lead went back to the pool) counts as breached; a clock stopped *without* a breach (an owner change,
say) decided nothing and is left out, with the number left out said in the report.

Owners: clocks name the CRM owner (a Salesforce user id, a HubSpot owner id, or the rep's email when the
engine knew it). Reports show the owner's email wherever the ledger knows it (the users and owners the
sync pulled, then the ids routing recorded), the raw id otherwise; the team is the routing queue listing
that email. Source: the person's lead source (Salesforce ``LeadSource``, HubSpot ``hs_analytics_source``,
as the inbound mappings store it), ``(unknown)`` when no record holds one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date

from leadsync.domain.funnel import period_start
from leadsync.domain.routing import RoutingRules
from leadsync.domain.sla_report import SlaCase, SlaReport, build_sla_report
from leadsync.ledger import Ledger, SlaClock
from leadsync.reports import queries
from leadsync.reports.business_time import BusinessTimeIndex
from leadsync.reports.common import GROUPINGS, Window, owner_label
from leadsync.reports.model import Chart, Report, Series, Table, hours, percent
from leadsync.rules.ruleset import RuleSet

# person ids -> source label; the default is the lead source the sync stored for each person.
SourceLookup = Callable[[Sequence[str]], Mapping[str, str]]
UNKNOWN_SOURCE = "(unknown)"


def team_of(routing: RoutingRules) -> dict[str, str]:
    """Owner (email, lower case) -> the first routing queue listing them: queues are the teams."""
    teams: dict[str, str] = {}
    for queue in routing.queues.values():
        for member in queue.members:
            teams.setdefault(member.email.lower(), queue.name)
    return teams


def cases_from(clocks: Sequence[SlaClock], teams: Mapping[str, str], sources: Mapping[str, str],
               owners: Mapping[str, str] | None = None) -> tuple[list[SlaCase], int]:
    """SLA cases for the domain report, and how many clocks were stopped without deciding anything.
    ``owners``: CRM owner id -> email; ``teams``: email (lower case) -> routing queue."""
    cases: list[SlaCase] = []
    undecided = 0
    emails = owners or {}
    for clock in clocks:
        end = clock.met_at
        if end is None and clock.stopped_at is not None:
            if clock.breached_at is None:
                undecided += 1
                continue
            end = clock.stopped_at
        owner = owner_label(clock.owner_id, emails)
        cases.append(SlaCase(
            clock.person_id, clock.sla, clock.started_at, clock.due_at, end, owner=owner,
            team=teams.get(owner.lower()) if owner else None, source=sources.get(clock.person_id, UNKNOWN_SOURCE),
        ))
    return cases, undecided


def build(ledger: Ledger, ruleset: RuleSet, window: Window, *, by: str = "owner",
          source_lookup: SourceLookup | None = None) -> Report:
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r} (one of: {', '.join(GROUPINGS)})")
    with ledger.reading() as uow:
        clocks = queries.clocks_started(uow.connection, window.since, window.end)
        owners = queries.owner_emails(uow.connection)
        sources: Mapping[str, str] = {}
        if by == "source":
            people = [c.person_id for c in clocks]
            sources = source_lookup(people) if source_lookup else queries.lead_sources(uow.connection, people)
    cases, undecided = cases_from(clocks, team_of(ruleset.routing), sources, owners)
    return report_from_cases(cases, ruleset, window, by=by, undecided=undecided)


def report_from_cases(cases: Sequence[SlaCase], ruleset: RuleSet, window: Window, *, by: str,
                      undecided: int = 0) -> Report:
    cal = ruleset.sla.calendar
    speed_sla = ruleset.sla.definitions[0].name if ruleset.sla.definitions else None
    index = _index(cases, ruleset, window)
    grouped = build_sla_report(cases, cal, now=window.now, by=by, speed_sla=speed_sla, business_time=index.between)
    # Per SLA over everyone: grouped by the SLA itself (no copy of 100,000 cases relabelled "all").
    overall = build_sla_report(cases, cal, now=window.now, by="sla", speed_sla=speed_sla,
                               business_time=index.between)
    tables = (
        _summary_table(overall), _group_table(grouped, by), _speed_table(grouped, speed_sla),
        _open_breaches(grouped, index, window), _past_breaches(grouped, index),
        _weekly_table(cases, ruleset, window),
    )
    decided = sum(g.met + g.breached for g in overall.groups)
    met = sum(g.met for g in overall.groups)
    speed = dict(grouped.speed_to_lead)
    answered = sum(n for label, n in grouped.speed_to_lead if label != "not yet")
    within_hour = speed.get("5 min", 0) + speed.get("1 hour", 0)
    headline = (
        ("SLA clocks", f"{len(cases):,}"),
        ("compliance", f"{percent(met / decided)}%" if decided else "-"),
        ("open breaches", f"{len(grouped.open_breaches):,}"),
        ("answered within 1 hour", f"{percent(within_hour / answered)}%" if answered else "-"),
    )
    notes = (f"{undecided} clock(s) stopped without a verdict (e.g. owner changed) are left out.",) if undecided \
        else ()
    return Report(
        name="sla", title="SLA compliance and speed to lead", generated_at=window.now,
        params={**window.params(), "by": by, "calendar": str(cal.tz), "rule-set version": ruleset.version},
        headline=headline, tables=tables, charts=_charts(grouped, tables[-1], speed_sla), notes=notes,
    )


def _summary_table(overall: SlaReport) -> Table:
    rows = tuple(
        (g.sla, g.clocks, g.met, g.breached, g.open, percent(g.compliance), hours(g.median), hours(g.p90))
        for g in overall.groups
    )
    return Table("summary", "Per SLA: compliance and business hours taken",
                 ("sla", "clocks", "met", "breached", "open", "compliance %", "median business h", "p90 business h"),
                 rows, note="Median and 90th percentile of business time from start to stop, for stopped clocks.")


def _group_table(report: SlaReport, by: str) -> Table:
    rows = tuple(
        (g.group, g.sla, g.clocks, g.met, g.breached, g.open, percent(g.compliance), hours(g.median), hours(g.p90))
        for g in report.groups
    )
    return Table("compliance", f"Compliance per {by}",
                 (by, "sla", "clocks", "met", "breached", "open", "compliance %", "median business h",
                  "p90 business h"), rows,
                 note="Compliance = met / (met + breached); clocks still running and not yet due are open.")


def _speed_table(report: SlaReport, sla: str | None) -> Table:
    total = sum(n for _, n in report.speed_to_lead)
    rows = tuple((label, n, percent(n / total) if total else None) for label, n in report.speed_to_lead)
    return Table("speed_to_lead", f"Speed to lead (wall-clock time to stop {sla or '-'})",
                 ("within", "clocks", "share %"), rows,
                 note="Wall-clock time: a prospect waiting over a weekend waits the whole weekend.")


def _index(cases: Sequence[SlaCase], ruleset: RuleSet, window: Window) -> BusinessTimeIndex:
    """One business-time index over every instant the report measures."""
    instants = [window.now, *(c.started_at for c in cases), *(c.due_at for c in cases),
                *(c.stopped_at for c in cases if c.stopped_at is not None)]
    return BusinessTimeIndex(ruleset.sla.calendar, min(instants), max(instants))


def _open_breaches(report: SlaReport, index: BusinessTimeIndex, window: Window) -> Table:
    rows = tuple(
        (c.person_id, c.sla, c.owner, c.started_at.isoformat(), c.due_at.isoformat(),
         hours(index.between(c.due_at, window.now)))
        for c in report.open_breaches
    )
    return Table("open_breaches", "Open breaches (still running past the due time)",
                 ("person", "sla", "owner", "started", "due", "overdue business h"), rows)


def _past_breaches(report: SlaReport, index: BusinessTimeIndex) -> Table:
    rows = tuple(
        (c.person_id, c.sla, c.owner, c.started_at.isoformat(), c.due_at.isoformat(),
         c.stopped_at.isoformat() if c.stopped_at else None,
         hours(index.between(c.due_at, c.stopped_at)) if c.stopped_at else None)
        for c in report.past_breaches
    )
    return Table("past_breaches", "Past breaches (stopped after the due time)",
                 ("person", "sla", "owner", "started", "due", "stopped", "late by business h"), rows)


def _weekly_table(cases: Sequence[SlaCase], ruleset: RuleSet, window: Window) -> Table:
    """Compliance per week of clock start, per SLA: the trend line."""
    tz = ruleset.sla.calendar.tz
    counts: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in cases:
        slot = counts[(period_start(c.started_at, "week", tz), c.sla)]
        slot[0] += 1
        slot[1] += c.met()
        slot[2] += c.breached(window.now)
    rows = tuple(
        (week.isoformat(), sla, n, met, breached, percent(met / (met + breached)) if met + breached else None)
        for (week, sla), (n, met, breached) in sorted(counts.items())
    )
    return Table("weekly", "Per week of clock start",
                 ("week", "sla", "clocks", "met", "breached", "compliance %"), rows)


def _charts(report: SlaReport, weekly: Table, speed_sla: str | None) -> tuple[Chart, ...]:
    slas = sorted({g.sla for g in report.groups})
    groups = sorted({g.group for g in report.groups})
    by_key = {(g.group, g.sla): g.compliance for g in report.groups}
    compliance = Chart("compliance", "Compliance per group (%)", "bars", tuple(groups), tuple(
        Series(sla, tuple(percent(by_key.get((grp, sla))) or 0.0 for grp in groups)) for sla in slas), unit="%")
    speed = Chart("speed_to_lead", f"Speed to lead: clocks per wall-clock bucket ({speed_sla or '-'})", "bars",
                  tuple(label for label, _ in report.speed_to_lead),
                  (Series("clocks", tuple(float(n) for _, n in report.speed_to_lead)),))
    weeks = sorted({str(r[0]) for r in weekly.rows})
    trend_values = {(str(r[0]), str(r[1])): r[5] for r in weekly.rows}
    trend = Chart("trend", "Weekly compliance trend (%)", "lines", tuple(weeks), tuple(
        Series(sla, tuple(float(trend_values.get((w, sla)) or 0.0) for w in weeks)) for sla in slas), unit="%")
    return compliance, speed, trend
