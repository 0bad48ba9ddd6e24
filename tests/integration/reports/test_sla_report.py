"""``report sla`` over hand-built SLA clocks, with the answers worked out here in business hours of the
Berlin calendar (09:00-17:00 Mon-Fri)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadsync.ledger import Ledger
from leadsync.reports import Window, build_report, render
from leadsync.rules.ruleset import RuleSet, load_ruleset
from tests.integration.reports.builders import activity, berlin, write

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
IVY, ERIN = "ivy.inside@example.com", "erin.enterprise@example.com"  # inside-sales and enterprise queues
MON10 = berlin(2026, 11, 2, 10)
NOW = berlin(2026, 11, 4, 12)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset(MAPPINGS)


@pytest.fixture
def clocks(ledger: Ledger) -> Ledger:
    """Six mql_accepted clocks (8 business hours; started Mon 10:00 are due Tue 10:00)."""
    people = ["a1", "a2", "a3", "a4", "a5", "a6"]
    write(ledger, activities=[(p, activity("form_fill" if p != "a2" else "webinar_attended", MON10, f"x{p}"))
                              for p in people])
    due = berlin(2026, 11, 3, 10)
    with ledger.unit_of_work() as uow:
        for person, owner in zip(people[:3], [IVY] * 3, strict=True):
            uow.sla.start(person, "mql_accepted", MON10, due, owner_id=owner)
        uow.sla.meet("a1", "mql_accepted", berlin(2026, 11, 2, 11))  # 1 business hour
        uow.sla.meet("a2", "mql_accepted", berlin(2026, 11, 2, 13))  # 3 business hours
        uow.sla.meet("a3", "mql_accepted", berlin(2026, 11, 3, 12))  # 10 business hours: late
        uow.sla.start("a4", "mql_accepted", MON10, due, owner_id=ERIN)  # still open: an open breach
        uow.sla.start("a5", "mql_accepted", MON10, due, owner_id=ERIN)
        uow.sla.stop("a5", "mql_accepted", berlin(2026, 11, 2, 12), "owner changed")  # decided nothing
        uow.sla.start("a6", "mql_accepted", berlin(2026, 11, 4, 11), berlin(2026, 11, 5, 11), owner_id=ERIN)
    return ledger


def test_compliance_medians_speed_and_breaches(clocks: Ledger, ruleset: RuleSet) -> None:
    report = build_report("sla", clocks, ruleset, Window.default(NOW), by="owner")
    rows = {r["owner"]: r for r in report.table("compliance").records()}
    assert (rows[IVY]["clocks"], rows[IVY]["met"], rows[IVY]["breached"], rows[IVY]["open"]) == (3, 2, 1, 0)
    assert rows[IVY]["compliance %"] == 66.7
    assert (rows[IVY]["median business h"], rows[IVY]["p90 business h"]) == (3.0, 10.0)
    assert (rows[ERIN]["clocks"], rows[ERIN]["met"], rows[ERIN]["breached"], rows[ERIN]["open"]) == (2, 0, 1, 1)
    assert rows[ERIN]["compliance %"] == 0.0 and rows[ERIN]["median business h"] is None

    speed = {r["within"]: r["clocks"] for r in report.table("speed_to_lead").records()}
    assert speed == {"5 min": 0, "1 hour": 1, "4 hours": 1, "24 hours": 0, "42 hours": 1, "1 week": 0,
                     "longer": 0, "not yet": 2}  # a3 waited 26 wall-clock hours
    (open_breach,) = report.table("open_breaches").records()
    assert open_breach["person"] == "a4" and open_breach["overdue business h"] == 10.0  # Tue 10-17, Wed 9-12
    (past,) = report.table("past_breaches").records()
    assert past["person"] == "a3" and past["late by business h"] == 2.0
    assert dict(report.headline)["compliance"] == "50.0%"  # 2 met of 4 decided
    assert any("1 clock(s) stopped without a verdict" in n for n in report.notes)
    (summary,) = report.table("summary").records()
    assert (summary["sla"], summary["clocks"], summary["median business h"]) == ("mql_accepted", 5, 3.0)


def test_group_by_team_and_source(clocks: Ledger, ruleset: RuleSet) -> None:
    teams = build_report("sla", clocks, ruleset, Window.default(NOW), by="team")
    by_team = {r["team"]: (r["met"], r["breached"]) for r in teams.table("compliance").records()}
    assert by_team == {"inside-sales": (2, 1), "enterprise": (0, 1)}
    # No CRM record holds a lead source for these people (their first activities are no source).
    sources = build_report("sla", clocks, ruleset, Window.default(NOW), by="source")
    by_source = {r["source"]: r["clocks"] for r in sources.table("compliance").records()}
    assert by_source == {"(unknown)": 5}


def test_window_excludes_clocks_started_outside(clocks: Ledger, ruleset: RuleSet) -> None:
    window = Window(NOW, since=berlin(2026, 11, 4, 0), until=NOW)
    report = build_report("sla", clocks, ruleset, window)
    assert [r["person"] for r in report.table("open_breaches").records()] == []
    assert sum(r["clocks"] for r in report.table("compliance").records()) == 1  # only a6


def test_every_format_carries_the_same_numbers(clocks: Ledger, ruleset: RuleSet) -> None:
    report = build_report("sla", clocks, ruleset, Window.default(NOW))
    data = json.loads(render(report, "json"))
    assert data["tables"]["compliance"]["rows"][0]["compliance %"] in (66.7, 0.0)
    assert {r["owner"] for r in data["tables"]["compliance"]["rows"]} == {IVY, ERIN}
    csv_text = render(report, "csv")
    assert "# compliance: Compliance per owner" in csv_text and f"{IVY},mql_accepted,3,2,1,0,66.7,3.0,10.0" in csv_text
    text = render(report, "table")
    assert "Compliance per owner" in text and "66.7" in text and "\x1b[" not in text
    fancy = render(report, "table", tty=True)
    assert "\x1b[" in fancy and "66.7" in fancy
    html = render(report, "html")
    assert html.count("<svg") == 3 and "<script" not in html and "66.7" in html
