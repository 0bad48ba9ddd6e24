"""Fault injection shared by both emulators, and the per-endpoint call counters.

Generic faults act on the HTTP exchange and are applied by :mod:`leadsync.sandbox.server` before or
after a handler runs. Faults that need the emulator's state (record locks, partial batch failures,
index lag, session expiry) are flags the emulators read from :class:`FaultPlan` through
:meth:`FaultPlan.take` with their own kinds.

Every fault matches an endpoint name (the route's name, e.g. ``"query"`` or ``"contacts.search"``, or
``"*"``) and fires ``times`` times (``None``: until cleared), optionally after skipping ``after`` matching
calls, so tests can aim a fault at, say, the third page.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Kinds the server applies itself:
STATUS = "status"  # answer with `status` (429/5xx) and `body`/`retry_after`, handler not run
RESET = "reset"  # close the connection before the handler runs (nothing committed)
DROP_AFTER_COMMIT = "drop_after_commit"  # run the handler (commit), then close without answering
DELAY = "delay"  # sleep `seconds` before answering (after the handler ran: a timeout after commit)
GENERIC_KINDS = frozenset({STATUS, RESET, DROP_AFTER_COMMIT, DELAY})


@dataclass
class Fault:
    kind: str
    endpoint: str = "*"
    times: int | None = 1
    after: int = 0
    status: int = 503
    retry_after: float | None = None
    body: Any = None
    seconds: float = 0.0
    # Free-form parameters for emulator-specific kinds (e.g. record ids to lock).
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0
    seen: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "endpoint": self.endpoint, "times": self.times, "after": self.after,
            "status": self.status, "retry_after": self.retry_after, "body": self.body,
            "seconds": self.seconds, "params": self.params, "fired": self.fired,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = {"kind", "endpoint", "times", "after", "status", "retry_after", "body", "seconds", "params"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        return cls(**data)


class FaultPlan:
    """The faults armed on one emulator, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault | None = None, /, **kwargs: Any) -> Fault:
        armed = fault if fault is not None else Fault(**kwargs)
        with self._lock:
            self._faults.append(armed)
        return armed

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, endpoint: str, kinds: frozenset[str] | set[str] | tuple[str, ...]) -> Fault | None:
        """The first armed fault of one of ``kinds`` matching ``endpoint``, consuming one firing."""
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds or fault.endpoint not in ("*", endpoint):
                    continue
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                fault.fired += 1
                return fault
        return None


class CallCounter:
    """Calls per endpoint name, thread-safe and resettable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def hit(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
