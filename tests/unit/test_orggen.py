"""The synthetic org: deterministic by seed, the promised mix, well-formed ids, consistent references."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from leadsync.sandbox.orggen import SyntheticOrg, generate_org
from leadsync.sandbox.orgpools import SF_PREFIX, case_safe_suffix

NOW = datetime(2026, 11, 24, 3, 0, 0, tzinfo=UTC)
SF_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")
HS_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$")
SF_ID = re.compile(r"^[0-9A-Za-z]{15}[A-Z0-5]{3}$")
HS_DISPOSITIONS = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7", "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff", "73a0d17f-1163-4015-bdd5-ec830791da20",
    "9d9162e7-6cf3-4944-bf63-4dff82258764", "17b47fee-58de-441e-a44c-c6300d46f273",
}


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(3000, seed=11, now=NOW)


def test_same_seed_gives_identical_org_and_another_seed_does_not() -> None:
    first = generate_org(300, seed=5, now=NOW)
    second = generate_org(300, seed=5, now=NOW)
    other = generate_org(300, seed=6, now=NOW)
    assert first.salesforce == second.salesforce
    assert first.hubspot == second.hubspot
    assert first.truth == second.truth
    assert first.salesforce["Lead"] != other.salesforce["Lead"]


def test_output_does_not_depend_on_the_process_hash_seed() -> None:
    script = ("import hashlib, json; from datetime import UTC, datetime; from leadsync.sandbox.orggen import "
              "generate_org; o = generate_org(200, 9, now=datetime(2026, 11, 24, 3, tzinfo=UTC)); "
              "print(hashlib.sha256(json.dumps([o.salesforce, o.hubspot]).encode()).hexdigest())")
    digests = {
        subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                       capture_output=True, text=True, check=True).stdout
        for seed in (1, 2)
    }
    assert len(digests) == 1 and len(digests.pop().strip()) == 64


def test_placement_shares_are_near_the_documented_mix(org: SyntheticOrg) -> None:
    counts = org.truth.counts
    assert counts["persons"] == 3000 == len(org.truth.persons)
    assert counts["both"] + counts["salesforce_only"] + counts["hubspot_only"] == 3000
    assert 0.33 < counts["both"] / 3000 < 0.45
    assert 0.22 < counts["salesforce_only"] / 3000 < 0.35
    assert 0.25 < counts["hubspot_only"] / 3000 < 0.40


def test_people_in_both_systems_share_one_email(org: SyntheticOrg) -> None:
    leads_and_contacts = _by_id(org.salesforce["Lead"] + org.salesforce["Contact"])
    hubspot = _by_id(org.hubspot["contacts"], key="id")
    for person in org.truth.where("both"):
        assert person.email is not None and person.hubspot_id is not None
        assert hubspot[person.hubspot_id]["properties"]["email"] == person.email
        assert all(leads_and_contacts[i]["Email"].lower() == person.email for i in person.salesforce_ids)
    for person in org.truth.where("hubspot"):
        assert person.salesforce_ids == () and person.hubspot_id in hubspot
    for person in org.truth.where("salesforce"):
        assert person.hubspot_id is None and person.salesforce_ids


def test_duplicates_junk_missing_emails_and_conversions_are_present(org: SyntheticOrg) -> None:
    persons = org.truth.persons
    duplicates = [p for p in persons if p.duplicate]
    assert duplicates and all(p.placement != "hubspot" for p in duplicates)
    leads_and_contacts = _by_id(org.salesforce["Lead"] + org.salesforce["Contact"])
    for person in duplicates:
        live = [leads_and_contacts[i] for i in person.salesforce_ids if not leads_and_contacts[i].get("IsConverted")]
        assert len(live) == 2 and {r["Email"].lower() for r in live} == {person.email}
    junk = [p for p in persons if p.junk]
    assert any(p.email and p.email.endswith("@mailinator.com") for p in junk)
    junk_names = {(r["FirstName"], r["LastName"]) for r in org.salesforce["Lead"]} | {
        (c["properties"]["firstname"], c["properties"]["lastname"]) for c in org.hubspot["contacts"]}
    assert ("asdf", "asdf") in junk_names or ("test", "test") in junk_names
    missing = [p for p in persons if p.email is None]
    assert missing and all(p.placement != "both" for p in missing)
    assert any(r["Email"] is None for r in org.salesforce["Lead"])
    hubspot_emails = [c["properties"]["email"] for c in org.hubspot["contacts"] if c["properties"]["email"]]
    assert len(hubspot_emails) == len(set(hubspot_emails)), "HubSpot de-duplicates contacts by email"


def test_converted_leads_point_at_their_contact_and_account(org: SyntheticOrg) -> None:
    contacts = _by_id(org.salesforce["Contact"])
    accounts = _by_id(org.salesforce["Account"])
    opportunities = _by_id(org.salesforce["Opportunity"])
    converted = [lead for lead in org.salesforce["Lead"] if lead["IsConverted"]]
    assert converted
    for lead in converted:
        assert lead["Status"] == "Closed - Converted"
        contact = contacts[lead["ConvertedContactId"]]
        assert contact["AccountId"] == lead["ConvertedAccountId"] and lead["ConvertedAccountId"] in accounts
        assert lead["ConvertedOpportunityId"] is None or lead["ConvertedOpportunityId"] in opportunities


def test_salesforce_ids_are_well_formed_unique_and_typed(org: SyntheticOrg) -> None:
    seen: set[str] = set()
    for sobject, records in org.salesforce.items():
        assert records, sobject
        for record in records:
            record_id = record["Id"]
            assert SF_ID.match(record_id) and record_id.startswith(SF_PREFIX[sobject]), record_id
            assert case_safe_suffix(record_id[:15]) == record_id[15:]
            assert record_id not in seen
            seen.add(record_id)
            assert SF_STAMP.match(record["CreatedDate"]) and SF_STAMP.match(record["SystemModstamp"])
            assert record["CreatedDate"] <= record["LastModifiedDate"] == record["SystemModstamp"]


def test_case_safe_suffix_matches_a_known_salesforce_id() -> None:
    # The example id from Salesforce's documentation of 15- and 18-character ids.
    assert case_safe_suffix("001D000000IqhSL") == "IAZ"
    # Each suffix character encodes which of five characters are upper case: "00QDn" has Q and D -> 4 + 8 -> "M".
    assert case_safe_suffix("00QDn000000kp12") == "MAA"
    assert case_safe_suffix("001000000000000") == "AAA"
    assert case_safe_suffix("AAAAAAAAAAAAAAA") == "555"


def test_hubspot_ids_unique_and_shapes(org: SyntheticOrg) -> None:
    for object_type in ("contacts", "calls", "emails", "meetings", "notes", "tasks"):
        records = org.hubspot[object_type]
        assert records, object_type
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)) and all(i.isdigit() for i in ids)
        for record in records:
            assert HS_STAMP.match(record["createdAt"]) and HS_STAMP.match(record["updatedAt"])
            assert record["archived"] is False
    event_ids = [e["id"] for e in org.hubspot["events"]]
    assert len(event_ids) == len(set(event_ids))
    assert {c["properties"]["hs_call_disposition"] for c in org.hubspot["calls"]} == HS_DISPOSITIONS


def test_every_reference_points_at_an_existing_record(org: SyntheticOrg) -> None:
    sf = {sobject: {r["Id"] for r in records} for sobject, records in org.salesforce.items()}
    people = sf["Lead"] | sf["Contact"]
    for activity in org.salesforce["Task"] + org.salesforce["Event"]:
        assert activity["WhoId"] in people and activity["OwnerId"] in sf["User"]
    for member in org.salesforce["CampaignMember"]:
        assert member["CampaignId"] in sf["Campaign"]
        assert (member["LeadId"] in sf["Lead"]) != (member["ContactId"] in sf["Contact"])
    pairs = [(m["CampaignId"], m["LeadId"] or m["ContactId"]) for m in org.salesforce["CampaignMember"]]
    assert len(pairs) == len(set(pairs)), "one membership per campaign and person"
    for lead in org.salesforce["Lead"]:
        assert lead["OwnerId"] in sf["User"] | sf["Group"]
    for contact in org.salesforce["Contact"]:
        assert contact["AccountId"] in sf["Account"]
    for opportunity in org.salesforce["Opportunity"]:
        assert opportunity["AccountId"] in sf["Account"]
    hs = {t: {r["id"] for r in org.hubspot[t]} for t in ("contacts", "calls", "emails", "meetings", "notes", "tasks")}
    owners = {o["id"] for o in org.hubspot["owners"]}
    for association in org.hubspot["associations"]:
        assert association["to_type"] == "contacts" and association["to_id"] in hs["contacts"]
        assert association["from_id"] in hs[association["from_type"]]
    engagements = sum(len(hs[t]) for t in hs if t != "contacts")
    assert len(org.hubspot["associations"]) == engagements
    for event in org.hubspot["events"]:
        assert event["objectType"] == "contact" and event["objectId"] in hs["contacts"]
    assert all(c["properties"]["hubspot_owner_id"] in owners for c in org.hubspot["contacts"])


def test_owners_queues_inactive_users_and_opportunity_outcomes(org: SyntheticOrg) -> None:
    users = org.salesforce["User"]
    assert any(not u["IsActive"] for u in users) and any(u["IsActive"] for u in users)
    assert {g["Type"] for g in org.salesforce["Group"]} == {"Queue"}
    queue_ids = {g["Id"] for g in org.salesforce["Group"]}
    assert any(lead["OwnerId"] in queue_ids for lead in org.salesforce["Lead"])
    outcomes = {(o["IsClosed"], o["IsWon"]) for o in org.salesforce["Opportunity"]}
    assert outcomes == {(False, False), (True, True), (True, False)}
    assert any(o["archived"] for o in org.hubspot["owners"])
    titles = {r["Title"] for r in org.salesforce["Lead"] + org.salesforce["Contact"]}
    assert {"Student", "VP of Marketing", "Director of Sales"} <= titles


def test_activities_mix_and_time_spread(org: SyntheticOrg) -> None:
    counts = org.truth.counts
    assert counts["activities"] == sum(p.activities for p in org.truth.persons)
    assert 25_000 < counts["activities"] < 35_000  # about 10 per person
    assert counts["activity.page_view"] > counts["activity.email_open"] > counts["activity.form_fill"] > 0
    urls = {e["properties"].get("hs_url") for e in org.hubspot["events"]}
    assert any(u and u.endswith("/pricing") for u in urls) and any(u and u.endswith("/careers") for u in urls)
    event_types = {e["eventType"] for e in org.hubspot["events"]}
    assert {"e_visited_page", "e_submitted_form", "e_opened_email", "e_clicked_email"} <= event_types
    assert {t["TaskSubtype"] for t in org.salesforce["Task"]} == {"Call", "Email", "Task"}
    assert all(t["CallDisposition"] for t in org.salesforce["Task"] if t["TaskSubtype"] == "Call")
    stamps = [e["occurredAt"] for e in org.hubspot["events"]] + [t["CreatedDate"] for t in org.salesforce["Task"]]
    months = {s[:7] for s in stamps}
    assert len(months) >= 10, "activity spreads over months"
    assert max(e["occurredAt"] for e in org.hubspot["events"]) <= "2026-11-24T03:00:00.000Z"
    assert max(t["CreatedDate"] for t in org.salesforce["Task"]) <= "2026-11-24T03:00:00.000+0000"
    assert max(t["ActivityDate"] for t in org.salesforce["Task"]) <= "2026-11-24"


def test_purchased_list_leads_share_import_timestamps(org: SyntheticOrg) -> None:
    purchased = [lead for lead in org.salesforce["Lead"] if lead["LeadSource"] == "Purchased List"]
    stamps = {lead["SystemModstamp"] for lead in purchased}
    assert purchased and len(stamps) <= 4 < len(purchased)


def test_bad_arguments_are_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="persons"):
        generate_org(0, seed=1, now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        generate_org(10, seed=1, now=datetime(2026, 11, 24))  # a naive value, on purpose


def _by_id(records: list[dict[str, Any]], key: str = "Id") -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in records}


def test_the_org_loads_into_both_emulators_with_valid_hubspot_options(org: SyntheticOrg) -> None:
    from leadsync.sandbox.hubspot.emulator import HubSpotEmulator
    from leadsync.sandbox.hubspot.properties import contact_definitions, engagement_definitions
    from leadsync.sandbox.salesforce.emulator import SalesforceEmulator

    salesforce = SalesforceEmulator()
    loaded = salesforce.load_org(org.salesforce)
    assert loaded == sum(len(records) for records in org.salesforce.values())
    assert len(salesforce.records("Lead")) == len(org.salesforce["Lead"])
    hubspot = HubSpotEmulator()
    hubspot.load_org(org.hubspot)
    some = org.hubspot["contacts"][17]
    assert hubspot.contact(some["id"]).value("email") == some["properties"]["email"]
    for object_type in ("contacts", "calls", "emails", "meetings", "tasks"):
        definitions = contact_definitions() if object_type == "contacts" else engagement_definitions(object_type)
        for record in org.hubspot[object_type]:
            for name, value in record["properties"].items():
                assert name in definitions, (object_type, name)
                options = definitions[name].option_values()
                if options and value is not None and name != "hubspot_owner_id":
                    assert value in options, (object_type, name, value)
