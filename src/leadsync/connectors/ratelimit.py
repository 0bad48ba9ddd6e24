"""Client-side pacing, so leadsync never causes a 429 itself and never spends more than its daily share.

Three pieces, all thread-safe and driven by an injectable clock and sleep (tests run on
:class:`ManualClock`, so a simulated hour takes microseconds):

- :class:`SlidingWindow`: at most ``limit`` calls in ANY interval of ``window`` seconds. It keeps the
  send times of the last ``limit`` calls (a sliding log), which is exact: a token bucket refilled at
  ``limit/window`` would allow a full bucket plus a refill inside one rolling window and trip HubSpot's
  ``TEN_SECONDLY_ROLLING`` policy. A small ``margin`` covers the server seeing our calls later than we
  sent them.
- :class:`DailyBudget`: the share of the daily allocation we may spend. Past it, :meth:`acquire`
  raises :class:`QuotaExhausted` and the run stops cleanly so other integrations keep working.
- :class:`RateLimiter`: the windows and the budget of one system, corrected by the usage headers of
  every response (the server's view wins over our own count: other integrations share the quota).

:class:`CallCounters` counts calls, retries and throttling per system for sync-run records and benches.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from leadsync.config.settings import HubSpotSettings, SalesforceSettings
from leadsync.connectors.errors import QuotaExhausted

Clock = Callable[[], float]
Sleep = Callable[[float], None]

DEFAULT_KIND = "default"
_EDGE = 1e-6
SEARCH_KIND = "search"


class ManualClock:
    """A monotonic clock that only moves when told to; ``sleep`` advances it. For tests and benches."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


class CallCounters:
    """Counts per system and event (``calls``, ``calls.search``, ``retries``, ``throttled``...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}

    def add(self, system: str, event: str, amount: int = 1) -> None:
        with self._lock:
            self._counts.setdefault(system, Counter())[event] += amount

    def get(self, system: str, event: str) -> int:
        with self._lock:
            return self._counts.get(system, Counter())[event]

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {system: dict(counts) for system, counts in self._counts.items()}


class SlidingWindow:
    """At most ``limit`` sends in any ``window + margin`` seconds. Not locked: its limiter holds the lock."""

    def __init__(self, name: str, limit: int, window_seconds: float, *, margin_seconds: float = 0.0) -> None:
        if limit <= 0 or window_seconds <= 0:
            raise ValueError(f"{name}: limit and window must be positive")
        self.name = name
        self.configured_limit = limit
        self.limit = limit
        self.window = window_seconds
        self.margin = margin_seconds
        self._sent: deque[float] = deque()

    def _span(self) -> float:
        return self.window + self.margin

    def _purge(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self._span():
            self._sent.popleft()

    def wait_needed(self, now: float) -> float:
        """Seconds until one more send fits; 0 when it fits now."""
        self._purge(now)
        if len(self._sent) < self.limit:
            return 0.0
        # The send that must leave the window first is the (len - limit + 1)-th oldest.
        blocking = self._sent[len(self._sent) - self.limit]
        # A microsecond past the edge: float rounding must never land a send exactly one window later.
        return max(0.0, blocking + self._span() - now + _EDGE)

    def record(self, now: float) -> None:
        self._sent.append(now)

    def room(self, now: float) -> int:
        self._purge(now)
        return max(0, self.limit - len(self._sent))

    def observe(self, now: float, *, remaining: int | None, limit: int | None, window_seconds: float | None) -> None:
        """Adopt the server's limit (never above ours) and, when it has less room, its remaining count.

        Less remaining room than we think means someone else (another app on the same portal) spends the
        same window: we fill our log with sends stamped ``now`` until the rooms agree. That errs on the
        safe side, since those stand-ins leave the window no earlier than the real ones.
        """
        if limit is not None and limit > 0:
            self.limit = min(self.configured_limit, limit)
        if window_seconds is not None and window_seconds > 0:
            self.window = max(self.window, window_seconds)
        if remaining is None:
            return
        missing = self.room(now) - max(0, remaining)
        for _ in range(missing):
            self._sent.append(now)


class DailyBudget:
    """Calls left for today within ``share`` of the daily ``limit`` (``None``: unknown until observed).

    Our own count moves between responses; every usage header replaces it with the server's figure. Once
    spent, one probe call is let through per ``probe_after`` seconds without a fresh server figure, so a
    long-lived daemon notices the allocation resetting (the probe's reply carries the new usage).
    """

    def __init__(
        self, system: str, *, limit: int | None, share: float, probe_after: float = 3600.0, start: float = 0.0
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("daily share must be in (0, 1]")
        self.system = system
        self.limit = limit
        self.share = share
        self.used = 0
        self.probe_after = probe_after
        self._last_news = start

    @property
    def allowance(self) -> int | None:
        return None if self.limit is None else math.floor(self.limit * self.share)

    def check(self, now: float) -> None:
        allowance = self.allowance
        if allowance is None or self.used < allowance:
            return
        if now - self._last_news >= self.probe_after:
            self._last_news = now  # one probe per period
            return
        raise QuotaExhausted(
            f"daily API share spent: {self.used} of {self.limit} used, leadsync may use "
            f"{self.share:.0%} ({allowance})",
            system=self.system,
            error_code="DAILY_SHARE_SPENT",
        )

    def record(self) -> None:
        self.used += 1

    def observe(self, now: float, *, used: int, limit: int) -> None:
        self.used = used
        if limit > 0:
            self.limit = limit
        self._last_news = now


@dataclass(frozen=True)
class Usage:
    """What one response said about the server's counters (``None``: header absent)."""

    daily_used: int | None = None
    daily_limit: int | None = None
    window_limit: int | None = None
    window_remaining: int | None = None
    window_seconds: float | None = None


class RateLimiter:
    """The windows and daily budget of one system. ``acquire(kind)`` before every API request."""

    def __init__(
        self,
        system: str,
        *,
        windows: Mapping[str, tuple[SlidingWindow, ...]],
        daily: DailyBudget | None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        counters: CallCounters | None = None,
    ) -> None:
        self.system = system
        self.windows = dict(windows)
        self.daily = daily
        self.clock = clock
        self.sleep = sleep
        self.counters = counters or CallCounters()
        self._lock = threading.Lock()

    def acquire(self, kind: str = DEFAULT_KIND) -> float:
        """Wait until a call of ``kind`` fits every window, count it, and return the seconds waited.

        Raises :class:`QuotaExhausted` when the daily share is spent. The send time is recorded in all
        windows at once, under one lock, after the last wait: recording in one window and then waiting
        for another would stamp the first too early and let a later burst through.
        """
        windows = self.windows.get(kind, self.windows.get(DEFAULT_KIND, ()))
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                if self.daily is not None:
                    try:
                        self.daily.check(now)
                    except QuotaExhausted:
                        self.counters.add(self.system, "quota_stops")
                        raise
                wait = max((w.wait_needed(now) for w in windows), default=0.0)
                if wait <= 0:
                    for window in windows:
                        window.record(now)
                    if self.daily is not None:
                        self.daily.record()
                    self.counters.add(self.system, "calls")
                    if kind != DEFAULT_KIND:
                        self.counters.add(self.system, f"calls.{kind}")
                    if waited:
                        self.counters.add(self.system, "throttled")
                    return waited
            self.sleep(wait)
            waited += wait

    def observe(self, headers: Mapping[str, str]) -> Usage:
        """Correct the client's view from one response's usage headers; returns what was read."""
        usage = self.parse_usage(headers)
        with self._lock:
            now = self.clock()
            if self.daily is not None and usage.daily_used is not None and usage.daily_limit is not None:
                self.daily.observe(now, used=usage.daily_used, limit=usage.daily_limit)
            if usage.window_limit is not None or usage.window_remaining is not None:
                for window in self.windows.get(DEFAULT_KIND, ()):
                    window.observe(
                        now, remaining=usage.window_remaining, limit=usage.window_limit,
                        window_seconds=usage.window_seconds,
                    )
        return usage

    def parse_usage(self, headers: Mapping[str, str]) -> Usage:
        return Usage()


_SFORCE_USAGE = re.compile(r"(?:^|[\s,;])api-usage=(\d+)/(\d+)")


def parse_sforce_limit_info(value: str | None) -> tuple[int, int] | None:
    """``api-usage=18/5000`` (possibly beside ``per-app-api-usage=...``) -> ``(18, 5000)``."""
    if not value:
        return None
    match = _SFORCE_USAGE.search(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = _header(headers, name)
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None  # a garbled header is ignored, never fatal: our own count stays in charge


class SalesforceLimiter(RateLimiter):
    """Salesforce: the org's daily allocation, read from ``Sforce-Limit-Info`` on every response."""

    def parse_usage(self, headers: Mapping[str, str]) -> Usage:
        parsed = parse_sforce_limit_info(_header(headers, "Sforce-Limit-Info"))
        if parsed is None:
            return Usage()
        return Usage(daily_used=parsed[0], daily_limit=parsed[1])

    @classmethod
    def from_settings(
        cls, settings: SalesforceSettings, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
        counters: CallCounters | None = None,
    ) -> SalesforceLimiter:
        daily = DailyBudget("salesforce", limit=None, share=settings.daily_share, start=clock())
        return cls("salesforce", windows={}, daily=daily, clock=clock, sleep=sleep, counters=counters)


class HubSpotLimiter(RateLimiter):
    """HubSpot: the rolling burst window, the search window and the daily budget (``X-HubSpot-RateLimit-*``)."""

    def parse_usage(self, headers: Mapping[str, str]) -> Usage:
        daily = _int_header(headers, "X-HubSpot-RateLimit-Daily")
        daily_remaining = _int_header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        interval_ms = _int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        return Usage(
            daily_used=daily - daily_remaining if daily is not None and daily_remaining is not None else None,
            daily_limit=daily if daily_remaining is not None else None,
            window_limit=_int_header(headers, "X-HubSpot-RateLimit-Max"),
            window_remaining=_int_header(headers, "X-HubSpot-RateLimit-Remaining"),
            window_seconds=interval_ms / 1000 if interval_ms else None,
        )

    @classmethod
    def build(
        cls,
        *,
        burst_limit: int = 190,
        burst_window: float = 10.0,
        search_per_second: float = 5.0,
        daily_limit: int | None = 650_000,
        daily_share: float = 0.5,
        margin_seconds: float = 0.25,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        counters: CallCounters | None = None,
    ) -> HubSpotLimiter:
        burst = SlidingWindow("burst", burst_limit, burst_window, margin_seconds=margin_seconds)
        # A fractional rate (2.5/s) becomes a whole count over a longer window (5 per 2 s).
        per, window = _whole_rate(search_per_second)
        search = SlidingWindow("search", per, window, margin_seconds=margin_seconds / 5)
        daily = DailyBudget("hubspot", limit=daily_limit, share=daily_share, start=clock())
        return cls(
            "hubspot", windows={DEFAULT_KIND: (burst,), SEARCH_KIND: (search, burst)}, daily=daily,
            clock=clock, sleep=sleep, counters=counters,
        )

    @classmethod
    def from_settings(
        cls, settings: HubSpotSettings, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
        counters: CallCounters | None = None,
    ) -> HubSpotLimiter:
        return cls.build(
            burst_limit=settings.burst_per_10s, search_per_second=settings.search_per_second,
            daily_limit=settings.daily_limit, daily_share=settings.daily_share,
            clock=clock, sleep=sleep, counters=counters,
        )


def _whole_rate(per_second: float) -> tuple[int, float]:
    for seconds in (1, 2, 4, 5, 10):
        count = per_second * seconds
        if count >= 1 and abs(count - round(count)) < 1e-9:
            return round(count), float(seconds)
    return max(1, math.floor(per_second * 10)), 10.0
