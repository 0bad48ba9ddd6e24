"""What the plans of one cycle add up to, kept as counts and record ids instead of the plans themselves.

The mass-change guard, the run record, the dry run's API-call estimate and the report need totals over
every person of the cycle; a streamed cycle computes each chunk of plans, adds it here, and lets it go.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from leadsync.domain.model import System
from leadsync.domain.planner import FieldWrite
from leadsync.sync.compute import PersonPlan

# Records per write call the real APIs take (sObject Collections; HubSpot batch update).
WRITE_BATCH: Mapping[System, int] = {System.SALESFORCE: 200, System.HUBSPOT: 100}


@dataclass
class PlanTotals:
    people: int = 0
    writes: int = 0
    transitions: int = 0
    contact_changes: int = 0
    held: int = 0
    changed_people: int = 0  # what the mass-change guard weighs
    corrections: int = 0  # writes that correct a CRM user's override of a field leadsync owns
    skipped: Counter[str] = field(default_factory=Counter)
    writes_per_field: Counter[str] = field(default_factory=Counter)  # "system.field" -> writes
    transitions_per_status: Counter[str] = field(default_factory=Counter)
    contact_per_status: Counter[str] = field(default_factory=Counter)
    targets: dict[tuple[System, str], set[str]] = field(default_factory=dict)  # record ids written, per object
    cleared: dict[tuple[System, str], set[str]] = field(default_factory=dict)  # ... and those cleared first

    def add(self, plans: Iterable[PersonPlan], retrying: set[str]) -> None:
        for plan in plans:
            self.people += 1
            self.writes += len(plan.writes)
            self.transitions += len(plan.transitions)
            change = plan.evaluation.contact_change
            if change is not None:
                self.contact_changes += 1
                self.contact_per_status[change.to_status] += 1
            self.transitions_per_status.update(t.to_status for t in plan.transitions)
            self.writes_per_field.update(f"{w.target.system.value}.{w.field}" for w in plan.writes)
            self.corrections += sum(1 for w in plan.writes if w.corrects_override)
            self.held += len(plan.held)
            self.skipped.update(plan.skipped)
            # People met for the first time are created, not changed: a first full sync is not a mass
            # change. Retrying writes that already failed once is not a new change either.
            if plan.known_before and (plan.transitions or (plan.writes and plan.person_id not in retrying)):
                self.changed_people += 1
            self._add_writes(plan.writes)

    def _add_writes(self, writes: Iterable[FieldWrite]) -> None:
        for w in writes:
            key = (w.target.system, w.target.object)
            self.targets.setdefault(key, set()).add(w.target.record_id)
            if w.clear_first:
                self.cleared.setdefault(key, set()).add(w.target.record_id)

    def records_written(self) -> dict[str, int]:
        """Records the plans write to, per system."""
        out: dict[str, int] = {}
        for (system, _obj), ids in self.targets.items():
            out[system.value] = out.get(system.value, 0) + len(ids)
        return out

    def write_calls(self) -> dict[str, int]:
        """The write calls the plans need: full batches per system and object, plus one per clear-then-set
        batch."""
        calls: dict[str, int] = {}
        for (system, obj), ids in self.targets.items():
            size = WRITE_BATCH[system]
            extra = math.ceil(len(self.cleared.get((system, obj), ())) / size)
            calls[system.value] = calls.get(system.value, 0) + math.ceil(len(ids) / size) + extra
        return calls
