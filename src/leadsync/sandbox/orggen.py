"""A realistic synthetic org for the sandbox emulators, deterministic by seed.

``generate_org(persons, seed, now=...)`` returns the records both emulators load (``load_org``) plus a
``truth`` that says, for every generated person, where they live and what is special about them, so
tests can check the sync against known answers.

The mix, roughly: 40% of people are in both systems (same email), 27% only in Salesforce (a Lead, or a
Contact under an Account, about 40% of those Contacts from a converted Lead), 33% only in HubSpot.
About 2.5% are junk sign-ups (test@mailinator.com, "asdf asdf"), 4% have no email (they can only
live in one system), 3.5% of Salesforce people have a duplicate record with the same email (Lead+Lead
or Contact+Lead), and 5% of Salesforce emails differ from HubSpot's only by letter case. HubSpot
itself holds no same-email duplicates: it de-duplicates contacts by email.
"Purchased List" leads arrive in a few bulk imports sharing one timestamp (modstamp ties) and most
never interact. Activities average ``activities_per_person`` (long-tailed), spread over the
``history_days`` before ``now`` and skewed to recent months; nothing is later than ``now``.
"""

from __future__ import annotations

import gc
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadsync.sandbox import names
from leadsync.sandbox.orgactivity import ActivityWriter, Actor
from leadsync.sandbox.orgpools import SalesforceIds, Timestamps, Weighted
from leadsync.sandbox.orgsetup import Company, OrgSetup, Rep, slug

Record = dict[str, Any]
SF_TYPES = ("User", "Group", "Account", "Lead", "Contact", "Opportunity", "Task", "Event", "Campaign",
            "CampaignMember")
HS_TYPES = ("owners", "contacts", "calls", "emails", "meetings", "notes", "tasks", "events", "associations")

JUNK_SHARE = 0.025
MISSING_EMAIL_SHARE = 0.04
DUPLICATE_SHARE = 0.035
# Junk and untouched purchased leads pull the average down; this brings the total back to about
# persons x activities_per_person (measured over 100,000 persons).
_ACTIVITY_BOOST = 1.08


@dataclass(frozen=True, slots=True)
class PersonTruth:
    """Ground truth about one generated person (not visible to the emulators)."""

    index: int
    email: str | None  # lower case; None when the person has no email anywhere
    placement: str  # "both", "salesforce" or "hubspot"
    salesforce_ids: tuple[str, ...]  # every Lead/Contact of the person (converted lead first, duplicate last)
    hubspot_id: str | None
    junk: bool
    duplicate: bool  # two live Salesforce records share this email
    converted: bool  # a converted Lead plus the Contact it became
    activities: int


@dataclass(frozen=True)
class OrgTruth:
    persons: tuple[PersonTruth, ...]
    counts: dict[str, int]  # persons, both, salesforce_only, hubspot_only, junk, ... and activity.<kind>

    def where(self, placement: str) -> list[PersonTruth]:
        return [p for p in self.persons if p.placement == placement]


@dataclass
class SyntheticOrg:
    salesforce: dict[str, list[Record]]
    hubspot: dict[str, list[Record]]
    truth: OrgTruth
    seed: int
    now: datetime


@dataclass
class _Person:
    """Attributes shared by a person's records in both systems."""

    first: str
    last: str
    email: str | None
    title: str | None
    department: str | None
    company: Company
    company_index: int
    country: str
    phone: str | None
    created: int
    modified: int
    rep: Rep
    junk: bool = False
    lead_source: str = "Web"
    sf_ids: list[str] = field(default_factory=list)


def generate_org(persons: int, seed: int, *, activities_per_person: float = 10, now: datetime,
                 history_days: int = 365) -> SyntheticOrg:
    """Generate ``persons`` people with their records and activities; the same seed gives the same org."""
    if persons < 1:
        raise ValueError(f"persons must be at least 1, got {persons}")
    if activities_per_person < 0:
        raise ValueError(f"activities_per_person must be >= 0, got {activities_per_person}")
    if history_days < 30:
        raise ValueError(f"history_days must be at least 30, got {history_days}")
    # The org is millions of small acyclic dicts: the cyclic collector would rescan them over and over
    # while they are built (a third of the run time at 100,000 persons) and find nothing to free.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Generator(persons, seed, activities_per_person, now, history_days).run()
    finally:
        if collecting:
            gc.enable()


class _Generator:
    def __init__(self, persons: int, seed: int, per_person: float, now: datetime, history_days: int) -> None:
        self.persons, self.seed, self.per_person, self.now = persons, seed, per_person, now
        self.rng = rng = random.Random(seed)
        # Users, queues and accounts predate the people; give their timestamps room before the history.
        self.times = Timestamps(now, history_days + 1000)
        self.history = history_days * 86400
        self.sf: dict[str, list[Record]] = {name: [] for name in SF_TYPES}
        self.hs: dict[str, list[Record]] = {name: [] for name in HS_TYPES}
        self.sf_ids = SalesforceIds(rng)
        self.setup = OrgSetup(rng, self.times, self.sf_ids, self.sf, self.hs)
        self.truth: list[PersonTruth] = []
        self.counts: Counter[str] = Counter()
        self.emails: set[str] = set()
        self.hs_contact_id = rng.randrange(1000, 90_000)
        self.placements = Weighted((("both", 40), ("salesforce", 27), ("hubspot", 33)))
        self.junk_placements = Weighted((("hubspot", 60), ("salesforce", 25), ("both", 15)))
        self.seniority = Weighted(names.SENIORITY_SHARES)
        self.countries = Weighted(names.COUNTRIES)
        self.lead_sources = Weighted(names.LEAD_SOURCES)
        self.hs_sources = Weighted(names.HS_SOURCES)
        self.lead_statuses = Weighted(names.OPEN_LEAD_STATUSES)
        self.stages = Weighted(names.LIFECYCLE_STAGES)
        self.hs_statuses = Weighted(names.HS_LEAD_STATUSES)
        # Purchased lists come in a handful of imports; every lead of one import shares its timestamp.
        self.imports = sorted(self.times.now - rng.randrange(86400, self.history) for _ in range(3))

    def run(self) -> SyntheticOrg:
        self.setup.users(self.persons)
        self.setup.queues_()
        self.setup.companies_(self.persons)
        self.setup.campaigns_()
        self.activities = ActivityWriter(self.rng, self.times, self.sf_ids, self.sf, self.hs, self.setup.campaigns)
        for index in range(self.persons):
            self._person(index)
        counts = dict(self.counts)
        counts.update({f"activity.{kind}": n for kind, n in sorted(self.activities.kinds.items())})
        counts["activities"] = sum(self.activities.kinds.values())
        return SyntheticOrg(self.sf, self.hs, OrgTruth(tuple(self.truth), counts), self.seed, self.now)

    # ----- one person ----------------------------------------------------------------------------
    def _person(self, index: int) -> None:
        rng = self.rng
        junk = rng.random() < JUNK_SHARE
        person = self._junk_attributes() if junk else self._real_attributes()
        if junk:
            placement = self.junk_placements.pick(rng)
        elif person.email is None:
            placement = "salesforce" if rng.random() < 0.8 else "hubspot"
        else:
            placement = self.placements.pick(rng)
        converted = duplicate = False
        account = None
        if placement != "hubspot":
            converted, duplicate, account = self._salesforce_records(person)
        hubspot_id = self._hubspot_contact(person, account) if placement != "salesforce" else None
        count = self._activity_count(person)
        owner = person.rep if person.rep.active else rng.choice(self.setup.active_reps)
        actor = Actor(placement, tuple(person.sf_ids[-2:] if duplicate else person.sf_ids[-1:]), hubspot_id,
                      owner.sf_user_id, owner.hs_owner_id, person.created, junk)
        self.activities.write(actor, count)  # one record per activity, always
        email = person.email.lower() if person.email else None
        self.truth.append(PersonTruth(index, email, placement, tuple(person.sf_ids), hubspot_id, junk, duplicate,
                                      converted, count))
        self.counts.update(persons=1, junk=junk, duplicates=duplicate, converted=converted,
                           missing_email=person.email is None)
        self.counts["salesforce_only" if placement == "salesforce" else
                    "hubspot_only" if placement == "hubspot" else "both"] += 1

    def _activity_count(self, person: _Person) -> int:
        rng = self.rng
        if person.junk:
            return rng.randrange(3)
        if person.lead_source == "Purchased List" and rng.random() < 0.6:
            return 0  # a raw import: never interacted
        if self.per_person <= 0:
            return 0
        return int(rng.expovariate(1 / (self.per_person * _ACTIVITY_BOOST)) + 0.5)

    def _real_attributes(self) -> _Person:
        rng, setup = self.rng, self.setup
        first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
        company_index = setup.pick_company()
        company = setup.companies[company_index]
        title, department = self._title()
        email = None
        if rng.random() >= MISSING_EMAIL_SHARE:
            domain = rng.choice(names.FREE_MAIL_DOMAINS) if rng.random() < 0.12 else company.domain
            email = self._unique_email(self._local_part(first, last), domain)
        country = company.country if rng.random() < 0.85 else self.countries.pick(rng)
        phone = f"+1 555-{rng.randrange(100, 1000)}-{rng.randrange(10000):04d}" if rng.random() < 0.7 else None
        created = self.times.now - rng.randrange(self.history)
        return _Person(first, last, email, title, department, company, company_index, country, phone, created,
                       self._modified(created), setup.pick_rep())

    def _junk_attributes(self) -> _Person:
        rng = self.rng
        first, last = rng.choice(names.JUNK_NAMES)
        email = self._unique_email(slug(first) or "x", rng.choice(names.JUNK_DOMAINS))
        company_index = self.setup.pick_company()
        company = self.setup.companies[company_index]
        company = Company(rng.choice(names.JUNK_COMPANIES), company.domain, "Other", 1, "1-5", 0, "")
        created = self.times.now - rng.randrange(self.history)
        return _Person(first, last, email, rng.choice((None, "asdf", "test", "-")), None, company, company_index,
                       "", None, created, created, self.setup.pick_rep(), junk=True)

    def _title(self) -> tuple[str | None, str | None]:
        rng = self.rng
        level = self.seniority.pick(rng)
        department = rng.choice(names.DEPARTMENTS)
        if level == "C-Level":
            return rng.choice(names.C_LEVEL)
        if level == "VP":
            return rng.choice((f"VP of {department}", f"Vice President, {department}")), department
        if level == "Director":
            return rng.choice((f"Director of {department}", f"{department} Director")), department
        if level == "Manager":
            return rng.choice((f"{department} Manager", f"Senior {department} Manager")), department
        if level == "Individual Contributor":
            return rng.choice(names.IC_TITLES[department]), department
        if level == "Other":
            return rng.choice(names.OTHER_TITLES)
        return None, None

    def _local_part(self, first: str, last: str) -> str:
        f, l_ = slug(first), slug(last)
        shape = self.rng.random()
        if shape < 0.6:
            return f"{f}.{l_}"
        if shape < 0.8:
            return f"{f[:1]}{l_}"
        return f"{f}_{l_}" if shape < 0.95 else f

    def _unique_email(self, local: str, domain: str) -> str:
        email = f"{local}@{domain}"
        number = 1
        while email in self.emails:
            number += 1
            email = f"{local}{number}@{domain}"
        self.emails.add(email)
        return email

    def _modified(self, created: int) -> int:
        if self.rng.random() < 0.4:
            return created
        return created + int((self.times.now - created) * self.rng.random())

    # ----- Salesforce records --------------------------------------------------------------------
    def _salesforce_records(self, person: _Person) -> tuple[bool, bool, Any]:
        rng = self.rng
        converted = duplicate = False
        account = None
        if not person.junk and rng.random() < 0.32:
            rep = person.rep
            account = self.setup.account(person.company_index, rep)
            contact_id = self.sf_ids.new("Contact")
            if rng.random() < 0.4:
                converted = True
                self._lead(person, "Closed - Converted", (contact_id, account.id,
                           account.opportunity_ids[0] if account.opportunity_ids else None))
            self._contact(person, contact_id, account.id)
        else:
            source = self.lead_sources.pick(rng) if not person.junk else "Web"
            person.lead_source = source
            if source == "Purchased List":
                person.created = person.modified = rng.choice(self.imports)
            self._lead(person, self._lead_status(person), None)
        if person.email and not person.junk and rng.random() < DUPLICATE_SHARE:
            # The same person signs up again weeks later and a second Lead is created.
            duplicate = True
            created, modified, source = person.created, person.modified, person.lead_source
            person.created = person.modified = min(self.times.now, created + rng.randrange(86400, 86400 * 60))
            person.lead_source = "Web"
            self._lead(person, "Open - Not Contacted", None)
            person.created, person.modified, person.lead_source = created, modified, source
        return converted, duplicate, account

    def _lead_status(self, person: _Person) -> str:
        if person.junk or person.lead_source == "Purchased List":
            return "Open - Not Contacted"
        return self.lead_statuses.pick(self.rng)

    def _lead(self, person: _Person, status: str, conversion: tuple[str, str, str | None] | None) -> None:
        rng = self.rng
        owner = person.rep.sf_user_id
        if conversion is None and (person.junk or (status == "Open - Not Contacted" and rng.random() < 0.3)):
            owner = self.setup.queues["Inbound Leads"]
        elif status == "Nurture" and rng.random() < 0.5:
            owner = self.setup.queues["Nurture Pool"]
        lead_id = self.sf_ids.new("Lead")
        person.sf_ids.append(lead_id)
        created, modified = self.times.sf(person.created), self.times.sf(person.modified)
        record = {
            "Id": lead_id, "FirstName": person.first, "LastName": person.last, "Email": self._sf_email(person),
            "Title": person.title, "Company": person.company.name, "Industry": person.company.industry,
            "NumberOfEmployees": person.company.employees, "AnnualRevenue": float(person.company.revenue),
            "Country": person.country or None, "LeadSource": person.lead_source, "Status": status,
            "OwnerId": owner, "IsConverted": conversion is not None, "Phone": person.phone,
            "ConvertedContactId": None, "ConvertedAccountId": None, "ConvertedOpportunityId": None,
            "ConvertedDate": None, "CreatedDate": created, "LastModifiedDate": modified, "SystemModstamp": modified,
        }
        if conversion is not None:
            record.update(ConvertedContactId=conversion[0], ConvertedAccountId=conversion[1],
                          ConvertedOpportunityId=conversion[2], ConvertedDate=self.times.day(person.modified))
        self.sf["Lead"].append(record)

    def _contact(self, person: _Person, contact_id: str, account_id: str) -> None:
        person.sf_ids.append(contact_id)
        created, modified = self.times.sf(person.created), self.times.sf(person.modified)
        self.sf["Contact"].append({
            "Id": contact_id, "FirstName": person.first, "LastName": person.last, "Email": self._sf_email(person),
            "Title": person.title, "Department": person.department, "AccountId": account_id,
            "OwnerId": person.rep.sf_user_id, "Phone": person.phone, "MailingCountry": person.country or None,
            "LeadSource": person.lead_source, "CreatedDate": created, "LastModifiedDate": modified,
            "SystemModstamp": modified,
        })

    def _sf_email(self, person: _Person) -> str | None:
        # Reps type emails by hand: some differ from HubSpot's (always lower case) only by letter case.
        if person.email and self.rng.random() < 0.05:
            local, _, domain = person.email.partition("@")
            return f"{local.title()}@{domain.capitalize()}"
        return person.email

    # ----- HubSpot contact -----------------------------------------------------------------------
    def _hubspot_contact(self, person: _Person, account: Any) -> str:
        rng = self.rng
        self.hs_contact_id += 1
        contact_id = str(self.hs_contact_id)
        if account is not None and account.won:
            stage: str = "customer"
        elif account is not None and account.open:
            stage = "opportunity"
        elif person.junk:
            stage = "subscriber"
        else:
            stage = self.stages.pick(rng)
        status = None if stage in ("subscriber", "customer") else self.hs_statuses.pick(rng) or None
        source = "OFFLINE" if person.lead_source == "Purchased List" else self.hs_sources.pick(rng)
        created, modified = self.times.hs(person.created), self.times.hs(person.modified)
        company = person.company
        self.hs["contacts"].append({"id": contact_id, "properties": {
            "email": person.email.lower() if person.email else None, "firstname": person.first,
            "lastname": person.last, "jobtitle": person.title, "company": company.name,
            "industry": company.industry, "numemployees": company.size_option,
            "annualrevenue": str(company.revenue) if company.revenue else None, "country": person.country or None,
            "phone": person.phone, "hs_analytics_source": source, "lifecyclestage": stage, "hs_lead_status": status,
            "hubspot_owner_id": person.rep.hs_owner_id, "createdate": created, "lastmodifieddate": modified,
        }, "createdAt": created, "updatedAt": modified, "archived": False})
        return contact_id
