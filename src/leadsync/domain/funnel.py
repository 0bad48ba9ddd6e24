"""Funnel metrics from the transition ledger, with abnormal flows called out instead of absorbed.

Everything here is computed from plain :class:`~leadsync.domain.model.Transition` values, ordered or
not, plus the funnel order of the statuses (from the lifecycle rules). Rules the metrics follow:

* a person counts **once per stage and period**, however often they re-enter it (recycled leads are
  not counted twice), and once per cohort;
* a cohort is the people who *first* entered a stage in a period; its conversion to a later stage is
  the share of them that ever reached that stage afterwards, skipping or not;
* abnormal flows are listed with the people concerned: skipped stages, backward moves, re-entries
  (recycling), bulk imports, spikes and drops against the trailing average, and people stuck in a stage.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from operator import itemgetter
from typing import Any

from leadsync.domain.model import Move, Transition


@dataclass(frozen=True, slots=True)
class FunnelSettings:
    """Thresholds for calling a flow abnormal; defaults suit a weekly B2B funnel."""

    period: str = "week"  # "day", "week" or "month"
    trailing_periods: int = 4
    spike_ratio: float = 2.0  # count >= ratio x trailing mean
    drop_ratio: float = 0.5  # count <= ratio x trailing mean
    min_trailing_mean: float = 5.0  # too few to judge below this
    bulk_import_count: int = 100  # INITIAL transitions within bulk_import_window
    bulk_import_window: timedelta = timedelta(hours=1)
    stuck_after: dict[str, timedelta] = field(default_factory=dict)  # per stage; absent: not checked
    people_sample: int | None = None  # people listed per anomaly (the first by id); None: everyone


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str  # skipped_stage, backward_move, re_entry, bulk_import, spike, drop, stuck
    detail: str
    people: tuple[str, ...] = ()
    stage: str | None = None
    period: date | None = None
    at: datetime | None = None
    people_total: int | None = None  # when ``people`` is a sample: how many there are in all

    @property
    def people_count(self) -> int:
        return len(self.people) if self.people_total is None else self.people_total


@dataclass(frozen=True, slots=True)
class StageTiming:
    stage: str
    samples: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class FunnelReport:
    periods: tuple[date, ...]
    stages: tuple[str, ...]
    counts: dict[tuple[str, date], int]  # (stage, period start) -> people entering
    cohorts: dict[tuple[str, date], int]  # (stage, period) -> people first entering
    conversions: dict[tuple[str, str, date], float]  # (from, to, cohort period) -> share
    time_in_stage: tuple[StageTiming, ...]
    anomalies: tuple[Anomaly, ...]

    def anomalies_of(self, kind: str) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind == kind]


def period_start(at: datetime, period: str, tz: tzinfo) -> date:
    """The first day of the period holding ``at``, in the report's time zone."""
    local = at.astimezone(tz).date()
    if period == "day":
        return local
    if period == "week":
        return local - timedelta(days=local.weekday())
    if period == "month":
        return local.replace(day=1)
    raise ValueError(f"unknown period {period!r} (day, week or month)")


@dataclass(frozen=True, slots=True)
class PeopleGroup:
    """The distinct people of one abnormal flow: how many, and the first of them by id (all, or a sample)."""

    total: int
    sample: tuple[str, ...]


def people_group(people: Iterable[str], limit: int | None) -> PeopleGroup:
    ordered = sorted(set(people))
    return PeopleGroup(len(ordered), tuple(ordered if limit is None else ordered[:limit]))


@dataclass(frozen=True)
class FunnelAggregates:
    """Everything the funnel needs, already aggregated: by SQL over a large ledger, or by
    :func:`aggregate_transitions` over plain transitions. Periods are period-start dates."""

    counts: Mapping[tuple[str, date], int]  # (stage, period) -> people entering in the window
    cohorts: Mapping[tuple[str, date], int]  # (stage, period) -> people whose first entry ever is then
    reached: Mapping[tuple[str, str, date], int]  # (stage, later, cohort period) -> members first entering later after
    time_in_stage: tuple[StageTiming, ...]
    skipped: Mapping[tuple[str, str], PeopleGroup]  # (from, to) in the window
    backward: Mapping[tuple[str, str], PeopleGroup]
    re_entries: Mapping[str, PeopleGroup]  # stage -> people entering it again in the window
    stuck: Mapping[str, PeopleGroup]  # stage -> people whose last transition is into it, too long ago
    initial_moves: Sequence[tuple[datetime, str, str]]  # (at, to, person) of INITIAL moves, by (at, person)


def flow_kind(src: str | None, dst: str, move: Move, rank: Mapping[str, int]) -> str | None:
    """``skipped_stage``, ``backward_move`` or None for one move between statuses."""
    if src is None:
        return None
    if src in rank and dst in rank:
        if rank[dst] > rank[src] + 1:
            return "skipped_stage"
        if rank[dst] < rank[src] or move in (Move.REOPEN, Move.RECYCLE):
            return "backward_move"
        return None
    return "backward_move" if move in (Move.RECYCLE, Move.REOPEN) else None


def timing_ranks(samples: int) -> tuple[int, int]:
    """0-based ranks, in ascending order of duration, of the low median and the 90th percentile."""
    return (samples - 1) // 2, max(0, min(samples - 1, round(0.9 * (samples - 1))))


def stage_timing(stage: str, durations: Sequence[timedelta]) -> StageTiming:
    if not durations:
        return StageTiming(stage, 0, None, None)
    ordered = sorted(durations)
    median, p90 = timing_ranks(len(ordered))
    return StageTiming(stage, len(ordered), ordered[median], ordered[p90])


def build_funnel(
    transitions: Iterable[Transition],
    stage_order: Sequence[str],
    *,
    now: datetime,
    tz: tzinfo,
    settings: FunnelSettings | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> FunnelReport:
    """Compute the funnel. ``stage_order`` lists the forward stages (Raw .. Customer); other statuses
    (Disqualified, Recycled) are tracked for flows but are not funnel stages."""
    opts = settings or FunnelSettings()
    aggregates = aggregate_transitions(transitions, stage_order, now=now, tz=tz, settings=opts,
                                       since=since, until=until)
    return funnel_from_aggregates(aggregates, stage_order, opts)


def aggregate_transitions(
    transitions: Iterable[Transition], stage_order: Sequence[str], *, now: datetime, tz: tzinfo,
    settings: FunnelSettings, since: datetime | None = None, until: datetime | None = None,
) -> FunnelAggregates:
    """The aggregates of :class:`FunnelAggregates` from each person's history (for small ledgers and tests;
    the report computes the same numbers in SQL). Ties in time keep the given order (the ledger's)."""
    rank = {stage: index for index, stage in enumerate(stage_order)}
    history: dict[str, list[Transition]] = defaultdict(list)
    for transition in transitions:
        history[transition.person_id].append(transition)
    for items in history.values():
        items.sort(key=lambda t: t.at)

    def in_window(at: datetime) -> bool:
        return (since is None or at >= since) and (until is None or at < until)

    counted: set[tuple[str, date, str]] = set()
    cohort_members: dict[tuple[str, date], set[str]] = defaultdict(set)
    firsts: dict[str, dict[str, datetime]] = defaultdict(dict)  # person -> stage -> first entry
    durations: dict[str, list[timedelta]] = defaultdict(list)
    flows: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (kind, from, to) -> people
    re_entries: dict[str, set[str]] = defaultdict(set)
    stuck: dict[str, set[str]] = defaultdict(set)
    for person, items in history.items():
        for index, t in enumerate(items):
            stage = t.to_status
            if stage in rank:
                first = stage not in firsts[person]
                if first:
                    firsts[person][stage] = t.at
                if in_window(t.at):
                    key = (stage, period_start(t.at, settings.period, tz))
                    counted.add((*key, person))
                    if first:
                        cohort_members[key].add(person)
                    else:
                        re_entries[stage].add(person)
                if index + 1 < len(items):
                    durations[stage].append(items[index + 1].at - t.at)
            kind = flow_kind(t.from_status, stage, t.move, rank) if in_window(t.at) else None
            if kind is not None and t.from_status is not None:
                flows[(kind, t.from_status, stage)].add(person)
        last = items[-1]
        limit = settings.stuck_after.get(last.to_status)
        if limit is not None and now - last.at > limit:
            stuck[last.to_status].add(person)

    sample = settings.people_sample
    reached: Counter[tuple[str, str, date]] = Counter()
    for (stage, period), members in cohort_members.items():
        for later in stage_order[rank[stage] + 1:]:
            reached[(stage, later, period)] = sum(1 for p in members if _reached_later(firsts[p], stage, later))
    initial = sorted(((t.at, t.to_status, t.person_id) for items in history.values() for t in items
                      if t.move is Move.INITIAL), key=lambda row: (row[0], row[2]))
    return FunnelAggregates(
        counts=dict(Counter((stage, period) for stage, period, _ in counted)),
        cohorts={key: len(members) for key, members in cohort_members.items()},
        reached=dict(reached),
        time_in_stage=tuple(stage_timing(s, durations[s]) for s in stage_order),
        **_flow_groups(flows, re_entries, stuck, sample),
        initial_moves=initial,
    )


def _flow_groups(flows: Mapping[tuple[str, str, str], Any], re_entries: Mapping[str, Any], stuck: Mapping[str, Any],
                 sample: int | None) -> dict[str, Any]:
    """The abnormal flows of :class:`FunnelAggregates` as sampled people groups (both aggregation paths)."""
    return {
        "skipped": {(a, b): people_group(p, sample) for (k, a, b), p in flows.items() if k == "skipped_stage"},
        "backward": {(a, b): people_group(p, sample) for (k, a, b), p in flows.items() if k == "backward_move"},
        "re_entries": {stage: people_group(p, sample) for stage, p in re_entries.items()},
        "stuck": {stage: people_group(p, sample) for stage, p in stuck.items()},
    }


# One transition as the ordered aggregation reads it: (person, from, to, at, move value).
HistoryRow = tuple[str, str | None, str, datetime, str]


def aggregate_ordered(
    rows: Iterable[HistoryRow], stage_order: Sequence[str], *, now: datetime, settings: FunnelSettings,
    since: datetime | None, until: datetime | None, bounds: Sequence[tuple[date, datetime]],
) -> FunnelAggregates:
    """The aggregates of :func:`aggregate_transitions`, from rows already ordered by person, then time (ties
    in ledger order), in one pass holding one person's history at a time: what a large ledger streams from
    its ``(person_id, at)`` index. ``bounds`` are (period start, the instant it starts) of every period
    overlapping the window, ascending (the report's periods, computed once by the caller)."""
    rank = {stage: index for index, stage in enumerate(stage_order)}
    later_of = {stage: tuple(stage_order[index + 1:]) for stage, index in rank.items()}
    # Every instant compared per row in UTC: comparing datetimes of one tzinfo needs no offset lookups, which
    # cost more than the rest of the walk (the rows come in UTC).
    instants = [instant.astimezone(UTC) for _, instant in bounds]
    since = since.astimezone(UTC) if since is not None else None
    until = until.astimezone(UTC) if until is not None else None
    counts: Counter[tuple[str, int]] = Counter()
    cohorts: Counter[tuple[str, int]] = Counter()
    reached: Counter[tuple[str, str, int]] = Counter()
    durations: dict[str, list[timedelta]] = {stage: [] for stage in stage_order}
    flows: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    kinds: dict[tuple[str, str, str], str | None] = {}
    moves = {m.value: m for m in Move}
    re_entries: dict[str, set[str]] = defaultdict(set)
    stuck: dict[str, set[str]] = defaultdict(set)
    stuck_before = {stage: (now - limit).astimezone(UTC) for stage, limit in settings.stuck_after.items()}
    initial: list[tuple[datetime, str, str]] = []
    initial_move = Move.INITIAL.value

    def close_person(person: str, previous: tuple[str, datetime], firsts: dict[str, datetime],
                     entered: list[tuple[str, int]]) -> None:
        stage, at = previous
        if stage in stuck_before and at < stuck_before[stage]:
            stuck[stage].add(person)
        for stage, period in entered:
            cohorts[(stage, period)] += 1
            first_at, after = firsts[stage], rank[stage]
            for later, reached_at in firsts.items():
                if rank[later] > after and reached_at >= first_at:
                    reached[(stage, later, period)] += 1

    # Walk the rows keeping only the current person's state: their first entry per stage, the (stage, period)
    # pairs counted, the cohorts they entered in the window, and their previous transition.
    person = ""
    firsts: dict[str, datetime] = {}
    counted: set[tuple[str, int]] = set()
    entered: list[tuple[str, int]] = []
    previous: tuple[str, datetime] | None = None  # (to, at) of the person's previous transition
    bisect_right = bisect.bisect_right
    for who, src, dst, at, move in rows:
        if who != person:
            if previous is not None:
                close_person(person, previous, firsts, entered)
            person = who
            firsts, counted, entered = {}, set(), []
        elif previous is not None:
            waited = durations.get(previous[0])
            if waited is not None:
                waited.append(at - previous[1])
        previous = (dst, at)
        in_window = (since is None or at >= since) and (until is None or at < until)
        if dst in rank:
            first = dst not in firsts
            if first:
                firsts[dst] = at
            if in_window:
                key = (dst, bisect_right(instants, at) - 1)
                if key not in counted:
                    counted.add(key)
                    counts[key] += 1
                if first:
                    entered.append(key)
                else:
                    re_entries[dst].add(who)
        if in_window and src is not None:
            flow = (src, dst, move)
            kind = kinds.get(flow, "?")
            if kind == "?":
                kind = kinds[flow] = flow_kind(src, dst, moves[move], rank)
            if kind is not None:
                flows[(kind, src, dst)].add(who)
        if move == initial_move:
            initial.append((at, dst, who))
    if previous is not None:
        close_person(person, previous, firsts, entered)

    sample = settings.people_sample
    initial.sort(key=itemgetter(0, 2))
    return FunnelAggregates(
        counts={(stage, bounds[p][0]): n for (stage, p), n in counts.items()},
        cohorts={(stage, bounds[p][0]): n for (stage, p), n in cohorts.items()},
        reached={(stage, later, bounds[p][0]): reached[(stage, later, p)]
                 for (stage, p) in cohorts for later in later_of[stage]},
        time_in_stage=tuple(stage_timing(s, durations[s]) for s in stage_order),
        **_flow_groups(flows, re_entries, stuck, sample),
        initial_moves=initial,
    )


def funnel_from_aggregates(aggregates: FunnelAggregates, stage_order: Sequence[str],
                           settings: FunnelSettings | None = None) -> FunnelReport:
    """The report from its aggregates: conversion shares, and the abnormal flows called out."""
    opts = settings or FunnelSettings()
    rank = {stage: index for index, stage in enumerate(stage_order)}
    anomalies: list[Anomaly] = []
    for (src, dst), group in sorted(aggregates.skipped.items()):
        between = [s for s in stage_order if rank[src] < rank[s] < rank[dst]]
        anomalies.append(_flagged("skipped_stage", f"{src} -> {dst} skipped {', '.join(between)}", group,
                                  stage=dst))
    for (src, dst), group in sorted(aggregates.backward.items()):
        anomalies.append(_flagged("backward_move", f"{src} -> {dst}", group, stage=dst))
    for stage, group in sorted(aggregates.re_entries.items(), key=lambda kv: rank[kv[0]]):
        anomalies.append(_flagged("re_entry", f"{group.total} people re-entered {stage}; counted once", group,
                                  stage=stage))
    anomalies.extend(_bulk_imports(aggregates.initial_moves, opts))
    counts = dict(aggregates.counts)
    periods = tuple(sorted({p for _, p in counts}))
    anomalies.extend(_spikes_and_drops(counts, stage_order, periods, opts))
    for stage, group in sorted(aggregates.stuck.items(), key=lambda kv: (rank.get(kv[0], 99), kv[0])):
        anomalies.append(_flagged("stuck", f"{group.total} people in {stage} for more than "
                                  f"{opts.stuck_after[stage]}", group, stage=stage))
    conversions = {
        (stage, later, period): aggregates.reached.get((stage, later, period), 0) / size
        for (stage, period), size in aggregates.cohorts.items()
        for later in stage_order[rank[stage] + 1:]
    }
    return FunnelReport(periods, tuple(stage_order), counts, dict(aggregates.cohorts), conversions,
                        aggregates.time_in_stage, tuple(anomalies))


def _flagged(kind: str, detail: str, group: PeopleGroup, **where: Any) -> Anomaly:
    return Anomaly(kind, detail, group.sample, people_total=group.total, **where)


def _reached_later(first_entries: dict[str, datetime], stage: str, later: str) -> bool:
    entered_later = first_entries.get(later)
    return entered_later is not None and entered_later >= first_entries[stage]


def _bulk_imports(initial: Sequence[tuple[datetime, str, str]], opts: FunnelSettings) -> list[Anomaly]:
    """Bursts of at least ``bulk_import_count`` INITIAL moves within ``bulk_import_window``, each reported
    once; ``initial`` is (at, to, person) in order of time."""
    found: list[Anomaly] = []
    start = 0
    index = 0
    while index < len(initial):
        while initial[index][0] - initial[start][0] > opts.bulk_import_window:
            start += 1
        if index - start + 1 >= opts.bulk_import_count:
            # Extend to the end of this burst, report it once, continue after it.
            end = index
            while end + 1 < len(initial) and initial[end + 1][0] - initial[start][0] <= opts.bulk_import_window:
                end += 1
            burst = initial[start:end + 1]
            stages = sorted(Counter(to for _, to, _ in burst).items(), key=lambda kv: (-kv[1], kv[0]))
            group = people_group((person for _, _, person in burst), opts.people_sample)
            found.append(_flagged(
                "bulk_import",
                f"{len(burst)} people created within {opts.bulk_import_window} "
                f"({', '.join(f'{n} {s}' for s, n in stages)})", group, at=burst[0][0],
            ))
            start = index = end + 1
            continue
        index += 1
    return found


def _spikes_and_drops(counts: Mapping[tuple[str, date], int], stage_order: Sequence[str], periods: tuple[date, ...],
                      opts: FunnelSettings) -> list[Anomaly]:
    if not periods:
        return []
    found = []
    all_periods = _continuous(periods, opts.period)
    for stage in stage_order:
        series = [counts.get((stage, p), 0) for p in all_periods]
        for index in range(opts.trailing_periods, len(series)):
            trailing = series[index - opts.trailing_periods:index]
            mean = sum(trailing) / len(trailing)
            if mean < opts.min_trailing_mean:
                continue
            value = series[index]
            if value >= opts.spike_ratio * mean:
                found.append(Anomaly("spike", f"{stage}: {value} vs trailing mean {mean:.1f}", stage=stage,
                                     period=all_periods[index]))
            elif value <= opts.drop_ratio * mean:
                found.append(Anomaly("drop", f"{stage}: {value} vs trailing mean {mean:.1f}", stage=stage,
                                     period=all_periods[index]))
    return found


def _continuous(periods: tuple[date, ...], period: str) -> list[date]:
    """Every period from the first to the last, including empty ones (an empty week is a drop)."""
    out = [periods[0]]
    while out[-1] < periods[-1]:
        out.append(next_period(out[-1], period))
    return out


def next_period(start: date, period: str) -> date:
    """The first day of the period after the one starting on ``start``."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
