"""load_org: the synthetic org generator's output is served as is; mismatches fail loudly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest

from leadsync.sandbox.hubspot import HubSpotEmulator
from leadsync.sandbox.orggen import generate_org
from leadsync.sandbox.tls import SandboxTLS
from tests.integration.sandbox.fixtures_hs import *  # noqa: F403 - the pytest fixtures
from tests.integration.sandbox.fixtures_hs import EmulatorFactory, client_for, contact


def test_generated_org_is_served_through_the_client(start_hubspot: EmulatorFactory, sandbox_tls: SandboxTLS) -> None:
    org = generate_org(400, 11, now=datetime(2026, 11, 1, tzinfo=UTC)).hubspot
    emulator = start_hubspot()
    emulator.load_org(org)
    client = client_for(emulator, sandbox_tls.ca_path)
    listed = client.crm.contacts.get_all(properties=["email", "lifecyclestage"])
    assert sorted(c.id for c in listed) == sorted(c["id"] for c in org["contacts"] if not c["archived"])
    link = org["associations"][0]
    request = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": link["from_id"]}])
    answer = client.crm.associations.v4.batch_api.get_page(link["from_type"], link["to_type"], request)
    assert link["to_id"] in [t.to_object_id for t in answer.results[0].to]
    event = org["events"][0]
    events = client.events.events_api.get_page(object_type="contact", object_id=int(event["objectId"]), limit=1000)
    assert event["eventType"] in {e.event_type for e in events.results}
    owners = client.crm.owners.owners_api.get_page(limit=500).results
    assert {o.id for o in owners} == {o["id"] for o in org["owners"] if not o.get("archived")}


def test_unknown_seed_property_is_refused_with_its_place() -> None:
    emulator = HubSpotEmulator()
    with pytest.raises(ValueError, match=r"contacts\[1\].*favourite_colour"):
        emulator.load_org({"contacts": [contact(1), contact(2, favourite_colour="teal")]})
    with pytest.raises(ValueError, match="unknown keys"):
        emulator.load_org({"deals": []})
