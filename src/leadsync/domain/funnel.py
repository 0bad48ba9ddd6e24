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

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

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


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str  # skipped_stage, backward_move, re_entry, bulk_import, spike, drop, stuck
    detail: str
    people: tuple[str, ...] = ()
    stage: str | None = None
    period: date | None = None
    at: datetime | None = None


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


def _percentile(values: Sequence[timedelta], q: float) -> timedelta:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


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
    rank = {stage: index for index, stage in enumerate(stage_order)}
    history: dict[str, list[Transition]] = defaultdict(list)
    for transition in transitions:
        history[transition.person_id].append(transition)
    for items in history.values():
        items.sort(key=lambda t: t.at)

    def in_window(at: datetime) -> bool:
        return (since is None or at >= since) and (until is None or at < until)

    counts: Counter[tuple[str, date]] = Counter()
    cohorts: Counter[tuple[str, date]] = Counter()
    cohort_members: dict[tuple[str, date], set[str]] = defaultdict(set)
    reached_after: dict[str, dict[str, datetime]] = defaultdict(dict)  # person -> stage -> first entry
    durations: dict[str, list[timedelta]] = defaultdict(list)
    anomalies: list[Anomaly] = []
    skipped: dict[tuple[str, str], list[str]] = defaultdict(list)
    backward: dict[tuple[str, str], list[str]] = defaultdict(list)
    re_entries: dict[str, list[str]] = defaultdict(list)

    for person, items in sorted(history.items()):
        counted: set[tuple[str, date]] = set()
        for index, t in enumerate(items):
            stage = t.to_status
            nxt = items[index + 1] if index + 1 < len(items) else None
            if stage in rank:
                first = stage not in reached_after[person]
                if first:
                    reached_after[person][stage] = t.at
                elif in_window(t.at):
                    re_entries[stage].append(person)
                if in_window(t.at):
                    key = (stage, period_start(t.at, opts.period, tz))
                    if key not in counted:
                        counted.add(key)
                        counts[key] += 1
                    if first:
                        cohorts[key] += 1
                        cohort_members[key].add(person)
                if nxt is not None:
                    durations[stage].append(nxt.at - t.at)
            if not in_window(t.at) or t.from_status is None:
                continue
            src, dst = t.from_status, t.to_status
            if src in rank and dst in rank:
                if rank[dst] > rank[src] + 1:
                    skipped[(src, dst)].append(person)
                elif rank[dst] < rank[src] or t.move in (Move.REOPEN, Move.RECYCLE):
                    backward[(src, dst)].append(person)
            elif t.move in (Move.RECYCLE, Move.REOPEN):
                backward[(src, dst)].append(person)

    for (src, dst), people in sorted(skipped.items()):
        between = [s for s in stage_order if rank[src] < rank[s] < rank[dst]]
        anomalies.append(Anomaly("skipped_stage", f"{src} -> {dst} skipped {', '.join(between)}",
                                 tuple(sorted(set(people))), stage=dst))
    for (src, dst), people in sorted(backward.items()):
        anomalies.append(Anomaly("backward_move", f"{src} -> {dst}", tuple(sorted(set(people))), stage=dst))
    for stage, people in sorted(re_entries.items(), key=lambda kv: rank[kv[0]]):
        anomalies.append(Anomaly("re_entry", f"{len(set(people))} people re-entered {stage}; counted once",
                                 tuple(sorted(set(people))), stage=stage))

    anomalies.extend(_bulk_imports(history, opts))
    periods = tuple(sorted({p for _, p in counts}))
    anomalies.extend(_spikes_and_drops(counts, stage_order, periods, opts))
    anomalies.extend(_stuck(history, rank, opts, now))

    conversions: dict[tuple[str, str, date], float] = {}
    for (stage, period), members in cohort_members.items():
        for later in stage_order[rank[stage] + 1:]:
            reached = sum(1 for p in members if _reached_later(reached_after[p], stage, later))
            conversions[(stage, later, period)] = reached / len(members)

    timings = tuple(
        StageTiming(s, len(durations[s]), statistics.median_low(durations[s]) if durations[s] else None,
                    _percentile(durations[s], 0.9) if durations[s] else None)
        for s in stage_order
    )
    return FunnelReport(periods, tuple(stage_order), dict(counts), dict(cohorts), conversions, timings,
                        tuple(anomalies))


def _reached_later(first_entries: dict[str, datetime], stage: str, later: str) -> bool:
    entered_later = first_entries.get(later)
    return entered_later is not None and entered_later >= first_entries[stage]


def _bulk_imports(history: dict[str, list[Transition]], opts: FunnelSettings) -> list[Anomaly]:
    initial = sorted(
        (t for items in history.values() for t in items if t.move is Move.INITIAL),
        key=lambda t: t.at,
    )
    found: list[Anomaly] = []
    start = 0
    index = 0
    while index < len(initial):
        while initial[index].at - initial[start].at > opts.bulk_import_window:
            start += 1
        if index - start + 1 >= opts.bulk_import_count:
            # Extend to the end of this burst, report it once, continue after it.
            end = index
            while end + 1 < len(initial) and initial[end + 1].at - initial[start].at <= opts.bulk_import_window:
                end += 1
            burst = initial[start:end + 1]
            stages = Counter(t.to_status for t in burst)
            found.append(Anomaly(
                "bulk_import",
                f"{len(burst)} people created within {opts.bulk_import_window} "
                f"({', '.join(f'{n} {s}' for s, n in stages.most_common())})",
                tuple(sorted(t.person_id for t in burst)), at=burst[0].at,
            ))
            start = index = end + 1
            continue
        index += 1
    return found


def _spikes_and_drops(counts: Counter[tuple[str, date]], stage_order: Sequence[str], periods: tuple[date, ...],
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
        last = out[-1]
        if period == "day":
            out.append(last + timedelta(days=1))
        elif period == "week":
            out.append(last + timedelta(days=7))
        else:
            out.append((last.replace(day=28) + timedelta(days=4)).replace(day=1))
    return out


def _stuck(history: dict[str, list[Transition]], rank: dict[str, int], opts: FunnelSettings,
           now: datetime) -> list[Anomaly]:
    stuck: dict[str, list[str]] = defaultdict(list)
    for person, items in history.items():
        last = items[-1]
        limit = opts.stuck_after.get(last.to_status)
        if limit is not None and now - last.at > limit:
            stuck[last.to_status].append(person)
    return [
        Anomaly("stuck", f"{len(people)} people in {stage} for more than {opts.stuck_after[stage]}",
                tuple(sorted(people)), stage=stage)
        for stage, people in sorted(stuck.items(), key=lambda kv: rank.get(kv[0], 99))
    ]
