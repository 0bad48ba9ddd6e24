"""Batch read/create/update/upsert/archive through the real client, with 207 per-record errors."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
)

from leadsync.sandbox.hubspot import HubSpotEmulator
from tests.integration.sandbox.fixtures_hs import *  # noqa: F403 - the pytest fixtures


def read(client: HubSpot, ids: list[str]) -> object:
    return client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids], properties=["email"], properties_with_history=[]))


def update(client: HubSpot, inputs: list[dict[str, object]]) -> object:
    return client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))


def test_batch_read_reports_missing_ids_in_a_207(client: HubSpot) -> None:
    answer = read(client, ["1", "404", "2", "405"])
    assert [r.id for r in answer.results] == ["1", "2"]
    assert answer.status == "COMPLETE" and answer.num_errors == 1
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context == {"ids": ["404", "405"]}


def test_batch_update_applies_good_records_and_reports_invalid_option_per_record(
        client: HubSpot, hs: HubSpotEmulator) -> None:
    answer = update(client, [
        {"id": "1", "properties": {"hs_lead_status": "OPEN"}},
        {"id": "2", "properties": {"hs_lead_status": "SUPER_HOT"}},
        {"id": "3", "properties": {"leadsync_grade": "B"}},
    ])
    assert sorted(r.id for r in answer.results) == ["1", "3"]
    assert answer.num_errors == 1
    error = answer.errors[0]
    assert error.category == "VALIDATION_ERROR" and error.context == {"ids": ["2"]}
    assert "INVALID_OPTION" in error.message and error.errors[0].code == "INVALID_OPTION"
    assert hs.contact("1").props["hs_lead_status"] == "OPEN"
    assert "hs_lead_status" not in hs.contact("2").props


def test_injected_partial_batch_failure_is_not_applied(client: HubSpot, hs: HubSpotEmulator) -> None:
    hs.faults.add(kind="hs_batch_error", endpoint="contacts.batch_update",
                  params={"ids": ["5"], "category": "RATE_LIMITS", "message": "try again"})
    answer = update(client, [{"id": "4", "properties": {"leadsync_score": "10"}},
                             {"id": "5", "properties": {"leadsync_score": "20"}}])
    assert [r.id for r in answer.results] == ["4"]
    assert answer.errors[0].category == "RATE_LIMITS" and answer.errors[0].context == {"ids": ["5"]}
    assert "leadsync_score" not in hs.contact("5").props
    retried = update(client, [{"id": "5", "properties": {"leadsync_score": "20"}}])
    assert [r.id for r in retried.results] == ["5"]
    assert type(retried).__name__ == "BatchResponseSimplePublicObject"  # a 200: the fault fired once
    assert hs.contact("5").props["leadsync_score"] == "20"


def test_batch_update_refuses_duplicates_and_more_than_100_inputs(client: HubSpot) -> None:
    for inputs in ([{"id": "1", "properties": {}}] * 2, [{"id": str(n), "properties": {}} for n in range(1, 102)]):
        with pytest.raises(ApiException) as caught:
            update(client, inputs)
        assert caught.value.status == 400
        assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"


def test_batch_upsert_by_email_creates_and_updates(client: HubSpot, hs: HubSpotEmulator) -> None:
    answer = client.crm.contacts.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        {"id": "c6@example.com", "idProperty": "email", "properties": {"leadsync_grade": "A"}},
        {"id": "fresh@example.com", "idProperty": "email", "properties": {"leadsync_grade": "C"}},
    ]))
    by_new = {r.new: r for r in answer.results}
    assert by_new[False].id == "6" and by_new[True].properties["email"] == "fresh@example.com"
    assert hs.contact(by_new[True].id).props["leadsync_grade"] == "C"
    assert hs.contact("6").props["leadsync_grade"] == "A"


def test_batch_create_conflict_and_batch_archive(client: HubSpot, hs: HubSpotEmulator) -> None:
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            {"properties": {"email": "brand-new@example.com"}}, {"properties": {"email": "c1@example.com"}}]))
    assert caught.value.status == 409 and json.loads(caught.value.body)["category"] == "CONFLICT"
    assert hs.stores["contacts"].by_email("brand-new@example.com") is None
    created = client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        {"properties": {"email": "brand-new@example.com", "lifecyclestage": "subscriber"}}]))
    new_id = created.results[0].id
    client.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(inputs=[{"id": new_id}, {"id": "1"}]))
    answer = read(client, [new_id, "1", "2"])
    assert [r.id for r in answer.results] == ["2"]
    assert hs.counters.snapshot()["contacts.batch_archive"] == 1
