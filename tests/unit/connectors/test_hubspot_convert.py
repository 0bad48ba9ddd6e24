"""HubSpot vendor values -> port records: dispositions, directions, events, contacts, 207 errors, preflight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from leadsync.connectors import hubspot_convert as convert
from leadsync.domain.fields import FieldMapping, InboundMapping
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import OwnerKind, System
from leadsync.sandbox.hubspot.properties import CALL_DISPOSITIONS

STAMP = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def inbound(field: str, person_field: str) -> InboundMapping:
    return InboundMapping(System.HUBSPOT, "contacts", field, person_field, False, f"fields.toml:{len(field)}")


def outbound(field: str, value: str) -> FieldMapping:
    return FieldMapping(System.HUBSPOT, "contacts", field, value, "leadsync", None, "fields.toml:9")


@pytest.mark.parametrize(("name", "canonical"), [
    ("connected", "connected"), ("left_voicemail", "left_voicemail"), ("left_live_message", "left_voicemail"),
    ("no_answer", "no_answer"), ("busy", "busy"), ("wrong_number", "wrong_number"),
])
def test_every_default_call_outcome_guid_has_a_canonical_disposition(name: str, canonical: str) -> None:
    records = convert.engagement_records("calls", "7", {"hs_call_disposition": CALL_DISPOSITIONS[name],
                                                        "hs_call_direction": "OUTBOUND"}, ["1"], modstamp=STAMP)
    assert records[0].activity.properties["disposition"] == canonical
    assert records[0].activity.properties["direction"] == "outbound"


def test_custom_outcomes_are_matched_by_label_and_unknown_ones_keep_their_id_only() -> None:
    table = convert.disposition_table(
        [("guid-bt", "Bad Timing"), ("guid-ni", "Not interested"), ("guid-x", "Gatekeeper")])
    assert table["guid-bt"] == "bad_timing" and table["guid-ni"] == "not_interested" and "guid-x" not in table
    call = convert.engagement_records("calls", "8", {"hs_call_disposition": "guid-x"}, ["1"], modstamp=STAMP,
                                      dispositions=table)
    assert "disposition" not in call[0].activity.properties
    assert call[0].activity.properties["disposition_id"] == "guid-x"


@pytest.mark.parametrize(("raw", "activity_type", "direction"), [
    ("EMAIL", "email_sent", "outbound"), ("INCOMING_EMAIL", "email_reply", "inbound"),
    ("FORWARDED_EMAIL", "email_sent", "outbound"),
])
def test_email_direction(raw: str, activity_type: str, direction: str) -> None:
    [record] = convert.engagement_records("emails", "9", {"hs_email_direction": raw}, ["2"], modstamp=STAMP)
    assert (record.activity.type, record.activity.properties["direction"]) == (activity_type, direction)


def test_meetings_notes_tasks_and_one_record_per_associated_contact() -> None:
    props = {"hs_meeting_outcome": "NO_SHOW", "hs_timestamp": "2026-02-01T10:00:00.000Z"}
    records = convert.engagement_records("meetings", "11", props, ["5", "6", "5"], modstamp=STAMP)
    assert [r.who for r in records] == [RecordRef(System.HUBSPOT, "contact", "5"),
                                        RecordRef(System.HUBSPOT, "contact", "6")]
    assert {r.activity.source_id for r in records} == {"meetings/11"}
    assert records[0].activity.properties["outcome"] == "no_show"
    assert records[0].activity.occurred_at == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert records[0].modstamp == STAMP
    assert convert.engagement_records("notes", "11", {}, ["5"], modstamp=STAMP)[0].activity.type == "note"
    assert convert.engagement_records("tasks", "11", {}, ["5"], modstamp=STAMP)[0].activity.type == "task"
    assert convert.engagement_records("tasks", "12", {}, [], modstamp=STAMP) == []


def test_events_become_activities_with_rule_file_property_names() -> None:
    view = convert.event_record("e1", "e_visited_page", "42", STAMP, {"hs_url": "https://x.example/pricing"})
    form = convert.event_record("e2", "e_submitted_form", "42", STAMP, {"hs_form_title": "Contact us", "hs_url": "u"})
    assert view is not None and form is not None
    assert (view.activity.type, dict(view.activity.properties)) == ("page_view", {"url": "https://x.example/pricing"})
    assert (form.activity.type, form.activity.properties["form_name"]) == ("form_fill", "Contact us")
    assert form.who == RecordRef(System.HUBSPOT, "contact", "42")
    assert convert.event_record("e3", "pe1234_custom_thing", "42", STAMP, {}) is None


def test_contact_fields_facts_current_and_merges() -> None:
    props = {"email": "ada@example.com", "firstname": "Ada", "numemployees": "25-50", "annualrevenue": "1500000.5",
             "lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "CONNECTED", "hubspot_owner_id": "77",
             "hs_merged_object_ids": "12;13", "leadsync_score": "40"}
    record = convert.person_record(
        "11", props, modstamp=STAMP,
        inbound=[inbound("email", "email"), inbound("firstname", "first_name"), inbound("numemployees", "employees"),
                 inbound("annualrevenue", "annual_revenue"), inbound("jobtitle", "title")],
        outbound=[outbound("leadsync_score", "score"), outbound("lifecyclestage", "lifecycle_status"),
                  outbound("leadsync_grade", "grade")])
    assert record.ref == RecordRef(System.HUBSPOT, "contact", "11")
    assert dict(record.fields) == {"email": "ada@example.com", "first_name": "Ada", "employees": 25,
                                   "annual_revenue": 1500000.5}
    assert record.facts.crm_status is None  # hs_lead_status is leadsync's own contact status, not an input
    assert record.facts.hubspot_stage == "marketingqualifiedlead"
    assert (record.facts.owner_kind, record.facts.owner_id) == (OwnerKind.USER, "77")
    assert dict(record.current) == {"leadsync_score": "40", "lifecyclestage": "marketingqualifiedlead",
                                    "leadsync_grade": None}
    assert record.merged_from == ("12", "13")
    ownerless = convert.person_record("12", {}, inbound=(), outbound=(), modstamp=STAMP)
    assert ownerless.facts.owner_kind is OwnerKind.NONE and ownerless.email is None


def test_times_and_values_on_the_wire() -> None:
    assert convert.parse_time("2026-03-04T05:06:07.890Z", "x") == STAMP
    assert convert.parse_time(str(int(STAMP.timestamp() * 1000)), "x") == STAMP
    plus_two = timezone(timedelta(hours=2))
    assert convert.parse_time(STAMP.astimezone(plus_two), "x").tzinfo == UTC
    with pytest.raises(convert.ConversionError, match="contacts/5"):
        convert.parse_time("yesterday", "contacts/5 lastmodifieddate")
    assert convert.to_property(None) == ""
    assert convert.to_property(True) == "true"
    assert convert.to_property(42.0) == "42"
    assert convert.to_property(STAMP.astimezone(plus_two)) == "2026-03-04T05:06:07.890Z"
    assert convert.to_property('O\'Brien "\\" ü') == 'O\'Brien "\\" ü'


def test_batch_failures_match_ids_codes_and_properties() -> None:
    invalid = {"status": "error", "category": "VALIDATION_ERROR", "context": {"ids": ["101"]},
               "message": 'Property values were not valid: '
                          '[{"isValid":false,"error":"INVALID_OPTION","name":"hs_lead_status"}]',
               "errors": [{"message": "x", "code": "INVALID_OPTION", "context": {"propertyName": ["hs_lead_status"]}}]}
    embedded = {"status": "error", "category": "VALIDATION_ERROR", "context": {"ids": ["102"]}, "errors": [],
                "message": 'Property values were not valid: [{"error":"READ_ONLY_VALUE","name":"hs_analytics_source"}]'}
    unnamed = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Object 103 not found", "context": {}}
    busy = {"status": "error", "category": "RATE_LIMITS", "message": "slow down", "context": {"ids": ["104"]}}
    failures = convert.batch_failures([invalid, embedded, unnamed, busy], ["101", "102", "103", "104", "1030"])
    assert (failures["101"].code, failures["101"].fields, failures["101"].transient) == (
        "INVALID_OPTION", ("hs_lead_status",), False)
    assert (failures["102"].code, failures["102"].fields) == ("READ_ONLY_VALUE", ("hs_analytics_source",))
    assert failures["103"].code == "OBJECT_NOT_FOUND" and "1030" not in failures
    assert failures["104"].transient


def test_property_problems() -> None:
    stage = convert.PropertyInfo("lifecyclestage", "enumeration", frozenset({"lead", "customer"}), False)
    assert convert.property_problem(None, "x", None, must_write=True) == "property x does not exist"
    assert convert.property_problem(stage, "lifecyclestage", frozenset({"lead", "customer"}), must_write=True) is None
    problem = convert.property_problem(stage, "lifecyclestage", frozenset({"lead", "opportunity"}), must_write=True)
    assert problem is not None and "'opportunity'" in problem
    locked = convert.PropertyInfo("hs_analytics_source", "enumeration", frozenset(), True)
    assert "read-only" in (convert.property_problem(locked, "hs_analytics_source", None, must_write=True) or "")
    assert convert.property_problem(locked, "hs_analytics_source", None, must_write=False) is None
    text = convert.PropertyInfo("leadsync_grade", "string", frozenset(), False)
    assert convert.property_problem(text, "leadsync_grade", frozenset({"A+", "B"}), must_write=True) is None
