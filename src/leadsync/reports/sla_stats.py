"""The SLA report's statistics over many clocks, with business time from a :class:`BusinessTimeIndex`.

Same definitions as :func:`leadsync.domain.sla_report.build_sla_report` (met, breached, open, compliance,
median-low and the 90th percentile by nearest rank, the wall-clock speed buckets) and the same result
type; only the business-time arithmetic is indexed. ``tests/unit/reports`` checks both agree on random
clocks, including DST days and holidays.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from leadsync.domain.sla_report import SPEED_BUCKETS, GroupStats, SlaCase, SlaReport
from leadsync.reports.business_time import BusinessTimeIndex


def _p90(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(0.9 * (len(ordered) - 1))))]


def sla_statistics(cases: Iterable[SlaCase], index: BusinessTimeIndex, *, now: datetime, by: str = "owner",
                   speed_sla: str | None = None) -> SlaReport:
    items = list(cases)
    grouped: dict[tuple[str, str], list[SlaCase]] = defaultdict(list)
    for case in items:
        grouped[(getattr(case, by) or "(none)", case.sla)].append(case)
    groups = []
    for (group, sla), members in sorted(grouped.items()):
        met = sum(1 for c in members if c.met())
        breached = sum(1 for c in members if c.breached(now))
        running = sum(1 for c in members if c.stopped_at is None and not c.breached(now))
        taken = [index.between(c.started_at, c.stopped_at) for c in members if c.stopped_at]
        decided = met + breached
        groups.append(GroupStats(
            group=group, sla=sla, clocks=len(members), met=met, breached=breached, open=running,
            compliance=(met / decided) if decided else None,
            median=statistics.median_low(taken) if taken else None, p90=_p90(taken),
        ))
    names = sorted({c.sla for c in items})
    chosen = speed_sla or (names[0] if names else None)
    buckets = {label: 0 for label, _ in SPEED_BUCKETS}
    never = 0
    for case in items:
        if case.sla != chosen:
            continue
        if case.stopped_at is None:
            never += 1
            continue
        waited = case.stopped_at - case.started_at
        label = next(label for label, bound in SPEED_BUCKETS if bound is None or waited <= bound)
        buckets[label] += 1
    open_breaches = tuple(sorted((c for c in items if c.stopped_at is None and c.breached(now)),
                                 key=lambda c: c.due_at))
    past = tuple(sorted((c for c in items if c.stopped_at is not None and c.breached(now)), key=lambda c: c.due_at))
    return SlaReport(tuple(groups), (*buckets.items(), ("not yet", never)), open_breaches, past)
