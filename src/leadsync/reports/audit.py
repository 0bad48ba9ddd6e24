"""``leadsync report audit``: what happened to one person, or to everyone in a window, and why.

Every transition with its rule, rule-set version, the facts the rule saw and the score breakdown as it
stood at that moment (the latest score snapshot at or before the transition); contact-status changes;
and every write leadsync made or tried in either CRM (the outbox), with its state and last error.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from leadsync.ledger import Identity, IdentityKind, Ledger, ScoreSnapshot, UnitOfWork
from leadsync.ledger.errors import NotFound
from leadsync.reports import queries
from leadsync.reports.common import Window, owner_label
from leadsync.reports.model import Report, Table, text

CRM_KINDS = (IdentityKind.SALESFORCE_LEAD, IdentityKind.SALESFORCE_CONTACT, IdentityKind.HUBSPOT_CONTACT)


class UnknownPerson(LookupError):
    """No person in the ledger answers to the email or id given."""


def find_person(uow: UnitOfWork, who: str) -> str:
    """A person by email, leadsync id, or Salesforce/HubSpot record id (merges followed)."""
    who = who.strip()
    if "@" in who:
        found = uow.people.find(Identity.email(who))
        if found is None:
            raise UnknownPerson(f"no person with email {who!r} in the ledger")
        return found
    try:
        return uow.people.resolve(who)
    except NotFound:
        pass
    for kind in CRM_KINDS:
        found = uow.people.find(Identity(kind, who))
        if found is not None:
            return found
    raise UnknownPerson(f"no person with id {who!r} (leadsync, Salesforce or HubSpot) in the ledger")


class SnapshotIndex:
    """The score snapshot in force at an instant, per person (bisect over each person's snapshots)."""

    def __init__(self, snaps: Sequence[ScoreSnapshot]) -> None:
        self._by_person: dict[str, list[ScoreSnapshot]] = defaultdict(list)
        for snap in snaps:
            self._by_person[snap.person_id].append(snap)
        self._times = {p: [s.at for s in items] for p, items in self._by_person.items()}

    def at(self, person_id: str, when: datetime) -> ScoreSnapshot | None:
        times = self._times.get(person_id)
        if not times:
            return None
        index = bisect.bisect_right(times, when) - 1
        return self._by_person[person_id][index] if index >= 0 else None


def build(ledger: Ledger, window: Window, *, person: str | None = None) -> Report:
    with ledger.reading() as uow:
        conn = uow.connection
        person_id = find_person(uow, person) if person else None
        since = None if person_id else window.since
        found = queries.full_transitions(conn, person_id=person_id, since=since, until=window.end)
        people = sorted({t.person_id for _, _, t in found} | ({person_id} if person_id else set()))
        snaps = SnapshotIndex(queries.snapshots(conn, person_ids=people, until=window.end))
        contacts = queries.contact_changes(conn, person_id=person_id, since=since, until=window.end)
        record_ids: list[str] | None = None
        clocks = []
        owners: dict[str, str] = {}
        if person_id is not None:
            record = uow.people.get(person_id)
            record_ids = sorted(i.value for i in record.identities if i.kind in CRM_KINDS) if record else []
            clocks = uow.sla.for_person(person_id)
            owners = queries.owner_emails(conn)
        writes = queries.intents_for(conn, record_ids=record_ids, since=since, until=window.end)

    transition_rows = []
    for ledger_id, run_id, t in found:
        snap = snaps.at(t.person_id, t.at)
        transition_rows.append((
            t.at.isoformat(), t.person_id, t.from_status, t.to_status, t.move.value, t.rule, t.ruleset_version,
            t.reason, f"{t.cause.kind.value}{':' + t.cause.actor if t.cause.actor else ''}", text(t.facts),
            snap.score if snap else None, snap.grade if snap else None, text(snap.breakdown) if snap else None,
            snap.ruleset_version if snap else None, run_id, ledger_id,
        ))
    tables = [
        Table("transitions", "Lifecycle transitions",
              ("at", "person", "from", "to", "move", "rule", "rule-set version", "reason", "cause", "facts",
               "score then", "grade then", "score breakdown then", "scored by version", "run", "ledger id"),
              tuple(transition_rows)),
        Table("contact_status", "Contact-status changes",
              ("at", "person", "from", "to", "rule", "rule-set version", "reason"),
              tuple((c.at.isoformat(), c.person_id, c.from_status, c.to_status, c.rule, c.ruleset_version, c.reason)
                    for c in contacts)),
        Table("writes", "Writes to Salesforce and HubSpot (the outbox)",
              ("created", "updated", "system", "object", "record", "fields", "state", "attempts", "last error",
               "run"),
              tuple((w.created_at.isoformat(), w.updated_at.isoformat(), w.intent.target.value, w.intent.object,
                     w.intent.record_id, text(w.intent.fields), w.state.value, w.attempts, w.last_error, w.run_id)
                    for w in writes)),
    ]
    if person_id is not None:
        tables.append(Table(
            "sla_clocks", "SLA clocks", ("sla", "owner", "started", "due", "met", "breached", "stopped", "reason"),
            tuple((c.sla, owner_label(c.owner_id, owners),
                   *(text(v) for v in (c.started_at, c.due_at, c.met_at, c.breached_at, c.stopped_at)), c.stop_reason)
                  for c in clocks),
        ))
    scope = {"person": f"{person} ({person_id})"} if person_id else window.params()
    headline = (("transitions", f"{len(found):,}"), ("writes", f"{len(writes):,}"),
                ("people", f"{len(people):,}"))
    return Report(name="audit", title=f"Audit trail{' of ' + person if person else ''}", generated_at=window.now,
                  params=scope, headline=headline, tables=tuple(tables))
