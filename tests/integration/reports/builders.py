"""Hand-built ledgers: people, transitions, activities, clocks and snapshots written through the ledger API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from leadsync.domain.model import Activity, Move, System, Transition
from leadsync.ledger import Identity, IdentityKind, Ledger, ScoreSnapshot

BERLIN = ZoneInfo("Europe/Berlin")
EPOCH_HOLDER = "reports-test"
WRITTEN_AT = datetime(2026, 1, 1, tzinfo=UTC)


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)  # type: ignore[misc]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def move(person: str, frm: str | None, to: str, at: datetime, how: Move = Move.FORWARD, *,
         facts: Mapping[str, Any] | None = None, version: str = "v1") -> Transition:
    if frm is None:
        how = Move.INITIAL
    return Transition(person, frm, to, at, how, f"{to.lower()}.rule", version, f"into {to}", facts or {})


def walk(person: str, *steps: tuple[str, datetime]) -> list[Transition]:
    """Forward moves through ``steps`` (the first one INITIAL)."""
    out: list[Transition] = []
    previous: str | None = None
    for status, at in steps:
        out.append(move(person, previous, status, at))
        previous = status
    return out


def write(ledger: Ledger, transitions: Iterable[Transition] = (), *, activities: Iterable[tuple[str, Activity]] = (),
          identities: Mapping[str, Iterable[Identity]] | None = None, snapshots: Iterable[ScoreSnapshot] = (),
          now: datetime = WRITTEN_AT) -> int:
    """Write everything in one fenced unit of work; returns the epoch used."""
    items = list(transitions)
    acts = list(activities)
    snaps = list(snapshots)
    people = {t.person_id for t in items} | {p for p, _ in acts} | set(identities or {}) | {s.person_id for s in snaps}
    epoch = ledger.take_epoch(EPOCH_HOLDER, now)
    with ledger.unit_of_work(epoch=epoch) as uow:
        uow.people.ensure(sorted(people), now)
        for person, found in (identities or {}).items():
            uow.people.link(person, found, now)
        uow.transitions.append(items, run_id="test", epoch=epoch)
        uow.activities.upsert(acts)
        uow.scores.record(snaps, run_id="test")
    return epoch


def activity(kind: str, at: datetime, source_id: str) -> Activity:
    return Activity(System.HUBSPOT, source_id, kind, at)


def sf_lead(record_id: str) -> Identity:
    return Identity(IdentityKind.SALESFORCE_LEAD, record_id)


def hs_contact(record_id: str) -> Identity:
    return Identity(IdentityKind.HUBSPOT_CONTACT, record_id)
