"""The HubSpot control routes drive a sandbox from another process: act as users, change the portal."""

from __future__ import annotations

import json

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest, SimplePublicObjectInput
from urllib3.util.retry import Retry

from leadsync.sandbox.hubspot import CALL_DISPOSITIONS, HubSpotEmulator
from leadsync.sandbox.tls import SandboxTLS
from tests.integration.sandbox.fixtures_hs import *  # noqa: F403 - the pytest fixtures
from tests.integration.sandbox.fixtures_hs import TOKEN


@pytest.fixture
def control(hs: HubSpotEmulator, sandbox_tls: SandboxTLS) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox_tls.ca_path)
    return session


def test_act_as_users_over_http(hs: HubSpotEmulator, control: requests.Session, client: HubSpot) -> None:
    answer = control.post(f"{hs.base_url}/__control/hubspot/act", json={
        "action": "log_call", "args": {"contact_id": "12", "disposition": "left_voicemail",
                                       "when": "2026-01-06T10:00:00Z"}})
    assert answer.status_code == 200
    call_id = answer.json()["result"]
    call = client.crm.objects.calls.basic_api.get_by_id(call_id, properties=["hs_call_disposition", "hs_timestamp"])
    assert call.properties == {"hs_call_disposition": CALL_DISPOSITIONS["left_voicemail"],
                               "hs_timestamp": "2026-01-06T10:00:00.000Z"}
    merged = control.post(f"{hs.base_url}/__control/hubspot/act", json={
        "action": "merge_contacts", "args": {"primary_id": "12", "secondary_id": "13"}}).json()["result"]
    assert merged["id"] == "12" and merged["properties"]["hs_merged_object_ids"] == "13"
    refused = control.post(f"{hs.base_url}/__control/hubspot/act", json={"action": "drop_database", "args": {}})
    assert refused.status_code == 400 and "unknown action" in refused.json()["message"]
    assert hs.counters.total() == 1  # control calls are not counted, the client's get is


def test_portal_changes_over_http(hs: HubSpotEmulator, control: requests.Session, sandbox_tls: SandboxTLS) -> None:
    client = HubSpot(access_token=TOKEN, host=hs.base_url, ssl_ca_cert=str(sandbox_tls.ca_path), retry=Retry(0))
    assert control.post(f"{hs.base_url}/__control/hubspot/property", json={
        "objectType": "contacts", "name": "leadsync_score", "readOnly": True}).status_code == 204
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.update("1", SimplePublicObjectInput(properties={"leadsync_score": "5"}))
    assert "READ_ONLY_VALUE" in json.loads(caught.value.body)["message"]
    assert control.post(f"{hs.base_url}/__control/hubspot/index-lag", json={"seconds": 120}).status_code == 204
    hs.update_contact("2", {"jobtitle": "Fresh"})
    wanted = PublicObjectSearchRequest(filter_groups=[{"filters": [
        {"propertyName": "jobtitle", "operator": "EQ", "value": "Fresh"}]}])
    assert client.crm.contacts.search_api.do_search(wanted).total == 0
    assert control.post(f"{hs.base_url}/__control/hubspot/limits", json={"burstPer10s": 1}).status_code == 204
    client.crm.contacts.basic_api.get_page()
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_page()
    assert caught.value.status == 429
    bad = control.post(f"{hs.base_url}/__control/hubspot/property", json={"objectType": "contacts"})
    assert bad.status_code == 400 and "name" in bad.json()["message"]
