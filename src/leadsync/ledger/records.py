"""Plain data the ledger API speaks where the domain has no type of its own.

Domain types (``Transition``, ``ContactStatusChange``, ``Activity``, ``System``) are used as they are;
these frozen dataclasses cover the bookkeeping that only the sync machinery needs: identities, the
outbox, watermarks, runs, quarantine, SLA clocks and score snapshots.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from leadsync.domain.model import EMPTY, System, Transition


def _empty() -> Mapping[str, Any]:
    return EMPTY  # one shared read-only mapping; dataclasses need a factory for it


class IdentityKind(enum.StrEnum):
    SALESFORCE_LEAD = "sf_lead"
    SALESFORCE_CONTACT = "sf_contact"
    HUBSPOT_CONTACT = "hs_contact"
    EMAIL = "email"


def normalise_email(address: str) -> str:
    """Emails compare case-insensitively and without surrounding blanks (RFC local parts are rarely cased)."""
    return address.strip().lower()


@dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind
    value: str

    @classmethod
    def email(cls, address: str) -> Identity:
        return cls(IdentityKind.EMAIL, normalise_email(address))


@dataclass(frozen=True, slots=True)
class PersonRecord:
    id: str
    created_at: datetime
    identities: frozenset[Identity]
    merged_into: str | None = None


class IdentityEventKind(enum.StrEnum):
    MERGE = "merge"
    LEAD_CONVERSION = "lead_conversion"


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    person_id: str
    kind: IdentityEventKind
    at: datetime
    details: Mapping[str, Any] = field(default_factory=_empty)
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScoreSnapshot:
    person_id: str
    at: datetime
    score: float
    grade: str | None
    ruleset_version: str
    breakdown: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class RecordedTransition:
    """A transition as stored: the domain value plus its ledger id, sync run and fencing epoch."""

    id: int
    transition: Transition
    run_id: str | None
    epoch: int


class IntentState(enum.StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    QUARANTINED = "quarantined"


# Which states an intent may move to from each state. APPLIED is final; FAILED means "transient, retry";
# QUARANTINED waits until its cause changes, then goes back to PENDING.
INTENT_MOVES: Mapping[IntentState, frozenset[IntentState]] = {
    IntentState.PENDING: frozenset({IntentState.APPLIED, IntentState.FAILED, IntentState.QUARANTINED}),
    IntentState.FAILED: frozenset({IntentState.PENDING, IntentState.APPLIED, IntentState.QUARANTINED}),
    IntentState.QUARANTINED: frozenset({IntentState.PENDING}),
    IntentState.APPLIED: frozenset(),
}


class IntentOrigin(enum.StrEnum):
    """Who created a write intent. The cycle's own are recorded right before its call; the others are
    queued ahead of time and sent by the next cycle's apply step."""

    SYNC = "sync"
    SLA = "sla"  # due date and breach flag (the sweep, clock reconciliation)
    ROUTING = "routing"  # the owner a new MQL was routed to


@dataclass(frozen=True, slots=True)
class WriteIntent:
    """A write the planner decided on, recorded before the API call (the outbox)."""

    target: System
    object: str
    record_id: str
    fields: Mapping[str, Any]
    payload_hash: str


@dataclass(frozen=True, slots=True)
class IntentRecord:
    id: int
    intent: WriteIntent
    state: IntentState
    attempts: int
    last_error: str | None
    run_id: str | None
    created_at: datetime
    updated_at: datetime
    origin: IntentOrigin = field(default_factory=lambda: IntentOrigin.SYNC)
    dispatched_at: datetime | None = None

    @property
    def queued(self) -> bool:
        """Created ahead of time (sweep, routing) and not yet handed to a connector."""
        return self.origin is not IntentOrigin.SYNC and self.dispatched_at is None


@dataclass(frozen=True, slots=True)
class Watermark:
    """An incremental cursor: the last value read and the ids already seen at exactly that value."""

    stream: str
    value: str
    seen_ids: frozenset[str] = frozenset()


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class SyncRun:
    id: str
    kind: str
    started_at: datetime
    status: RunStatus
    epoch: int
    ended_at: datetime | None = None
    counts: Mapping[str, int] = field(default_factory=_empty)
    api_calls: Mapping[str, int] = field(default_factory=_empty)
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    system: System
    object: str
    record_id: str
    reason: str
    cause_fingerprint: str
    first_seen: datetime
    last_seen: datetime
    attempts: int
    released_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SlaClock:
    id: int
    person_id: str
    sla: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime | None = None
    owner_id: str | None = None
    met_at: datetime | None = None
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.met_at is None and self.stopped_at is None


@dataclass(frozen=True, slots=True)
class StageWeekCount:
    """Transitions into ``stage`` during the ISO week starting Monday ``week_start`` (UTC)."""

    stage: str
    week_start: date
    count: int
