"""Rate limits (10-second window, daily budget, search per second), generic faults and counters,
observed through the real hubspot-api-client."""

from __future__ import annotations

import json

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest, SimplePublicObjectInput
from urllib3.exceptions import MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

from leadsync.sandbox.hubspot import HubSpotEmulator
from leadsync.sandbox.tls import SandboxTLS
from tests.integration.sandbox.fixtures_hs import *  # noqa: F403 - the pytest fixtures
from tests.integration.sandbox.fixtures_hs import TOKEN, EmulatorFactory, client_for, contact


def no_retry_client(emulator: HubSpotEmulator, tls: SandboxTLS) -> HubSpot:
    """The official client with urllib3 retries off, so every dropped connection is visible."""
    return HubSpot(access_token=TOKEN, host=emulator.base_url, ssl_ca_cert=str(tls.ca_path), retry=Retry(0))


def test_rolling_window_headers_then_429_with_retry_after(start_hubspot: EmulatorFactory,
                                                          sandbox_tls: SandboxTLS) -> None:
    emulator = start_hubspot(burst_per_10s=5, daily_limit=1000)
    emulator.load_org({"contacts": [contact(1)]})
    api = no_retry_client(emulator, sandbox_tls).crm.contacts.basic_api
    remaining = []
    for _ in range(5):
        _, status, headers = api.get_page_with_http_info()
        assert status == 200
        assert headers["X-HubSpot-RateLimit-Max"] == "5"
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        remaining.append(int(headers["X-HubSpot-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "995"
    with pytest.raises(ApiException) as caught:
        api.get_page()
    body = json.loads(caught.value.body)
    assert caught.value.status == 429
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 10


def test_daily_budget_runs_out_with_a_daily_429(start_hubspot: EmulatorFactory, sandbox_tls: SandboxTLS) -> None:
    emulator = start_hubspot(daily_limit=3)
    api = no_retry_client(emulator, sandbox_tls).crm.contacts.basic_api
    for _ in range(3):
        api.get_page()
    with pytest.raises(ApiException) as caught:
        api.get_page()
    assert caught.value.status == 429 and json.loads(caught.value.body)["policyName"] == "DAILY"
    assert int(caught.value.headers["Retry-After"]) > 0
    assert emulator.limits.daily_used == 3


def test_search_has_its_own_per_second_limit(start_hubspot: EmulatorFactory, sandbox_tls: SandboxTLS) -> None:
    emulator = start_hubspot(search_per_second=1, burst_per_10s=100)
    search = no_retry_client(emulator, sandbox_tls).crm.contacts.search_api
    search.do_search(PublicObjectSearchRequest())
    with pytest.raises(ApiException) as caught:
        search.do_search(PublicObjectSearchRequest())
    body = json.loads(caught.value.body)
    assert caught.value.status == 429 and body["policyName"] == "SECONDLY" and body["errorType"] == "RATE_LIMIT"
    assert caught.value.headers["Retry-After"] == "1"


def test_injected_status_faults_reach_the_client(hs: HubSpotEmulator, sandbox_tls: SandboxTLS) -> None:
    api = no_retry_client(hs, sandbox_tls).crm.contacts.basic_api
    hs.faults.add(kind="status", endpoint="contacts.get", status=503)
    hs.faults.add(kind="status", endpoint="contacts.list", status=429, retry_after=7)
    with pytest.raises(ApiException) as caught:
        api.get_by_id("1")
    assert caught.value.status == 503 and json.loads(caught.value.body)["status"] == "error"
    with pytest.raises(ApiException) as caught:
        api.get_page()
    assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "7"
    assert json.loads(caught.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert api.get_by_id("1").id == "1"  # each fault fired once


def test_reset_commits_nothing_and_drop_after_commit_commits(hs: HubSpotEmulator, sandbox_tls: SandboxTLS) -> None:
    api = no_retry_client(hs, sandbox_tls).crm.contacts.basic_api
    hs.faults.add(kind="reset", endpoint="contacts.update")
    with pytest.raises((MaxRetryError, ProtocolError)):
        api.update("2", SimplePublicObjectInput(properties={"jobtitle": "Lost"}))
    assert "jobtitle" not in hs.contact("2").props
    hs.faults.add(kind="drop_after_commit", endpoint="contacts.update")
    with pytest.raises((MaxRetryError, ProtocolError)):
        api.update("2", SimplePublicObjectInput(properties={"jobtitle": "Committed"}))
    assert hs.contact("2").props["jobtitle"] == "Committed"
    assert hs.counters.snapshot()["contacts.update"] == 2


def test_control_endpoint_arms_faults_and_reports_counters(hs: HubSpotEmulator, sandbox_tls: SandboxTLS) -> None:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox_tls.ca_path)
    armed = session.post(f"{hs.base_url}/__control/faults", json={
        "kind": "hs_batch_error", "endpoint": "contacts.batch_read", "params": {"ids": ["1"]}})
    assert armed.status_code == 201
    api = client_for(hs, sandbox_tls.ca_path).crm.contacts
    api.basic_api.get_page()
    api.basic_api.get_page()
    from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId

    answer = api.batch_api.read(BatchReadInputSimplePublicObjectId(inputs=[{"id": "1"}, {"id": "2"}],
                                                                   properties=[], properties_with_history=[]))
    assert [r.id for r in answer.results] == ["2"] and answer.errors[0].context == {"ids": ["1"]}
    counters = session.get(f"{hs.base_url}/__control/counters").json()
    assert counters["endpoints"] == {"contacts.list": 2, "contacts.batch_read": 1} and counters["total"] == 3
    assert session.post(f"{hs.base_url}/__control/counters/reset").status_code == 204
    assert hs.counters.total() == 0


def test_default_client_silently_retries_idempotent_calls(hs: HubSpotEmulator, sandbox_tls: SandboxTLS) -> None:
    """Without ``retry=``, urllib3's default Retry honours Retry-After on a GET's 429 and retries a reset
    GET: the connector sees success while the emulator counted the extra calls."""
    hs.faults.add(kind="status", endpoint="contacts.get", status=429, retry_after=1)
    hs.faults.add(kind="reset", endpoint="contacts.list")
    api = client_for(hs, sandbox_tls.ca_path).crm.contacts.basic_api
    assert api.get_by_id("1").id == "1"
    assert len(api.get_page().results) == 10
    assert hs.counters.snapshot() == {"contacts.get": 2, "contacts.list": 2}
