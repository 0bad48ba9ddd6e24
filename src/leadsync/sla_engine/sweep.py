"""The SLA sweep the daemon runs every few minutes: record breaches and take the configured actions.

For every open clock whose due time has passed and whose breach is not yet recorded, in one unit of work:
record the breach; ``write_fields``: queue intents setting the breach flag on the person's CRM records;
``return_to_pool``: stop the clock, record a RECYCLE move and a ``returned`` assignment row, close the
person's other clocks that move ends, and take the lead away from the rep in both CRMs: queued intents
(origin ``routing``, sent by the next cycle) give it to routing.toml's ``[pool]`` owner and reset its
Salesforce status (see :mod:`leadsync.domain.routing`). The lead then waits in the pool, where reps can
claim it, until the person qualifies as MQL again on new evidence: the cycle routes them anew, never to
the rep it was taken from (``leadsync.sync.followup``), and that rep gets the hand-off. Why not hand it on
at once: a recycled lead is not an MQL, and routing assigns MQLs; the SLA clocks and the hand-off start
from MQL. Without ``[pool]`` the CRMs keep the rep and the sweep says so in its problems. Clocks whose
warning point passed since the previous sweep get a warning. Notifications go out only after the unit of
work committed (a rolled-back sweep must not announce a breach), and never block: see ``leadsync.notify``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from leadsync.domain.lifecycle import IllegalMove, named_move
from leadsync.domain.model import Cause, CauseKind, Move, Transition
from leadsync.domain.sla import BreachAction, SlaDefinition
from leadsync.ledger import AssignmentStatus, Ledger, NewAssignment, SlaClock, UnitOfWork
from leadsync.ledger.schema import sla_clocks
from leadsync.ledger.sla import clock_from_row
from leadsync.notify import Notification, Notifier, sla_breach, sla_warning
from leadsync.rules.ruleset import RuleSet
from leadsync.sla_engine.clocks import reconcile
from leadsync.sla_engine.writes import queue_pool_owner, queue_sla_fields

POOL_REASON = "returned to the pool: no follow-up in time"
NO_POOL = ("routing.toml has no [pool]: the lead stays with its rep in both CRMs (Salesforce owner and status, "
           "HubSpot owner) and is routed again only if it qualifies anew")


@dataclass
class SweepResult:
    swept_at: datetime  # pass it as ``warned_until`` to the next sweep
    breached: list[SlaClock] = field(default_factory=list)
    warned: list[SlaClock] = field(default_factory=list)
    intents: int = 0
    returned_to_pool: list[Transition] = field(default_factory=list)
    notified: int = 0
    problems: list[str] = field(default_factory=list)


def _open_due(conn: sa.Connection, now: datetime, limit: int) -> list[SlaClock]:
    c = sla_clocks
    query = sa.select(c).where(c.c.met_at.is_(None), c.c.stopped_at.is_(None), c.c.breached_at.is_(None),
                               c.c.due_at <= now).order_by(c.c.due_at, c.c.id).limit(limit)
    return [clock_from_row(r) for r in conn.execute(query)]


def _warnings(conn: sa.Connection, after: datetime | None, now: datetime) -> list[SlaClock]:
    c = sla_clocks
    query = sa.select(c).where(c.c.met_at.is_(None), c.c.stopped_at.is_(None), c.c.breached_at.is_(None),
                               c.c.warn_at.is_not(None), c.c.warn_at <= now, c.c.due_at > now)
    if after is not None:
        query = query.where(c.c.warn_at > after)
    return [clock_from_row(r) for r in conn.execute(query.order_by(c.c.warn_at, c.c.id))]


def sweep(ledger: Ledger, ruleset: RuleSet, now: datetime, *, epoch: int, notifier: Notifier | None = None,
          warned_until: datetime | None = None, run_id: str | None = None, limit: int = 5_000) -> SweepResult:
    """One sweep as of ``now`` (fenced by the leader ``epoch``). ``warned_until`` is the previous sweep's
    ``swept_at``: warnings whose time came before it were already sent (None: send every warning due)."""
    result = SweepResult(swept_at=now)
    outgoing: list[Notification] = []
    definitions = {d.name: d for d in ruleset.sla.definitions}
    with ledger.unit_of_work(epoch=epoch) as uow:
        for clock in _open_due(uow.connection, now, limit):
            defn = definitions.get(clock.sla)
            if defn is None:
                result.problems.append(f"clock {clock.id} of person {clock.person_id}: SLA {clock.sla!r} is no "
                                       "longer defined in sla.toml; left as it is")
                continue
            if not uow.sla.mark_breached(clock.id, now):
                continue  # another sweep got there first
            result.breached.append(clock)
            _act(uow, ruleset, defn, clock, now, epoch, run_id, result)
            if BreachAction.NOTIFY in defn.on_breach:
                outgoing.append(sla_breach(clock, now, tuple(sorted(a.value for a in defn.on_breach))))
        for clock in _warnings(uow.connection, warned_until, now):
            result.warned.append(clock)
            outgoing.append(sla_warning(clock, now))
    if notifier is not None:
        result.notified = sum(1 for note in outgoing if notifier.submit(note))
    return result


def _act(uow: UnitOfWork, ruleset: RuleSet, defn: SlaDefinition, clock: SlaClock, now: datetime, epoch: int,
         run_id: str | None, result: SweepResult) -> None:
    if BreachAction.WRITE_FIELDS in defn.on_breach:
        result.intents += len(queue_sla_fields(uow, ruleset.fields, clock.person_id, {"sla_breached": True}, now,
                                               run_id=run_id))
    if BreachAction.RETURN_TO_POOL in defn.on_breach:
        moved = return_to_pool(uow, ruleset, defn, clock, now, epoch=epoch, run_id=run_id)
        if isinstance(moved, str):
            result.problems.append(moved)
            return
        result.returned_to_pool.append(moved)
        if ruleset.routing.pool is None:
            result.problems.append(f"person {clock.person_id} returned to the pool, but {NO_POOL}")
        else:
            result.intents += len(queue_pool_owner(uow, ruleset.routing.pool, clock.person_id, now, run_id=run_id))


def return_to_pool(uow: UnitOfWork, ruleset: RuleSet, defn: SlaDefinition, clock: SlaClock, now: datetime, *,
                   epoch: int, run_id: str | None) -> Transition | str:
    """Stop the clock and recycle the person (a recorded move, with a ``returned`` assignment row); a message
    instead when the lifecycle rules do not allow it (a Customer is never recycled). The pool owner's
    writes are the caller's (:func:`leadsync.sla_engine.writes.queue_pool_owner`)."""
    current = uow.transitions.current_status(clock.person_id)
    hours = defn.within.total_seconds() / 3600
    reason = f"no follow-up within {hours:g} business hours (SLA {defn.name}); back to the pool for reassignment"
    try:
        move = named_move(clock.person_id, current, Move.RECYCLE, None, reason,
                          Cause(CauseKind.RULE, f"sla:{defn.name}"), ruleset.lifecycle, now)
    except IllegalMove as exc:
        return f"person {clock.person_id}: cannot return to the pool ({exc})"
    uow.sla.stop(clock.person_id, clock.sla, now, POOL_REASON)
    uow.transitions.append([move], run_id=run_id, epoch=epoch)
    # The next cycle evaluates the person, so both CRMs learn the new status (nothing else would bring
    # them up: the move happened in the ledger, not in a CRM).
    uow.sync.mark_dirty([clock.person_id], now)
    # Recorded beside the assignments: the rep no longer counts the lead as open, and when the person
    # qualifies again while the CRM still names that rep, routing hands the lead on.
    last = uow.assignments.latest_for([clock.person_id]).get(clock.person_id)
    uow.assignments.add_many([NewAssignment(
        clock.person_id, AssignmentStatus.RETURNED, last.queue if last else "", f"sla:{defn.name}", reason, now,
        owner_email=last.owner_email if last else None,
        salesforce_owner_id=last.salesforce_owner_id if last else None,
        hubspot_owner_id=last.hubspot_owner_id if last else None,
    )], run_id=run_id, epoch=epoch)
    reconcile(uow, ruleset.sla, clock.person_id, now, fields=ruleset.fields, run_id=run_id)  # ends the other clocks
    return move


def sweep_people(ledger: Ledger, ruleset: RuleSet, person_ids: Sequence[str], now: datetime, *, epoch: int,
                 owners: dict[str, str] | None = None) -> int:
    """Reconcile the clocks of ``person_ids`` in one unit of work (for callers outside a sync cycle, e.g.
    after a backfill); returns how many clocks started or closed."""
    changed = 0
    with ledger.unit_of_work(epoch=epoch) as uow:
        for person in person_ids:
            changes = reconcile(uow, ruleset.sla, person, now, owner_id=(owners or {}).get(person),
                                fields=ruleset.fields)
            changed += len(changes.started) + len(changes.met)
    return changed
