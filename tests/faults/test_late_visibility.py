"""Reliability test 4: late visibility and clock skew. Records become visible after their timestamp:
Salesforce rows committed with a stamp minutes old (server clock moved back while they are written),
HubSpot's search index lagging behind its writes, HubSpot's clock moved back. None is missed: each ends
in the same state as in a run where the same records arrived on time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from leadsync.ledger import Identity, IdentityKind

from .harness import Outcome, Rig, assert_same_crm, assert_transitions_legal, rig

NEW = 6


def new_leads(target: Rig, tag: str) -> list[str]:
    return [target.sandbox.sf.create_record("Lead", {
        "LastName": f"Late{tag}{n}", "Company": "Latecomer Labs", "Email": f"late.{tag}{n}@latecomer.example",
        "LeadSource": "Web", "Title": "VP Marketing"}) for n in range(NEW)]


def new_contacts(target: Rig, tag: str) -> list[str]:
    return [target.sandbox.hs.create_contact({"email": f"late.{tag}{n}@hs-latecomer.example", "firstname": "Late",
                                              "lastname": f"{tag}{n}", "jobtitle": "Director"}) for n in range(NEW)]


def skewed(target: Rig, seconds_back: float, make: Callable[[Rig, str], list[str]], tag: str) -> list[str]:
    """Records made while the server clock runs ``seconds_back`` behind the windows already read."""
    target.sandbox.clock.set_offset(target.offset - seconds_back)
    try:
        return make(target, tag)
    finally:
        target.sandbox.clock.set_offset(target.offset)


def arrived(target: Rig, kind: IdentityKind, ids: list[str]) -> dict[str, str | None]:
    """Record id -> the lifecycle status of its person (None: never pulled)."""
    out: dict[str, str | None] = {}
    with target.ledger.reading() as uow:
        for record_id in ids:
            person = uow.people.find(Identity(kind, record_id))
            out[record_id] = None if person is None else uow.transitions.current_status(person)
    return out


def crm_state(outcome: Outcome, sf_ids: list[str], hs_ids: list[str]) -> dict[str, dict[str, object]]:
    return {**{i: outcome.salesforce[("Lead", i)] for i in sf_ids}, **{i: outcome.hubspot[i] for i in hs_ids}}


Scenario = Callable[[Rig, bool], tuple[list[str], list[str]]]


def salesforce_late_commit(target: Rig, late: bool) -> tuple[list[str], list[str]]:
    """Rows stamped 3 minutes before the last read's end (inside the 5-minute overlap)."""
    return (skewed(target, 180 if late else 0, new_leads, "sf"), [])


def hubspot_clock_back(target: Rig, late: bool) -> tuple[list[str], list[str]]:
    """HubSpot stamps 20 s in the past (inside the 30 s overlap re-read)."""
    return ([], skewed(target, 20 if late else 0, new_contacts, "hs"))


def hubspot_index_lag(target: Rig, late: bool) -> tuple[list[str], list[str]]:
    """HubSpot's search shows writes 25 s late (past the 5 s lag margin, inside the 30 s overlap); cycles 30 s
    apart."""
    if late:
        target.sandbox.hs.set_index_lag(25)
    return ([], new_contacts(target, "lag"))


@pytest.mark.parametrize("scenario", [salesforce_late_commit, hubspot_clock_back, hubspot_index_lag],
                         ids=["sf-late-commit", "hs-clock-back", "hs-index-lag"])
def test_records_visible_late_are_not_missed(scenario: Scenario, tmp_path: Path, ledger_url: str) -> None:
    results = []
    for late in (False, True):
        url = ledger_url if late else None
        with rig(tmp_path / f"late-{late}", ledger_url=url, persons=6, seed=5) as target:
            target.run_until_quiet()
            sf_ids, hs_ids = scenario(target, late)
            target.settle()
            for _ in range(6):  # short cycles: the lagging ones straddle several windows
                target.cycle(minutes_later=0.5)
            target.run_until_quiet()
            statuses = {**arrived(target, IdentityKind.SALESFORCE_LEAD, sf_ids),
                        **arrived(target, IdentityKind.HUBSPOT_CONTACT, hs_ids)}
            assert None not in statuses.values(), statuses
            results.append((statuses, crm_state(target.outcome(), sf_ids, hs_ids)))
            assert_transitions_legal(target)
    (on_time_statuses, on_time_crm), (late_statuses, late_crm) = results
    assert late_statuses == on_time_statuses
    assert_same_crm(late_crm, on_time_crm)
