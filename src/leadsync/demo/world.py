"""The demo's world: an embedded sandbox org, a SQLite ledger in a folder, both CRMs' connectors, and one
clock the engine and the emulators share (so "three days later" is a single call).

The acting helpers do what the org's people do in the CRM UIs, through the emulators' user actions;
the sync sees those changes only through the APIs, as it would in a real org.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from leadsync.app import App, sandbox_connectors
from leadsync.config.settings import Settings
from leadsync.domain.grades import grade_at_least
from leadsync.domain.lifecycle import Role
from leadsync.ledger import IdentityKind, open_ledger, upgrade
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sandbox.runtime import Sandbox
from leadsync.sync.state import ensure_tables


@dataclass
class Person:
    """One person as the ledger knows them, with the CRM ids the demo acts on."""

    person_id: str
    name: str
    status: str | None
    score: float
    grade: str | None
    sf_lead: str | None = None
    hs_contact: str | None = None


@dataclass
class DemoClock:
    """Real time plus an offset, shared with the sandbox's server clock."""

    sandbox: Sandbox
    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
        self.sandbox.clock.set_offset(self.offset.total_seconds())


class World(contextlib.ExitStack):
    def __init__(self, settings: Settings, directory: Path, persons: int, seed: int) -> None:
        super().__init__()
        self.directory = directory
        self.ruleset: RuleSet = load_ruleset(settings.daemon.mappings_dir)
        url = f"sqlite:///{directory / 'ledger.db'}"
        upgrade(url)
        self.settings = settings.model_copy(update={"ledger": settings.ledger.model_copy(update={"url": url})})
        try:
            self.sandbox = self.enter_context(Sandbox(persons=persons, seed=seed, directory=directory / "sandbox"))
            self.clock = DemoClock(self.sandbox)
            ledger = open_ledger(url)
            self.callback(ledger.close)
            ensure_tables(ledger)
            connectors = sandbox_connectors(self.settings, self.ruleset, self.sandbox.env())
            for connector in connectors:
                closer = getattr(connector, "close", None)
                if callable(closer):
                    self.callback(closer)
            self.app = App(self.settings, self.ruleset, ledger, connectors, clock=self.clock.now)
        except BaseException:
            self.close()  # the sandbox's servers and folders go with a half-built world
            raise

    # ----- reading the ledger -----------------------------------------------------------------------
    def people(self) -> list[Person]:
        found: list[Person] = []
        with self.app.ledger.reading() as uow:
            for person_id in _all_people(uow):
                record = uow.people.get(person_id)
                if record is None or record.merged_into is not None:
                    continue
                ids = {i.kind: i.value for i in record.identities}
                snap = uow.scores.latest(person_id)
                found.append(Person(
                    person_id, ids.get(IdentityKind.EMAIL, person_id), uow.transitions.current_status(person_id),
                    snap.score if snap else 0.0, snap.grade if snap else None,
                    ids.get(IdentityKind.SALESFORCE_LEAD), ids.get(IdentityKind.HUBSPOT_CONTACT),
                ))
        return found

    def status_of(self, person_id: str) -> str | None:
        with self.app.ledger.reading() as uow:
            return uow.transitions.current_status(person_id)

    def mql_gap(self, person: Person) -> float | None:
        """Points the person still needs for the nearest MQL threshold their grade allows (None: none does)."""
        gaps = [t.min_score - person.score for s in self.ruleset.lifecycle.statuses if s.role is Role.MQL
                for t in ([s.enter.score_and_grade] if s.enter.score_and_grade else []) + list(s.enter.matrix)
                if grade_at_least(person.grade, t.min_grade)]
        return min(gaps) if gaps else None

    def statuses_with(self, role: Role) -> list[str]:
        return [s.name for s in self.ruleset.lifecycle.statuses if s.role is role]

    # ----- acting as the org's people ---------------------------------------------------------------
    def a_sales_rep(self) -> dict[str, Any]:
        """The active user who owns the most leads: a rep, not the admin or the integration user."""
        owned = Counter(str(lead.get("OwnerId")) for lead in self.sandbox.sf.records("Lead"))
        users = [u for u in self.sandbox.sf.records("User") if u.get("IsActive")
                 and u.get("Username") != self.sandbox.sf_username]
        return max(users, key=lambda u: (owned[str(u["Id"])], str(u["Id"])))


def _all_people(uow: Any) -> list[str]:
    from leadsync.sync.state import SyncState

    return SyncState(uow).all_people()
