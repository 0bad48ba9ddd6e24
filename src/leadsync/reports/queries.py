"""Read queries the reports need beyond the ledger's own repositories, on SQLAlchemy Core and the
ledger's tables. Read-only; every function takes the connection of a ``Ledger.reading()`` snapshot.

Reports read many rows, so the hot queries select only the columns they use and build slim values
(a funnel needs who, from, to, when and how; not the facts of a million transitions).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from leadsync.domain.model import Cause, CauseKind, ContactStatusChange, Move, System, Transition
from leadsync.ledger.records import IntentRecord, IntentState, ScoreSnapshot, SlaClock, WriteIntent
from leadsync.ledger.schema import (
    activities,
    assignments,
    contact_status_changes,
    crm_owners,
    score_snapshots,
    sla_clocks,
    sync_records,
    transitions,
    write_intents,
)
from leadsync.sync.compute import FIELD_PRECEDENCE

# The person field the inbound mappings fill from Salesforce ``LeadSource`` and HubSpot ``hs_analytics_source``.
LEAD_SOURCE_FIELD = "lead_source"

# IN-lists are sent in chunks: SQLite allows at most 32,766 bound parameters per statement.
IN_CHUNK = 5_000


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start:start + IN_CHUNK]


def _window(column: Any, since: datetime | None, until: datetime | None) -> Any:
    parts = []
    if since is not None:
        parts.append(column >= since)
    if until is not None:
        parts.append(column < until)
    return sa.and_(sa.true(), *parts)


def slim_transitions(conn: sa.Connection, until: datetime | None) -> list[Transition]:
    """Every transition before ``until`` with only the funnel's columns filled (rule, version, reason and
    facts left empty): the funnel needs each person's whole history to know a first entry from a return.

    This reads up to millions of rows, so it fetches in bulk and, on SQLite, reads the instant as its
    stored UTC text and parses it with ``datetime.fromisoformat`` (several times cheaper than the generic
    per-row type processing)."""
    t = transitions
    sqlite = conn.dialect.name == "sqlite"
    # SQLite keeps naive UTC text; appending the offset lets fromisoformat return an aware instant at once.
    # PostgreSQL's driver already returns aware instants; skip the per-row UTC normalisation (any zone works).
    at = sa.type_coerce(t.c.at, sa.String()) + sa.literal("+00:00") if sqlite \
        else sa.type_coerce(t.c.at, sa.DateTime(timezone=True))
    query = sa.select(t.c.person_id, t.c.from_status, t.c.to_status, at, t.c.move).where(
        _window(t.c.at, None, until))
    moves = {m.value: m for m in Move}
    parse = datetime.fromisoformat
    out: list[Transition] = []
    result = conn.execute(query)
    while rows := result.fetchmany(50_000):
        if sqlite:
            out.extend(Transition(r[0], r[1], r[2], parse(r[3]), moves[r[4]], "", "", "") for r in rows)
        else:
            out.extend(Transition(r[0], r[1], r[2], r[3], moves[r[4]], "", "", "") for r in rows)
    return out


def _transition(r: Any) -> Transition:
    return Transition(r.person_id, r.from_status, r.to_status, r.at, Move(r.move), r.rule, r.ruleset_version,
                      r.reason, r.facts, Cause(CauseKind(r.cause_kind), r.cause_actor))


def full_transitions(
    conn: sa.Connection, *, person_id: str | None = None, since: datetime | None = None,
    until: datetime | None = None, limit: int | None = None,
) -> list[tuple[int, str | None, Transition]]:
    """(ledger id, run id, transition) with everything recorded, oldest first."""
    t = transitions
    query = sa.select(t).where(_window(t.c.at, since, until)).order_by(t.c.at, t.c.id)
    if person_id is not None:
        query = query.where(t.c.person_id == person_id)
    if limit is not None:
        query = query.limit(limit)
    return [(r.id, r.run_id, _transition(r)) for r in conn.execute(query)]


def contact_changes(conn: sa.Connection, *, person_id: str | None, since: datetime | None,
                    until: datetime | None) -> list[ContactStatusChange]:
    c = contact_status_changes
    query = sa.select(c).where(_window(c.c.at, since, until)).order_by(c.c.at, c.c.id)
    if person_id is not None:
        query = query.where(c.c.person_id == person_id)
    return [ContactStatusChange(r.person_id, r.from_status, r.to_status, r.at, r.rule, r.ruleset_version, r.reason,
                                r.facts, Cause(CauseKind(r.cause_kind), r.cause_actor)) for r in conn.execute(query)]


def _raw_instant(conn: sa.Connection, column: Any) -> Any:
    """``column`` as the driver returns it, for :func:`_instant` (the generic per-value type processing of
    100,000 rows of instants measured a third of a report's reading time)."""
    if conn.dialect.name == "sqlite":  # naive UTC text; NULL stays NULL
        return sa.type_coerce(column, sa.String()) + sa.literal("+00:00")
    return sa.type_coerce(column, sa.DateTime(timezone=True))


def _instant(value: Any) -> Any:
    """An aware UTC datetime from what :func:`_raw_instant` selected (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value.astimezone(UTC)


def clocks_started(conn: sa.Connection, since: datetime | None, until: datetime | None) -> list[SlaClock]:
    c = sla_clocks
    instants = [_raw_instant(conn, col) for col in (c.c.started_at, c.c.due_at, c.c.warn_at, c.c.met_at,
                                                     c.c.breached_at, c.c.stopped_at)]
    query = sa.select(c.c.id, c.c.person_id, c.c.sla, c.c.owner_id, c.c.stop_reason, *instants).where(
        _window(c.c.started_at, since, until)).order_by(c.c.started_at, c.c.id)
    parse = _instant
    return [SlaClock(r[0], r[1], r[2], parse(r[5]), parse(r[6]), parse(r[7]), r[3], parse(r[8]), parse(r[9]),
                     parse(r[10]), r[4]) for r in conn.execute(query)]


def first_touch_channel(conn: sa.Connection, person_ids: Sequence[str]) -> dict[str, str]:
    """Each person's first activity type (form_fill, webinar_attended ...): the channel they came in by."""
    a = activities
    rank = sa.func.row_number().over(partition_by=a.c.person_id, order_by=(a.c.occurred_at, a.c.id)).label("n")
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(person_ids))):
        inner = sa.select(a.c.person_id, a.c.type, rank).where(a.c.person_id.in_(chunk)).subquery()
        query = sa.select(inner.c.person_id, inner.c.type).where(inner.c.n == 1)
        found.update({r.person_id: r.type for r in conn.execute(query)})
    return found


def owner_emails(conn: sa.Connection) -> dict[str, str]:
    """CRM owner id -> the owner's email (lower case), from what the sync pulled: Salesforce users and queues
    and HubSpot owners (``crm_owners``), then the ids routing recorded beside each rep's email (``assignments``)
    for owners no longer listed. An org has hundreds of owners, so all of them are read."""
    found: dict[str, str] = {}
    routed = [sa.select(column, assignments.c.owner_email).where(column.is_not(None),
                                                                  assignments.c.owner_email.is_not(None)).distinct()
              for column in (assignments.c.salesforce_owner_id, assignments.c.hubspot_owner_id)]
    for owner_id, email in conn.execute(sa.union(*routed)):
        found.setdefault(owner_id, email.strip().lower())
    pulled = sa.select(crm_owners.c.owner_id, crm_owners.c.email).where(crm_owners.c.email.is_not(None))
    for owner_id, email in conn.execute(pulled):
        found[owner_id] = email.strip().lower()  # what the CRM says now wins over what routing recorded
    return found


def lead_sources(conn: sa.Connection, person_ids: Sequence[str]) -> dict[str, str]:
    """Each person's lead source as the sync merges person fields: from their live CRM records, the record
    first in the sync's field precedence that holds one (a Salesforce contact, then lead, then HubSpot; then
    the highest record)."""
    r = sync_records
    source = r.c.fields[LEAD_SOURCE_FIELD].as_string()
    base = sa.select(r.c.person_id, r.c.system, r.c.kind, r.c.record_id, source).where(
        r.c.deleted.is_(False), source.is_not(None), source != "")
    wanted = set(person_ids)
    # Many people: one read of every record holding a source beats thousands of IN-list lookups.
    queries = [base] if len(wanted) > IN_CHUNK else [base.where(r.c.person_id.in_(c)) for c in _chunks(sorted(wanted))]
    rank_of = {(system.value, kind): rank for (system, kind), rank in FIELD_PRECEDENCE.items()}
    best: dict[str, tuple[int, str, str, str, str]] = {}
    for query in queries:
        for person, system, kind, record_id, value in conn.execute(query):
            if person not in wanted or not value.strip():
                continue
            # The order of RecordRef (system, kind, id) after the precedence: System is a string enum.
            key = (rank_of.get((system, kind), -1), system, kind, record_id, value.strip())
            held = best.get(person)
            if held is None or key[:4] > held[:4]:
                best[person] = key
    return {person: key[4] for person, key in best.items()}


def snapshots(conn: sa.Connection, *, person_ids: Sequence[str] | None = None, since: datetime | None = None,
              until: datetime | None = None) -> list[ScoreSnapshot]:
    """Score snapshots, oldest first, for some people or all, within the window."""
    s = score_snapshots
    base = sa.select(s.c.person_id, s.c.at, s.c.score, s.c.grade, s.c.ruleset_version, s.c.breakdown).where(
        _window(s.c.at, since, until))
    groups = [base] if person_ids is None else [base.where(s.c.person_id.in_(c)) for c in _chunks(person_ids)]
    out: list[ScoreSnapshot] = []
    for query in groups:
        out.extend(ScoreSnapshot(r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(query))
    out.sort(key=lambda snap: (snap.person_id, snap.at))
    return out


def scores_in_window(conn: sa.Connection, since: datetime | None, until: datetime | None
                     ) -> list[tuple[str, datetime, float, str | None, str]]:
    """(person, at, score, grade, rule-set version) without the breakdowns, for the scoring report."""
    s = score_snapshots
    query = sa.select(s.c.person_id, _raw_instant(conn, s.c.at), s.c.score, s.c.grade, s.c.ruleset_version).where(
        _window(s.c.at, since, until)).order_by(s.c.person_id, s.c.at, s.c.id)
    parse = _instant
    return [(r[0], parse(r[1]), r[2], r[3], r[4]) for r in conn.execute(query)]


def first_entries(conn: sa.Connection, statuses: Sequence[str], until: datetime | None) -> dict[str, datetime]:
    """When each person first entered any of ``statuses`` (before ``until``)."""
    t = transitions
    query = sa.select(t.c.person_id, sa.func.min(t.c.at).label("first")).where(
        t.c.to_status.in_(list(statuses)), _window(t.c.at, None, until)).group_by(t.c.person_id)
    return {r.person_id: r.first for r in conn.execute(query)}


def intents_for(conn: sa.Connection, *, record_ids: Sequence[str] | None, since: datetime | None,
                until: datetime | None) -> list[IntentRecord]:
    """Outbox rows (every write leadsync made or tried) for some CRM records, or all in the window."""
    w = write_intents
    query = sa.select(w).where(_window(w.c.created_at, since, until)).order_by(w.c.created_at, w.c.id)
    if record_ids is not None:
        if not record_ids:
            return []
        query = query.where(w.c.record_id.in_(list(record_ids)))
    return [
        IntentRecord(r.id, WriteIntent(System(r.target), r.object, r.record_id, r.fields, r.payload_hash),
                     IntentState(r.state), r.attempts, r.last_error, r.run_id, r.created_at, r.updated_at)
        for r in conn.execute(query)
    ]
