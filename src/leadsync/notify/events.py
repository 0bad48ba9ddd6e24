"""What leadsync tells people about, and the two wire shapes it says it in.

Three events: an MQL handed to sales, an SLA clock close to its due time, an SLA breach. Each becomes a
plain JSON document (for any webhook receiver) or a Slack-compatible incoming-webhook message (``text``
plus ``blocks``; Mattermost and Teams' Slack-compatible hooks read the same shape).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadsync.ledger import SlaClock


class NotificationKind(enum.StrEnum):
    MQL_HANDOFF = "mql_handoff"
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"


@dataclass(frozen=True)
class Notification:
    kind: NotificationKind
    person_id: str
    at: datetime
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable per event, so a receiver can drop a repeat delivery (a retry after a lost response)."""
        text = f"{self.kind.value}|{self.person_id}|{self.at.astimezone(UTC).isoformat()}|{self.details.get('sla', '')}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def mql_handoff(person_id: str, at: datetime, *, email: str | None = None, owner: str | None = None,
                queue: str | None = None, score: float | None = None, grade: str | None = None,
                reason: str = "") -> Notification:
    who = email or person_id
    to = owner or (f"queue {queue}" if queue else "the shared pool")
    details = {"email": email, "owner": owner, "queue": queue, "score": score, "grade": grade, "reason": reason}
    return Notification(NotificationKind.MQL_HANDOFF, person_id, at, f"New MQL {who} handed to {to}",
                        {k: v for k, v in details.items() if v not in (None, "")})


def _clock_details(clock: SlaClock) -> dict[str, Any]:
    details = {"sla": clock.sla, "owner": clock.owner_id, "started_at": _iso(clock.started_at),
               "due_at": _iso(clock.due_at), "clock_id": clock.id}
    return {k: v for k, v in details.items() if v is not None}


def sla_warning(clock: SlaClock, now: datetime) -> Notification:
    owner = f" ({clock.owner_id})" if clock.owner_id else ""
    return Notification(NotificationKind.SLA_WARNING, clock.person_id, now,
                        f"SLA {clock.sla} for {clock.person_id}{owner} is due at {_iso(clock.due_at)}",
                        _clock_details(clock))


def sla_breach(clock: SlaClock, now: datetime, actions: tuple[str, ...] = ()) -> Notification:
    owner = f" ({clock.owner_id})" if clock.owner_id else ""
    details = {**_clock_details(clock), "actions": list(actions)}
    return Notification(NotificationKind.SLA_BREACH, clock.person_id, now,
                        f"SLA {clock.sla} breached for {clock.person_id}{owner}: due {_iso(clock.due_at)}", details)


def json_payload(note: Notification) -> dict[str, Any]:
    return {"id": note.id, "event": note.kind.value, "person_id": note.person_id, "at": _iso(note.at),
            "summary": note.summary, "details": dict(note.details)}


EMOJI = {NotificationKind.MQL_HANDOFF: ":incoming_envelope:", NotificationKind.SLA_WARNING: ":hourglass:",
         NotificationKind.SLA_BREACH: ":rotating_light:"}


def slack_payload(note: Notification) -> dict[str, Any]:
    facts = [{"type": "mrkdwn", "text": f"*{key}:* {value}"} for key, value in sorted(note.details.items())][:10]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{EMOJI[note.kind]} {note.summary}"}},
    ]
    if facts:
        blocks.append({"type": "section", "fields": facts})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"leadsync · {note.kind.value} · {_iso(note.at)}"}]})
    return {"text": note.summary, "blocks": blocks}
