"""Client-side pacing on a fake clock: our own pacing never causes a 429, and budgets stop cleanly."""

from __future__ import annotations

import random
import threading
import time
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.config.settings import HubSpotSettings, SalesforceSettings
from leadsync.connectors.errors import QuotaExhausted
from leadsync.connectors.ratelimit import (
    SEARCH_KIND,
    CallCounters,
    DailyBudget,
    HubSpotLimiter,
    ManualClock,
    RateLimiter,
    SalesforceLimiter,
    SlidingWindow,
    parse_sforce_limit_info,
)


class RollingWindowServer:
    """HubSpot's TEN_SECONDLY_ROLLING as the server sees it: arrivals in the last 10 s, 190 allowed."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.accepted: deque[float] = deque()
        self.rejected = 0

    def arrive(self, at: float) -> bool:
        while self.accepted and self.accepted[0] <= at - self.window:
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            self.rejected += 1
            return False
        self.accepted.append(at)
        return True


def test_thousand_calls_never_trip_a_190_per_10s_rolling_window_and_keep_near_full_throughput() -> None:
    clock = ManualClock(start=1000.0)
    limiter = HubSpotLimiter.build(burst_limit=190, burst_window=10.0, daily_limit=None, clock=clock.now,
                                   sleep=clock.sleep)
    server = RollingWindowServer(190, 10.0)
    latency = random.Random(7)
    start = clock.now()
    arrivals = []
    for _ in range(1000):
        limiter.acquire()
        # Network latency varies per call (within the limiter's 0.25 s margin) and reorders nothing else.
        arrivals.append(clock.now() + latency.uniform(0.01, 0.2))
    for at in sorted(arrivals):
        server.arrive(at)
    elapsed = clock.now() - start
    assert server.rejected == 0
    assert len(server.accepted) <= 190
    # The server allows 1000 calls in no less than 50 s (5 full windows after the first burst);
    # near-full throughput means we do not take much longer than that.
    assert 50.0 <= elapsed <= 50.0 * 1.05
    assert limiter.counters.get("hubspot", "calls") == 1000


def test_sliding_window_never_lets_more_than_limit_into_any_window_across_threads() -> None:
    # Real threads and the real clock: the assertion is about the send log, never about speed.
    window = SlidingWindow("burst", 20, 0.2)
    limiter = RateLimiter("test", windows={"default": (window,)}, daily=None)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    assert len(sent) == 200
    # Any 21 consecutive sends span more than the window (the append happens just after acquire).
    tightest = min(sent[i + 20] - sent[i] for i in range(len(sent) - 20))
    assert tightest > 0.2 - 0.01


def test_search_calls_respect_five_per_second_and_also_spend_the_burst_window() -> None:
    clock = ManualClock()
    limiter = HubSpotLimiter.build(search_per_second=5, daily_limit=None, margin_seconds=0.0, clock=clock.now,
                                   sleep=clock.sleep)
    times = []
    for _ in range(50):
        limiter.acquire(SEARCH_KIND)
        times.append(clock.now())
    assert all(times[i + 5] - times[i] >= 1.0 for i in range(len(times) - 5))
    assert times[-1] == pytest.approx(9.0)
    burst = limiter.windows["default"][0]
    assert burst.room(clock.now()) == 190 - 50
    assert limiter.counters.get("hubspot", "calls.search") == 50


def test_server_remaining_header_corrects_our_count_when_someone_else_spends_the_window() -> None:
    clock = ManualClock()
    limiter = HubSpotLimiter.build(daily_limit=None, clock=clock.now, sleep=clock.sleep)
    limiter.acquire()
    usage = limiter.observe({"x-hubspot-ratelimit-max": "190", "X-HubSpot-RateLimit-Remaining": "3",
                             "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
    assert usage.window_remaining == 3
    for _ in range(3):
        assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(10.25)


def test_server_max_lowers_our_limit_but_never_raises_it() -> None:
    clock = ManualClock()
    limiter = HubSpotLimiter.build(burst_limit=190, daily_limit=None, clock=clock.now, sleep=clock.sleep)
    limiter.observe({"X-HubSpot-RateLimit-Max": "100"})
    assert limiter.windows["default"][0].limit == 100
    limiter.observe({"X-HubSpot-RateLimit-Max": "250"})
    assert limiter.windows["default"][0].limit == 190


def test_daily_share_stops_cleanly_and_counts_the_stop() -> None:
    clock = ManualClock()
    limiter = HubSpotLimiter.build(daily_limit=100, daily_share=0.5, clock=clock.now, sleep=clock.sleep)
    for _ in range(50):
        limiter.acquire()
    with pytest.raises(QuotaExhausted) as caught:
        limiter.acquire()
    assert caught.value.system == "hubspot"
    assert "50 of 100" in str(caught.value)
    assert limiter.counters.get("hubspot", "calls") == 50
    assert limiter.counters.get("hubspot", "quota_stops") == 1


def test_hubspot_daily_headers_replace_our_count() -> None:
    clock = ManualClock()
    limiter = HubSpotLimiter.build(daily_limit=1000, daily_share=0.5, clock=clock.now, sleep=clock.sleep)
    limiter.observe({"X-HubSpot-RateLimit-Daily": "1000", "X-HubSpot-RateLimit-Daily-Remaining": "501"})
    assert limiter.daily is not None and limiter.daily.used == 499
    limiter.acquire()
    with pytest.raises(QuotaExhausted):
        limiter.acquire()


def test_salesforce_usage_header_stops_at_the_share_and_recovers_when_usage_falls() -> None:
    clock = ManualClock()
    limiter = SalesforceLimiter.from_settings(SalesforceSettings(daily_share=0.5), clock=clock.now, sleep=clock.sleep)
    limiter.acquire()  # unknown allocation: allowed until the first header says otherwise
    limiter.observe({"Sforce-Limit-Info": "api-usage=2500/5000"})
    with pytest.raises(QuotaExhausted) as caught:
        limiter.acquire()
    assert caught.value.system == "salesforce"
    limiter.observe({"sforce-limit-info": "api-usage=100/5000"})  # the rolling 24 h moved on
    limiter.acquire()


def test_exhausted_budget_lets_one_probe_through_per_period_so_a_reset_is_noticed() -> None:
    clock = ManualClock()
    budget = DailyBudget("salesforce", limit=10, share=1.0, probe_after=600.0)
    limiter = RateLimiter("salesforce", windows={}, daily=budget, clock=clock.now, sleep=clock.sleep)
    budget.observe(clock.now(), used=10, limit=10)
    with pytest.raises(QuotaExhausted):
        limiter.acquire()
    clock.advance(600)
    limiter.acquire()  # the probe
    with pytest.raises(QuotaExhausted):
        limiter.acquire()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("api-usage=18/5000", (18, 5000)),
        ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-app)", (25, 5000)),
        ("per-app-api-usage=17/250(appName=x)", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_parse_sforce_limit_info(value: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_sforce_limit_info(value) == expected


def test_garbled_hubspot_headers_are_ignored() -> None:
    limiter = HubSpotLimiter.build()
    usage = limiter.observe({"X-HubSpot-RateLimit-Remaining": "lots", "X-HubSpot-RateLimit-Max": ""})
    assert usage.window_remaining is None and usage.window_limit is None


def test_limiter_from_settings_uses_the_configured_budgets() -> None:
    clock = ManualClock()
    settings = HubSpotSettings(burst_per_10s=100, search_per_second=2.5, daily_limit=250_000, daily_share=0.2)
    limiter = HubSpotLimiter.from_settings(settings, clock=clock.now, sleep=clock.sleep)
    burst = limiter.windows["default"][0]
    search = limiter.windows[SEARCH_KIND][0]
    assert (burst.limit, burst.window) == (100, 10.0)
    assert (search.limit, search.window) == (5, 2.0)
    assert limiter.daily is not None and limiter.daily.allowance == 50_000


def test_call_counters_snapshot() -> None:
    counters = CallCounters()
    counters.add("salesforce", "calls", 3)
    counters.add("hubspot", "retries")
    assert counters.snapshot() == {"salesforce": {"calls": 3}, "hubspot": {"retries": 1}}
    assert counters.get("hubspot", "calls") == 0


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=1.5, allow_nan=False), min_size=1, max_size=120),
    limit=st.integers(min_value=1, max_value=12),
    window=st.sampled_from([0.5, 1.0, 10.0]),
)
def test_no_window_of_any_placement_ever_holds_more_than_limit_sends(
    gaps: list[float], limit: int, window: float
) -> None:
    clock = ManualClock()
    limiter = RateLimiter("x", windows={"default": (SlidingWindow("w", limit, window),)}, daily=None,
                          clock=clock.now, sleep=clock.sleep)
    sends = []
    for gap in gaps:
        clock.advance(gap)  # the caller's own think time between calls
        limiter.acquire()
        sends.append(clock.now())
    for i in range(len(sends) - limit):
        assert sends[i + limit] - sends[i] >= window
