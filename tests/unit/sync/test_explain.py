"""`score explain` from the ledger: breakdown with decay, grade criteria, statuses and history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadsync.domain.model import System
from leadsync.sync.explain import PersonNotFound, explain, render_text

from .conftest import World
from .helpers import ann, form_fill


def test_explain_shows_the_breakdown_the_criteria_and_the_last_transitions(world: World) -> None:
    ann(world)
    form_fill(world, System.HUBSPOT, "contact", "101", "hs-demo", days_ago=0.01, activity_type="demo_request")
    report = world.cycle()
    with world.ledger.reading() as uow:
        data = explain(uow, world.ruleset, "ANN@acme-corp.io", world.clock.now)
        later = explain(uow, world.ruleset, "00Q1", world.clock.now + timedelta(days=90))

    assert data["person"] == report.plans[0].person_id == later["person"]
    assert {"email:ann@acme-corp.io", "sf_lead:00Q1", "hs_contact:101"} <= set(data["identities"])
    assert data["score"]["value"] == report.plans[0].evaluation.score.value
    assert {line["activity_type"] for line in data["score"]["breakdown"]} >= {"form_fill", "demo_request"}
    assert later["score"]["value"] < data["score"]["value"]  # decay: the same activities count less later
    assert data["stored_snapshot"]["ruleset_version"] == world.ruleset.version
    assert any(m["field"] == "title" for m in data["grade"]["matched"])  # VP Marketing
    assert data["lifecycle_status"] == "MQL" and data["contact_status"] == "New"
    [last] = data["transitions"]
    assert (last["to"], last["rule"]) == ("MQL", "mql.hand_raise") and last["facts"]
    text = render_text(data)
    assert "demo_request" in text and "last transitions:" in text and "mql.hand_raise" in text


def test_explain_refuses_an_ambiguous_email_and_an_unknown_person(world: World) -> None:
    world.hs.add_person("contact", "201", email="bo@acme-corp.io")
    world.hs.add_person("contact", "202", email="bo@acme-corp.io")
    world.cycle()
    with world.ledger.reading() as uow:
        with pytest.raises(PersonNotFound, match="belongs to 2 people"):
            explain(uow, world.ruleset, "bo@acme-corp.io", world.clock.now)
        with pytest.raises(PersonNotFound, match="no person, Salesforce record or HubSpot contact"):
            explain(uow, world.ruleset, "00Qnope", world.clock.now)
