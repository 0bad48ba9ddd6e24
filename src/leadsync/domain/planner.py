"""Plan the field writes of one cycle: exactly what changed, nothing else.

Inputs are plain values: what leadsync wants each mapped field to hold (already put through the value
maps), what the target record holds now, and a hash of the last value leadsync wrote there. A field is
written when it is leadsync's to write and differs both from what the target holds and from what we
last wrote. The last condition is what ends sync loops: our own write coming back is not news.

When the target holds something else than the value we wrote *and still want*, two cases look alike and
are told apart by time. The record as pulled was last modified at or before our write: a stale read
(HubSpot's search index lags, an overlap re-read), left alone. It was modified after our write: a CRM
user (or a workflow) overrode a field leadsync owns, and the next write corrects it. A field overridden
again and again (a workflow resetting it) is corrected at most :data:`MAX_CORRECTIONS` times per
:data:`CORRECTION_WINDOW`; beyond that the override stands, skipped as ``override_limit``, until the
window moves on (reliability: sync loops, loop termination).

HubSpot refuses to move ``lifecyclestage`` backwards in one step; such a write is planned as clear then
set, in two requests, and flagged so the connector applies it that way.

The mass-change guard stops a cycle whose plan would touch an implausible share of all people (a
source that suddenly looks empty must never demote everyone).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from leadsync.domain.model import System

Scalar = str | int | float | bool | datetime | None

# HubSpot's default lifecycle stages in the order HubSpot ranks them: "other" comes last, so leaving it
# for any other stage is a backward move that needs clear-then-set like the rest.
HUBSPOT_STAGE_ORDER: tuple[str, ...] = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist",
    "other",
)
HUBSPOT_STAGE_FIELD = "lifecyclestage"

# The loop guard on corrections: a field of a record overridden in its CRM is corrected at most this many
# times within the window, so a workflow that resets it costs a few writes a day, not one every cycle.
MAX_CORRECTIONS = 3
CORRECTION_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """A record to write: ``object`` is ``Lead``/``Contact`` (Salesforce) or ``contacts`` (HubSpot)."""

    system: System
    object: str
    record_id: str


Key = tuple[Target, str]  # (record, field)


@dataclass(frozen=True, slots=True)
class DesiredField:
    target: Target
    field: str
    value: Scalar
    owned_by_leadsync: bool = True
    person_id: str | None = None


@dataclass(frozen=True, slots=True)
class FieldWrite:
    target: Target
    field: str
    value: Scalar
    previous: Scalar
    value_hash: str
    clear_first: bool = False
    person_id: str | None = None
    corrects_override: bool = False  # re-sends our value over a CRM user's override of it
    note: str = ""  # for people (the dry run): why a correction is written


@dataclass(frozen=True, slots=True)
class Skip:
    target: Target
    field: str
    reason: str  # "not_owned", "unchanged", "echo_of_our_write", "override_limit"
    note: str = ""


@dataclass(frozen=True)
class WritePlan:
    writes: tuple[FieldWrite, ...]
    skipped: tuple[Skip, ...]

    def by_target(self) -> dict[Target, list[FieldWrite]]:
        grouped: dict[Target, list[FieldWrite]] = {}
        for write in self.writes:
            grouped.setdefault(write.target, []).append(write)
        return grouped

    def people(self) -> set[str]:
        return {w.person_id for w in self.writes if w.person_id is not None}


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")


def canonical(value: Scalar) -> str:
    """One text form per value, so what an API hands back compares equal to what we meant to write:
    5, 5.0 and "5.0" alike; "2026-01-01T00:00:00.000+0000" and the same instant as a datetime alike.
    Strings that merely look numeric with a leading zero (postcodes) stay text."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        if math.isfinite(number) and number == int(number):
            return str(int(number))
        return repr(round(number, 6))
    if isinstance(value, datetime):
        instant = value.astimezone(UTC) if value.tzinfo else value
        return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
    if _NUMBER.fullmatch(value):
        return canonical(float(value))
    if _DATETIME.match(value):
        try:
            return canonical(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


_CANONICAL_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def same_value(held: Scalar, wanted: Scalar) -> bool:
    """What a target holds is what we want there: equal canonical forms, or instants equal to the second.
    Salesforce keeps no fraction of a second in a Date/Time field, so our 12:00:00.968 reads back as
    12:00:00.000; taking that for a different value would rewrite it whenever the record changes."""
    have, want = canonical(held), canonical(wanted)
    if have == want:
        return True
    return bool(_CANONICAL_INSTANT.fullmatch(have) and _CANONICAL_INSTANT.fullmatch(want)) and have[:19] == want[:19]


def value_hash(value: Scalar) -> str:
    """A short stable hash of a written value (echo suppression keeps these, not the values)."""
    return hashlib.sha256(json.dumps(canonical(value)).encode("utf-8")).hexdigest()[:16]


def plan_writes(
    desired: Iterable[DesiredField],
    current: Mapping[Key, Scalar],
    last_written: Mapping[Key, str],
    *,
    observed_at: Mapping[Target, datetime] | None = None,
    written_at: Mapping[Key, datetime] | None = None,
    corrections: Mapping[Key, Sequence[datetime]] | None = None,
    now: datetime | None = None,
    max_corrections: int = MAX_CORRECTIONS,
    window: timedelta = CORRECTION_WINDOW,
) -> WritePlan:
    """Compare desired values with the targets and our last writes; deterministic order of writes.

    ``observed_at``: each target's server modification time as pulled; ``written_at``: when our last
    write of each field was acknowledged; ``corrections``: when we corrected an override of each field
    before (older ones are ignored, only the ``window`` before ``now`` counts). Without them a held value
    that differs from our last write is taken for a stale read, as it always was.
    """
    writes: list[FieldWrite] = []
    skipped: list[Skip] = []
    for want in sorted(desired, key=lambda d: (d.target, d.field)):
        key = (want.target, want.field)
        if not want.owned_by_leadsync:
            skipped.append(Skip(want.target, want.field, "not_owned"))
            continue
        held = current.get(key)
        if same_value(held, want.value):
            skipped.append(Skip(want.target, want.field, "unchanged"))
            continue
        digest = value_hash(want.value)
        note = ""
        if last_written.get(key) == digest:  # the target holds something else than what we wrote and want
            if not overridden_after_our_write(key, observed_at or {}, written_at or {}):
                skipped.append(Skip(want.target, want.field, "echo_of_our_write"))
                continue
            recent = _recent(corrections.get(key, ()) if corrections else (), now, window)
            if len(recent) >= max_corrections:
                skipped.append(_limit_reached(want, recent, window))
                continue
            note = (f"correcting an override of {want.field} by the CRM "
                    f"(correction {len(recent) + 1} of {max_corrections} within {_hours(window)})")
        writes.append(FieldWrite(
            target=want.target, field=want.field, value=want.value, previous=held, value_hash=digest,
            clear_first=_needs_clear(want, held), person_id=want.person_id, corrects_override=bool(note),
            note=note,
        ))
    return WritePlan(tuple(writes), tuple(skipped))


def _limit_reached(want: DesiredField, recent: Sequence[datetime], window: timedelta) -> Skip:
    resumes = f"after {(recent[0] + window).isoformat()}" if recent else "never (no corrections allowed)"
    return Skip(want.target, want.field, "override_limit",
                f"{want.field} overridden by the CRM again after {len(recent)} corrections within "
                f"{_hours(window)}: the CRM's value stands; corrections resume {resumes}")


def overridden_after_our_write(key: Key, observed_at: Mapping[Target, datetime],
                               written_at: Mapping[Key, datetime]) -> bool:
    """True when the record was modified after our last write of this field (so a value other than ours
    there is somebody's edit, not a read from before our write became visible). Unknown times: False."""
    observed, ours = observed_at.get(key[0]), written_at.get(key)
    return observed is not None and ours is not None and observed > ours


def _recent(times: Iterable[datetime], now: datetime | None, window: timedelta) -> list[datetime]:
    """The correction times within ``window`` before ``now``, oldest first (all of them without ``now``)."""
    return sorted(t for t in times if now is None or now - window < t <= now)


def _hours(window: timedelta) -> str:
    return f"{window.total_seconds() / 3600:g} h"


def corrections_in(history: Iterable[tuple[datetime, Mapping[str, Scalar]]]) -> dict[str, list[datetime]]:
    """When each field was corrected, from our applied writes of one record, oldest first: ``(applied at,
    {field: value})``. A write of a field is a correction when it sends the value our previous write of
    that field sent: the planner re-sends a value it wrote before only over an override."""
    last: dict[str, str] = {}
    found: dict[str, list[datetime]] = {}
    for at, fields in history:
        for name, value in fields.items():
            digest = value_hash(value)
            if last.get(name) == digest:
                found.setdefault(name, []).append(at)
            last[name] = digest
    return found


def _needs_clear(want: DesiredField, held: Scalar) -> bool:
    if want.target.system is not System.HUBSPOT or want.field != HUBSPOT_STAGE_FIELD:
        return False
    if not isinstance(held, str) or not isinstance(want.value, str):
        return False
    order = HUBSPOT_STAGE_ORDER
    return held in order and want.value in order and order.index(want.value) < order.index(held)


def is_echo(incoming: Scalar, last_written_hash: str | None) -> bool:
    """True when a change pulled from a system is just our own write coming back."""
    return last_written_hash is not None and value_hash(incoming) == last_written_hash


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    allowed: bool
    changed_people: int
    population: int
    reason: str


def mass_change_guard(changed_people: int, population: int, *, max_share: float, min_count: int) -> GuardVerdict:
    """Stop when a plan changes more than ``max_share`` of everyone *and* more than ``min_count`` people."""
    share = changed_people / population if population else 0.0
    if changed_people > min_count and share > max_share:
        reason = (f"plan changes {changed_people} of {population} people ({share:.0%}), over the "
                  f"{max_share:.0%} guard; review with --dry-run and raise [daemon] max_change_share if intended")
        return GuardVerdict(False, changed_people, population, reason)
    return GuardVerdict(True, changed_people, population, "within guard")


@dataclass(frozen=True, slots=True)
class SideValue:
    """One system's value of a two-way field, with the server's modification time."""

    system: System
    value: Scalar
    modified_at: datetime | None


def resolve_two_way(base: Scalar, left: SideValue, right: SideValue) -> tuple[Scalar, str]:
    """Decide a field both systems may edit, against the last-synced ``base``.

    Only one side changed: it wins. Both changed to one value: no conflict. Both changed differently:
    the later server timestamp wins; on equal (or missing) timestamps the system name decides, so the
    outcome never depends on which side was processed first.
    """
    left_changed = canonical(left.value) != canonical(base)
    right_changed = canonical(right.value) != canonical(base)
    if not left_changed and not right_changed:
        return base, "unchanged"
    if left_changed and not right_changed:
        return left.value, f"{left.system} changed it"
    if right_changed and not left_changed:
        return right.value, f"{right.system} changed it"
    if canonical(left.value) == canonical(right.value):
        return left.value, "both changed it alike"
    first, second = sorted((left, right), key=lambda s: s.system.value)
    if first.modified_at and second.modified_at and first.modified_at != second.modified_at:
        winner = first if first.modified_at > second.modified_at else second
        return winner.value, f"{winner.system} changed it last"
    return first.value, f"simultaneous edits; {first.system} wins ties"
