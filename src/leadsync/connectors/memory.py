"""An in-memory CRM with the same contract as the real connectors: the engine's unit tests run on it.

It keeps people, activities and opportunities per stream, pages them on the ``(modstamp, id)`` keyset
inside a pull window, writes in batches with one result per target record, bumps a record's modstamp
on every change (so our own writes come back on the next pull, as they do in a real CRM), and counts
its calls. Tests edit records as a CRM user would (:meth:`MemoryConnector.edit`) and inject
per-record write errors (:meth:`MemoryConnector.fail_writes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from leadsync.connectors.port import (
    ActivityRecord,
    CallCounts,
    OpportunityRecord,
    Page,
    PersonRecord,
    PreflightProblem,
    PulledRecord,
    WriteResult,
)
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import Activity, CrmFacts, System
from leadsync.domain.planner import FieldWrite, Scalar, Target
from leadsync.domain.watermark import Watermark, Window, keyset_after

# Which stream holds which kind of person record, and the object a write to it names.
PERSON_STREAMS: Mapping[System, Mapping[str, str]] = {
    System.SALESFORCE: {"Lead": "lead", "Contact": "contact"},
    System.HUBSPOT: {"contacts": "contact"},
}
ACTIVITY_STREAM: Mapping[System, str] = {System.SALESFORCE: "Task", System.HUBSPOT: "engagements"}
OPPORTUNITY_STREAM = "Opportunity"
BATCH_SIZE: Mapping[System, int] = {System.SALESFORCE: 200, System.HUBSPOT: 100}


class MemoryCrashError(RuntimeError):
    """Raised from inside a pull when a test asked for a crash after some pages."""


@dataclass
class _Failure:
    code: str
    message: str
    transient: bool
    times: int | None  # None: every time


@dataclass
class _Stored:
    record: PulledRecord
    modstamp: datetime
    record_id: str


@dataclass
class MemoryConnector:
    """One system's fake. ``clock`` is the server clock; ``page_size`` the records per read call."""

    system: System
    clock: Callable[[], datetime]
    page_size: int = 100
    _streams: dict[str, dict[str, _Stored]] = field(default_factory=dict)
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _counts: CallCounts = field(default_factory=CallCounts)
    _tick: int = 0
    crash_after_pages: int | None = None  # raise MemoryCrashError once this many pages were handed out
    lose_responses: bool = False  # apply writes, then fail as if the response never arrived
    writes_seen: list[FieldWrite] = field(default_factory=list)

    def __post_init__(self) -> None:
        for stream in self.streams():
            self._streams.setdefault(stream, {})

    # ----- the CrmConnector protocol ---------------------------------------------------------------
    def streams(self) -> Sequence[str]:
        extra = (OPPORTUNITY_STREAM,) if self.system is System.SALESFORCE else ()
        return (*PERSON_STREAMS[self.system], ACTIVITY_STREAM[self.system], *extra)

    def server_time(self) -> datetime:
        return self.clock()

    def pull(self, stream: str, mark: Watermark, window: Window) -> Iterator[Page]:
        after_ts, after_id = keyset_after(mark, window.start)
        rows = sorted(
            (s for s in self._streams[stream].values()
             if s.modstamp <= window.end and _after(s, after_ts, after_id)),
            key=lambda s: (s.modstamp, s.record_id),
        )
        start = 0
        while True:
            chunk = rows[start:start + self.page_size]
            self._count("read", f"pull:{stream}")
            if self.crash_after_pages is not None:
                if self.crash_after_pages <= 0:
                    self.crash_after_pages = None
                    raise MemoryCrashError(f"injected crash pulling {stream}")
                self.crash_after_pages -= 1
            yield Page(stream, [s.record for s in chunk], [(s.modstamp, s.record_id) for s in chunk])
            start += self.page_size
            if start >= len(rows):
                return

    def read_current(self, targets: Sequence[Target], fields: Sequence[str]) -> Mapping[Target, Mapping[str, Scalar]]:
        found: dict[Target, Mapping[str, Scalar]] = {}
        for offset in range(0, len(targets), BATCH_SIZE[self.system]):
            self._count("read", "read_current")
            for target in targets[offset:offset + BATCH_SIZE[self.system]]:
                stored = self._person(target.object, target.record_id)
                if stored is not None:
                    current = _person(stored).current
                    found[target] = {name: current.get(name) for name in fields}
        return found

    def apply(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        by_target: dict[Target, list[FieldWrite]] = {}
        for write in writes:
            by_target.setdefault(write.target, []).append(write)
        results: list[WriteResult] = []
        targets = sorted(by_target)
        for offset in range(0, len(targets), BATCH_SIZE[self.system]):
            batch = targets[offset:offset + BATCH_SIZE[self.system]]
            self._count("write", "batch_update")
            if any(w.clear_first for t in batch for w in by_target[t]):
                self._count("write", "clear_first")
            results.extend(self._write_one(t, by_target[t]) for t in batch)
        if self.lose_responses:
            raise MemoryCrashError("injected lost response after the writes were committed")
        return results

    def preflight(self, fields: Sequence[tuple[str, str, str, frozenset[str] | None]]) -> list[PreflightProblem]:
        return []  # the fake accepts every field; preflight is tested against the sandbox

    def calls(self) -> CallCounts:
        return CallCounts(self._counts.reads, self._counts.writes, dict(self._counts.by_endpoint))

    # ----- what tests do to the fake CRM -----------------------------------------------------------
    def add_person(self, kind: str, record_id: str, *, email: str | None, fields: Mapping[str, Any] | None = None,
                   facts: CrmFacts | None = None, current: Mapping[str, Scalar] | None = None) -> PersonRecord:
        record = PersonRecord(
            ref=RecordRef(self.system, kind, record_id), modstamp=self._next_stamp(), email=email,
            fields=dict(fields or {"email": email}), facts=facts or CrmFacts(is_contact=kind == "contact"),
            current=dict(current or {}),
        )
        self._put(self._person_stream(kind), record_id, record)
        return record

    def edit(self, kind: str, record_id: str, **changes: Any) -> PersonRecord:
        """Change a person record as a CRM user would (``fields``, ``facts``, ``current``, ``email``,
        ``deleted``, ``converted_to``, ``merged_from``); bumps its modstamp."""
        stream = self._person_stream(kind)
        old = _person(self._streams[stream][record_id])
        if "current" in changes:
            changes["current"] = {**old.current, **changes["current"]}
        if "fields" in changes:
            changes["fields"] = {**old.fields, **changes["fields"]}
        record = replace(old, modstamp=self._next_stamp(), **changes)
        self._put(stream, record_id, record)
        return record

    def add_activity(self, activity: Activity, who: RecordRef) -> None:
        stamp = self._next_stamp()
        self._put(ACTIVITY_STREAM[self.system], activity.source_id, ActivityRecord(activity, who, stamp))

    def add_opportunity(self, record_id: str, refs: Sequence[RecordRef], *, closed: bool = False,
                        won: bool = False, stage: str = "Prospecting") -> None:
        stamp = self._next_stamp()
        self._put(OPPORTUNITY_STREAM, record_id, OpportunityRecord(record_id, stamp, tuple(refs), closed, won, stage))

    def fail_writes(self, record_id: str, code: str, *, transient: bool, times: int | None = None,
                    message: str | None = None) -> None:
        """The next ``times`` writes to ``record_id`` fail with ``code`` (every write when None)."""
        self._failures[record_id] = _Failure(code, message or f"{code} on {record_id}", transient, times)

    def clear_failures(self) -> None:
        self._failures.clear()

    def record(self, kind: str, record_id: str) -> PersonRecord:
        stored = self._person(self._object(kind), record_id)
        if stored is None:
            raise KeyError(f"no {kind} {record_id}")
        return _person(stored)

    # ----- internals -------------------------------------------------------------------------------
    def _write_one(self, target: Target, writes: list[FieldWrite]) -> WriteResult:
        names = tuple(w.field for w in writes)
        failure = self._failures.get(target.record_id)
        if failure is not None:
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[target.record_id]
            return WriteResult(target, False, failure.code, failure.message, names, failure.transient)
        stored = self._person(target.object, target.record_id)
        if stored is None or _person(stored).deleted:
            return WriteResult(target, False, "NOT_FOUND", f"no {target.object} {target.record_id}", names)
        self.writes_seen.extend(writes)
        kind = PERSON_STREAMS[self.system].get(target.object, "")
        self.edit(kind, target.record_id, current={w.field: w.value for w in writes})
        return WriteResult(target, True, fields=names)

    def _count(self, kind: str, endpoint: str) -> None:
        if kind == "read":
            self._counts.reads += 1
        else:
            self._counts.writes += 1
        self._counts.by_endpoint[endpoint] = self._counts.by_endpoint.get(endpoint, 0) + 1

    def _next_stamp(self) -> datetime:
        # Several changes within one clock reading still get distinct, ordered modstamps.
        self._tick += 1
        return self.clock() + timedelta(microseconds=self._tick)

    def _put(self, stream: str, record_id: str, record: PulledRecord) -> None:
        modstamp = record.modstamp if isinstance(record, PersonRecord | ActivityRecord | OpportunityRecord) \
            else self._next_stamp()
        self._streams[stream][record_id] = _Stored(record, modstamp, record_id)

    def _person_stream(self, kind: str) -> str:
        return self._object(kind)

    def _object(self, kind: str) -> str:
        for stream, stream_kind in PERSON_STREAMS[self.system].items():
            if stream_kind == kind:
                return stream
        raise KeyError(f"{self.system} has no {kind} records")

    def _person(self, obj: str, record_id: str) -> _Stored | None:
        return self._streams.get(obj, {}).get(record_id)


def _after(stored: _Stored, after_ts: datetime | None, after_id: str | None) -> bool:
    """Keyset position: from the start, from a timestamp on (overlap re-read), or strictly after a key."""
    if after_ts is None:
        return True
    if after_id is None:
        return stored.modstamp >= after_ts
    return (stored.modstamp, stored.record_id) > (after_ts, after_id)


def _person(stored: _Stored) -> PersonRecord:
    assert isinstance(stored.record, PersonRecord)
    return stored.record
