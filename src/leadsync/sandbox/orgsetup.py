"""The org's fixed cast, made before any person: users and owners, queues, companies, campaigns,
accounts with their opportunities (created when a company's first contact appears)."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from leadsync.sandbox import names
from leadsync.sandbox.orgactivity import Campaign
from leadsync.sandbox.orgpools import SalesforceIds, Timestamps, Weighted

Record = dict[str, Any]

ORG_DOMAIN = "leadsync-demo.example"


def slug(text: str) -> str:
    """ASCII letters and digits only, lower case: 'Müller' -> 'muller', "O'Brien" -> 'obrien'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in ascii_text.lower() if c.isalnum())


@dataclass(frozen=True, slots=True)
class Rep:
    sf_user_id: str
    hs_owner_id: str
    active: bool


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    domain: str
    industry: str
    employees: int
    size_option: str  # HubSpot numemployees option
    revenue: int
    country: str


@dataclass(slots=True)
class Account:
    id: str
    opportunity_ids: list[str] = field(default_factory=list)
    won: bool = False
    open: bool = False


class OrgSetup:
    """Creates and holds the non-person records; persons and activities refer to them."""

    def __init__(self, rng: random.Random, times: Timestamps, sf_ids: SalesforceIds,
                 sf: dict[str, list[Record]], hs: dict[str, list[Record]]) -> None:
        self.rng, self.times, self.sf_ids, self.sf, self.hs = rng, times, sf_ids, sf, hs
        self.admin_user_id = ""
        self.active_reps: list[Rep] = []
        self.inactive_reps: list[Rep] = []
        self.queues: dict[str, str] = {}
        self.companies: list[Company] = []
        self.campaigns: list[Campaign] = []
        self.accounts: dict[int, Account] = {}

    def _stamp(self, days_ago_max: int) -> str:
        return self.times.sf(self.times.now - self.rng.randrange(86400, 86400 * days_ago_max))

    # ----- users, owners, queues -----------------------------------------------------------------
    def users(self, persons: int) -> None:
        # The integration user leadsync logs in as is the emulator's own; the org brings its admin and reps.
        self.admin_user_id = self._user("Avery", "Admin", "Marketing Operations Manager", "Marketing", True)
        rep_count = min(120, max(6, persons // 400))
        owner_id = self.rng.randrange(10**7, 9 * 10**7)
        hs_user_id = self.rng.randrange(10**6, 9 * 10**6)
        for number in range(rep_count):
            first, last = self.rng.choice(names.FIRST_NAMES), self.rng.choice(names.LAST_NAMES)
            # About one rep in ten has left the company; their records keep pointing at them.
            active = number % 10 != 3
            title = self.rng.choice(("Account Executive", "Sales Development Representative", "Sales Manager"))
            user_id = self._user(first, last, title, "Sales", active)
            owner_id += 1
            hs_user_id += 1
            stamp = self.times.hs(self.times.now - self.rng.randrange(86400 * 30, 86400 * 700))
            self.hs["owners"].append({
                "id": str(owner_id), "email": self._user_email(first, last), "firstName": first, "lastName": last,
                "userId": hs_user_id, "createdAt": stamp, "updatedAt": stamp, "archived": not active,
            })
            rep = Rep(user_id, str(owner_id), active)
            (self.active_reps if active else self.inactive_reps).append(rep)

    def _user_email(self, first: str, last: str) -> str:
        return f"{slug(first)}.{slug(last)}@{ORG_DOMAIN}"

    def _user(self, first: str, last: str, title: str, department: str, active: bool) -> str:
        user_id = self.sf_ids.new("User")
        email = self._user_email(first, last)
        stamp = self._stamp(900)
        self.sf["User"].append({
            "Id": user_id, "Username": f"{email}.{len(self.sf['User'])}", "FirstName": first, "LastName": last,
            "Name": f"{first} {last}", "Email": email, "Alias": (slug(first)[:1] + slug(last))[:8],
            "Title": title, "Department": department, "IsActive": active,
            "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
        })
        return user_id

    def queues_(self) -> None:
        for name in names.QUEUES:
            group_id = self.sf_ids.new("Group")
            stamp = self._stamp(900)
            self.sf["Group"].append({
                "Id": group_id, "Name": name, "DeveloperName": name.replace(" ", "_"), "Type": "Queue",
                "Email": None, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
            })
            self.queues[name] = group_id

    def pick_rep(self) -> Rep:
        if self.inactive_reps and self.rng.random() < 0.08:
            return self.rng.choice(self.inactive_reps)
        return self.rng.choice(self.active_reps)

    # ----- companies and campaigns ---------------------------------------------------------------
    def companies_(self, persons: int) -> None:
        industries, countries = Weighted(names.INDUSTRIES), Weighted(names.COUNTRIES)
        sizes = Weighted([((low, high, option), w) for low, high, w, option in names.COMPANY_SIZES])
        suffixes = Weighted(names.DOMAIN_SUFFIXES)
        seen: set[str] = set()
        for number in range(max(30, persons // 6)):
            name = f"{self.rng.choice(names.COMPANY_HEADS)} {self.rng.choice(names.COMPANY_TAILS)}"
            if name in seen:
                name = f"{name} {number}"
            seen.add(name)
            low, high, option = sizes.pick(self.rng)
            employees = self.rng.randrange(low, high)
            revenue = employees * self.rng.randrange(60, 400) * 1000
            self.companies.append(Company(name, slug(name) + suffixes.pick(self.rng), industries.pick(self.rng),
                                          employees, option, revenue, countries.pick(self.rng)))

    def pick_company(self) -> int:
        # Squaring skews towards the first companies: a few big accounts, a long tail of small ones.
        return int(len(self.companies) * self.rng.random() ** 2)

    def campaigns_(self) -> None:
        for name, kind in names.CAMPAIGNS:
            campaign_id = self.sf_ids.new("Campaign")
            start = self.times.now - self.rng.randrange(86400 * 20, 86400 * 300)
            stamp = self.times.sf(start)
            done = start < self.times.now - 86400 * 60
            self.sf["Campaign"].append({
                "Id": campaign_id, "Name": name, "Type": kind, "Status": "Completed" if done else "In Progress",
                "IsActive": not done, "StartDate": self.times.day(start), "OwnerId": self.admin_user_id,
                "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
            })
            statuses = Weighted([((status, responded), w) for status, responded, w in names.MEMBER_STATUSES[kind]])
            self.campaigns.append(Campaign(campaign_id, kind, statuses))

    # ----- accounts and opportunities ------------------------------------------------------------
    def account(self, company_index: int, owner: Rep) -> Account:
        account = self.accounts.get(company_index)
        if account is not None:
            return account
        company = self.companies[company_index]
        account = Account(self.sf_ids.new("Account"))
        created = self.times.now - self.rng.randrange(86400 * 30, 86400 * 360)
        for _ in range(self.rng.choices((0, 1, 2, 3), (30, 45, 20, 5))[0]):
            self._opportunity(account, company, owner, created)
        stamp = self.times.sf(created)
        self.sf["Account"].append({
            "Id": account.id, "Name": company.name, "Industry": company.industry,
            "NumberOfEmployees": company.employees, "AnnualRevenue": company.revenue,
            "BillingCountry": company.country, "Website": f"https://www.{company.domain}",
            "Type": "Customer - Direct" if account.won else "Prospect", "OwnerId": owner.sf_user_id,
            "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
        })
        self.accounts[company_index] = account
        return account

    def _opportunity(self, account: Account, company: Company, owner: Rep, account_created: int) -> None:
        rng = self.rng
        created = account_created + rng.randrange(0, max(1, self.times.now - account_created))
        outcome = rng.choices(("open", "won", "lost"), (45, 30, 25))[0]
        if outcome == "open":
            stage, close = rng.choice(names.OPEN_STAGES), _future_day(self.times.now, rng.randrange(7, 150))
        else:
            stage = "Closed Won" if outcome == "won" else "Closed Lost"
            close = self.times.day(created + rng.randrange(0, max(1, self.times.now - created)))
        account.won |= outcome == "won"
        account.open |= outcome == "open"
        opportunity_id = self.sf_ids.new("Opportunity")
        account.opportunity_ids.append(opportunity_id)
        stamp = self.times.sf(created)
        self.sf["Opportunity"].append({
            "Id": opportunity_id, "Name": f"{company.name} - Platform {rng.choice(('Starter', 'Pro', 'Enterprise'))}",
            "AccountId": account.id, "OwnerId": owner.sf_user_id, "StageName": stage,
            "IsClosed": outcome != "open", "IsWon": outcome == "won", "CloseDate": close, "Type": "New Business",
            "Probability": 100.0 if outcome == "won" else 0.0 if outcome == "lost" else 10.0 * rng.randrange(1, 10),
            "Amount": float(rng.choice((12_000, 24_000, 48_000, 96_000, 180_000))), "LeadSource": "Web",
            "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
        })


def _future_day(now: int, days: int) -> str:
    return (datetime.fromtimestamp(now, UTC) + timedelta(days=days)).date().isoformat()
