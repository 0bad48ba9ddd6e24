"""``leadsync mappings plan``: what an edited rule set would do to the people in the ledger, before it
goes live. Each person's current state is evaluated under the current rules and under the edited ones,
as of the same instant; the report lists who would end up in a different status, how many would cross
the MQL line (either way), and how scores and grades would move. Read-only: nothing is recorded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from leadsync.domain.evaluate import Evaluation, PersonState, evaluate
from leadsync.domain.lifecycle import LifecycleRules, Role
from leadsync.domain.model import Person
from leadsync.ledger import Ledger, UnitOfWork
from leadsync.ledger.schema import persons
from leadsync.reports.model import Report, Table
from leadsync.rules.ruleset import RuleSet

StateLoader = Callable[[UnitOfWork, str, RuleSet], PersonState]
SYNC_RECORDS_TABLE = "sync_records"  # where the sync engine keeps each CRM record's last pulled fields


def ledger_state(uow: UnitOfWork, person_id: str, _ruleset: RuleSet) -> PersonState:
    """What the ledger alone knows: activities and lifecycle history (no CRM person fields or facts)."""
    history = uow.transitions.for_person(person_id)
    last = history[-1].transition if history else None
    return PersonState(person=Person(person_id), activities=uow.activities.for_person(person_id),
                       lifecycle_status=last.to_status if last else None, status_since=last.at if last else None,
                       lifecycle_reason=last.reason if last else None)


def default_loader() -> tuple[StateLoader, str]:
    """The sync engine's full state loader (person fields and CRM facts from its tables) when it is
    installed; otherwise the ledger-only one. Looked up at run time so this module does not depend on it."""
    try:
        compute = importlib.import_module("leadsync.sync.compute")
        state_module = importlib.import_module("leadsync.sync.state")
    except ImportError:
        return ledger_state, "ledger only (no CRM person fields: grades may read lower than live)"
    load_state, sync_state = getattr(compute, "load_state", None), getattr(state_module, "SyncState", None)
    if load_state is None or sync_state is None:
        return ledger_state, "ledger only (no CRM person fields: grades may read lower than live)"

    has_tables: dict[int, bool] = {}

    def full(uow: UnitOfWork, person_id: str, ruleset: RuleSet) -> PersonState:
        # A ledger no sync has run against yet has no sync tables: fall back instead of failing.
        key = id(uow.connection)
        if key not in has_tables:
            has_tables[key] = sa.inspect(uow.connection).has_table(SYNC_RECORDS_TABLE)
        if not has_tables[key]:
            return ledger_state(uow, person_id, ruleset)
        state: PersonState = load_state(uow, sync_state(uow), person_id, ruleset)[0]
        return state

    return full, "sync state (CRM person fields and facts)"


@dataclass(frozen=True, slots=True)
class PersonChange:
    person_id: str
    current_status: str | None
    under_current: Evaluation
    under_edited: Evaluation


def above_mql(status: str | None, rules: LifecycleRules) -> bool:
    """At or past the first MQL status of the funnel (Disqualified and Recycled are below the line)."""
    if status is None or status not in rules.status_names():
        return False
    rank = rules.status(status).rank
    mql_rank = rules.first(Role.MQL).rank
    return rank is not None and mql_rank is not None and rank >= mql_rank


def compare(states: Iterable[PersonState], current: RuleSet, edited: RuleSet, now: datetime
            ) -> tuple[int, list[PersonChange]]:
    """(people evaluated, the people whose status, score or grade would differ)."""
    seen = 0
    changes = []
    for state in states:
        seen += 1
        before, after = evaluate(state, current, now), evaluate(state, edited, now)
        if (before.lifecycle_status, before.score.value, before.grade.letter) != \
                (after.lifecycle_status, after.score.value, after.grade.letter):
            changes.append(PersonChange(state.person.id, state.lifecycle_status, before, after))
    return seen, changes


def live_people(uow: UnitOfWork) -> list[str]:
    query = sa.select(persons.c.id).where(persons.c.merged_into.is_(None)).order_by(persons.c.id)
    return [row.id for row in uow.connection.execute(query)]


def build(ledger: Ledger, current: RuleSet, edited: RuleSet, now: datetime, *,
          loader: StateLoader | None = None, source: str = "") -> Report:
    load = loader or ledger_state
    with ledger.reading() as uow:
        states = [load(uow, person, current) for person in live_people(uow)]
    seen, changes = compare(states, current, edited, now)
    return report_from(seen, changes, current, edited, now, source=source)


def report_from(seen: int, changes: list[PersonChange], current: RuleSet, edited: RuleSet, now: datetime, *,
                source: str = "") -> Report:
    status_moves = [c for c in changes if c.under_current.lifecycle_status != c.under_edited.lifecycle_status]
    into = [c for c in status_moves if not above_mql(c.under_current.lifecycle_status, current.lifecycle)
            and above_mql(c.under_edited.lifecycle_status, edited.lifecycle)]
    out = [c for c in status_moves if above_mql(c.under_current.lifecycle_status, current.lifecycle)
           and not above_mql(c.under_edited.lifecycle_status, edited.lifecycle)]
    rows = tuple(
        (c.person_id, c.current_status, c.under_current.lifecycle_status, c.under_edited.lifecycle_status,
         c.under_current.score.value, c.under_edited.score.value, c.under_current.grade.letter,
         c.under_edited.grade.letter,
         "into MQL+" if c in into else ("out of MQL+" if c in out else None),
         c.under_edited.transition.reason if c.under_edited.transition else None)
        for c in changes
    )
    summary = Table("summary", "Effect of the edited rule set", ("measure", "people"), (
        ("evaluated", seen), ("would change status", len(status_moves)), ("would cross into MQL or beyond", len(into)),
        ("would fall below MQL", len(out)),
        ("score would change", sum(1 for c in changes if c.under_current.score.value != c.under_edited.score.value)),
        ("grade would change", sum(1 for c in changes if c.under_current.grade.letter != c.under_edited.grade.letter)),
    ))
    table = Table("changes", "People the edited rules would treat differently",
                  ("person", "status now", "next status (current rules)", "next status (edited rules)",
                   "score (current)", "score (edited)", "grade (current)", "grade (edited)", "MQL line",
                   "edited rules' reason"), rows)
    return Report(
        name="plan", title="Rule-set plan: edited vs current", generated_at=now,
        params={"current rules": f"{current.directory} ({current.version})",
                "edited rules": f"{edited.directory} ({edited.version})", "as of": now.isoformat(),
                "person state": source or "ledger only"},
        headline=(("would change status", f"{len(status_moves):,}"), ("cross into MQL+", f"{len(into):,}"),
                  ("fall below MQL", f"{len(out):,}")),
        tables=(summary, table),
    )
