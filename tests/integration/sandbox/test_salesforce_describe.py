"""Describe responses: same key sets as real recorded ones, and the custom fields the mappings write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from leadsync.sandbox.salesforce.schema import LIFECYCLE_VALUES
from tests.conftest import ROOT

pytest_plugins = ["tests.integration.sandbox.conftest_sf"]

RECORDED = ROOT.parent / "shared" / "specs" / "salesforce"
OBJECTS = ("Lead", "Contact", "Account", "Opportunity", "Task", "Event", "CampaignMember", "User", "Campaign", "Group")


def recorded(name: str) -> dict[str, Any]:
    path = RECORDED / name
    if not path.exists():
        pytest.skip(f"recorded reference {path} is not on this machine")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("sobject", ["Lead", "Contact", "Account"])
def test_field_metadata_keys_match_the_recorded_describe(sf: Salesforce, sobject: str) -> None:
    real = recorded(f"GET_sobjects_{sobject}_describe.json")
    real_field_keys = {frozenset(field) for field in real["fields"]}
    assert len(real_field_keys) == 1  # the real API gives every field the same keys
    ours = sf.restful(f"sobjects/{sobject}/describe")
    assert {frozenset(field) for field in ours["fields"]} == real_field_keys
    # The Account and Contact recordings are older API versions; newer versions only add object keys.
    assert set(real) <= set(ours)
    # v48 (the Account recording) also listed a defaultValues URL that v59 no longer has.
    assert set(ours["urls"]) == set(real["urls"]) - {"defaultValues"}
    real_picklist_entry_keys = {frozenset(v) for f in real["fields"] for v in f["picklistValues"]}
    assert {frozenset(v) for f in ours["fields"] for v in f["picklistValues"]} == real_picklist_entry_keys


def test_shared_standard_fields_agree_with_the_recorded_types(sf: Salesforce) -> None:
    real = {f["name"]: f for f in recorded("GET_sobjects_Lead_describe.json")["fields"]}
    ours = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    compared = ("type", "soapType", "updateable", "createable", "nillable", "referenceTo", "relationshipName",
                "length", "polymorphicForeignKey", "defaultedOnCreate")
    shared = sorted(set(real) & set(ours))
    assert len(shared) >= 35
    mismatches = {(name, key): (ours[name][key], real[name][key])
                  for name in shared for key in compared if ours[name][key] != real[name][key]}
    assert mismatches == {}


def test_global_describe_entries_match_the_recorded_keys(sf: Salesforce) -> None:
    real = recorded("GET_sobjects_Global_describe.json")
    ours = sf.describe()
    assert set(ours) == set(real)
    assert {frozenset(entry) for entry in ours["sobjects"]} == {frozenset(real["sobjects"][0])}
    assert {entry["name"]: entry["keyPrefix"] for entry in ours["sobjects"]} == {
        "Account": "001", "Contact": "003", "Opportunity": "006", "User": "005", "Group": "00G", "Lead": "00Q",
        "Task": "00T", "Event": "00U", "CampaignMember": "00v", "Campaign": "701",
    }


@pytest.mark.parametrize("sobject", OBJECTS)
def test_every_object_describes(sf: Salesforce, sobject: str) -> None:
    body = sf.restful(f"sobjects/{sobject}/describe")
    names = [f["name"] for f in body["fields"]]
    assert body["name"] == sobject
    assert names[0] == "Id"
    assert {"SystemModstamp", "CreatedDate", "LastModifiedDate", "IsDeleted"} <= set(names)


@pytest.mark.parametrize("sobject", ["Lead", "Contact"])
def test_leadsync_custom_fields(sf: Salesforce, sobject: str) -> None:
    fields = {f["name"]: f for f in sf.restful(f"sobjects/{sobject}/describe")["fields"]}
    expected = {"Lead_Score__c": "double", "Lead_Grade__c": "string", "Lifecycle_Status__c": "picklist",
                "Contact_Status__c": "picklist", "Lifecycle_Reason__c": "string", "MQL_Date__c": "datetime",
                "SLA_Due__c": "datetime", "SLA_Breached__c": "boolean", "LeadSync_Id__c": "string"}
    assert {name: fields[name]["type"] for name in expected} == expected
    assert all(fields[name]["custom"] for name in expected)
    lifecycle = fields["Lifecycle_Status__c"]
    assert lifecycle["restrictedPicklist"] is True
    assert [v["value"] for v in lifecycle["picklistValues"]] == list(LIFECYCLE_VALUES)
    assert fields["Contact_Status__c"]["restrictedPicklist"] is False
    assert fields["Lifecycle_Reason__c"]["length"] == 255
    assert fields["LeadSync_Id__c"]["externalId"] is True
    assert fields["LeadSync_Id__c"]["idLookup"] is True


def test_lead_status_picklist_and_read_only_fields(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    status = fields["Status"]
    assert [v["value"] for v in status["picklistValues"] if v["defaultValue"]] == ["Open - Not Contacted"]
    assert (fields["IsConverted"]["updateable"], fields["SystemModstamp"]["createable"]) == (False, False)
    assert fields["OwnerId"]["referenceTo"] == ["Group", "User"]


def test_unknown_object_is_404(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("sobjects/Nope__c/describe")


def test_versions_list(sf: Salesforce, http: Any, sf_emulator: Any) -> None:
    versions = http.get(f"{sf_emulator.base_url}/services/data/").json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions


def test_recorded_reference_directory_is_where_the_tests_look() -> None:
    # Guards the skip above: on the project's machines the recorded files must be found.
    if not (ROOT.parent / "shared").exists():
        pytest.skip("no ../shared checkout beside the project")
    assert (RECORDED / "GET_sobjects_Lead_describe.json").is_file(), Path(RECORDED)


def test_object_keys_equal_the_v59_recording(sf: Salesforce) -> None:
    real = recorded("GET_sobjects_Lead_describe.json")
    assert set(sf.Lead.describe()) == set(real)
