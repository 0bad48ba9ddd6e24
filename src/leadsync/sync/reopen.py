"""A CRM user reopening a person: the one backwards move the sync picks up from a CRM edit.

When a person is Disqualified or Recycled and a user sets leadsync's own lifecycle field in a CRM to
another status (not our write coming back), that is a deliberate decision by a person with the right
to make it. It is recorded as a named REOPEN move with the user as the cause, if the rules allow it;
any other edit of our fields is left alone (the planner does not fight it, the audit report shows it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from leadsync.domain.evaluate import PersonState
from leadsync.domain.lifecycle import IllegalMove, Role, is_legal, named_move
from leadsync.domain.model import Cause, CauseKind, Move, Transition
from leadsync.domain.planner import is_echo
from leadsync.ledger import UnitOfWork
from leadsync.rules.ruleset import RuleSet
from leadsync.sync.state import StoredRecord, target_of


def crm_user_reopen(uow: UnitOfWork, state: PersonState, records: Sequence[StoredRecord], ruleset: RuleSet,
                    now: datetime) -> Transition | None:
    current = state.lifecycle_status
    names = {s.name: s for s in ruleset.lifecycle.statuses}
    if current is None or current not in names or names[current].role not in (Role.DISQUALIFIED, Role.RECYCLED):
        return None
    for record in sorted(records, key=lambda r: r.modstamp, reverse=True):
        if not record.writable:
            continue
        target = target_of(record.ref)
        for mapping in ruleset.fields.outbound(target.system, target.object):
            if mapping.value != "lifecycle_status" or not mapping.owned_by_leadsync or mapping.values is None:
                continue
            held = record.current.get(mapping.field)
            if held in (None, ""):
                continue
            last = uow.outbox.written_hash(target.system, target.object, target.record_id, mapping.field)
            if last is None or is_echo(held, last):
                continue  # our own value, or a field we never wrote: not a user's decision
            meant = [name for name, option in mapping.values.items() if option == held]
            legal = len(meant) == 1 and is_legal(current, meant[0], Move.REOPEN, ruleset.lifecycle)
            if not legal:
                continue  # ambiguous option (HubSpot maps several statuses to one stage) or not a reopen
            actor = record.facts.owner_id or target.system.value
            reason = f"{target.system.value} user set {target.object}.{mapping.field} to {held!r}"
            try:
                return named_move(state.person.id, current, Move.REOPEN, meant[0], reason,
                                  Cause(CauseKind.CRM_USER, actor), ruleset.lifecycle, now)
            except IllegalMove:
                continue
    return None
