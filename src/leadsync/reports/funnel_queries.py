"""The funnel's aggregates from the ledger, computed where it is cheapest for each database.

:func:`leadsync.domain.funnel.build_funnel` needs each person's whole history (a first entry is told from a
return by what came before). Two ways to get the same :class:`~leadsync.domain.funnel.FunnelAggregates`
(the tests hold both, on both databases, to ``aggregate_transitions``' answers):

* ``stream`` (SQLite's default): one read of the history before ``until`` in the order of the
  ``(person_id, at)`` index (no sort), walked person by person by the pure
  :func:`leadsync.domain.funnel.aggregate_ordered`. SQLite runs in this process, and each aggregate query
  costs a full pass of per-row work (window functions, temporary B-trees for grouping): six of them cost
  twice the single read and walk.
* ``sql`` (PostgreSQL's default): each number is one aggregate query and only compact results cross the wire:
  counts per stage and period, cohort sizes and how many of each cohort got further, the people of each
  abnormal flow (a sample by id plus the total), the durations at the median and 90th-percentile ranks per
  stage with the stuck people (one ``LEAD`` pass over each person's history; on PostgreSQL the ranks are
  picked by ``percentile_disc`` over bare intervals rather than by ranking every row), and the INITIAL moves
  for the bulk-import scan. Period buckets are computed in Python (the report's time zone, DST included) and
  applied in SQL as a binary search of ``CASE`` expressions over the UTC instants where periods start.

Ties in time are broken by ledger id, the order the ledger recorded them in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from leadsync.domain.funnel import (
    FunnelAggregates,
    FunnelSettings,
    HistoryRow,
    PeopleGroup,
    StageTiming,
    aggregate_ordered,
    flow_kind,
    next_period,
    period_start,
    timing_ranks,
)
from leadsync.domain.model import Move
from leadsync.ledger.schema import UtcDateTime, transitions

T = transitions


# How each dialect computes the aggregates by default (see the module docstring); tests run both everywhere.
METHODS = ("stream", "sql")
# PostgreSQL, for the report's own transaction: sorts of a million rows in memory rather than in temporary
# files (the default 4 MB spilled every sort to disk), and no JIT compilation (it cost 0.1-0.3 s per statement
# here and each statement runs once).
PG_SETTINGS = (("work_mem", "128MB"), ("jit", "off"))


def funnel_aggregates(conn: sa.Connection, stage_order: Sequence[str], *, now: datetime, tz: tzinfo,
                      settings: FunnelSettings, since: datetime | None, until: datetime,
                      method: str | None = None) -> FunnelAggregates:
    """Everything :func:`~leadsync.domain.funnel.funnel_from_aggregates` needs, from the history before
    ``until``; the window is ``since <= at < until``. ``method``: ``stream`` (one ordered read walked by
    :func:`~leadsync.domain.funnel.aggregate_ordered`; the default on SQLite) or ``sql`` (aggregate queries;
    the default on PostgreSQL)."""
    method = method or ("stream" if conn.dialect.name == "sqlite" else "sql")
    if method not in METHODS:
        raise ValueError(f"unknown funnel method {method!r} (one of: {', '.join(METHODS)})")
    if conn.dialect.name == "postgresql":
        for name, value in PG_SETTINGS:
            conn.execute(sa.text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
    if method == "stream":
        bounds = period_bounds(conn, since, until, settings.period, tz)
        return aggregate_ordered(ordered_history(conn, until), stage_order, now=now, settings=settings,
                                 since=since, until=until, bounds=bounds)
    stages = list(stage_order)
    bounds = period_bounds(conn, since, until, settings.period, tz)
    counts: dict[tuple[str, date], int] = {}
    cohorts: dict[tuple[str, date], int] = {}
    reached: dict[tuple[str, str, date], int] = {}
    re_entries: dict[str, PeopleGroup] = {}
    if bounds:  # otherwise nothing happened in the window
        counts = _counts(conn, stages, bounds, since, until)
        cohorts, reached, re_entries = _cohorts_and_re_entries(conn, stages, bounds, since, until,
                                                               settings.people_sample)
    skipped, backward = _flows(conn, stages, since, until, settings.people_sample)
    time_in_stage, stuck = _spans(conn, stages, now, until, settings)
    return FunnelAggregates(
        counts=counts, cohorts=cohorts, reached=reached,
        time_in_stage=time_in_stage,
        skipped=skipped, backward=backward,
        re_entries=re_entries,
        stuck=stuck,
        initial_moves=_initial_moves(conn, until),
    )


def ordered_history(conn: sa.Connection, until: datetime) -> Iterator[HistoryRow]:
    """Every transition before ``until`` as (person, from, to, at, move), by person, then time, then ledger
    id: the order of the ``(person_id, at)`` index (its last key is the row id on SQLite), so no sort. Streamed
    in batches; on SQLite the instant is read as its stored UTC text and parsed here (several times cheaper than
    the generic per-row type processing)."""
    sqlite = conn.dialect.name == "sqlite"
    at = sa.type_coerce(T.c.at, sa.String()) + sa.literal("+00:00") if sqlite \
        else sa.type_coerce(T.c.at, sa.DateTime(timezone=True))
    query = sa.select(T.c.person_id, T.c.from_status, T.c.to_status, at, T.c.move).where(
        _at(conn) < until).order_by(T.c.person_id, T.c.at, T.c.id)
    parse = datetime.fromisoformat
    if not sqlite:
        # A server-side cursor, so the server reads the next batch while this process walks one; the
        # driver's zone object replaced by one tzinfo for all rows (every later comparison is then cheap).
        streamed = conn.execute(query.execution_options(stream_results=True, max_row_buffer=20_000))
        for batch in streamed.partitions(20_000):
            yield from ((r[0], r[1], r[2], r[3].astimezone(UTC), r[4]) for r in batch)
        return
    # SQLite: the driver's own cursor gives plain tuples (a result row object per transition cost as much as
    # SQLite's reading); nothing here needs result processing, and without stream_results nothing is buffered
    # ahead of the cursor.
    result = conn.execute(query)
    cursor = result.cursor
    try:
        while rows := cursor.fetchmany(20_000):
            yield from ((r[0], r[1], r[2], parse(r[3]), r[4]) for r in rows)
    finally:
        result.close()


def period_bounds(conn: sa.Connection, since: datetime | None, until: datetime, period: str,
                  tz: tzinfo) -> list[tuple[date, datetime]]:
    """(period start date, the instant it starts) for every period overlapping the window; the window starts
    at the first transition when ``since`` is None. Empty when there is nothing in the window."""
    if since is None:
        since = conn.execute(sa.select(sa.func.min(T.c.at)).where(T.c.at < until)).scalar_one_or_none()
        if since is None:
            return []
    bounds = []
    start = period_start(since, period, tz)
    while (instant := datetime.combine(start, time(), tz)) < until:
        bounds.append((start, instant))
        start = next_period(start, period)
    return bounds


def _period_index(column: Any, bounds: Sequence[tuple[date, datetime]]) -> Any:
    """The index into ``bounds`` of the period holding ``column`` (at or after the first bound)."""
    def between(low: int, high: int) -> Any:
        if low == high:
            return sa.literal_column(str(low), sa.Integer())
        middle = (low + high + 1) // 2
        return sa.case((column < bounds[middle][1], between(low, middle - 1)), else_=between(middle, high))
    return between(0, len(bounds) - 1)


def _at(conn: sa.Connection) -> Any:
    """``transitions.at`` for filtering and aggregating. On SQLite, written ``+at`` so the planner does not
    walk the (at, to_status) index: these queries read most of the table, and fetching each row through that
    index (random pages) measured 3-4 times slower than a plain scan."""
    if conn.dialect.name == "sqlite":
        return sa.literal_column(f"+{T.name}.at", UtcDateTime())
    return T.c.at


def _bytewise(conn: sa.Connection, column: Any) -> Any:
    """``column`` compared byte by byte on PostgreSQL (``COLLATE "C"``), for sort and grouping keys. Equality
    is the same under any deterministic collation, so partitions and groups do not change; but a sort under
    a libc locale (even ``C.UTF-8`` before PostgreSQL 17) calls ``strcoll`` for every comparison and gets no
    abbreviated keys."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _window(column: Any, since: datetime | None, until: datetime) -> Any:
    return sa.and_(column >= since, column < until) if since is not None else column < until


def _counts(conn: sa.Connection, stages: list[str], bounds: Sequence[tuple[date, datetime]],
            since: datetime | None, until: datetime) -> dict[tuple[str, date], int]:
    """Distinct people entering each stage per period in the window."""
    at = _at(conn)
    rows = sa.select(T.c.to_status.label("stage"), T.c.person_id, _period_index(at, bounds).label("p")).where(
        _window(at, since, until), T.c.to_status.in_(stages)).subquery()
    # Distinct (stage, period, person) first, then counted: PostgreSQL hashes the triples (in parallel)
    # instead of sorting 700,000 rows for count(DISTINCT) (0.75 s against 0.95-1.05 s at 1,000,000 transitions).
    pairs = sa.select(rows.c.stage, rows.c.p, rows.c.person_id).distinct().subquery()
    query = sa.select(pairs.c.stage, pairs.c.p, sa.func.count()).group_by(pairs.c.stage, pairs.c.p)
    return {(stage, bounds[p][0]): n for stage, p, n in conn.execute(query)}


def _cohorts_and_re_entries(
    conn: sa.Connection, stages: list[str], bounds: Sequence[tuple[date, datetime]], since: datetime | None,
    until: datetime, limit: int | None,
) -> tuple[dict[tuple[str, date], int], dict[tuple[str, str, date], int], dict[str, PeopleGroup]]:
    """Cohorts (first entry ever into a stage, in the window), how many of each first entered each later stage
    no earlier, and the people re-entering each stage in the window. One statement: a row per person with
    their first entry into every stage and their entries in the window (one pass over the history), then a
    grouped pass per stage over those rows for the cohorts, and the re-entries sampled by id."""
    at = _at(conn)
    entered = [sa.case((sa.and_(T.c.to_status == stage, *(() if since is None else (at >= since,))), 1), else_=0)
               for stage in stages]
    firsts = sa.select(T.c.person_id, *(
        sa.func.min(sa.case((T.c.to_status == stage, at))).label(f"f{i}") for i, stage in enumerate(stages)
    ), *(sa.func.sum(e).label(f"w{i}") for i, e in enumerate(entered))).where(
        at < until, T.c.to_status.in_(stages)).group_by(T.c.person_id).cte("firsts")
    width = len(stages)
    parts: list[Any] = []
    for i in range(width):
        first = firsts.c[f"f{i}"]
        later = [sa.case((firsts.c[f"f{j}"] >= first, 1), else_=0) if j > i else sa.literal_column("0")
                 for j in range(width)]
        rows = sa.select(_period_index(first, bounds).label("p"), *(c.label(f"r{j}") for j, c in enumerate(later)))\
            .where(_window(first, since, until)).subquery()
        parts.append(sa.select(sa.literal_column(str(i), sa.Integer()).label("stage"), rows.c.p,
                               sa.func.count().label("size"), *(sa.func.sum(rows.c[f"r{j}"]) for j in range(width)),
                               sa.null().label("person_id")).group_by(rows.c.p))
    parts.append(_re_entry_rows(conn, firsts, width, since, limit))
    cohorts: dict[tuple[str, date], int] = {}
    reached: dict[tuple[str, str, date], int] = {}
    totals: dict[str, int] = {}
    people: dict[str, list[str]] = defaultdict(list)
    for row in conn.execute(sa.union_all(*parts)):
        stage = stages[row[0]]
        if row[1] < 0:  # a re-entry: (stage, -1, total, 0..., person)
            totals[stage] = row[2]
            people[stage].append(row[-1])
            continue
        period = bounds[row[1]][0]
        cohorts[(stage, period)] = row[2]
        for j in range(row[0] + 1, width):
            reached[(stage, stages[j], period)] = int(row[3 + j])
    re_entries = {stage: PeopleGroup(total, tuple(sorted(people[stage]))) for stage, total in totals.items()}
    return cohorts, reached, re_entries


def _re_entry_rows(conn: sa.Connection, firsts: Any, width: int, since: datetime | None, limit: int | None) -> Any:
    """(stage, -1, total, 0..., person) for the first ``limit`` people by id re-entering each stage: more
    entries in the window than the one first entry (if that falls in the window)."""
    def again(i: int) -> Any:
        first_in_window = 1 if since is None else sa.case((firsts.c[f"f{i}"] >= since, 1), else_=0)
        return firsts.c[f"w{i}"] - first_in_window > 0
    rows = sa.union_all(*(sa.select(sa.literal_column(str(i), sa.Integer()).label("stage"), firsts.c.person_id)
                          .where(again(i)) for i in range(width))).subquery()
    person = rows.c.person_id.collate("C") if conn.dialect.name == "postgresql" else rows.c.person_id
    ranked = sa.select(rows.c.stage, rows.c.person_id,
                       sa.func.row_number().over(partition_by=rows.c.stage, order_by=person).label("n"),
                       sa.func.count().over(partition_by=rows.c.stage).label("total")).subquery()
    query = sa.select(ranked.c.stage, sa.literal_column("-1", sa.Integer()), ranked.c.total,
                      *(sa.literal_column("0") for _ in range(width)), ranked.c.person_id)
    return query if limit is None else query.where(ranked.c.n <= limit)


def _people_groups(conn: sa.Connection, rows: sa.Subquery, keys: Sequence[str],
                   limit: int | None) -> dict[tuple[Any, ...], PeopleGroup]:
    """``rows`` holds distinct (keys..., person_id); per key: the total and the first ``limit`` people by id
    (code-point order on both databases, as Python sorts)."""
    person = rows.c.person_id
    ordered = person.collate("C") if conn.dialect.name == "postgresql" else person
    part = [rows.c[k] for k in keys]
    ranked = sa.select(*part, person, sa.func.row_number().over(partition_by=part, order_by=ordered).label("n"),
                       sa.func.count().over(partition_by=part).label("total")).subquery()
    query = sa.select(ranked).order_by(ranked.c.n)
    if limit is not None:
        query = query.where(ranked.c.n <= limit)
    totals: dict[tuple[Any, ...], int] = {}
    people: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for row in conn.execute(query):
        key = tuple(row[:len(keys)])
        totals[key] = row.total
        people[key].append(row.person_id)
    return {key: PeopleGroup(total, tuple(people[key])) for key, total in totals.items()}


def _flows(conn: sa.Connection, stages: list[str], since: datetime | None, until: datetime, limit: int | None
           ) -> tuple[dict[tuple[str, str], PeopleGroup], dict[tuple[str, str], PeopleGroup]]:
    """Skipped stages and backward moves in the window: which (from, to, move) kinds occur, classified by the
    domain's rule, then the people of the abnormal ones grouped by (from, to)."""
    at = _at(conn)
    rank = {stage: index for index, stage in enumerate(stages)}
    in_window = sa.and_(_window(at, since, until), T.c.from_status.is_not(None))
    combos = conn.execute(sa.select(T.c.from_status, T.c.to_status, T.c.move).where(in_window).distinct()).all()
    kinds: dict[tuple[str, str], str] = {}
    abnormal = []
    for src, dst, move in combos:
        kind = flow_kind(src, dst, Move(move), rank)
        if kind is not None:
            kinds[(src, dst)] = kind
            abnormal.append(sa.and_(T.c.from_status == src, T.c.to_status == dst, T.c.move == move))
    if not abnormal:
        return {}, {}
    rows = sa.select(T.c.from_status, T.c.to_status, T.c.person_id).where(in_window, sa.or_(*abnormal))\
        .distinct().subquery()
    groups = _people_groups(conn, rows, ("from_status", "to_status"), limit)
    pick = {kind: {key: g for key, g in groups.items() if kinds[(key[0], key[1])] == kind}
            for kind in ("skipped_stage", "backward_move")}
    return pick["skipped_stage"], pick["backward_move"]


def _seconds(later: Any, earlier: Any, dialect: str) -> Any:
    """``later - earlier`` in seconds, for ordering (the reported value is computed in Python, exactly)."""
    if dialect == "sqlite":
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86_400.0
    # PostgreSQL: seconds as float8 (exact to the microsecond for spans under 280 years) rather than the
    # numeric EXTRACT returns: cheaper to compare in the sort of half a million durations.
    return sa.cast(sa.extract("epoch", later - earlier), sa.Float(precision=53))


def _spans(conn: sa.Connection, stages: list[str], now: datetime, until: datetime,
           settings: FunnelSettings) -> tuple[tuple[StageTiming, ...], dict[str, PeopleGroup]]:
    """Time in stage and the people stuck, from one statement over each person's history before ``until``
    in (time, ledger id) order: every transition with the instant of the person's next one (``LEAD``; one
    sort of the history, by person). An entry followed by another transition is a time-in-stage sample; a
    person's last transition (no next one) is where their history ends, and they are stuck if it moved them
    into a watched stage too long before ``now``. Of each stage's durations only those at the low median and
    at both candidate ranks of the 90th percentile come back, with the sample count; ``timing_ranks`` picks
    the exact ones in Python."""
    at = _at(conn)
    following = sa.type_coerce(sa.func.lead(at).over(partition_by=_bytewise(conn, T.c.person_id),
                                                     order_by=(T.c.at, T.c.id)), UtcDateTime())
    spans = sa.select(T.c.person_id, T.c.to_status.label("stage"), at.label("at"), following.label("next_at")).where(
        at < until).cte("spans")
    postgres = conn.dialect.name == "postgresql"
    parts = _picked_durations_pg(spans, stages) if postgres else _picked_durations(conn, spans, stages)
    width = len(parts[0].selected_columns) - 4
    too_long = [sa.and_(spans.c.stage == stage, spans.c.at < now - limit)
                for stage, limit in settings.stuck_after.items()]
    if too_long:
        last = sa.select(spans.c.stage, spans.c.person_id).where(spans.c.next_at.is_(None), sa.or_(*too_long))\
            .subquery()
        key = _bytewise(conn, last.c.stage)
        people = sa.select(last.c.stage, last.c.person_id, sa.func.row_number().over(
            partition_by=key, order_by=_bytewise(conn, last.c.person_id)).label("k"),
            sa.func.count().over(partition_by=key).label("total")).subquery()
        stuck_rows = sa.select(sa.literal_column("1", sa.Integer()), people.c.stage, people.c.total,
                               people.c.person_id, *(sa.null() for _ in range(width)))
        if settings.people_sample is not None:
            stuck_rows = stuck_rows.where(people.c.k <= settings.people_sample)
        parts.append(stuck_rows)
    totals: dict[str, int] = {}
    found: dict[tuple[str, int], timedelta] = {}
    stuck_totals: dict[str, int] = {}
    stuck_people: dict[str, list[str]] = defaultdict(list)
    for kind, stage, total, person, *rest in conn.execute(sa.union_all(*parts)):
        if kind == 1:
            stuck_totals[stage] = total
            stuck_people[stage].append(person)
            continue
        if not total:
            continue
        totals[stage] = total
        if postgres:  # the durations at the candidate ranks, in the order _candidate_ranks gives them
            found.update(zip(((stage, rank) for rank in _candidate_ranks(total)), rest[0], strict=True))
        else:
            rank, start, end = rest
            found[(stage, rank)] = end - start
    timings = []
    for stage in stages:
        if stage not in totals:
            timings.append(StageTiming(stage, 0, None, None))
            continue
        median, p90 = timing_ranks(totals[stage])
        timings.append(StageTiming(stage, totals[stage], found[(stage, median)], found[(stage, p90)]))
    stuck = {stage: PeopleGroup(total, tuple(sorted(stuck_people[stage]))) for stage, total in stuck_totals.items()}
    return tuple(timings), stuck


def _candidate_ranks(samples: int) -> tuple[int, int, int]:
    """0-based ranks holding ``timing_ranks(samples)``: the low median and both integers next to 0.9 *
    (samples - 1) (Python rounds that float; the database only has to return both neighbours)."""
    low = (samples - 1) * 9 // 10
    return (samples - 1) // 2, low, min(low + 1, samples - 1)


def _picked_durations(conn: sa.Connection, spans: Any, stages: list[str]) -> list[Any]:
    """(0, stage, samples, NULL, rank, at, next_at) for the entries at the candidate ranks of each stage's
    durations: every duration ranked by ``row_number`` (SQLite, where this is the non-default way)."""
    stage_key = _bytewise(conn, spans.c.stage)
    duration = _seconds(spans.c.next_at, spans.c.at, conn.dialect.name)
    ranked = sa.select(spans.c.stage, spans.c.at, spans.c.next_at,
                       sa.func.row_number().over(partition_by=stage_key, order_by=duration).label("n"),
                       sa.func.count().over(partition_by=stage_key).label("total")).where(
        spans.c.next_at.is_not(None), spans.c.stage.in_(stages)).subquery()
    rank = ranked.c.n - 1
    p90_low = (ranked.c.total - 1) * 9 // 10
    return [sa.select(sa.literal_column("0", sa.Integer()).label("kind"), ranked.c.stage, ranked.c.total,
                      sa.null().label("person_id"), rank.label("n"), ranked.c.at, ranked.c.next_at).where(
        sa.or_(rank == (ranked.c.total - 1) // 2, rank == p90_low, rank == p90_low + 1))]


def _picked_durations_pg(spans: Any, stages: list[str]) -> list[Any]:
    """(0, stage, samples, NULL, durations at the candidate ranks) per stage, on PostgreSQL: the sample
    counts in one pass, then one ``percentile_disc`` per stage over the exact intervals, fed by a single pass
    (each aggregate sorts only its own durations, as bare values; ranking every duration with
    ``row_number`` sorted 600,000 wide rows by (stage, duration) and took half of this statement). The
    fraction for 0-based rank ``k`` of ``n`` is ``(k + 0.5) / n``: ``percentile_disc`` returns the value at
    1-based rank ``ceil(fraction * n)`` = ``k + 1``, with half a rank of margin for rounding."""
    sampled = sa.and_(spans.c.next_at.is_not(None), spans.c.stage.in_(stages))
    sizes = sa.select(*(sa.func.count().filter(spans.c.stage == stage).label(f"s{i}")
                        for i, stage in enumerate(stages))).where(sampled).cte("sizes")
    duration = spans.c.next_at - spans.c.at  # an interval: exact, and returned as the timedelta itself
    picks = []
    for i, stage in enumerate(stages):
        n = sa.select(sizes.c[f"s{i}"]).scalar_subquery()
        low = (n - 1) * 9 // 10
        ranks = ((n - 1) // 2, low, sa.func.least(low + 1, n - 1))
        fractions = postgresql.array([(sa.cast(rank, sa.Float(precision=53)) + 0.5) / sa.func.nullif(n, 0)
                                      for rank in ranks])
        picks.append(sa.func.percentile_disc(fractions).within_group(duration).filter(
            spans.c.stage == stage).label(f"d{i}"))
    picked = sa.select(*picks).where(sampled).cte("picked")
    return [sa.select(sa.literal_column("0", sa.Integer()).label("kind"), sa.literal(stage, sa.String()),
                      sa.select(sizes.c[f"s{i}"]).scalar_subquery(), sa.null().label("person_id"),
                      picked.c[f"d{i}"]) for i, stage in enumerate(stages)]


def _initial_moves(conn: sa.Connection, until: datetime) -> list[tuple[datetime, str, str]]:
    """(at, to, person) of every INITIAL move before ``until``, by time then person (one per person, at most
    a few per person: these are the creations the bulk-import scan looks for bursts in)."""
    at = _at(conn)
    person = T.c.person_id.collate("C") if conn.dialect.name == "postgresql" else T.c.person_id
    query = sa.select(at, T.c.to_status, T.c.person_id).where(
        at < until, T.c.move == Move.INITIAL.value).order_by(at, person)
    return [(at, to, who) for at, to, who in conn.execute(query)]
