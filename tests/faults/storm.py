"""Seeded user activity on both sides for the storm and model-based tests: what sales and marketing do
between cycles, including overriding the fields leadsync owns."""

from __future__ import annotations

import contextlib
import random
from typing import Any

from .harness import Rig

LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Nurture", "Closed - Not Converted")
LIFECYCLE_VALUES = ("Raw", "Inquiry", "MQL", "SAL", "SQL", "Recycled")
HS_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead")
HS_LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING")
TITLES = ("VP Marketing", "Intern", "Chief Revenue Officer", "Analyst", "Director of Sales")


def live_leads(target: Rig) -> list[str]:
    return sorted(str(r["Id"]) for r in target.sandbox.sf.records("Lead") if not r.get("IsConverted"))


def live_contacts(target: Rig) -> list[str]:
    with target.sandbox.hs.lock:
        return sorted(r.id for r in target.sandbox.hs.stores["contacts"].records.values() if not r.archived)


def sf_edit(target: Rig, chooser: random.Random, override_owned: bool = True) -> str:
    lead = chooser.choice(live_leads(target))
    choices: list[dict[str, Any]] = [{"Status": chooser.choice(LEAD_STATUSES)}, {"Title": chooser.choice(TITLES)}]
    if override_owned:
        choices.append({"Lifecycle_Status__c": chooser.choice(LIFECYCLE_VALUES)})  # overriding leadsync's field
    fields = chooser.choice(choices)
    target.sandbox.sf.update_record("Lead", lead, fields)
    return lead


def hs_edit(target: Rig, chooser: random.Random, override_owned: bool = True) -> str:
    contact = chooser.choice(live_contacts(target))
    choices: list[dict[str, Any]] = [{"hs_lead_status": chooser.choice(HS_LEAD_STATUSES)},
                                     {"jobtitle": chooser.choice(TITLES)}]
    if override_owned:
        choices.append({"lifecyclestage": chooser.choice(HS_STAGES)})  # overriding leadsync's field
    # The portal refuses some stage moves, as HubSpot does; the user gives up.
    with contextlib.suppress(ValueError):
        target.sandbox.hs.update_contact(contact, chooser.choice(choices))
    return contact


def edit_storm(target: Rig, chooser: random.Random, edits: int, *, override_owned: bool = True) -> set[str]:
    """``edits`` edits spread over both systems (``override_owned``: some overwrite leadsync's lifecycle
    fields); the ids of the records touched."""
    touched = set()
    for _ in range(edits):
        edit = sf_edit if chooser.random() < 0.5 else hs_edit
        touched.add(edit(target, chooser, override_owned))
    return touched
