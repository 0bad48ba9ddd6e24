"""``report sla --by team|owner|source`` when clocks name CRM owner ids (as the engine records them): ids map to
emails through the users and owners the sync pulled (``crm_owners``) and the ids routing recorded
(``assignments``), emails to routing queues; the source is the lead source the sync stored per CRM record,
chosen with the sync's own field precedence. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from leadsync.domain.model import System
from leadsync.ledger import Ledger
from leadsync.ledger.routing import AssignmentStatus, CrmOwner, NewAssignment
from leadsync.ledger.sync_state import SyncRecordRow
from leadsync.reports import Window, build_report, render
from leadsync.rules.ruleset import RuleSet, load_ruleset
from tests.integration.reports.builders import EPOCH_HOLDER, berlin, write

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
IVY, ERIN, DORA = "ivy.inside@example.com", "erin.enterprise@example.com", "dora.dach@example.com"
MON10 = berlin(2026, 11, 2, 10)
DUE = berlin(2026, 11, 3, 10)
NOW = berlin(2026, 11, 4, 12)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset(MAPPINGS)


def _clocks(ledger: Ledger, owners: dict[str, str | None], *, met: set[str]) -> None:
    write(ledger, identities=dict.fromkeys(owners, ()))
    with ledger.unit_of_work() as uow:
        for person, owner in owners.items():
            uow.sla.start(person, "mql_accepted", MON10, DUE, owner_id=owner)
            if person in met:
                uow.sla.meet(person, "mql_accepted", MON10 + timedelta(hours=1))


@pytest.fixture
def owned(ledger: Ledger) -> Ledger:
    """Clocks owned by a Salesforce user, a HubSpot owner, a user only routing knew, an unknown id, nobody."""
    _clocks(ledger, {"p1": "005IVY000000001AAA", "p2": "7001", "p3": "005DORA00000001AAA", "p4": "005NOBODY0000001AA",
                     "p5": None}, met={"p1", "p3"})
    epoch = ledger.take_epoch(EPOCH_HOLDER, MON10)
    with ledger.unit_of_work(epoch=epoch) as uow:
        uow.assignments.save_owners([
            CrmOwner(System.SALESFORCE, "005IVY000000001AAA", "Ivy.Inside@Example.com", True, False),
            CrmOwner(System.HUBSPOT, "7001", ERIN, True, False),
            CrmOwner(System.SALESFORCE, "00GQUEUE000000001A", None, True, True),
        ], MON10)
        # Dora left the CRM listing since; routing recorded her Salesforce id beside her email.
        uow.assignments.add_many([NewAssignment(
            "p3", AssignmentStatus.ASSIGNED, "dach", "German-speaking territory", "round robin", MON10,
            owner_email=DORA, salesforce_owner_id="005DORA00000001AAA", hubspot_owner_id="7003")], run_id="t",
            epoch=epoch)
    return ledger


def test_team_from_owner_id_through_email_to_queue(owned: Ledger, ruleset: RuleSet) -> None:
    report = build_report("sla", owned, ruleset, Window.default(NOW), by="team")
    rows = {r["team"]: (r["clocks"], r["met"], r["breached"], r["open"]) for r in report.table("compliance").records()}
    # p1 (Ivy, met), p2 (Erin, overdue and open), p3 (Dora, met), p4 and p5: no team.
    assert rows == {"inside-sales": (1, 1, 0, 0), "enterprise": (1, 0, 1, 0), "dach": (1, 1, 0, 0),
                    "(none)": (2, 0, 2, 0)}


def test_owners_shown_by_email_where_known_in_every_format(owned: Ledger, ruleset: RuleSet) -> None:
    report = build_report("sla", owned, ruleset, Window.default(NOW), by="owner")
    owners = {r["owner"]: r["clocks"] for r in report.table("compliance").records()}
    assert owners == {IVY: 1, ERIN: 1, DORA: 1, "005NOBODY0000001AA": 1, "(none)": 1}
    breaches = {r["person"]: r["owner"] for r in report.table("open_breaches").records()}
    assert breaches == {"p2": ERIN, "p4": "005NOBODY0000001AA", "p5": None}
    data: dict[str, Any] = json.loads(render(report, "json"))
    assert {r["owner"] for r in data["tables"]["open_breaches"]["rows"]} == {ERIN, "005NOBODY0000001AA", None}
    for fmt in ("json", "csv", "table", "html"):
        text = render(report, fmt)
        assert ERIN in text and DORA in text, fmt
        assert "005IVY000000001AAA" not in text and "7001" not in text, fmt

    audit = build_report("audit", owned, ruleset, Window.default(NOW), person="p2")
    assert [r["owner"] for r in audit.table("sla_clocks").records()] == [ERIN]


def _record(person: str, system: System, kind: str, record_id: str, source: str | None,
            deleted: bool = False) -> SyncRecordRow:
    return SyncRecordRow(system.value, kind, record_id, person, None, MON10, {"lead_source": source, "company": "Acme"},
                         {}, {}, deleted, MON10)


def test_source_is_the_lead_source_with_the_sync_precedence(ledger: Ledger, ruleset: RuleSet) -> None:
    _clocks(ledger, {f"s{n}": IVY for n in range(1, 7)}, met={"s1", "s2", "s3"})
    with ledger.unit_of_work() as uow:
        uow.sync.save_records([
            # Salesforce lead over HubSpot contact; Salesforce contact over lead.
            _record("s1", System.SALESFORCE, "lead", "00Q1", "Web"),
            _record("s1", System.HUBSPOT, "contact", "101", "ORGANIC_SEARCH"),
            _record("s2", System.SALESFORCE, "lead", "00Q2", "Web"),
            _record("s2", System.SALESFORCE, "contact", "0032", "Partner Referral"),
            _record("s3", System.HUBSPOT, "contact", "103", "PAID_SOCIAL"),
            # A deleted record's source and an empty one count for nothing; a higher record without one
            # leaves the field to the next.
            _record("s4", System.SALESFORCE, "lead", "00Q4", "Trade Show", deleted=True),
            _record("s4", System.HUBSPOT, "contact", "104", ""),
            _record("s6", System.SALESFORCE, "contact", "0036", None),
            _record("s6", System.HUBSPOT, "contact", "106", "EMAIL_MARKETING"),
        ])
    report = build_report("sla", ledger, ruleset, Window.default(NOW), by="source")
    rows = {r["source"]: (r["clocks"], r["met"], r["breached"]) for r in report.table("compliance").records()}
    assert rows == {"Web": (1, 1, 0), "Partner Referral": (1, 1, 0), "PAID_SOCIAL": (1, 1, 0),
                    "(unknown)": (2, 0, 2), "EMAIL_MARKETING": (1, 0, 1)}
    assert "(unknown)" in render(report, "csv") and "Partner Referral" in render(report, "html")
