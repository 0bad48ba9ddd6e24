"""Salesforce query records -> port records: people, activities, deals, owners, and the write helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from leadsync.connectors import salesforce_convert as convert
from leadsync.connectors.errors import PermanentError, TransientError
from leadsync.connectors.salesforce import call_failure, match_results, wire_value
from leadsync.domain.contact_status import CALL_DISPOSITIONS
from leadsync.domain.fields import InboundMapping
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import ACTIVITY_TYPES, OwnerKind, System
from leadsync.domain.planner import Target

SF = System.SALESFORCE
STAMP = "2026-01-05T10:00:00.000+0000"
AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
LEAD, CONTACT, USER, QUEUE = "00QDn000000rCVlMAM", "003Dn000000KMN0IAO", "0055g0000000001AAA", "00GDn0000008puDMAQ"


def raw(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "X"}, "Id": record_id, "SystemModstamp": STAMP, **fields}


# ----- people ----------------------------------------------------------------------------------------


def test_a_lead_becomes_a_person_record_with_facts_fields_and_current_values() -> None:
    inbound = (InboundMapping(SF, "Lead", "Title", "title", False, "f:1"),
               InboundMapping(SF, "Lead", "Buying_Role__c", "buying_role", True, "f:2"))
    record = convert.person_record("Lead", raw(
        LEAD, Email="a@b.example", Status="Working - Contacted", OwnerId=QUEUE, IsConverted=False, Title="CTO",
        Buying_Role__c="Champion", Lead_Score__c=12.0, IsDeleted=False), inbound, ["Lead_Score__c", "Missing__c"])
    assert record.ref == RecordRef(SF, "lead", LEAD) and record.modstamp == AT and record.email == "a@b.example"
    assert dict(record.fields) == {"title": "CTO", "buying_role": "Champion"}
    assert dict(record.current) == {"Lead_Score__c": 12.0, "Missing__c": None}
    assert record.facts.crm_status == "Working - Contacted" and record.facts.owner_kind is OwnerKind.QUEUE
    assert not record.deleted and record.converted_to is None


def test_a_converted_lead_points_at_its_contact_and_a_deleted_one_is_flagged() -> None:
    record = convert.person_record("Lead", raw(LEAD, IsConverted=True, ConvertedContactId=CONTACT, OwnerId=USER,
                                                IsDeleted=True), (), ())
    assert record.converted_to == RecordRef(SF, "contact", CONTACT) and record.facts.is_converted
    assert record.deleted and record.facts.owner_kind is OwnerKind.USER
    contact = convert.person_record("Contact", raw(CONTACT, OwnerId=None), (), ())
    assert contact.ref.kind == "contact" and contact.facts.is_contact and contact.facts.owner_kind is OwnerKind.NONE


@pytest.mark.parametrize("bad", [{"SystemModstamp": "yesterday"}, {"SystemModstamp": None}, {"Id": None}])
def test_an_unreadable_record_stops_with_its_object_and_id(bad: dict[str, Any]) -> None:
    with pytest.raises(convert.BadRecord, match="Lead"):
        convert.person_record("Lead", {**raw(LEAD), **bad}, (), ())


def test_datetimes_and_dates_parse_to_utc() -> None:
    assert convert.parse_datetime("2026-01-05T12:00:00.000+0200") == AT
    assert convert.parse_datetime("2026-01-05T10:00:00Z") == AT
    assert convert.parse_datetime("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    assert convert.parse_datetime("soon") is None and convert.parse_datetime(5) is None


# ----- activities ------------------------------------------------------------------------------------


def test_every_mapped_disposition_is_canonical_and_text_is_normalised() -> None:
    assert set(convert.CALL_DISPOSITIONS.values()) <= set(CALL_DISPOSITIONS)
    assert set(convert.CALL_DISPOSITIONS.values()) == set(CALL_DISPOSITIONS)  # each canonical one reachable
    assert convert.call_disposition("  Left   Voicemail! ") == "left_voicemail"
    assert convert.call_disposition("Wrong-Number") == "wrong_number"
    assert convert.call_disposition("the dog ate it") is None and convert.call_disposition(None) is None


def test_call_email_and_other_tasks() -> None:
    call = convert.task_record(raw("00TDn000000GiCsMAK", WhoId=LEAD, TaskSubtype="Call", CallDisposition="Busy",
                                   CallType="Inbound", CompletedDateTime="2026-01-04T08:00:00.000+0000"))
    assert call is not None and call.activity.type == "call" and call.who == RecordRef(SF, "lead", LEAD)
    assert dict(call.activity.properties) == {"disposition": "busy", "direction": "inbound", "call_result": "Busy"}
    assert call.activity.occurred_at == datetime(2026, 1, 4, 8, 0, tzinfo=UTC) and call.modstamp == AT
    sent = convert.task_record(raw("00TDn000000GiCtMAK", WhoId=CONTACT, TaskSubtype="Email", ActivityDate="2026-01-03"))
    assert sent is not None and sent.activity.type == "email_sent"
    assert sent.activity.properties == {"direction": "outbound"}
    assert sent.activity.occurred_at == datetime(2026, 1, 3, tzinfo=UTC) and sent.who.kind == "contact"
    todo = convert.task_record(raw("00TDn000000GiCuMAK", WhoId=LEAD, TaskSubtype="Task", Status="Completed",
                                   IsDeleted=True))
    assert todo is not None and todo.activity.type == "task" and todo.deleted
    assert todo.activity.occurred_at == AT  # no activity time at all: the modstamp
    assert convert.task_record(raw("00TDn000000GiCvMAK", WhoId=None, TaskSubtype="Call")) is None
    assert convert.task_record(raw("00TDn000000GiCwMAK", WhoId="001Dn0000002l9vIAA", TaskSubtype="Call")) is None


def test_events_are_meetings() -> None:
    meeting = convert.event_record(raw("00UDn000000Ap0zMAC", WhoId=LEAD, Type="Meeting",
                                       StartDateTime="2026-01-06T09:00:00.000+0000"))
    assert meeting is not None and meeting.activity.type == "meeting"
    assert meeting.activity.properties == {"event_type": "meeting"}
    assert meeting.activity.occurred_at == datetime(2026, 1, 6, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("campaign_type", "responded", "deleted", "expected"), [
    ("Webinar", True, False, "webinar_attended"),
    ("Webinar", False, False, "webinar_registered"),
    ("Trade Show", True, False, "event_attended"),
    ("Email", True, False, "campaign_response"),
    ("Email", False, False, None),
    ("Email", False, True, "campaign_response"),
])
def test_campaign_members(campaign_type: str, responded: bool, deleted: bool, expected: str | None) -> None:
    member = convert.campaign_member_record(raw(
        "00vDn0000008DLDIA2", LeadId=LEAD, ContactId=CONTACT, CampaignId="701Dn000000qqLQIAY", Status="Attended",
        HasResponded=responded, FirstRespondedDate="2026-01-02", Campaign={"Type": campaign_type}, IsDeleted=deleted))
    if expected is None:
        assert member is None
        return
    assert member is not None and member.activity.type == expected and member.deleted is deleted
    assert member.activity.type in ACTIVITY_TYPES
    assert member.who == RecordRef(SF, "contact", CONTACT)  # the contact wins over the converted lead
    assert member.activity.properties["campaign_type"] == campaign_type.lower()


# ----- deals and owners ------------------------------------------------------------------------------


def test_an_opportunity_names_its_contact_and_its_accounts_contacts_once() -> None:
    deal = convert.opportunity_record(raw("006Dn000000IEpnIAG", AccountId="001Dn0000002l9vIAA", ContactId=CONTACT,
                                          StageName="Closed Won", IsClosed=True, IsWon=True),
                                      {"001Dn0000002l9vIAA": [CONTACT, "003Dn000000KMN1IAO"]})
    assert [r.record_id for r in deal.contact_refs] == [CONTACT, "003Dn000000KMN1IAO"]
    assert deal.is_closed and deal.is_won and deal.stage == "Closed Won" and not deal.deleted


def test_users_and_queues() -> None:
    user = convert.user_record(raw(USER, Email="rep@x.example", IsActive=False))
    assert (user.owner_id, user.email, user.active, user.is_queue) == (USER, "rep@x.example", False, False)
    queue = convert.queue_record(raw(QUEUE, Email=None, Type="Queue"))
    assert queue.is_queue and queue.active and queue.modstamp == AT


# ----- write helpers ---------------------------------------------------------------------------------


def test_wire_values() -> None:
    moment = datetime(2026, 3, 1, 10, 30, 15, 250_000, tzinfo=UTC)
    assert wire_value(moment) == "2026-03-01T10:30:15.250+0000"
    assert wire_value(True) is True and wire_value(7) == 7 and wire_value(2.5) == 2.5 and wire_value(None) is None
    with pytest.raises(ValueError):
        wire_value(datetime(2026, 3, 1))
    with pytest.raises(ValueError):
        wire_value(float("nan"))


def test_results_match_by_position_and_classify() -> None:
    targets = [Target(SF, "Lead", f"00Q00000000000{n}AAA") for n in range(4)]
    reply = [
        {"id": targets[0].record_id, "success": True, "errors": []},
        {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}]},
        {"success": False, "errors": [{"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "message": "bad",
                                       "fields": ["Lifecycle_Status__c"]}]},
    ]
    ok, locked, refused, missing = match_results(targets, reply)
    assert ok.ok and not locked.ok and locked.transient and locked.error_code == "UNABLE_TO_LOCK_ROW"
    assert not refused.transient and refused.fields == ("Lifecycle_Status__c",) and refused.error == "bad"
    assert missing.transient and missing.error_code == "NO_RESULT"
    swapped = match_results(targets[:1], [{"id": targets[1].record_id, "success": True}])
    assert swapped[0].transient and not swapped[0].ok


def test_a_failed_call_is_transient_or_permanent_for_each_record() -> None:
    target = Target(SF, "Lead", "00Q000000000000AAA")
    assert call_failure(target, TransientError("down", system="salesforce", status=503)).transient
    refused = call_failure(target, PermanentError("bad", system="salesforce", error_code="JSON_PARSER_ERROR"))
    assert not refused.transient and refused.error_code == "JSON_PARSER_ERROR"
