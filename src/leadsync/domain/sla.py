"""SLA clocks between marketing and sales, measured in business time.

A definition says which event starts a clock (entering a lifecycle status, or an activity), which event
stops it, how much business time is allowed, when to warn, and what to do on a breach. Everything here is
pure: the SLA engine feeds it a person's ordered events from the ledger and the current instant.

Verdicts are decided on instants, the way people read them: a clock that stopped at or before its due
instant is met, one that stopped after it is breached, and one still running is breached from the due
instant on (the time is used up and nothing happened). ``add_business_time`` puts an allowance that runs
out exactly at a closing on that closing ("due Friday 17:00"), so an acceptance on Saturday is late.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leadsync.domain.calendar import BusinessCalendar, add_business_time, business_time_between

ZERO = timedelta(0)


class EventKind(enum.StrEnum):
    STATUS = "status"  # the person entered the lifecycle status ``name``
    ACTIVITY = "activity"  # an activity of type ``name`` happened


@dataclass(frozen=True, slots=True)
class ClockEvent:
    """One thing in a person's history an SLA clock may react to."""

    kind: EventKind
    name: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Trigger:
    """A set of events: entering any of ``statuses`` or any activity of ``activities`` (file order kept)."""

    statuses: tuple[str, ...] = ()
    activities: tuple[str, ...] = ()

    def matches(self, event: ClockEvent) -> bool:
        names = self.statuses if event.kind is EventKind.STATUS else self.activities
        return event.name in names

    def __bool__(self) -> bool:
        return bool(self.statuses or self.activities)


class BreachAction(enum.StrEnum):
    WRITE_FIELDS = "write_fields"  # write the due date and breach flag back to both CRMs
    NOTIFY = "notify"  # send the configured notifications
    RETURN_TO_POOL = "return_to_pool"  # recycle to the shared pool for reassignment (a recorded move)


@dataclass(frozen=True, slots=True)
class SlaDefinition:
    """One clock. ``restart`` events (e.g. each follow-up touch) stop the running clock as met-or-late and
    start the next one at the same instant; ``stop`` events end it for good (accepted, rejected, left the
    stage). An event that starts a clock while one runs is ignored: the first start counts."""

    name: str
    start: Trigger
    stop: Trigger
    within: timedelta
    warn_after: timedelta | None = None
    on_breach: frozenset[BreachAction] = frozenset()
    restart: Trigger = field(default_factory=Trigger)
    description: str = ""

    def __post_init__(self) -> None:
        if self.within <= ZERO:
            raise ValueError(f"SLA {self.name!r}: allowed business time must be positive, got {self.within}")
        if self.warn_after is not None and not ZERO < self.warn_after < self.within:
            raise ValueError(f"SLA {self.name!r}: the warning must come after the start and before the due time")
        if not self.start:
            raise ValueError(f"SLA {self.name!r}: nothing starts the clock")
        if not (self.stop or self.restart):
            raise ValueError(f"SLA {self.name!r}: nothing stops the clock")


def _key(path: Iterable[str | int]) -> str:
    # Same rendering as leadsync.rules.source.format_key (the core may not import the rules layer).
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(frozen=True, slots=True)
class SlaRules:
    """The calendar, the clocks in file order, and the rule-set version that travels with every verdict."""

    calendar: BusinessCalendar
    definitions: tuple[SlaDefinition, ...]
    version: str

    def status_paths(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        """Every status name a clock refers to, with its key path in ``sla.toml`` (``sla[i].stop.statuses[j]``)."""
        for index, definition in enumerate(self.definitions):
            for part in ("start", "stop", "restart"):
                trigger: Trigger = getattr(definition, part)
                for position, status in enumerate(trigger.statuses):
                    yield status, ("sla", index, part, "statuses", position)

    def referenced_statuses(self) -> set[tuple[str, str]]:
        """(status name, key path) pairs, for the cross-check against the lifecycle file."""
        return {(status, _key(path)) for status, path in self.status_paths()}

    def by_name(self, name: str) -> SlaDefinition:
        for definition in self.definitions:
            if definition.name == name:
                return definition
        raise KeyError(name)


class ClockStatus(enum.StrEnum):
    RUNNING = "running"
    WARNING = "warning"  # running and past the warning point
    MET = "met"
    BREACHED = "breached"  # stopped after the due time, or still running at or after it


@dataclass(frozen=True, slots=True)
class ClockState:
    """One clock as of ``now``: ``elapsed`` is business time used; ``remaining`` what is left (never
    negative); ``overdue`` business time past the allowance (zero unless breached)."""

    started_at: datetime
    due_at: datetime
    warn_at: datetime | None
    stopped_at: datetime | None
    state: ClockStatus
    elapsed: timedelta
    remaining: timedelta
    overdue: timedelta


def due_at(defn: SlaDefinition, cal: BusinessCalendar, started_at: datetime) -> datetime:
    """When the clock started at ``started_at`` runs out (UTC)."""
    return add_business_time(cal, started_at, defn.within)


def evaluate(
    defn: SlaDefinition, cal: BusinessCalendar, started_at: datetime, stopped_at: datetime | None, now: datetime
) -> ClockState:
    """The clock as of ``now``. A stop later than ``now`` has not happened yet as of ``now`` and is ignored,
    so reports can evaluate history as of any past instant."""
    if now < started_at:
        raise ValueError(f"now ({now.isoformat()}) is before the clock started ({started_at.isoformat()})")
    if stopped_at is not None and stopped_at < started_at:
        raise ValueError(f"clock stopped ({stopped_at.isoformat()}) before it started ({started_at.isoformat()})")
    due = due_at(defn, cal, started_at)
    warn = add_business_time(cal, started_at, defn.warn_after) if defn.warn_after is not None else None
    stop = stopped_at if stopped_at is not None and stopped_at <= now else None
    end = stop if stop is not None else now
    elapsed = business_time_between(cal, started_at, end)
    if stop is not None:
        state = ClockStatus.MET if stop <= due else ClockStatus.BREACHED
    elif now >= due:
        state = ClockStatus.BREACHED
    elif warn is not None and now >= warn:
        state = ClockStatus.WARNING
    else:
        state = ClockStatus.RUNNING
    return ClockState(
        started_at=started_at.astimezone(due.tzinfo),
        due_at=due,
        warn_at=warn,
        stopped_at=stop.astimezone(due.tzinfo) if stop is not None else None,
        state=state,
        elapsed=elapsed,
        remaining=max(ZERO, defn.within - elapsed),
        overdue=max(ZERO, elapsed - defn.within),
    )


def clocks_for(defn: SlaDefinition, events: Sequence[ClockEvent]) -> list[tuple[datetime, datetime | None]]:
    """The clocks ``events`` (one person's history, oldest first) start and stop: (started_at, stopped_at),
    with ``None`` for a clock still running after the last event. Events at the same instant are taken
    in the order given; a stop event never starts a clock in the same step (that is what restart is for)."""
    clocks: list[tuple[datetime, datetime | None]] = []
    running_since: datetime | None = None
    previous: datetime | None = None
    for event in events:
        if previous is not None and event.at < previous:
            raise ValueError(f"events must be ordered by time: {event.at.isoformat()} after {previous.isoformat()}")
        previous = event.at
        if running_since is None:
            if defn.start.matches(event):
                running_since = event.at
        elif defn.stop.matches(event):
            clocks.append((running_since, event.at))
            running_since = None
        elif defn.restart.matches(event):
            clocks.append((running_since, event.at))
            running_since = event.at
    if running_since is not None:
        clocks.append((running_since, None))
    return clocks
