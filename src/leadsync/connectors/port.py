"""The port between the sync engine and each CRM: what a connector yields and what it is asked to do.

Connectors convert vendor shapes into these vendor-neutral records at the border, so the engine and the
core never see a Salesforce or HubSpot payload. One contract test suite runs against every
implementation (the two real connectors against the sandbox, and the in-memory fake the engine's unit
tests use).

Streams: each connector pulls a fixed set of streams (``"Lead"``, ``"Contact"``, ``"Task"`` ... on
Salesforce; ``"contacts"``, ``"calls"``, ``"events"`` ... on HubSpot), each with its own watermark. A
pull yields pages; after each page the engine commits the page's rows together with the advanced
watermark, so a crash resumes at the last committed page.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from leadsync.domain.identity import RecordRef
from leadsync.domain.model import Activity, CrmFacts, System
from leadsync.domain.planner import FieldWrite, Scalar, Target
from leadsync.domain.watermark import Watermark, Window


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A Lead or Contact (Salesforce) or a contact (HubSpot), as the engine needs it."""

    ref: RecordRef
    modstamp: datetime
    email: str | None
    fields: Mapping[str, Any]  # Person field name -> value, through the inbound field mappings
    facts: CrmFacts
    current: Mapping[str, Scalar]  # mapped outbound field -> value the record holds now
    deleted: bool = False
    converted_to: RecordRef | None = None
    merged_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """An activity and the record it belongs to (a Task's WhoId, an engagement's associated contact)."""

    activity: Activity
    who: RecordRef
    modstamp: datetime
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class OpportunityRecord:
    record_id: str
    modstamp: datetime
    contact_refs: tuple[RecordRef, ...]  # people the deal belongs to (contact roles, converted leads)
    is_closed: bool
    is_won: bool
    stage: str
    deleted: bool = False  # deleted (or merged away) in the CRM: it no longer counts for anyone


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """A Salesforce user or queue, or a HubSpot owner; routing names reps by email."""

    system: System
    owner_id: str
    email: str | None
    active: bool
    is_queue: bool = False
    modstamp: datetime | None = None


PulledRecord = PersonRecord | ActivityRecord | OpportunityRecord | OwnerRecord


@dataclass(frozen=True)
class Page:
    """One page of a stream: the records, and the ``(modstamp, id)`` pairs that advance its watermark."""

    stream: str
    records: Sequence[PulledRecord]
    cursor_keys: Sequence[tuple[datetime, str]]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome for one target record of a batch write. ``transient`` errors are retried; others are
    quarantined with ``error`` until the cause changes."""

    target: Target
    ok: bool
    error_code: str | None = None
    error: str | None = None
    fields: tuple[str, ...] = ()
    transient: bool = False


@dataclass(frozen=True, slots=True)
class PreflightProblem:
    """A mapped field that cannot be written as the rules need; ``where`` is the mapping line."""

    where: str
    system: System
    object: str
    field: str
    problem: str


@dataclass
class CallCounts:
    """API calls a connector made, by kind; the engine records them per sync run."""

    reads: int = 0
    writes: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.reads + self.writes


class CrmConnector(Protocol):
    system: System

    def streams(self) -> Sequence[str]:
        """The streams this connector pulls, in the order the engine should pull them."""

    def server_time(self) -> datetime:
        """The server's clock (from a response Date header or an endpoint); windows end relative to it."""

    def pull(self, stream: str, mark: Watermark, window: Window) -> Iterator[Page]:
        """Yield pages of records changed in ``window`` after ``mark``, oldest first, deleted included."""

    def read_current(self, targets: Sequence[Target], fields: Sequence[str]) -> Mapping[Target, Mapping[str, Scalar]]:
        """Read back mapped fields of some records (resolving pending intents after a lost response)."""

    def apply(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Write in as few calls as the API allows, one result per target record, never raising for a
        per-record failure."""

    def preflight(self, fields: Sequence[tuple[str, str, str, frozenset[str] | None]]) -> list[PreflightProblem]:
        """Check ``(where, object, field, values_the_rules_can_write)``: exists, writable, values allowed."""

    def calls(self) -> CallCounts:
        """Calls made since the connector was built."""
