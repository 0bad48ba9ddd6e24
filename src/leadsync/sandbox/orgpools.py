"""Fast building blocks of the org generator: record ids, timestamp strings, weighted picks.

A million activities must be generated in seconds, so the hot paths avoid ``datetime`` and
``strftime`` (a timestamp is a day string from a table plus a time-of-day string from a table) and
Salesforce ids get their case-safe suffix from small lookup tables instead of a loop per character.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")

# Key prefixes of the standard objects (the first three characters of every record id).
SF_PREFIX = {
    "User": "005", "Group": "00G", "Account": "001", "Lead": "00Q", "Contact": "003", "Opportunity": "006",
    "Task": "00T", "Event": "00U", "Campaign": "701", "CampaignMember": "00v",
}

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_UPPER = tuple(int(c.isupper()) for c in _BASE62)
_PAIRS = tuple(a + b for a in _BASE62 for b in _BASE62)
_PAIR_MASKS = tuple(ua | (ub << 1) for ua in _UPPER for ub in _UPPER)
_TAIL_SPACE = 62**5


def _chunk_mask(chunk: str) -> int:
    return sum(1 << i for i, c in enumerate(chunk) if "A" <= c <= "Z")


def case_safe_suffix(id15: str) -> str:
    """The three characters Salesforce appends to a 15-character id to make it case-insensitive-safe."""
    return "".join(_SUFFIX[_chunk_mask(id15[i : i + 5])] for i in (0, 5, 10))


def _base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, rest = divmod(value, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits))


class SalesforceIds:
    """18-character record ids: key prefix, pod, a reserved zero, a base-62 counter, case-safe suffix."""

    def __init__(self, rng: random.Random, pod: str = "Dn") -> None:
        self._pod = pod
        # Each object type counts from its own seeded start, so ids do not all look alike.
        self._next = {prefix: rng.randrange(62**3, 62**4) for prefix in SF_PREFIX.values()}
        self._heads: dict[tuple[str, int], tuple[str, str]] = {}

    def new(self, sobject: str) -> str:
        prefix = SF_PREFIX[sobject]
        number = self._next[prefix]
        self._next[prefix] = number + 1
        high, low = divmod(number, _TAIL_SPACE)
        head = self._heads.get((prefix, high))
        if head is None:
            text = f"{prefix}{self._pod}0{_base62(high, 4)}"
            head = (text, _SUFFIX[_chunk_mask(text[:5])] + _SUFFIX[_chunk_mask(text[5:10])])
            self._heads[(prefix, high)] = head
        first, rest = divmod(low, 3844 * 3844)
        middle, last = divmod(rest, 3844)
        mask = _UPPER[first] | (_PAIR_MASKS[middle] << 1) | (_PAIR_MASKS[last] << 3)
        return head[0] + _BASE62[first] + _PAIRS[middle] + _PAIRS[last] + head[1] + _SUFFIX[mask]


class Timestamps:
    """Epoch seconds to the two vendors' timestamp strings, by table lookup.

    Salesforce: ``2026-01-02T03:04:05.000+0000`` (and ``2026-01-02`` for date fields);
    HubSpot: ``2026-01-02T03:04:05.000Z``. Covers ``days`` days up to ``now``; later instants are an error.
    """

    def __init__(self, now: datetime, days: int) -> None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware (UTC)")
        now_utc = now.astimezone(UTC)
        self.now = int(now_utc.timestamp())  # truncated: every generated instant is <= now
        first_day = now_utc.date() - timedelta(days=days)
        self.first = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp())
        ordinal = first_day.toordinal()
        self._days = [date.fromordinal(ordinal + i).isoformat() for i in range(days + 2)]
        clock = [f"{h:02d}:{m:02d}:{s:02d}.000" for h in range(24) for m in range(60) for s in range(60)]
        self._sf_clock = [f"T{c}+0000" for c in clock]
        self._hs_clock = [f"T{c}Z" for c in clock]

    def _split(self, instant: int) -> tuple[int, int]:
        if not self.first <= instant <= self.now:
            raise ValueError(f"instant {instant} outside the generated history")
        return divmod(instant - self.first, 86400)

    def sf(self, instant: int) -> str:
        day, second = self._split(instant)
        return self._days[day] + self._sf_clock[second]

    def hs(self, instant: int) -> str:
        day, second = self._split(instant)
        return self._days[day] + self._hs_clock[second]

    def day(self, instant: int) -> str:
        return self._days[self._split(instant)[0]]


class Weighted(Generic[T]):
    """A fixed weighted choice, precomputed once (``random.choices`` rebuilds the cumulative list per call)."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        if not pairs:
            raise ValueError("no choices")
        self.values = [value for value, _ in pairs]
        self.cumulative = list(accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]

    def sample(self, rng: random.Random, count: int) -> list[T]:
        return rng.choices(self.values, cum_weights=self.cumulative, k=count)
