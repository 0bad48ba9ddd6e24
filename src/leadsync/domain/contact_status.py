"""Contact status: where sales stands in reaching a person, derived from call, email and meeting outcomes.

This is a separate field from the lifecycle status on purpose: "left voicemail" or "meeting booked"
says how outreach is going, not how far along the funnel someone is. Mixing the two pollutes the funnel.

Canonical activity properties the adapters provide (lower-case values):

* ``call`` activities: ``disposition`` one of connected, left_voicemail, no_answer, busy, wrong_number,
  bad_timing, not_interested; ``direction`` inbound|outbound. A call without a known disposition counts
  as an attempt (someone dialled) and is reported in the change's facts, never dropped silently.
* ``meeting`` activities: ``outcome`` one of scheduled, completed, rescheduled, no_show, canceled (a
  meeting without a known outcome counts as scheduled).
* one-to-one sales emails: ``email_sent`` / ``email_reply`` activities carrying ``direction``
  outbound|inbound (inbound = a reply). Marketing sends carry no ``direction`` and are not outreach.

Derivation replays the outcomes in time order. An outcome mapped to a status sets it (a connect also
resets the attempt count); an outcome mapped to "attempt" counts one attempt since the last status-setting
outcome: 1..N attempts give the attempting statuses, and ``unresponsive_after`` attempts without a
connect give Unresponsive. With a window, only attempts in the last ``window_days`` count; when every
attempt has aged out, the status falls back to the last outcome's (or New): a fresh cadence starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from leadsync.domain.model import Activity, ContactStatusChange

CALL_DISPOSITIONS: tuple[str, ...] = (
    "connected", "left_voicemail", "no_answer", "busy", "wrong_number", "bad_timing", "not_interested",
)
MEETING_OUTCOMES: tuple[str, ...] = ("scheduled", "completed", "rescheduled", "no_show", "canceled")
EMAIL_DIRECTIONS: tuple[str, ...] = ("outbound", "inbound")
# Channel -> the canonical values the rule file must route; each value must lead somewhere.
CHANNEL_VALUES: Mapping[str, tuple[str, ...]] = {
    "call": CALL_DISPOSITIONS, "meeting": MEETING_OUTCOMES, "email": EMAIL_DIRECTIONS,
}
EMAIL_TYPES: frozenset[str] = frozenset({"email_sent", "email_reply"})
# Every activity type that can carry an outcome; the rest (page views, opens ...) are skipped unread.
_OUTREACH_TYPES: frozenset[str] = frozenset({"call", "meeting"}) | EMAIL_TYPES
ATTEMPT = "attempt"  # the routing target meaning "one more attempt", not a status


@dataclass(frozen=True, slots=True)
class ContactStatusRules:
    statuses: tuple[str, ...]
    new: str
    attempting: tuple[str, ...]  # status after the 1st, 2nd ... attempt; the last one repeats
    unresponsive: str
    unresponsive_after: int
    window_days: int | None
    routes: Mapping[str, Mapping[str, str]]  # channel -> value -> status name or ATTEMPT
    version: str


class _Event(NamedTuple):
    """A NamedTuple: built per outreach activity, and cheaper to build than a frozen dataclass."""

    at: datetime
    activity: Activity
    channel: str
    value: str | None  # None: a call without a known disposition


def _event(activity: Activity) -> _Event | None:
    props = activity.properties
    if activity.type == "call":
        value = props.get("disposition")
        return _Event(activity.occurred_at, activity, "call", value if value in CALL_DISPOSITIONS else None)
    if activity.type == "meeting":
        # A meeting without a known outcome is on the calendar: HubSpot's own default outcome is "scheduled".
        outcome = props.get("outcome")
        known = outcome if outcome in MEETING_OUTCOMES else "scheduled"
        return _Event(activity.occurred_at, activity, "meeting", known)
    if activity.type in EMAIL_TYPES:
        direction = props.get("direction")
        return _Event(activity.occurred_at, activity, "email", direction) if direction in EMAIL_DIRECTIONS else None
    return None


def _replay_order(event: _Event) -> tuple[datetime, str, str]:
    return event.at, event.activity.source.value, event.activity.source_id


def derive(person_id: str, current: str | None, activities: Iterable[Activity], rules: ContactStatusRules,
           now: datetime) -> ContactStatusChange | None:
    """The contact status the outreach history implies, as a change from ``current`` (None if unchanged)."""
    # Most activities are not outreach: test the type before building an event (derive runs per person).
    events = [e for a in activities if a.type in _OUTREACH_TYPES and (e := _event(a)) is not None and e.at <= now]
    if len(events) > 1:
        events.sort(key=_replay_order)
    base, base_event = rules.new, None
    attempts: list[_Event] = []
    routes = rules.routes
    for event in events:
        target = ATTEMPT if event.value is None else routes[event.channel][event.value]
        if target == ATTEMPT:
            attempts.append(event)
        else:
            base, base_event, attempts = target, event, []
    counted = attempts
    if rules.window_days is not None and attempts:
        horizon = now - timedelta(days=rules.window_days)
        counted = [e for e in attempts if e.at >= horizon]
    status, rule, reason = _status_from(base, base_event, attempts, counted, rules)
    if status == current:
        return None
    facts: dict[str, Any] = {"attempts": len(counted)}
    last = counted[-1] if counted else base_event
    if last is not None:
        facts.update(channel=last.channel, value=last.value, activity=last.activity.source_id,
                     occurred_at=last.at.isoformat())
    unknown = sum(1 for e in counted if e.value is None) if counted else 0
    if unknown:
        facts["calls_without_disposition"] = unknown
    if rules.window_days is not None:
        facts["window_days"] = rules.window_days
    return ContactStatusChange(person_id, current, status, now, rule, rules.version, reason, facts)


def _status_from(base: str, base_event: _Event | None, attempts: list[_Event], counted: list[_Event],
                 rules: ContactStatusRules) -> tuple[str, str, str]:
    """(status, rule, reason) from the last status-setting outcome and the attempts after it."""
    n = len(counted)
    if n >= rules.unresponsive_after:
        return rules.unresponsive, "attempts.unresponsive", f"{n} attempts without a connect"
    if n > 0:
        status = rules.attempting[min(n, len(rules.attempting)) - 1]
        return status, "attempts.count", f"{n} attempt{'s' if n > 1 else ''} without a connect"
    if attempts:  # there were attempts, all outside the window
        return base, "attempts.window_expired", f"no attempt in the last {rules.window_days} days"
    if base_event is None:
        return base, "new", "no outreach yet"
    return base, f"{base_event.channel}.{base_event.value}", f"{base_event.channel} outcome {base_event.value}"
