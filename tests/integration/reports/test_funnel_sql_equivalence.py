"""The funnel's aggregates, both ways (SQL aggregates, and the ordered read walked by ``aggregate_ordered``),
give the very report ``build_funnel`` gives over the same history, on SQLite and PostgreSQL: a hand-built
ledger with each abnormal flow, and random ledgers (instants to the microsecond, ties in time included)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from leadsync.domain.funnel import FunnelReport, FunnelSettings, build_funnel, funnel_from_aggregates
from leadsync.domain.model import Move, Transition
from leadsync.ledger import Ledger
from leadsync.reports.funnel_queries import METHODS, funnel_aggregates
from tests.integration.reports.builders import BERLIN, berlin, move, utc, walk, write

STAGES = ("Raw", "Inquiry", "MQL", "SAL", "SQL", "Opportunity", "Customer")
OTHERS = ("Recycled", "Disqualified")
NOW = utc(2026, 11, 24, 12)
SINCE = utc(2026, 9, 1)
UNTIL = utc(2026, 11, 20)
SETTINGS = FunnelSettings(period="week", trailing_periods=3, min_trailing_mean=1.0, bulk_import_count=5,
                          bulk_import_window=timedelta(minutes=10),
                          stuck_after={"MQL": timedelta(days=14), "SAL": timedelta(days=30)})


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def both(ledger: Ledger, items: Sequence[Transition], settings: FunnelSettings, since: datetime | None,
         until: datetime, method: str) -> tuple[FunnelReport, FunnelReport]:
    """(from the ledger by ``method``, from build_funnel over the history before ``until``, in ledger order)."""
    with ledger.reading() as uow:
        aggregates = funnel_aggregates(uow.connection, STAGES, now=NOW, tz=BERLIN, settings=settings,
                                       since=since, until=until, method=method)
    from_sql = funnel_from_aggregates(aggregates, STAGES, settings)
    history = [t for t in items if t.at < until]
    return from_sql, build_funnel(history, STAGES, now=NOW, tz=BERLIN, settings=settings, since=since, until=until)


def hand_built() -> list[Transition]:
    day = timedelta(days=1)
    items = [
        # Walks before and inside the window; "Zed" and "a_1" sort differently under a locale collation.
        *walk("Zed", ("Raw", utc(2026, 8, 20)), ("Inquiry", utc(2026, 9, 2)), ("MQL", utc(2026, 9, 3)),
              ("SAL", utc(2026, 9, 9)), ("SQL", utc(2026, 10, 1))),
        *walk("a_1", ("Inquiry", utc(2026, 9, 2, 8)), ("SQL", utc(2026, 9, 4))),  # skipped MQL and SAL
        *walk("a-2", ("Inquiry", utc(2026, 9, 2, 9)), ("MQL", utc(2026, 9, 5))),
        move("a-2", "MQL", "Recycled", utc(2026, 9, 20), Move.RECYCLE),  # backward, out of the funnel
        move("a-2", "Recycled", "MQL", utc(2026, 10, 4)),  # re-entry of MQL
        move("a-2", "MQL", "Inquiry", utc(2026, 10, 6), Move.REOPEN),  # backward inside the funnel
        move("a-2", "Inquiry", "MQL", utc(2026, 10, 7)),  # a second re-entry, same person counted once
        # First entry before the window, re-entered inside it: a re-entry, not a cohort member.
        *walk("B3", ("MQL", utc(2026, 8, 1)), ("Disqualified", utc(2026, 8, 2))),
        move("B3", "Disqualified", "MQL", utc(2026, 9, 15), Move.REOPEN),
        # Stuck: last move into MQL / SAL long before now.
        *walk("stuck1", ("Inquiry", utc(2026, 9, 1, 6)), ("MQL", utc(2026, 9, 8))),
        *walk("stuck2", ("MQL", utc(2026, 9, 8)), ("SAL", utc(2026, 9, 10))),
        # Across the October DST change in Berlin: Sunday 23:30 local is still that week.
        *walk("dst", ("Raw", berlin(2026, 10, 25, 23, 30)), ("Inquiry", berlin(2026, 10, 26, 0, 30))),
        # After the window's end: must change nothing.
        move("Zed", "SQL", "Opportunity", utc(2026, 11, 21)),
        move("late", None, "Raw", utc(2026, 11, 22)),
    ]
    # A bulk import: 7 people created within 3 minutes, then one more 30 minutes later.
    items += [move(f"imp{n}", None, "Raw" if n % 3 else "Inquiry", utc(2026, 10, 12, 9) + n * timedelta(seconds=25))
              for n in range(7)]
    items.append(move("imp_late", None, "Raw", utc(2026, 10, 12, 9, 30)))
    # A weekly MQL rhythm, then a spike and a drop.
    for week, count in enumerate((3, 3, 3, 9, 0, 3)):
        for n in range(count):
            items += walk(f"w{week}_{n}", ("Inquiry", utc(2026, 9, 7, 10) + week * 7 * day + n * timedelta(hours=1)),
                          ("MQL", utc(2026, 9, 7, 12) + week * 7 * day + n * timedelta(hours=2)))
    return items


@pytest.mark.parametrize("period", ["week", "day", "month"])
def test_hand_built_ledger_same_report_both_ways(ledger: Ledger, period: str, method: str) -> None:
    items = hand_built()
    write(ledger, items)
    settings = replace(SETTINGS, period=period)
    from_sql, from_python = both(ledger, items, settings, SINCE, UNTIL, method)
    assert from_sql == from_python
    kinds = {a.kind for a in from_sql.anomalies}
    assert {"skipped_stage", "backward_move", "re_entry", "bulk_import", "stuck"} <= kinds
    if period == "week":
        assert {"spike", "drop"} <= kinds
    re_entry = next(a for a in from_sql.anomalies_of("re_entry") if a.stage == "MQL")
    assert re_entry.people == ("B3", "a-2") and re_entry.people_total == 2  # code-point order, as Python sorts
    (bulk,) = from_sql.anomalies_of("bulk_import")
    assert bulk.people_total == 7 and "4 Raw, 3 Inquiry" in bulk.detail  # imp0, imp3, imp6 came in as Inquiry


def test_sampled_people_lists_carry_the_total(ledger: Ledger, method: str) -> None:
    items = hand_built()
    write(ledger, items)
    settings = replace(SETTINGS, people_sample=2)
    from_sql, from_python = both(ledger, items, settings, SINCE, UNTIL, method)
    assert from_sql == from_python
    (bulk,) = from_sql.anomalies_of("bulk_import")
    assert bulk.people == ("imp0", "imp1") and bulk.people_count == 7


def test_no_start_reads_from_the_first_transition(ledger: Ledger, method: str) -> None:
    items = hand_built()
    write(ledger, items)
    from_sql, from_python = both(ledger, items, SETTINGS, None, UNTIL, method)
    assert from_sql == from_python
    assert from_sql.periods[0] == datetime(2026, 7, 27).date()  # Monday of B3's first entry, 1 Aug


def test_empty_ledger(ledger: Ledger, method: str) -> None:
    from_sql, from_python = both(ledger, [], SETTINGS, SINCE, UNTIL, method)
    assert from_sql == from_python and from_sql.counts == {} and from_sql.anomalies == ()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_ledgers_same_report_both_ways(ledger: Ledger, seed: int, method: str) -> None:
    items = random_ledger(random.Random(seed))
    write(ledger, items)
    from_sql, from_python = both(ledger, items, SETTINGS, SINCE, UNTIL, method)
    assert from_sql == from_python
    assert sum(from_sql.counts.values()) > 0 and from_sql.anomalies_of("re_entry")


@pytest.mark.parametrize("seed", [4, 5])
def test_random_ledgers_to_the_microsecond_with_ties(ledger: Ledger, seed: int, method: str) -> None:
    """Durations differing by microseconds rank as Python ranks them; moves at one instant keep ledger order."""
    items = random_ledger(random.Random(seed), people=150, fine=True)
    write(ledger, items)
    from_sql, from_python = both(ledger, items, SETTINGS, SINCE, UNTIL, method)
    assert from_sql == from_python
    assert any(a.at == b.at and a.person_id == b.person_id for a, b in pairwise(items))


def random_ledger(rng: random.Random, *, people: int = 60, fine: bool = False) -> list[Transition]:
    """People wandering the funnel (forward, skipping, back, recycled, reopened) from July to December; ``fine``:
    instants to the microsecond, and one move in ten at the same instant as the person's previous one."""
    statuses = STAGES + OTHERS
    items = []
    for n in range(people):
        person = rng.choice(("p", "P", "p_", "p-")) + str(n)
        at = utc(2026, 7, 1) + timedelta(minutes=rng.randrange(0, 150 * 24 * 60))
        status = rng.choice(STAGES[:3])
        items.append(move(person, None, status, at))
        for _ in range(rng.randrange(0, 9)):
            if fine:
                at += timedelta(0) if rng.random() < 0.1 else timedelta(
                    minutes=rng.randrange(0, 30 * 24 * 60), microseconds=rng.randrange(1, 1_000_000))
            else:
                at += timedelta(minutes=rng.randrange(1, 30 * 24 * 60))
            target = rng.choice([s for s in statuses if s != status])
            how = Move.RECYCLE if target == "Recycled" else rng.choice((Move.FORWARD, Move.REOPEN))
            items.append(move(person, status, target, at, how))
            status = target
    return items



@pytest.mark.parametrize("samples", [1, 2, 6, 7, 11, 16, 26, 27])
def test_time_in_stage_picks_the_ranks_python_picks(ledger: Ledger, samples: int, method: str) -> None:
    """Each sample count's median and 90th percentile come from the ranks ``timing_ranks`` gives (0.9 * 5 =
    4.5 rounds down to even, 0.9 * 6 = 5.4 down, 0.9 * 25 = 22.5 down, 0.9 * 26 = 23.4 down, 0.9 * 10 = 9 ...):
    every duration in MQL differs, so a neighbouring rank gives another number."""
    start = utc(2026, 9, 2)
    items = []
    for n in range(samples):
        entered = start + timedelta(hours=n)
        # Durations shuffled against person and entry order (5 is prime to every count here), whole minutes
        # apart: SQLite's SQL way orders by julianday differences, finer than a millisecond only by luck.
        items += walk(f"t{n:02d}", ("MQL", entered),
                      ("SAL", entered + timedelta(hours=1, minutes=(n * 5 + 3) % samples, microseconds=n)))
    write(ledger, items)
    from_sql, from_python = both(ledger, items, SETTINGS, SINCE, UNTIL, method)
    assert from_sql == from_python
    (mql,) = (t for t in from_sql.time_in_stage if t.stage == "MQL")
    durations = sorted(b.at - a.at for a, b in pairwise(items) if a.person_id == b.person_id)
    assert mql.samples == samples
    assert mql.median == durations[(samples - 1) // 2]
    assert mql.p90 == durations[round(0.9 * (samples - 1))]
