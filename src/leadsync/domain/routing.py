"""Assign new MQLs to owners: segment rules pick a queue, weighted round robin picks a rep.

Reps are named by email, because one person is a Salesforce User *and* a HubSpot owner; adapters map the
email to each system's owner id. Within a queue the pick is *smooth weighted round robin* (each rep's
credit grows by its weight each turn, the highest credit wins and pays back the total): deterministic,
exactly proportional to the weights over a full cycle, and never handing one rep a long run in a row.
Inactive reps and reps at capacity are skipped without losing their place. When nobody in the queue
can take the lead, it stays in the queue and the reason says why.

The *pool* is where a lead goes when the SLA sweep takes it back from a rep who never followed it up
(``[pool]`` in routing.toml): a Salesforce queue (or a placeholder user) that owns it meanwhile, the
HubSpot owner it gets (none: cleared) and the Salesforce lead status it gets (the accepted status the rep
had set would otherwise read as the next rep's acceptance). When the person qualifies again they are
routed anew, and :func:`route` is told to leave out the rep the lead was taken from (``exclude``).

Pure: the round-robin credits are state passed in and handed back; the caller stores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from leadsync.domain.model import Person


@dataclass(frozen=True, slots=True)
class QueueMember:
    email: str
    weight: int = 1
    capacity: int | None = None  # open leads at most; None: no limit


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    members: tuple[QueueMember, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """Person field tests of one routing rule; every given test must hold."""

    field: str
    any_of: tuple[str, ...] = ()  # case-insensitive equality
    min_value: float | None = None
    max_value: float | None = None

    def holds(self, person: Person) -> bool:
        value = person.get(self.field)
        if value is None:
            return False
        if self.any_of and str(value).strip().lower() not in self.any_of:
            return False
        if self.min_value is not None or self.max_value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return False
            if self.min_value is not None and number < self.min_value:
                return False
            if self.max_value is not None and number > self.max_value:
                return False
        return True


@dataclass(frozen=True, slots=True)
class RoutingRule:
    name: str
    queue: str
    conditions: tuple[Condition, ...]
    where: str = ""

    def matches(self, person: Person) -> bool:
        return all(c.holds(person) for c in self.conditions)


@dataclass(frozen=True, slots=True)
class PoolOwner:
    """Who owns a lead the SLA sweep returned to the pool, until routing hands it to the next rep."""

    salesforce_owner_id: str  # a queue (00G...) or a user (005...)
    hubspot_owner_id: str = ""  # "" clears the HubSpot owner
    salesforce_status: str | None = None  # Lead.Status of a returned lead (None: left as it is)

    @property
    def salesforce_is_queue(self) -> bool:
        """Queues own leads only: a Salesforce Contact cannot be given to one."""
        return self.salesforce_owner_id.startswith("00G")


@dataclass(frozen=True)
class RoutingRules:
    queues: Mapping[str, Queue]
    rules: tuple[RoutingRule, ...]  # first match wins
    default_queue: str
    version: str = ""
    pool: PoolOwner | None = None  # None: a returned lead stays with its rep in the CRMs


@dataclass(frozen=True, slots=True)
class RepStatus:
    active: bool = True
    open_leads: int = 0


@dataclass(frozen=True, slots=True)
class Assignment:
    queue: str
    owner_email: str | None  # None: no one could take it; it waits in the queue
    rule: str
    reason: str


@dataclass(frozen=True)
class RoutingState:
    """Round-robin credits per queue and rep, plus leads assigned in this run (capacity counts them)."""

    credits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    assigned: Mapping[str, int] = field(default_factory=dict)


def pick_queue(person: Person, rules: RoutingRules) -> tuple[str, str]:
    for rule in rules.rules:
        if rule.matches(person):
            return rule.queue, rule.name
    return rules.default_queue, "default"


def route(person: Person, rules: RoutingRules, reps: Mapping[str, RepStatus], state: RoutingState,
          exclude: frozenset[str] = frozenset()) -> tuple[Assignment, RoutingState]:
    """Pick the queue and the rep for one new MQL; returns the assignment and the next state.

    ``exclude``: reps (emails) who must not get this lead, e.g. the rep the SLA sweep took it back from.
    They are skipped like an inactive rep: they keep their round-robin credit for the next lead."""
    queue_name, rule = pick_queue(person, rules)
    queue = rules.queues[queue_name]
    credits = dict(state.credits.get(queue_name, {}))
    assigned = dict(state.assigned)

    eligible: list[QueueMember] = []
    skipped: list[str] = []
    for member in queue.members:
        status = reps.get(member.email, RepStatus(active=False))
        load = status.open_leads + assigned.get(member.email, 0)
        if member.email in exclude:
            skipped.append(f"{member.email} had it before")
        elif not status.active:
            skipped.append(f"{member.email} inactive")
        elif member.capacity is not None and load >= member.capacity:
            skipped.append(f"{member.email} at capacity ({load}/{member.capacity})")
        else:
            eligible.append(member)

    if not eligible:
        why = "; ".join(skipped) or "queue has no members"
        new_state = RoutingState({**state.credits, queue_name: credits}, assigned)
        return Assignment(queue_name, None, rule, f"nobody in {queue_name} can take it: {why}"), new_state

    total = sum(m.weight for m in eligible)
    for member in eligible:
        credits[member.email] = credits.get(member.email, 0) + member.weight
    # Highest credit wins; ties go to the earlier member in the file (deterministic).
    chosen = max(eligible, key=lambda m: (credits[m.email], -queue.members.index(m)))
    credits[chosen.email] -= total
    assigned[chosen.email] = assigned.get(chosen.email, 0) + 1
    reason = f"{rule}: queue {queue_name}, weighted round robin"
    if skipped:
        reason += f" (skipped {', '.join(skipped)})"
    return Assignment(queue_name, chosen.email, rule, reason), RoutingState(
        {**state.credits, queue_name: credits}, assigned,
    )
