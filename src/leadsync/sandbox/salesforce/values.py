"""Salesforce value formats: record ids (15/18 characters) and datetime strings.

Datetimes are kept in the store as the API prints them, ``2026-01-02T03:04:05.000+0000`` in UTC with
whole seconds (the real API never returns sub-second precision, which is why many records share one
SystemModstamp). That string sorts chronologically, so SOQL compares and orders them as strings.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from datetime import UTC, date, datetime, timedelta

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@functools.lru_cache(maxsize=1 << 17)
def id_checksum(id15: str) -> str:
    """The three-character suffix that makes an id case-insensitively unique (the real algorithm).

    Cached: every request validates each id it names, and the same ids come back again and again."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def normalize_id(value: object) -> str | None:
    """The 18-character form of a 15- or 18-character id, or ``None`` when it is not an id."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + id_checksum(value)
    return value[:15] + id_checksum(value[:15])


class IdFactory:
    """New ids per key prefix, increasing so that creation order is id order (as in a real org)."""

    def __init__(self, pod: str = "5g") -> None:
        self._pod = pod
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            number = next(self._counter)
        digits = ""
        while number:
            number, rest = divmod(number, 62)
            digits = _BASE62[rest] + digits
        id15 = prefix + self._pod + digits.rjust(10, "0")
        return id15 + id_checksum(id15)

    def skip_past(self, existing_id: str) -> None:
        """Keep new ids above ids loaded from a seed, so ``ORDER BY Id`` still follows creation."""
        tail = existing_id[5:15]
        if existing_id[3:5] != self._pod or any(c not in _BASE62 for c in tail):
            return
        number = 0
        for char in tail:
            number = number * 62 + _BASE62.index(char)
        with self._lock:
            current = next(self._counter)
            self._counter = itertools.count(max(current, number + 1))


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".000+0000"


def parse_datetime(text: str) -> datetime | None:
    """Parse the ISO forms clients send (``Z``, ``+0000``, ``+00:00``, with or without fraction)."""
    match = _DATETIME_RE.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          int((fraction or "0").ljust(6, "0")), tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset_minutes = int(digits[:2]) * 60 + int(digits[2:])
        moment = moment - sign * timedelta(minutes=offset_minutes)
    return moment


def canonical_datetime(text: str) -> str | None:
    moment = parse_datetime(text)
    return format_datetime(moment) if moment is not None else None


def canonical_date(text: str) -> str | None:
    if not _DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None
