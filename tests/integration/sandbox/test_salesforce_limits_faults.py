"""API usage accounting and injected faults, as the real client observes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceRefusedRequest

from leadsync.sandbox.salesforce.emulator import SalesforceEmulator
from leadsync.sandbox.tls import SandboxTLS
from tests.integration.sandbox.conftest_sf import lead

pytest_plugins = ["tests.integration.sandbox.conftest_sf"]


@pytest.fixture
def small_org(sf_tls: SandboxTLS, http: requests.Session) -> Iterator[tuple[SalesforceEmulator, Salesforce]]:
    emulator = SalesforceEmulator(daily_limit=5)
    emulator.start(sf_tls.server_context())
    client = Salesforce(instance_url=emulator.base_url, session_id=emulator.new_session(), session=http,
                        version="59.0")
    yield emulator, client
    emulator.stop()


def test_every_response_carries_usage_and_the_limit_ends_in_403(
        small_org: tuple[SalesforceEmulator, Salesforce]) -> None:
    emulator, sf = small_org
    sf.query("SELECT Id FROM Lead")
    assert sf.api_usage["api-usage"].used == 1
    assert sf.api_usage["api-usage"].total == 5
    assert sf.limits()["DailyApiRequests"] == {"Max": 5, "Remaining": 3}
    leads = sf.Lead  # each attribute access builds a new SFType, which keeps its own parsed usage
    leads.describe()
    leads.create({"LastName": "L", "Company": "C"})
    assert leads.api_usage["api-usage"].used == 4
    sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    emulator.reset_api_usage()
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 1


def test_injected_status_faults_carry_retry_after(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                  http: requests.Session) -> None:
    sf_emulator.faults.add(kind="status", endpoint="query", status=503, retry_after=7)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.status == 503
    assert caught.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    sf_emulator.faults.add(kind="status", endpoint="query", status=429, retry_after=2)
    raw = http.get(f"{sf_emulator.base_url}/services/data/v59.0/query/", params={"q": "SELECT Id FROM Lead"},
                   headers={"Authorization": f"Bearer {sf_emulator.new_session()}"})
    assert (raw.status_code, raw.headers["Retry-After"]) == (429, "2")
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0  # each fault fired once
    assert sf_emulator.counters.snapshot()["query"] == 3


def test_connection_reset_commits_nothing(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    sf_emulator.faults.add(kind="reset", endpoint="sobject.create")
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.Lead.create({"LastName": "Lost", "Company": "C"})
    assert sf_emulator.records("Lead") == []


def test_drop_after_commit_loses_the_answer_but_keeps_the_write(sf_emulator: SalesforceEmulator,
                                                                sf: Salesforce) -> None:
    sf_emulator.load_org({"Lead": [lead(1)]})
    sf_emulator.faults.add(kind="drop_after_commit", endpoint="composite.sobjects")
    record = {"attributes": {"type": "Lead"}, "id": lead(1)["Id"], "Lead_Score__c": 64}
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [record]})
    assert sf_emulator.records("Lead")[0]["Lead_Score__c"] == 64.0


def test_counters_reset_through_the_control_endpoint(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                     http: requests.Session) -> None:
    sf.query("SELECT Id FROM Lead")
    sf.Lead.describe()
    counters = http.get(f"{sf_emulator.base_url}/__control/counters").json()
    assert counters["endpoints"] == {"query": 1, "describe": 1}
    assert http.post(f"{sf_emulator.base_url}/__control/counters/reset").status_code == 204
    assert sf_emulator.counters.total() == 0


def test_lock_fault_through_the_control_endpoint(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                           http: requests.Session) -> None:
    armed = http.post(f"{sf_emulator.base_url}/__control/faults",
                      json={"kind": "sf_lock", "endpoint": "composite.sobjects", "params": {"ids": [lead(1)["Id"]]}})
    assert armed.status_code == 201
    sf_emulator.load_org({"Lead": [lead(1), lead(2)]})
    records = [{"attributes": {"type": "Lead"}, "id": lead(n)["Id"], "Rating": "Hot"} for n in (1, 2)]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [False, True]
    assert results[0]["errors"][0]["message"].startswith("unable to obtain exclusive access to this record")
