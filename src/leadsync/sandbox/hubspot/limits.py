"""HubSpot's private-app rate limits: a 10-second rolling window, a daily budget, and the search limit.

Windows run on the monotonic clock (clock-skew tests move the server's calendar, not the rate of
calls); the daily budget resets when the sandbox clock's UTC date changes. ``None`` disables a limit
(unthrottled benchmarks).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from leadsync.sandbox.server import SandboxClock

WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class Rejection:
    policy: str  # TEN_SECONDLY_ROLLING | DAILY | SECONDLY
    retry_after: int
    message: str


class RateLimits:
    def __init__(self, clock: SandboxClock, burst_per_10s: int | None, daily_limit: int | None,
                 search_per_second: int | None) -> None:
        self.clock = clock
        self.burst_per_10s = burst_per_10s
        self.daily_limit = daily_limit
        self.search_per_second = search_per_second
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._search: deque[float] = deque()
        self._day = clock.now().date()
        self.daily_used = 0

    def admit(self, search: bool) -> Rejection | None:
        """Count one call, or say which policy refuses it (refused calls are not counted)."""
        now = time.monotonic()
        with self._lock:
            today = self.clock.now().date()
            if today != self._day:
                self._day, self.daily_used = today, 0
            if self.daily_limit is not None and self.daily_used >= self.daily_limit:
                return Rejection("DAILY", self._seconds_to_midnight(), "You have reached your daily limit.")
            if search:
                rejection = self._take(self._search, self.search_per_second, 1.0, now, "SECONDLY",
                                       "You have reached your secondly limit.")
            else:
                rejection = self._take(self._window, self.burst_per_10s, WINDOW_SECONDS, now, "TEN_SECONDLY_ROLLING",
                                       "You have reached your ten_secondly_rolling limit.")
            if rejection is None:
                self.daily_used += 1
            return rejection

    def headers(self) -> dict[str, str]:
        with self._lock:
            headers: dict[str, str] = {}
            if self.burst_per_10s is not None:
                self._expire(self._window, WINDOW_SECONDS, time.monotonic())
                headers["X-HubSpot-RateLimit-Max"] = str(self.burst_per_10s)
                headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.burst_per_10s - len(self._window)))
                headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(WINDOW_SECONDS * 1000))
            if self.daily_limit is not None:
                headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
                headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily_limit - self.daily_used))
            return headers

    def reset(self) -> None:
        with self._lock:
            self._window.clear()
            self._search.clear()
            self.daily_used = 0

    @staticmethod
    def _expire(window: deque[float], seconds: float, now: float) -> None:
        while window and window[0] <= now - seconds:
            window.popleft()

    def _take(self, window: deque[float], limit: int | None, seconds: float, now: float, policy: str,
              message: str) -> Rejection | None:
        if limit is None:
            return None
        self._expire(window, seconds, now)
        if len(window) >= limit:
            wait = window[0] + seconds - now
            return Rejection(policy, max(1, math.ceil(wait)), message)
        window.append(now)
        return None

    def _seconds_to_midnight(self) -> int:
        now = self.clock.now()
        seconds_today = now.hour * 3600 + now.minute * 60 + now.second
        return max(1, 86_400 - seconds_today)
