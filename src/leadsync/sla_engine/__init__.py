"""The SLA engine: clocks from the ledger's history, and the sweep that acts on breaches.

Public API::

    reconcile(uow, ruleset.sla, person_id, now, owner_id=...)   # one person, in the caller's unit of work
    reconcile_many(uow, ruleset.sla, person_ids, now, owners=...)  # the sync engine, once per flush
    sweep(ledger, ruleset, now, epoch=..., notifier=..., warned_until=previous.swept_at) -> SweepResult
    queue_sla_fields(uow, ruleset.fields, person_id, {"sla_due_at": due}, now)  # due-date write-back
"""

from leadsync.sla_engine.clocks import ClockChanges, person_events, reconcile, reconcile_many
from leadsync.sla_engine.sweep import SweepResult, return_to_pool, sweep, sweep_people
from leadsync.sla_engine.writes import queue_sla_fields

__all__ = ["ClockChanges", "SweepResult", "person_events", "queue_sla_fields", "reconcile", "reconcile_many",
           "return_to_pool", "sweep", "sweep_people"]
