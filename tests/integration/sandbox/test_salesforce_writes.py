"""Writes through the real client: single records, sObject Collections, upserts, conversion, change feeds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from leadsync.sandbox.salesforce.emulator import SF_LOCK, SalesforceEmulator
from leadsync.sandbox.salesforce.store import WriteError
from tests.integration.sandbox.conftest_sf import lead, make_id

pytest_plugins = ["tests.integration.sandbox.conftest_sf"]


@pytest.fixture
def leads(sf_emulator: SalesforceEmulator) -> list[str]:
    rows = [lead(n) for n in range(1, 6)]
    sf_emulator.load_org({"Lead": rows})
    return [row["Id"] for row in rows]


def collection(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = False,
               method: str = "PATCH", path: str = "composite/sobjects") -> Any:
    return sf.restful(path, method=method, json={"allOrNone": all_or_none, "records": records})


def patch(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "id": record_id, **fields}


def error_of(result: dict[str, Any]) -> tuple[str, list[str]]:
    assert result["success"] is False
    assert "id" not in result
    (error,) = result["errors"]
    return error["statusCode"], error["fields"]


def test_single_record_create_get_update_bumps_modstamp(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    created = sf.Lead.create({"LastName": "Nguyen", "Company": "Initech", "Lead_Score__c": 12})
    assert created["success"] is True
    assert created["id"].startswith("00Q") and len(created["id"]) == 18
    before = sf.Lead.get(created["id"])
    assert (before["Status"], before["Lead_Score__c"], before["IsDeleted"]) == ("Open - Not Contacted", 12.0, False)
    assert before["SystemModstamp"].endswith(".000+0000")
    sf_emulator.clock.set_offset(5)
    assert sf.Lead.update(created["id"], {"Lifecycle_Status__c": "MQL"}) == 204
    after = sf.Lead.get(created["id"])
    assert after["Lifecycle_Status__c"] == "MQL"
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(make_id("00Q", 999))
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.create({"Company": "No Last Name"})
    assert caught.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_collection_update_reports_each_error_kind_in_order(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                            leads: list[str]) -> None:
    sf_emulator.delete_record("Lead", leads[4])
    results = collection(sf, [
        patch(leads[0], Lifecycle_Status__c="SQL", Lead_Score__c="42.5"),
        patch(leads[1], IsConverted=True),
        patch(leads[2], Lifecycle_Status__c="Hot Prospect"),
        patch(leads[3], Lead_Grade__c="x" * 11),
        patch(leads[4], Lead_Score__c=1),
        patch(make_id("00Q", 777), Lead_Score__c=1),
        patch("not-an-id", Lead_Score__c=1),
    ])
    assert results[0] == {"id": leads[0], "success": True, "errors": []}
    assert error_of(results[1]) == ("INVALID_FIELD_FOR_INSERT_UPDATE", ["IsConverted"])
    assert error_of(results[2]) == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Lifecycle_Status__c"])
    assert results[2]["errors"][0]["message"] == "Lifecycle Status: bad value for restricted picklist field: " \
                                                 "Hot Prospect"
    assert error_of(results[3]) == ("STRING_TOO_LONG", ["Lead_Grade__c"])
    assert error_of(results[4]) == ("ENTITY_IS_DELETED", [])
    assert error_of(results[5]) == ("INVALID_CROSS_REFERENCE_KEY", [])
    assert error_of(results[6]) == ("MALFORMED_ID", [])
    stored = {r["Id"]: r for r in sf_emulator.records("Lead")}
    assert (stored[leads[0]]["Lifecycle_Status__c"], stored[leads[0]]["Lead_Score__c"]) == ("SQL", 42.5)
    assert stored[leads[2]]["Lifecycle_Status__c"] is None


def test_all_or_none_rolls_everything_back(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                           leads: list[str]) -> None:
    before = {r["Id"]: r["SystemModstamp"] for r in sf_emulator.records("Lead")}
    results = collection(sf, [patch(leads[0], Lead_Score__c=5), patch(leads[1], Lifecycle_Status__c="Nope")],
                         all_or_none=True)
    assert error_of(results[0]) == ("ALL_OR_NONE_OPERATION_ROLLED_BACK", [])
    assert error_of(results[1]) == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Lifecycle_Status__c"])
    assert {r["Id"]: r["SystemModstamp"] for r in sf_emulator.records("Lead")} == before
    assert all(r["Lead_Score__c"] is None for r in sf_emulator.records("Lead"))


def test_lock_fault_fails_only_the_chosen_records(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                  leads: list[str]) -> None:
    sf_emulator.faults.add(kind=SF_LOCK, endpoint="composite.sobjects", params={"ids": [leads[1]]})
    first = collection(sf, [patch(i, Lead_Score__c=7) for i in leads[:3]])
    assert [r["success"] for r in first] == [True, False, True]
    assert first[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    retry = collection(sf, [patch(leads[1], Lead_Score__c=7)])  # the fault fired once: a retry succeeds
    assert retry == [{"id": leads[1], "success": True, "errors": []}]


def test_request_level_errors_refuse_the_whole_call(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                    leads: list[str]) -> None:
    cases = [
        ([patch(leads[0], Lead_Score__c=1)] * 201, "EXCEEDED_ID_LIMIT"),
        ([patch(leads[0], No_Such__c=1)], "INVALID_FIELD"),
        ([patch(leads[0], Lead_Score__c="lots")], "JSON_PARSER_ERROR"),
        ([patch(leads[0], SLA_Breached__c=[1])], "JSON_PARSER_ERROR"),
        ([patch(leads[0], MQL_Date__c="yesterday")], "JSON_PARSER_ERROR"),
        ([{"id": leads[0], "Lead_Score__c": 1}], "INVALID_TYPE"),
    ]
    for records, code in cases:
        with pytest.raises(SalesforceMalformedRequest) as caught:
            collection(sf, records)
        assert caught.value.content[0]["errorCode"] == code
    assert all(r["Lead_Score__c"] is None for r in sf_emulator.records("Lead"))


def test_collection_create_and_delete(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    created = collection(sf, [{"attributes": {"type": "Lead"}, "LastName": "A", "Company": "X"},
                              {"attributes": {"type": "Lead"}, "LastName": "B"}], method="POST")
    assert created[0]["success"] is True
    assert error_of(created[1]) == ("REQUIRED_FIELD_MISSING", ["Company"])
    gone = sf.restful("composite/sobjects", method="DELETE", params={"ids": created[0]["id"], "allOrNone": "false"})
    assert gone == [{"id": created[0]["id"], "success": True, "errors": []}]
    assert sf_emulator.records("Lead") == []


def test_upsert_by_external_id_reports_created(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    sf_emulator.load_org({"Lead": [lead(1, LeadSync_Id__c="P-1"), lead(2, LeadSync_Id__c="dup"),
                                   lead(3, LeadSync_Id__c="DUP")]})

    def upsert(key: str, **fields: Any) -> dict[str, Any]:
        return {"attributes": {"type": "Lead"}, "LeadSync_Id__c": key, **fields}

    results = collection(sf, [upsert("p-1", Lead_Score__c=3), upsert("P-2", LastName="New", Company="C"),
                              upsert("dup", Lead_Score__c=1), upsert("P-3", Lead_Score__c=1)],
                         path="composite/sobjects/Lead/LeadSync_Id__c")
    assert results[0] == {"id": make_id("00Q", 1), "success": True, "errors": [], "created": False}
    assert results[1]["created"] is True and results[1]["success"] is True
    assert error_of(results[2])[0] == "DUPLICATE_EXTERNAL_ID"
    assert error_of(results[3]) == ("REQUIRED_FIELD_MISSING", ["LastName", "Company"])
    assert sf_emulator.record("Lead", make_id("00Q", 1))["Lead_Score__c"] == 3.0  # type: ignore[index]
    with pytest.raises(SalesforceMalformedRequest):
        collection(sf, [upsert("x")], path="composite/sobjects/Lead/Email")


def test_conversion_links_contact_account_opportunity(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                      leads: list[str]) -> None:
    call = sf_emulator.log_call(leads[0], "Connected", when=sf_emulator.clock.now())
    result = sf_emulator.convert_lead(leads[0])
    converted = sf.query(format_soql("SELECT IsConverted, ConvertedContactId, ConvertedAccountId, "
                                     "ConvertedOpportunityId, ConvertedDate, Status, ConvertedContact.Email "
                                     "FROM Lead WHERE Id = {}", leads[0]))
    record = converted["records"][0]
    assert record["IsConverted"] is True
    assert record["Status"] == "Closed - Converted"
    assert (record["ConvertedContactId"], record["ConvertedAccountId"], record["ConvertedOpportunityId"]) == (
        result["contactId"], result["accountId"], result["opportunityId"])
    assert record["ConvertedContact"]["Email"] == "lead1@example.com"
    assert record["ConvertedDate"] == sf_emulator.clock.now().date().isoformat()
    opportunity = sf.Opportunity.get(str(result["opportunityId"]))
    assert (opportunity["AccountId"], opportunity["StageName"], opportunity["IsClosed"]) == (
        result["accountId"], "Prospecting", False)
    assert sf.Task.get(call)["WhoId"] == result["contactId"]  # activities follow the person
    refused = collection(sf, [patch(leads[0], Lead_Score__c=1)])
    assert error_of(refused[0]) == ("CANNOT_UPDATE_CONVERTED_LEAD", [])
    sf_emulator.set_opportunity_stage(str(result["opportunityId"]), "Closed Won")
    won = sf.Opportunity.get(str(result["opportunityId"]))
    assert (won["IsClosed"], won["IsWon"]) == (True, True)


def test_user_api_validates_like_the_ui(sf_emulator: SalesforceEmulator, leads: list[str]) -> None:
    with pytest.raises(WriteError) as caught:
        sf_emulator.update_record("Lead", leads[0], {"Lifecycle_Status__c": "Bogus"})
    assert caught.value.status_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    owner = sf_emulator.create_record("User", {"LastName": "Rep", "Username": "r@x.io", "Email": "r@x.io",
                                               "Alias": "rep"})
    sf_emulator.update_record("Lead", leads[0], {"Status": "Working - Contacted", "OwnerId": owner}, by_user=owner)
    stored = sf_emulator.record("Lead", leads[0])
    assert stored is not None
    assert (stored["Status"], stored["OwnerId"], stored["LastModifiedById"]) == ("Working - Contacted", owner, owner)
    member = sf_emulator.add_campaign_member(
        sf_emulator.create_record("Campaign", {"Name": "Webinar"}), lead_id=leads[1], status="Responded")
    assert sf_emulator.record("CampaignMember", member)["HasResponded"] is True  # type: ignore[index]


def test_import_stamps_many_records_with_one_modstamp(sf_emulator: SalesforceEmulator, leads: list[str]) -> None:
    ids = sf_emulator.import_records("Lead", [{"LastName": f"I{n}", "Company": "Imp"} for n in range(50)])
    assert len({r["SystemModstamp"] for r in sf_emulator.records("Lead") if r["Id"] in ids}) == 1
    shared = sf_emulator.touch_records("Lead", leads, {"Rating": "Hot"})
    assert {r["SystemModstamp"] for r in sf_emulator.records("Lead") if r["Id"] in leads} == {shared}


def test_updated_and_deleted_feeds(sf_emulator: SalesforceEmulator, sf: Salesforce, leads: list[str]) -> None:
    start = sf_emulator.clock.now()
    sf_emulator.update_record("Lead", leads[0], {"Rating": "Warm"})
    sf_emulator.delete_record("Lead", leads[1])
    sf_emulator.clock.set_offset(120)  # the feeds only cover whole minutes that have passed
    end = sf_emulator.clock.now() + timedelta(minutes=5)
    updated = sf.Lead.updated(start, end)
    assert updated["ids"] == [leads[0]]
    assert updated["latestDateCovered"] <= sf_emulator.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    deleted = sf.Lead.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [leads[1]]
    assert set(deleted) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.updated(start - timedelta(days=31), end)
    assert caught.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_load_org_names_bad_seed_data(sf_emulator: SalesforceEmulator) -> None:
    with pytest.raises(ValueError, match=r"Lead\[0\].*Favourite_Color__c"):
        sf_emulator.load_org({"Lead": [lead(1, Favourite_Color__c="red")]})
    with pytest.raises(ValueError, match="not an 18-char 00Q id"):
        sf_emulator.load_org({"Lead": [lead(1, Id=make_id("003", 1))]})
    with pytest.raises(ValueError, match="unknown sObject type 'Leads'"):
        sf_emulator.load_org({"Leads": []})


def test_get_with_field_list(sf_emulator: SalesforceEmulator, http: requests.Session, leads: list[str]) -> None:
    token = sf_emulator.new_session()
    answer = http.get(f"{sf_emulator.base_url}/services/data/v59.0/sobjects/Lead/{leads[0]}",
                      params={"fields": "Id,Email"}, headers={"Authorization": f"Bearer {token}"})
    assert answer.json() == {"attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{leads[0]}"},
                             "Id": leads[0], "Email": "lead1@example.com"}


def test_logged_events_and_opportunities_are_queryable(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                       leads: list[str]) -> None:
    start = sf_emulator.clock.now()
    event = sf_emulator.log_event(leads[2], "Demo", start=start, duration_minutes=45)
    found = sf.query(format_soql("SELECT Subject, DurationInMinutes, EventSubtype, Who.Email FROM Event "
                                 "WHERE Id = {}", event))["records"][0]
    assert (found["Subject"], found["DurationInMinutes"], found["EventSubtype"]) == ("Demo", 45, "Event")
    assert found["Who"]["Email"] == "lead3@example.com"
    account = sf_emulator.create_record("Account", {"Name": "Globex"})
    opportunity = sf_emulator.create_opportunity(account, "Globex renewal", amount=12000.0)
    sf_emulator.set_opportunity_stage(opportunity, "Closed Lost")
    lost = sf.query("SELECT Name, IsClosed, IsWon, Amount, Account.Name FROM Opportunity")["records"]
    assert [(o["Name"], o["IsClosed"], o["IsWon"], o["Amount"], o["Account"]["Name"]) for o in lost] == [
        ("Globex renewal", True, False, 12000.0, "Globex")]
