"""Contacts CRUD, listing, merges, archives and write rules through the real hubspot-api-client."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    PublicMergeInput,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from leadsync.sandbox.hubspot import HubSpotEmulator
from leadsync.sandbox.tls import SandboxTLS
from tests.integration.sandbox.fixtures_hs import *  # noqa: F403 - the pytest fixtures
from tests.integration.sandbox.fixtures_hs import client_for


def test_list_pages_through_every_contact_and_the_last_page_has_no_paging(client: HubSpot) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email", "lifecyclestage"])
        pages += 1
        seen += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
        assert page.paging.next.link.startswith("https://127.0.0.1:")
    assert pages == 3
    assert seen == [str(n) for n in range(1, 251)]
    assert page.results[-1].properties == {"email": "c250@example.com", "lifecyclestage": "lead"}


def test_list_refuses_more_than_100_per_page(client: HubSpot) -> None:
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_page(limit=101)
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"


def test_get_by_id_and_by_email_and_404(client: HubSpot) -> None:
    by_id = client.crm.contacts.basic_api.get_by_id("7", properties=["email", "firstname"])
    assert by_id.properties["email"] == "c7@example.com"
    by_email = client.crm.contacts.basic_api.get_by_id("C7@example.com", id_property="email")
    assert by_email.id == "7"
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_by_id("99999")
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_wrong_token_gets_401_in_hubspot_shape(hs: HubSpotEmulator, sandbox_tls: SandboxTLS) -> None:
    intruder = client_for(hs, sandbox_tls.ca_path, token="pat-wrong")
    with pytest.raises(ApiException) as caught:
        intruder.crm.contacts.basic_api.get_page()
    body = json.loads(caught.value.body)
    assert caught.value.status == 401
    assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION" and body["correlationId"]


def test_create_update_and_duplicate_create_conflict(client: HubSpot, hs: HubSpotEmulator) -> None:
    created = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "new@example.com", "leadsync_score": 42, "leadsync_sla_breached": True}))
    assert created.properties["leadsync_score"] == "42"
    assert hs.contact(created.id).props["leadsync_sla_breached"] == "true"
    before = hs.contact(created.id).modified_ms
    updated = client.crm.contacts.basic_api.update(created.id, SimplePublicObjectInput(
        properties={"leadsync_grade": "A", "leadsync_sla_due": "2026-02-01T10:00:00Z"}))
    assert updated.properties["leadsync_sla_due"] == "2026-02-01T10:00:00.000Z"
    assert hs.contact(created.id).modified_ms > before
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "NEW@example.com"}))
    body = json.loads(caught.value.body)
    assert caught.value.status == 409
    assert body["category"] == "CONFLICT" and created.id in body["message"]


def test_same_value_update_does_not_bump_lastmodifieddate(client: HubSpot, hs: HubSpotEmulator) -> None:
    before = hs.contact("5").modified_ms
    client.crm.contacts.basic_api.update("5", SimplePublicObjectInput(properties={"firstname": "First5"}))
    assert hs.contact("5").modified_ms == before


def test_invalid_option_and_read_only_are_refused_with_hubspot_errors(client: HubSpot, hs: HubSpotEmulator) -> None:
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.update("3", SimplePublicObjectInput(properties={"hs_lead_status": "HOT"}))
    body = json.loads(caught.value.body)
    assert caught.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    verdicts = json.loads(body["message"].removeprefix("Property values were not valid: "))
    assert verdicts[0]["error"] == "INVALID_OPTION" and verdicts[0]["name"] == "hs_lead_status"
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.update("3", SimplePublicObjectInput(properties={"lastmodifieddate": "0"}))
    assert "READ_ONLY_VALUE" in json.loads(caught.value.body)["message"]
    assert "hs_lead_status" not in hs.contact("3").props


def test_lifecycle_stage_cannot_move_backwards_without_clearing_first(client: HubSpot, hs: HubSpotEmulator) -> None:
    api = client.crm.contacts.basic_api
    api.update("9", SimplePublicObjectInput(properties={"lifecyclestage": "opportunity"}))
    answer = api.update("9", SimplePublicObjectInput(properties={"lifecyclestage": "lead", "jobtitle": "CTO"}))
    assert answer.properties["lifecyclestage"] == "opportunity"  # ignored, the rest applied
    assert hs.contact("9").props["jobtitle"] == "CTO"
    api.update("9", SimplePublicObjectInput(properties={"lifecyclestage": ""}))
    assert "lifecyclestage" not in hs.contact("9").props
    api.update("9", SimplePublicObjectInput(properties={"lifecyclestage": "lead"}))
    assert api.get_by_id("9", properties=["lifecyclestage"]).properties["lifecyclestage"] == "lead"


def test_archive_hides_the_contact_keeps_lastmodifieddate_and_lists_it_as_archived(
        client: HubSpot, hs: HubSpotEmulator) -> None:
    modified = client.crm.contacts.basic_api.get_by_id("11").properties["lastmodifieddate"]
    client.crm.contacts.basic_api.archive("11")
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_by_id("11")
    assert caught.value.status == 404
    archived = client.crm.contacts.basic_api.get_page(archived=True, limit=100)
    assert [r.id for r in archived.results] == ["11"]
    assert archived.results[0].archived is True and archived.results[0].archived_at is not None
    assert archived.results[0].properties["lastmodifieddate"] == modified
    live_ids = [r.id for r in client.crm.contacts.get_all()]
    assert "11" not in live_ids and len(live_ids) == 249


def test_merge_endpoint_and_user_merge_record_the_merged_ids(client: HubSpot, hs: HubSpotEmulator) -> None:
    hs.update_contact("21", {"jobtitle": "VP Sales"})
    merged = client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="20", object_id_to_merge="21"))
    assert merged.id == "20" and merged.properties["hs_merged_object_ids"] == "21"
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_by_id("21")
    assert caught.value.status == 404
    survivor = client.crm.contacts.basic_api.get_by_id(
        "20", properties=["jobtitle", "hs_merged_object_ids", "hs_additional_emails"])
    assert survivor.properties == {"jobtitle": "VP Sales", "hs_merged_object_ids": "21",
                                   "hs_additional_emails": "c21@example.com"}
    hs.merge_contacts("20", "22")
    assert hs.contact("20").props["hs_merged_object_ids"] == "21;22"
    assert "22" not in [r.id for r in client.crm.contacts.basic_api.get_page(archived=True).results]
