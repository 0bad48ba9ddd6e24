"""KeysetSearch against an in-memory search that behaves like HubSpot's at its worst: one sort, ties in
no particular order, offset paging with a hard 10,000 cap, and pages that come back short."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.connectors.errors import TransientError
from leadsync.connectors.hubspot_search import (
    PAGE_LIMIT,
    QUERY_BUDGET,
    RESULT_CAP,
    Hit,
    KeysetSearch,
    SearchAnswer,
    lower_bound_groups,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
TS = "lastmodifieddate"


class UnorderedSearch:
    """Records are ``(id, ts_ms)``; matches are sorted on the one sort key with ties shuffled (stably per
    query, as offset paging needs), and a request past the cap is refused as the API does."""

    def __init__(self, records: dict[str, int], *, seed: int = 1, short_pages: dict[int, int] | None = None,
                 budget: int = QUERY_BUDGET, skip_pages: dict[int, int] | None = None) -> None:
        self.records = records
        self.budget = budget
        self.skip_pages = skip_pages or {}  # request number -> positions the cursor moves with no results
        self.rng = random.Random(seed)
        self.orders: dict[str, list[str]] = {}
        self.bodies: list[dict[str, Any]] = []
        self.short_pages = short_pages or {}  # request number -> page size

    def _value(self, record_id: str, prop: str) -> int:
        """Filters carry epoch milliseconds; records keep milliseconds after T0."""
        return int(record_id) if prop == "hs_object_id" else T0_MS + self.records[record_id]

    def _matches(self, record_id: str, group: dict[str, Any]) -> bool:
        tests = {"GT": lambda a, b: a > b, "GTE": lambda a, b: a >= b, "EQ": lambda a, b: a == b,
                 "LTE": lambda a, b: a <= b, "LT": lambda a, b: a < b}
        return all(tests[f["operator"]](self._value(record_id, f["propertyName"]), int(f["value"]))
                   for f in group["filters"])

    def __call__(self, body: dict[str, Any]) -> SearchAnswer:
        self.bodies.append(body)
        after = int(body.get("after", 0))
        if after >= RESULT_CAP:
            raise AssertionError(f"request at after={after}: the real API answers 400")
        assert after + body["limit"] <= self.budget, "a request may never reach into the cap's margin"
        assert len(body["sorts"]) == 1
        key = repr({k: v for k, v in body.items() if k != "after"})
        if key not in self.orders:
            prop = body["sorts"][0]["propertyName"]
            found = [i for i in self.records if any(self._matches(i, g) for g in body["filterGroups"])]
            self.rng.shuffle(found)
            found.sort(key=lambda i: self._value(i, prop))  # stable: ties keep the shuffled order
            self.orders[key] = found
        order = self.orders[key]
        if len(self.bodies) in self.skip_pages:  # the cursor moves, but nothing comes back
            moved = after + self.skip_pages[len(self.bodies)]
            return SearchAnswer([], moved if moved < len(order) else None)
        size = self.short_pages.get(len(self.bodies), body["limit"])
        page = order[after:after + size]
        hits = [Hit(i, T0 + timedelta(milliseconds=self.records[i]), {}) for i in page]
        next_after = after + len(page)
        return SearchAnswer(hits, next_after if next_after < len(order) else None)


def run_all(search: UnorderedSearch, *, end_ms: int, after: tuple[int, str | None] | None = None,
            start_ms: int | None = None, page_limit: int = PAGE_LIMIT) -> list[str]:
    keyset = KeysetSearch(
        search, ts_property=TS, properties=["email"], end=T0 + timedelta(milliseconds=end_ms),
        after_ts=T0 + timedelta(milliseconds=after[0]) if after else None, after_id=after[1] if after else None,
        start=T0 + timedelta(milliseconds=start_ms) if start_ms is not None else None,
        page_limit=page_limit, budget=search.budget,
    )
    return [hit.id for hits in keyset.pages() for hit in hits]


def test_distinct_stamps_cost_exactly_the_pages_needed() -> None:
    search = UnorderedSearch({str(n): n for n in range(1, 1001)})
    ids = run_all(search, end_ms=10_000)
    assert sorted(ids, key=int) == [str(n) for n in range(1, 1001)]
    assert len(ids) == 1000
    assert len(search.bodies) == 1000 // PAGE_LIMIT


def test_more_than_the_budget_restarts_at_the_last_stamp_and_yields_each_record_once() -> None:
    # 25,000 records over 2,500 stamps (ties of 10 in random order) need three queries.
    records = {str(n): 1 + n // 10 for n in range(1, 25_001)}
    search = UnorderedSearch(records, seed=7)
    ids = run_all(search, end_ms=10**9)
    assert len(ids) == len(set(ids)) == 25_000
    # 125 full pages; each restart re-reads one tie group inside the next query, costing at most one page.
    assert 125 <= len(search.bodies) <= 125 + 2


def test_a_tie_flood_larger_than_the_cap_is_read_in_id_order_without_any_400() -> None:
    records = {str(n): 500 for n in range(1, 12_001)}  # one bulk import stamp
    records.update({str(n): 400 + n % 7 for n in range(12_001, 12_300)})
    records.update({str(n): 900 for n in range(12_300, 12_500)})
    search = UnorderedSearch(records, seed=3)
    ids = run_all(search, end_ms=1000)
    assert len(ids) == len(set(ids)) == len(records)
    assert any(body["sorts"][0]["propertyName"] == "hs_object_id" for body in search.bodies)


def test_keyset_bounds_and_window_end_are_filters_not_client_side_guesses() -> None:
    records = {str(n): n // 3 for n in range(1, 61)}  # stamps 0..20, three ids per stamp
    search = UnorderedSearch(records)
    ids = run_all(search, end_ms=15, after=(10, "31"))
    expected = {i for i, ts in records.items() if (ts, int(i)) > (10, 31) and ts <= 15}
    assert set(ids) == expected and len(ids) == len(expected)
    groups = search.bodies[0]["filterGroups"]
    assert [[(f["propertyName"], f["operator"]) for f in g["filters"]] for g in groups] == [
        [(TS, "GT"), (TS, "LTE")], [(TS, "EQ"), ("hs_object_id", "GT"), (TS, "LTE")]]


def test_a_window_start_without_a_keyset_is_inclusive() -> None:
    search = UnorderedSearch({str(n): n for n in range(1, 21)})
    assert sorted(run_all(search, end_ms=15, start_ms=10), key=int) == [str(n) for n in range(10, 16)]


def test_short_pages_with_a_cursor_are_followed_to_the_end() -> None:
    search = UnorderedSearch({str(n): n for n in range(1, 451)}, short_pages={1: 0, 2: 37, 3: 0})
    ids = run_all(search, end_ms=10_000)
    assert len(ids) == len(set(ids)) == 450
    assert len(search.bodies) == 3 + 3  # two empty pages and one short page, then 413 in three pages


def test_a_search_that_never_moves_is_a_transient_failure_not_an_endless_loop() -> None:
    search = UnorderedSearch({str(n): n for n in range(1, 300)}, short_pages=dict.fromkeys(range(1, 50), 0))
    with pytest.raises(TransientError, match="no progress"):
        run_all(search, end_ms=10_000)


def test_lower_bound_groups_shapes() -> None:
    assert lower_bound_groups(TS, None, None) == [[]]
    stamp = T0 + timedelta(milliseconds=5)
    ms = str(int(stamp.timestamp() * 1000))
    assert lower_bound_groups(TS, stamp, None, inclusive=True) == [
        [{"propertyName": TS, "operator": "GTE", "value": ms}]]
    assert lower_bound_groups(TS, stamp, None) == [[{"propertyName": TS, "operator": "GT", "value": ms}]]


@settings(max_examples=300, deadline=None)
@given(stamps=st.lists(st.integers(0, 6), max_size=60), seed=st.integers(0, 10**6), page=st.integers(1, 5),
       extra=st.integers(0, 12), short=st.dictionaries(st.integers(1, 40), st.integers(0, 4), max_size=4),
       cut=st.one_of(st.none(), st.tuples(st.integers(0, 6), st.integers(0, 61))), end=st.integers(0, 6))
def test_every_record_in_the_window_comes_back_exactly_once(
        stamps: list[int], seed: int, page: int, extra: int, short: dict[int, int],
        cut: tuple[int, int] | None, end: int) -> None:
    """Small pages and budgets force restarts, tie groups across restarts and id-ordered passes."""
    records = {str(n + 1): ts for n, ts in enumerate(stamps)}
    search = UnorderedSearch(records, seed=seed, short_pages=short, budget=page + extra)
    ids = run_all(search, end_ms=end, after=(cut[0], str(cut[1])) if cut else None, page_limit=page)
    expected = [i for i, ts in records.items() if ts <= end and (cut is None or (ts, int(i)) > cut)]
    assert sorted(ids, key=int) == sorted(expected, key=int)


def test_a_query_whose_cursor_runs_out_of_budget_without_results_fails_instead_of_returning_early() -> None:
    search = UnorderedSearch({str(n): n for n in range(1, 30)}, budget=10, skip_pages={1: 3, 2: 3, 3: 3})
    with pytest.raises(TransientError, match="without a result"):
        run_all(search, end_ms=100, page_limit=3)
