"""Evaluate one person: score, grade, hygiene, lifecycle and contact status, and the field values that follow.

This is the core's single entry point for the sync cycle, the daily rescore, ``score explain`` and the
benchmarks: the state the ledger holds about a person goes in, an :class:`Evaluation` comes out, and
:func:`desired_fields` turns it into the values each mapped CRM field should hold. Pure, like the rest
of the core; ``now`` is an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from leadsync.domain import contact_status as contact_status_rules
from leadsync.domain import lifecycle as lifecycle_rules
from leadsync.domain.contact_status import ContactStatusRules
from leadsync.domain.fields import FieldMappings, value_for
from leadsync.domain.grading import GradeResult, GradingProfile, grade
from leadsync.domain.hygiene import HygieneRules, check
from leadsync.domain.lifecycle import LifecycleInput, LifecycleRules, Role
from leadsync.domain.model import Activity, ContactStatusChange, CrmFacts, HygieneVerdict, Person, Transition
from leadsync.domain.planner import DesiredField, Target
from leadsync.domain.scoring import ScoreResult, ScoringModel, score


class CoreRules(Protocol):
    """The rule concerns evaluation needs (``leadsync.rules.ruleset.RuleSet`` provides them)."""

    @property
    def scoring(self) -> ScoringModel: ...
    @property
    def grading(self) -> GradingProfile: ...
    @property
    def hygiene(self) -> HygieneRules: ...
    @property
    def lifecycle(self) -> LifecycleRules: ...
    @property
    def contact_status(self) -> ContactStatusRules: ...


@dataclass(frozen=True, slots=True)
class PersonState:
    """What the ledger knows about a person before this evaluation."""

    person: Person
    activities: Sequence[Activity] = ()
    crm: CrmFacts = field(default_factory=CrmFacts)
    lifecycle_status: str | None = None
    status_since: datetime | None = None
    lifecycle_reason: str | None = None
    crm_changed_at: datetime | None = None
    contact_status: str | None = None
    mql_at: datetime | None = None
    recycled_at: datetime | None = None  # the latest entry into a recycled status (lifecycle: fresh evidence)


@dataclass(frozen=True)
class Evaluation:
    person_id: str
    score: ScoreResult
    grade: GradeResult
    hygiene: HygieneVerdict
    transition: Transition | None
    contact_change: ContactStatusChange | None
    lifecycle_status: str | None
    lifecycle_reason: str | None
    contact_status: str | None
    mql_at: datetime | None

    def values(self) -> dict[str, Any]:
        """The leadsync values field mappings refer to (``score``, ``grade``, ``lifecycle_status`` ...)."""
        return {
            "score": self.score.value,
            "grade": self.grade.letter,
            "lifecycle_status": self.lifecycle_status,
            "lifecycle_reason": self.lifecycle_reason,
            "contact_status": self.contact_status,
            "mql_at": self.mql_at,
        }


def evaluate(state: PersonState, rules: CoreRules, now: datetime) -> Evaluation:
    person = state.person
    scored = score(person, state.activities, rules.scoring, now)
    graded = grade(person, rules.grading)
    verdict = check(person, rules.hygiene)
    facts = LifecycleInput(
        score=scored.value,
        grade=graded.letter,
        crm=state.crm,
        hygiene=verdict,
        activity=lifecycle_rules.summarize(state.activities, rules.lifecycle),
        status_since=state.status_since,
        crm_changed_at=state.crm_changed_at,
        recycled_at=state.recycled_at,
    )
    transition = lifecycle_rules.decide(person.id, state.lifecycle_status, facts, rules.lifecycle, now)
    change = contact_status_rules.derive(person.id, state.contact_status, state.activities, rules.contact_status, now)

    status, reason, mql_at = state.lifecycle_status, state.lifecycle_reason, state.mql_at
    if transition is not None:
        status, reason = transition.to_status, transition.reason
        if mql_at is None and rules.lifecycle.status(transition.to_status).role is Role.MQL:
            mql_at = transition.at
    return Evaluation(
        person_id=person.id, score=scored, grade=graded, hygiene=verdict, transition=transition,
        contact_change=change, lifecycle_status=status, lifecycle_reason=reason,
        contact_status=change.to_status if change is not None else state.contact_status, mql_at=mql_at,
    )


def desired_fields(evaluation: Evaluation, targets: Sequence[Target], mappings: FieldMappings) -> list[DesiredField]:
    """The value every mapped field of every target record should hold, through the value maps.

    Values leadsync has no opinion on yet (no status decided, no MQL date) are left out rather than
    written as empty, so a first evaluation never clears a field someone filled by hand.
    """
    values = evaluation.values()
    wanted: list[DesiredField] = []
    for target in targets:
        for mapping in mappings.outbound(target.system, target.object):
            raw = values.get(mapping.value)
            if raw is None:
                continue
            wanted.append(DesiredField(
                target=target, field=mapping.field, value=value_for(mapping, raw),
                owned_by_leadsync=mapping.owned_by_leadsync, person_id=evaluation.person_id,
            ))
    return wanted
