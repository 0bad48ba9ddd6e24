"""Plain data the whole core speaks: people, activities, transitions.

Everything here is a frozen dataclass or an enum over the standard library. Adapters (Salesforce,
HubSpot, the ledger) convert their vendor shapes into these types at the border; nothing
vendor-shaped crosses into ``leadsync.domain``.

Status names are *data* (orgs rename them, add MAQL or LAL), so a status is a plain ``str`` whose
meaning comes from the lifecycle rule file.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    """One shared read-only empty mapping (a mappingproxy is unhashable, so it needs a factory)."""
    return EMPTY


class System(enum.StrEnum):
    """A system leadsync reads from and writes to."""

    SALESFORCE = "salesforce"
    HUBSPOT = "hubspot"


# The activity vocabulary connectors emit. Rule files name these; unknown names are a validation error
# so a typo in `scoring.toml` cannot silently score nothing.
ACTIVITY_TYPES: frozenset[str] = frozenset(
    {
        "page_view",
        "email_open",
        "email_click",
        "email_reply",
        "email_sent",
        "email_bounce",
        "unsubscribe",
        "form_fill",
        "download",
        "webinar_registered",
        "webinar_attended",
        "event_attended",
        "trial_request",
        "demo_request",
        "contact_us",
        "newsletter_signup",
        "campaign_response",
        "call",
        "meeting",
        "note",
        "task",
        "chat",
        "search",
    }
)


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing a person did, or one thing done to them, in one source system.

    ``source_id`` is unique within ``source``; ``properties`` carries the vendor details the rules
    may filter on (``url``, ``form_name``, ``disposition``, ``outcome``, ``direction`` ...), already
    normalised to lower-case keys and string values by the adapter.
    """

    source: System
    source_id: str
    type: str
    occurred_at: datetime
    properties: Mapping[str, str] = field(default_factory=_empty)

    def prop(self, name: str) -> str | None:
        return self.properties.get(name)


# Canonical person fields the grading rules and hygiene rules may name. Adapters fill what they know;
# custom fields travel in ``Person.extra`` under the name the field mapping gives them.
PERSON_FIELDS: frozenset[str] = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "title",
        "seniority",
        "department",
        "company",
        "industry",
        "country",
        "employees",
        "annual_revenue",
        "technologies",
        "lead_source",
        "phone",
        "buying_timeframe",
    }
)


@dataclass(frozen=True, slots=True)
class Person:
    """Who someone is, as far as the core needs to know (no CRM ids beyond the leadsync id)."""

    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    seniority: str | None = None
    department: str | None = None
    company: str | None = None
    industry: str | None = None
    country: str | None = None
    employees: int | None = None
    annual_revenue: float | None = None
    technologies: tuple[str, ...] = ()
    lead_source: str | None = None
    phone: str | None = None
    buying_timeframe: str | None = None
    extra: Mapping[str, str] = field(default_factory=_empty)

    def get(self, name: str) -> Any:
        """A field by its rule-file name: canonical fields first, then custom ones."""
        if name in PERSON_FIELDS:
            return getattr(self, name)
        return self.extra.get(name)


class OwnerKind(enum.StrEnum):
    USER = "user"
    QUEUE = "queue"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class CrmFacts:
    """What the CRMs say about a person's sales progress; lifecycle entry rules read these.

    ``crm_status`` is the Salesforce Lead.Status (or Contact equivalent) as the CRM holds it;
    ``hubspot_stage`` is HubSpot's ``lifecyclestage`` option. Both are inputs only: leadsync decides the
    lifecycle status itself and writes it to its own fields.
    """

    crm_status: str | None = None
    owner_kind: OwnerKind = OwnerKind.NONE
    owner_id: str | None = None
    is_converted: bool = False
    is_contact: bool = False
    has_open_opportunity: bool = False
    has_won_opportunity: bool = False
    has_lost_opportunity: bool = False
    hubspot_stage: str | None = None
    imported: bool = False
    disqualified_reason: str | None = None


class CauseKind(enum.StrEnum):
    RULE = "rule"
    CRM_USER = "crm_user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Cause:
    """Who or what caused a transition: a rule, a CRM user (by id), or an admin command."""

    kind: CauseKind
    actor: str | None = None


class Move(enum.StrEnum):
    """How a status changed. Only ``FORWARD`` moves may be automatic; the rest carry a reason."""

    INITIAL = "initial"
    FORWARD = "forward"
    DISQUALIFY = "disqualify"
    RECYCLE = "recycle"
    REOPEN = "reopen"


@dataclass(frozen=True, slots=True)
class Transition:
    """One lifecycle status change, as decided by the core. The ledger adds run id and epoch."""

    person_id: str
    from_status: str | None
    to_status: str
    at: datetime
    move: Move
    rule: str
    ruleset_version: str
    reason: str
    facts: Mapping[str, Any] = field(default_factory=_empty)
    cause: Cause = field(default=Cause(CauseKind.RULE))


# ``Transition.facts`` key set on the first status of people met in the ledger's first sync (the backfill of
# an org that was running long before leadsync): their status is a starting point, not a hand-off that just
# happened, so it starts no SLA clock and routes nobody.
BACKFILL_FACT = "backfill"


def is_backfill(transition: Transition) -> bool:
    return transition.move is Move.INITIAL and bool(transition.facts.get(BACKFILL_FACT))


@dataclass(frozen=True, slots=True)
class ContactStatusChange:
    """A contact-status change (call dispositions and the like); never mixed into lifecycle."""

    person_id: str
    from_status: str | None
    to_status: str
    at: datetime
    rule: str
    ruleset_version: str
    reason: str
    facts: Mapping[str, Any] = field(default_factory=_empty)
    cause: Cause = field(default=Cause(CauseKind.RULE))


class HygieneAction(enum.StrEnum):
    OK = "ok"
    FLAG = "flag"  # keep going, but list the person for review
    DISQUALIFY = "disqualify"  # junk or test sign-up: lifecycle moves to Disqualified with the reason


@dataclass(frozen=True, slots=True)
class HygieneVerdict:
    """What the hygiene rules concluded about a person; lifecycle reads it as a fact."""

    action: HygieneAction = HygieneAction.OK
    reason: str | None = None
    rules: tuple[str, ...] = ()
