"""What follows a person's history in the same unit of work: routing new MQLs, SLA clocks, the hand-off.

The :class:`~leadsync.sync.applier.Applier` calls :meth:`FollowUp.record` inside the unit of work that
commits a flush's transitions and score snapshots, so history, clocks and assignments commit together or
not at all (a crash cannot leave an MQL without its clock or its assignment; the person stays marked and
the next cycle does all of it again). Everything is batched per flush: a few reads for the whole batch.

**Routing.** A person whose transitions this cycle enter an MQL-role status is routed with
:func:`leadsync.domain.routing.route` when nobody in sales owns them yet, which means the CRM owner is
missing, a queue (domain: "routed to an owner or a queue"; lifecycle: a queue has not accepted anything),
a deactivated user, the integration user leadsync writes as (records created through the API default to
it), the rep the SLA sweep took the lead back from, or routing.toml's pool owner (a placeholder user the
sweep gave the lead to). A lead the sweep returned is never routed back to the rep it was taken from (the
``returned`` row names them; :func:`route`'s ``exclude``). An MQL a real rep already owns is not routed: its
row says ``kept`` and the hand-off goes to that rep. The rep's Salesforce user id and HubSpot owner id come
from the pulled User and owners records with the rep's email. The owner is written to both systems
(``OwnerId`` on the Lead/Contact, ``hubspot_owner_id``) as queued intents of origin ``routing``: the owner
field is Salesforce's to decide, and routing's write is the one recorded exception (its assignment row and
its intents say so). Round-robin credits travel in the assignment rows.

**SLA.** Clocks of the flush's people with transitions, or with an open clock (an activity may stop it),
are reconciled (:func:`leadsync.sla_engine.reconcile_many`) with the owner the ledger knows; the due-date
and breach-flag write-back is queued (origin ``sla``) and sent by this cycle's apply step.

**Hand-off.** Each new MQL's assignment row is ``pending`` hand-off when a notifier is configured. After
the commit the notifications are handed to the notifier (which never blocks) and the rows marked ``sent``;
a crash in between leaves them pending and the next cycle hands them over then. Delivery is therefore
at least once, never lost: a crash after the hand-over but before the mark repeats the notification with
the same ``id`` (kind, person, assignment time), which receivers use to drop the repeat.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadsync.domain.lifecycle import Role
from leadsync.domain.model import OwnerKind, System, Transition, is_backfill
from leadsync.domain.planner import Scalar, Target
from leadsync.domain.routing import Assignment, RepStatus, RoutingState, route
from leadsync.ledger import (
    AssignmentRecord,
    AssignmentStatus,
    CrmOwner,
    Handoff,
    IdentityKind,
    IntentOrigin,
    NewAssignment,
    UnitOfWork,
    WriteIntent,
)
from leadsync.logging import get_logger
from leadsync.notify import Notification, Notifier, mql_handoff
from leadsync.rules.ruleset import RuleSet
from leadsync.sla_engine import reconcile_many
from leadsync.sync.compute import PersonPlan, build_person, merge_facts, payload_hash
from leadsync.sync.state import StoredRecord, SyncState

UowFactory = Callable[[], contextlib.AbstractContextManager[UnitOfWork]]

# The owner fields routing writes (the one write to a field another system owns; see the module docstring).
OWNER_FIELD: Mapping[System, str] = {System.SALESFORCE: "OwnerId", System.HUBSPOT: "hubspot_owner_id"}
KEPT_QUEUE = ""  # a kept owner went through no queue


@dataclass
class FollowUpStats:
    assigned: int = 0
    waiting: int = 0
    kept: int = 0
    clocks_started: int = 0
    clocks_met: int = 0
    handoffs: int = 0


@dataclass
class _Directory:
    """The CRM users and owners, and the round-robin state, read once per cycle when routing first runs."""

    by_id: dict[str, CrmOwner]
    ids_of: dict[str, dict[System, str]]  # rep email -> active owner id per system
    reps: dict[str, RepStatus]
    state: RoutingState


@dataclass
class FollowUp:
    ruleset: RuleSet
    now: datetime
    run_id: str
    epoch: int
    notifier: Notifier | None = None
    integration_users: frozenset[str] = frozenset()  # emails of the users leadsync writes as
    stats: FollowUpStats = field(default_factory=FollowUpStats)
    _directory: _Directory | None = None
    _handoffs_waiting: bool = False

    def __post_init__(self) -> None:
        roles = {s.name: s.role for s in self.ruleset.lifecycle.statuses}
        self._mql = {name for name, role in roles.items() if role is Role.MQL}
        self._open = {name for name, role in roles.items() if role in (Role.MQL, Role.SAL)}
        self._activity_starts = any(d.start.activities for d in self.ruleset.sla.definitions)
        self.log = get_logger("leadsync.sync")

    # ----- inside the flush's unit of work ------------------------------------------------------------
    def record(self, uow: UnitOfWork, plans: Sequence[PersonPlan]) -> None:
        """Route the flush's new MQLs and reconcile its people's clocks (call after their history)."""
        if not plans:
            return
        new_mqls = {p.person_id: mql for p in plans if (mql := self._entered_mql(p.transitions)) is not None}
        moved = [p.person_id for p in plans if p.transitions]
        records: dict[str, list[StoredRecord]] = {}
        if moved:
            for record in SyncState(uow).records_of(moved):
                if not record.deleted:
                    records.setdefault(record.person_id, []).append(record)
        owners: dict[str, str | None] = {}
        if new_mqls:
            owners.update(self._route(uow, [p for p in plans if p.person_id in new_mqls], records))
        people = {p.person_id for p in plans if p.transitions}
        if self._activity_starts:
            people |= {p.person_id for p in plans}
        else:
            people |= uow.sla.with_open_clocks([p.person_id for p in plans if not p.transitions])
        if not people:
            return
        known = self._known_owners(uow, sorted(people - set(owners)), records)
        changes = reconcile_many(uow, self.ruleset.sla, sorted(people), self.now, owners={**known, **owners},
                                 fields=self.ruleset.fields, run_id=self.run_id)
        self.stats.clocks_started += sum(len(c.started) for c in changes.values())
        self.stats.clocks_met += sum(len(c.met) for c in changes.values())

    def _entered_mql(self, transitions: Sequence[Transition]) -> Transition | None:
        return next((t for t in reversed(transitions) if t.to_status in self._mql and not is_backfill(t)), None)

    def _known_owners(self, uow: UnitOfWork, people: Sequence[str],
                      records: Mapping[str, Sequence[StoredRecord]]) -> dict[str, str | None]:
        """The owner a clock is started with: the rep the newest assignment names, else the CRM owner (as
        an email when the user is known, else its id)."""
        latest = uow.assignments.latest_for(people) if people else {}
        found: dict[str, str | None] = {}
        by_id: dict[str, CrmOwner] | None = None
        for person in people:
            row = latest.get(person)
            if row is not None and row.status in (AssignmentStatus.ASSIGNED, AssignmentStatus.KEPT):
                found[person] = row.owner_email
                continue
            if person not in records:
                continue
            facts = merge_facts(records[person], [])
            if facts.owner_id is None:
                continue
            if by_id is None:
                by_id = self._directory.by_id if self._directory else {o.owner_id: o for o in uow.assignments.owners()}
            user = by_id.get(facts.owner_id)
            found[person] = user.email if user is not None and user.email else facts.owner_id
        return found

    def _route(self, uow: UnitOfWork, plans: Sequence[PersonPlan],
               records: Mapping[str, Sequence[StoredRecord]]) -> dict[str, str | None]:
        directory = self._load(uow)
        latest = uow.assignments.latest_for([p.person_id for p in plans])
        rows: list[NewAssignment] = []
        owners: dict[str, str | None] = {}
        handoff = Handoff.PENDING if self.notifier is not None else Handoff.NONE
        for plan in plans:
            mine = records.get(plan.person_id, [])
            facts = merge_facts(mine, [])
            kept = self._kept_owner(directory, facts.owner_kind, facts.owner_id, mine, latest.get(plan.person_id))
            if kept is not None:
                email = kept.email
                ids = dict(directory.ids_of.get(email, {})) if email else {}
                ids[kept.system] = kept.owner_id
                rows.append(NewAssignment(
                    plan.person_id, AssignmentStatus.KEPT, KEPT_QUEUE, "already owned",
                    f"owned by {email or kept.owner_id} when it became MQL: not routed", self.now, owner_email=email,
                    salesforce_owner_id=ids.get(System.SALESFORCE), hubspot_owner_id=ids.get(System.HUBSPOT),
                    handoff=handoff))
                owners[plan.person_id] = email or kept.owner_id
                self.stats.kept += 1
                continue
            person = build_person(plan.person_id, mine)
            last = latest.get(plan.person_id)
            taken_from = frozenset({last.owner_email}) if (
                last is not None and last.status is AssignmentStatus.RETURNED and last.owner_email) else frozenset()
            choice, directory.state = route(person, self.ruleset.routing, directory.reps, directory.state,
                                            exclude=taken_from)
            rows.append(self._routed(uow, plan, choice, directory, handoff))
            owners[plan.person_id] = choice.owner_email
        uow.assignments.add_many(rows, run_id=self.run_id, epoch=self.epoch)
        self._handoffs_waiting = self._handoffs_waiting or handoff is Handoff.PENDING
        return owners

    def _kept_owner(self, directory: _Directory, kind: OwnerKind, owner_id: str | None,
                    records: Sequence[StoredRecord], last: AssignmentRecord | None) -> CrmOwner | None:
        """The rep who already owns the person (None: route it; see the module docstring)."""
        if kind is not OwnerKind.USER or owner_id is None:
            return None  # no owner, or a queue
        if self._is_pool(owner_id):
            return None  # waiting in the pool for the next rep
        user = directory.by_id.get(owner_id)
        if user is None:
            # A user the pulls have not seen (yet): a real person most likely; leave the lead with them.
            system = next((r.ref.system for r in records if r.facts.owner_id == owner_id), System.SALESFORCE)
            return CrmOwner(system, owner_id, None, True, False)
        if not user.active or (user.email or "") in self.integration_users:
            return None
        if last is not None and last.status is AssignmentStatus.RETURNED and owner_id in (
                last.salesforce_owner_id, last.hubspot_owner_id):
            return None  # the sweep took the lead back from this rep
        return user

    def _is_pool(self, owner_id: str) -> bool:
        """Whether ``owner_id`` is the pool's placeholder owner (a Salesforce id matches on its first 15
        characters: the 18-character form only adds a checksum)."""
        pool = self.ruleset.routing.pool
        if pool is None:
            return False
        return owner_id == pool.hubspot_owner_id or (
            len(owner_id) >= 15 and owner_id[:15] == pool.salesforce_owner_id[:15])

    def _routed(self, uow: UnitOfWork, plan: PersonPlan, choice: Assignment, directory: _Directory,
                handoff: Handoff) -> NewAssignment:
        credits = dict(directory.state.credits.get(choice.queue, {}))
        if choice.owner_email is None:
            self.stats.waiting += 1
            return NewAssignment(plan.person_id, AssignmentStatus.WAITING, choice.queue, choice.rule, choice.reason,
                                 self.now, credits=credits, handoff=handoff)
        ids = directory.ids_of.get(choice.owner_email, {})
        reason = choice.reason
        missing = [s.value for s in OWNER_FIELD if s not in ids]
        if missing:
            reason += f"; no {' or '.join(missing)} user with this email: owner not written there"
        for target in plan.targets:
            owner = ids.get(target.system)
            if owner is not None:
                self._queue_owner(uow, target, owner)
        self.stats.assigned += 1
        return NewAssignment(plan.person_id, AssignmentStatus.ASSIGNED, choice.queue, choice.rule, reason, self.now,
                             owner_email=choice.owner_email, salesforce_owner_id=ids.get(System.SALESFORCE),
                             hubspot_owner_id=ids.get(System.HUBSPOT), credits=credits, handoff=handoff)

    def _queue_owner(self, uow: UnitOfWork, target: Target, owner_id: str) -> None:
        fields: dict[str, Scalar] = {OWNER_FIELD[target.system]: owner_id}
        intent = WriteIntent(target.system, target.object, target.record_id, fields, payload_hash(fields))
        uow.outbox.add(intent, self.now, run_id=self.run_id, origin=IntentOrigin.ROUTING)

    def _load(self, uow: UnitOfWork) -> _Directory:
        if self._directory is not None:
            return self._directory
        owners = uow.assignments.owners()
        ids_of: dict[str, dict[System, str]] = {}
        seen: dict[str, list[bool]] = {}
        for owner in owners:
            if owner.is_queue or not owner.email:
                continue
            seen.setdefault(owner.email, []).append(owner.active)
            if owner.active:
                ids_of.setdefault(owner.email, {}).setdefault(owner.system, owner.owner_id)
        open_leads = uow.assignments.open_leads(self._open)
        emails = {m.email for q in self.ruleset.routing.queues.values() for m in q.members}
        # A rep is active when some system knows them as active and none has deactivated them.
        reps = {e: RepStatus(active=bool(seen.get(e)) and all(seen[e]), open_leads=open_leads.get(e, 0))
                for e in emails}
        self._directory = _Directory({o.owner_id: o for o in owners}, ids_of, reps,
                                     RoutingState(uow.assignments.credits(), {}))
        return self._directory

    # ----- after the commit -----------------------------------------------------------------------------
    def hand_off(self, uow_factory: UowFactory, *, force: bool = False) -> int:
        """Hand pending hand-offs to the notifier and mark them sent (``force``: look even when this cycle
        made none, to pick up what a crashed run left)."""
        if self.notifier is None or not (force or self._handoffs_waiting):
            return 0
        self._handoffs_waiting = False
        handed = 0
        while True:
            with uow_factory() as uow:
                pending = uow.assignments.pending_handoffs(limit=500)
                notes = self._notes(uow, pending)
            if not pending:
                return handed
            for note in notes:
                self.notifier.submit(note)  # never blocks; what cannot be sent is dead-lettered
            with uow_factory() as uow:
                handed += uow.assignments.mark_handed_off([row.id for row in pending], self.now)
            self.stats.handoffs += len(notes)

    def _notes(self, uow: UnitOfWork, rows: Sequence[AssignmentRecord]) -> list[Notification]:
        if not rows:
            return []
        scores = uow.scores.latest_for([r.person_id for r in rows])
        notes = []
        for row in rows:
            person = uow.people.get(row.person_id)
            email = next((i.value for i in person.identities if i.kind is IdentityKind.EMAIL), None) if person else None
            score = scores.get(row.person_id)
            notes.append(mql_handoff(
                row.person_id, row.at, email=email, owner=row.owner_email,
                queue=row.queue or None, score=score.score if score else None, grade=score.grade if score else None,
                reason=row.reason))
        return notes
