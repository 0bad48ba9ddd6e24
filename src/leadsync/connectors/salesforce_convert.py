"""Salesforce records (query JSON) -> the connector port's vendor-neutral records.

Pure functions over the dicts a SOQL query returns; nothing Salesforce-shaped leaves this module. A
record that cannot be read (no Id, a garbled SystemModstamp) raises :class:`BadRecord` naming the object
and id, so a broken page stops the pull where it is instead of being skipped silently.

Activity vocabulary (see ``leadsync.domain.contact_status`` for the canonical properties):

* Task with ``TaskSubtype`` Call -> ``call`` with ``disposition`` from the free-text ``CallDisposition``
  through :data:`CALL_DISPOSITIONS` (unknown text -> no ``disposition``: contact status counts the call
  as an attempt and reports it) and ``direction`` from ``CallType``;
* Task with ``TaskSubtype`` Email -> ``email_sent`` with ``direction`` outbound (a Task carries no
  inbound marker; replies logged by Email-to-Salesforce are EmailMessages, which are not pulled);
* any other Task -> ``task``; Event -> ``meeting`` (no outcome field exists on a standard Event, so
  none is set and the meeting counts as scheduled);
* CampaignMember that responded -> ``webinar_attended`` (Webinar campaigns), ``event_attended``
  (Conference, Trade Show) or ``campaign_response``; a Webinar member who has not responded ->
  ``webinar_registered``; other non-responders did nothing and yield no activity.

An activity's person is its ``WhoId`` (``00Q`` lead, ``003`` contact); an activity about no person
(WhoId empty or an account) yields no record, but its cursor key still advances the watermark.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from leadsync.connectors.port import ActivityRecord, OpportunityRecord, OwnerRecord, PersonRecord
from leadsync.domain.fields import InboundMapping
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import Activity, CrmFacts, OwnerKind, System
from leadsync.domain.planner import Scalar

SF = System.SALESFORCE
LEAD_PREFIX, CONTACT_PREFIX, USER_PREFIX, QUEUE_PREFIX = "00Q", "003", "005", "00G"

# Free-text CallDisposition (admins configure the options) -> canonical disposition. Keys are normalised
# by :func:`_normalise`: lower case, punctuation and runs of spaces folded to one space.
CALL_DISPOSITIONS: Mapping[str, str] = {
    "connected": "connected", "spoke": "connected", "spoke with contact": "connected", "reached": "connected",
    "answered": "connected", "conversation": "connected",
    "left voicemail": "left_voicemail", "voicemail": "left_voicemail", "left message": "left_voicemail",
    "left vm": "left_voicemail", "vm": "left_voicemail",
    "no answer": "no_answer", "not answered": "no_answer", "no response": "no_answer", "unanswered": "no_answer",
    "busy": "busy", "line busy": "busy",
    "wrong number": "wrong_number", "bad number": "wrong_number", "invalid number": "wrong_number",
    "number disconnected": "wrong_number", "disconnected": "wrong_number",
    "bad timing": "bad_timing", "call back later": "bad_timing", "callback requested": "bad_timing",
    "not now": "bad_timing",
    "not interested": "not_interested",
}
CALL_DIRECTIONS: Mapping[str, str] = {"inbound": "inbound", "outbound": "outbound"}
ATTENDED_CAMPAIGN_TYPES: Mapping[str, str] = {
    "webinar": "webinar_attended", "conference": "event_attended", "trade show": "event_attended",
}

# What each stream selects beyond Id and SystemModstamp (never SELECT everything).
PERSON_BASE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Lead": ("IsDeleted", "Email", "Status", "OwnerId", "IsConverted", "ConvertedContactId"),
    "Contact": ("IsDeleted", "Email", "OwnerId"),
}
TASK_FIELDS = ("IsDeleted", "WhoId", "TaskSubtype", "Type", "CallDisposition", "CallType", "Status",
               "ActivityDate", "CompletedDateTime", "CreatedDate")
EVENT_FIELDS = ("IsDeleted", "WhoId", "Type", "StartDateTime", "ActivityDateTime", "CreatedDate")
CAMPAIGN_MEMBER_FIELDS = ("IsDeleted", "LeadId", "ContactId", "CampaignId", "Campaign.Type", "Status",
                          "HasResponded", "FirstRespondedDate", "CreatedDate")
OPPORTUNITY_FIELDS = ("IsDeleted", "AccountId", "ContactId", "StageName", "IsClosed", "IsWon")
USER_FIELDS = ("Email", "IsActive")
QUEUE_FIELDS = ("Email", "Type")


class BadRecord(ValueError):
    """A record this connector cannot read; the message names its object and id."""


# ----- small readers ---------------------------------------------------------------------------------


def parse_datetime(value: Any) -> datetime | None:
    """Salesforce datetimes (``2026-01-05T10:00:00.000+0000``) and dates (midnight UTC) -> aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def cursor_key(object_name: str, raw: Mapping[str, Any]) -> tuple[datetime, str]:
    """``(SystemModstamp, Id)``: what orders a keyset page and advances the watermark."""
    record_id = raw.get("Id")
    if not isinstance(record_id, str) or not record_id:
        raise BadRecord(f"{object_name} record without an Id")
    stamp = parse_datetime(raw.get("SystemModstamp"))
    if stamp is None:
        raise BadRecord(f"{object_name} {record_id}: unreadable SystemModstamp {raw.get('SystemModstamp')!r}")
    return stamp, record_id


def person_ref(record_id: Any) -> RecordRef | None:
    """A WhoId (or LeadId/ContactId) as a person ref; ``None`` for anything that is not a lead or contact."""
    if not isinstance(record_id, str):
        return None
    if record_id.startswith(LEAD_PREFIX):
        return RecordRef(SF, "lead", record_id)
    if record_id.startswith(CONTACT_PREFIX):
        return RecordRef(SF, "contact", record_id)
    return None


def owner_kind(owner_id: Any) -> OwnerKind:
    if isinstance(owner_id, str) and owner_id.startswith(USER_PREFIX):
        return OwnerKind.USER
    if isinstance(owner_id, str) and owner_id.startswith(QUEUE_PREFIX):
        return OwnerKind.QUEUE
    return OwnerKind.NONE


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def call_disposition(text: Any) -> str | None:
    """The canonical disposition for a CallDisposition text, or ``None`` when it is unknown or empty."""
    return CALL_DISPOSITIONS.get(_normalise(text)) if isinstance(text, str) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def field_value(raw: Mapping[str, Any], name: str) -> Any:
    """A field of a query record, following one relationship hop (``Campaign.Type``)."""
    head, _, tail = name.partition(".")
    value = raw.get(head)
    if tail:
        return value.get(tail) if isinstance(value, Mapping) else None
    return value


def _scalar(value: Any) -> Scalar:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


# ----- people ----------------------------------------------------------------------------------------


def person_record(object_name: str, raw: Mapping[str, Any], inbound: Sequence[InboundMapping],
                  outbound_fields: Sequence[str]) -> PersonRecord:
    """A Lead or Contact; ``inbound`` fills ``fields`` (person field -> value), ``outbound_fields`` fills
    ``current`` with what the record holds in each mapped field now."""
    stamp, record_id = cursor_key(object_name, raw)
    is_contact = object_name == "Contact"
    converted_id = raw.get("ConvertedContactId")
    converted = bool(raw.get("IsConverted")) and isinstance(converted_id, str) and bool(converted_id)
    facts = CrmFacts(
        crm_status=_text(raw.get("Status")),
        owner_kind=owner_kind(raw.get("OwnerId")),
        owner_id=_text(raw.get("OwnerId")),
        is_converted=bool(raw.get("IsConverted")),
        is_contact=is_contact,
    )
    return PersonRecord(
        ref=RecordRef(SF, "contact" if is_contact else "lead", record_id),
        modstamp=stamp,
        email=_text(raw.get("Email")),
        fields={m.person_field: raw.get(m.field) for m in inbound},
        facts=facts,
        current={name: _scalar(raw.get(name)) for name in outbound_fields},
        deleted=bool(raw.get("IsDeleted")),
        converted_to=RecordRef(SF, "contact", str(converted_id)) if converted else None,
    )


# ----- activities ------------------------------------------------------------------------------------


def _activity(raw: Mapping[str, Any], who: RecordRef, stamp: datetime, kind: str, occurred: datetime | None,
              properties: Mapping[str, str | None]) -> ActivityRecord:
    props = {key: value for key, value in properties.items() if value}
    activity = Activity(source=SF, source_id=str(raw["Id"]), type=kind, occurred_at=occurred or stamp,
                        properties=props)
    return ActivityRecord(activity=activity, who=who, modstamp=stamp, deleted=bool(raw.get("IsDeleted")))


def task_record(raw: Mapping[str, Any]) -> ActivityRecord | None:
    stamp, _ = cursor_key("Task", raw)
    who = person_ref(raw.get("WhoId"))
    if who is None:
        return None
    occurred = (parse_datetime(raw.get("CompletedDateTime")) or parse_datetime(raw.get("ActivityDate"))
                or parse_datetime(raw.get("CreatedDate")))
    subtype = raw.get("TaskSubtype")
    if subtype == "Call":
        direction = CALL_DIRECTIONS.get(str(raw.get("CallType") or "").lower())
        return _activity(raw, who, stamp, "call", occurred, {
            "disposition": call_disposition(raw.get("CallDisposition")), "direction": direction,
            "call_result": _text(raw.get("CallDisposition")),
        })
    if subtype == "Email":
        return _activity(raw, who, stamp, "email_sent", occurred, {"direction": "outbound"})
    status = _text(raw.get("Status"))
    return _activity(raw, who, stamp, "task", occurred, {"status": status.lower() if status else None})


def event_record(raw: Mapping[str, Any]) -> ActivityRecord | None:
    stamp, _ = cursor_key("Event", raw)
    who = person_ref(raw.get("WhoId"))
    if who is None:
        return None
    occurred = (parse_datetime(raw.get("StartDateTime")) or parse_datetime(raw.get("ActivityDateTime"))
                or parse_datetime(raw.get("CreatedDate")))
    event_type = _text(raw.get("Type"))
    return _activity(raw, who, stamp, "meeting", occurred,
                     {"event_type": event_type.lower() if event_type else None})


def campaign_member_record(raw: Mapping[str, Any]) -> ActivityRecord | None:
    stamp, _ = cursor_key("CampaignMember", raw)
    # A converted lead's membership carries the contact too; the contact is where its history lives now.
    who = person_ref(raw.get("ContactId")) or person_ref(raw.get("LeadId"))
    if who is None:
        return None
    campaign_type = str(field_value(raw, "Campaign.Type") or "").lower()
    if raw.get("HasResponded"):
        kind = ATTENDED_CAMPAIGN_TYPES.get(campaign_type, "campaign_response")
        occurred = parse_datetime(raw.get("FirstRespondedDate"))
    elif campaign_type == "webinar":
        kind, occurred = "webinar_registered", parse_datetime(raw.get("CreatedDate"))
    elif raw.get("IsDeleted"):
        kind, occurred = "campaign_response", None  # retract whatever this member produced before
    else:
        return None
    status = _text(raw.get("Status"))
    return _activity(raw, who, stamp, kind, occurred, {
        "campaign_id": _text(raw.get("CampaignId")), "campaign_type": campaign_type or None,
        "member_status": status.lower() if status else None,
    })


# ----- deals and owners ------------------------------------------------------------------------------


def opportunity_record(raw: Mapping[str, Any], account_contacts: Mapping[str, Sequence[str]]) -> OpportunityRecord:
    """``contact_refs``: the opportunity's own ContactId (set by lead conversion) and the contacts of its
    account (``account_contacts``: AccountId -> contact ids, read by the connector), without repeats."""
    stamp, record_id = cursor_key("Opportunity", raw)
    ids: list[str] = []
    contact_id = raw.get("ContactId")
    if isinstance(contact_id, str) and contact_id:
        ids.append(contact_id)
    account_id = raw.get("AccountId")
    if isinstance(account_id, str):
        ids.extend(account_contacts.get(account_id, ()))
    return OpportunityRecord(
        record_id=record_id, modstamp=stamp,
        contact_refs=tuple(RecordRef(SF, "contact", i) for i in dict.fromkeys(ids)),
        is_closed=bool(raw.get("IsClosed")), is_won=bool(raw.get("IsWon")), stage=str(raw.get("StageName") or ""),
        deleted=bool(raw.get("IsDeleted")),
    )


def user_record(raw: Mapping[str, Any]) -> OwnerRecord:
    stamp, record_id = cursor_key("User", raw)
    return OwnerRecord(system=SF, owner_id=record_id, email=_text(raw.get("Email")),
                       active=bool(raw.get("IsActive")), modstamp=stamp)


def queue_record(raw: Mapping[str, Any]) -> OwnerRecord:
    stamp, record_id = cursor_key("Group", raw)
    return OwnerRecord(system=SF, owner_id=record_id, email=_text(raw.get("Email")), active=True, is_queue=True,
                       modstamp=stamp)
