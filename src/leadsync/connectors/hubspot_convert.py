"""HubSpot shapes -> port records, and port values -> HubSpot property strings. No I/O.

Choices the engine relies on:

* ``CrmFacts.crm_status`` stays ``None`` for HubSpot contacts. ``hs_lead_status`` is the *contact
  status* (leadsync writes it from call outcomes); feeding it back as a lifecycle input would let
  leadsync's own output decide its input. ``lifecyclestage`` is reported as ``hubspot_stage`` (what the
  portal holds now, possibly our own earlier write: the planner's echo check sorts that out), and a set
  ``hubspot_owner_id`` makes the owner kind ``USER`` (HubSpot has no queues).
* Engagement activity ids are ``"<type>/<id>"`` (calls and emails have separate id spaces); an event's
  id is its own UUID-like id.
* Call dispositions are identified by fixed GUIDs in every portal; :data:`DISPOSITION_BY_GUID` maps
  the defaults to the canonical contact-status values. A custom disposition is matched by its label
  (``"Bad timing"`` -> ``bad_timing``) when the connector has read the property's options; anything
  else keeps its raw value in ``disposition_id`` and no ``disposition`` (contact status then counts the
  call as an attempt and reports it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from leadsync.connectors.port import ActivityRecord, OwnerRecord, PersonRecord
from leadsync.domain.fields import FieldMapping, InboundMapping
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import Activity, CrmFacts, OwnerKind, System
from leadsync.domain.planner import Scalar

CONTACT_KIND = "contact"
STANDARD_CONTACT_PROPERTIES: tuple[str, ...] = (
    "email", "lifecyclestage", "hs_lead_status", "hubspot_owner_id", "hs_merged_object_ids",
    "lastmodifieddate", "createdate",
)

# HubSpot's default call outcomes (the same GUIDs in every portal) -> canonical dispositions.
# "Left live message" (a message left with a person, not the contact) is an attempt like a voicemail.
DISPOSITION_BY_GUID: Mapping[str, str] = MappingProxyType({
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "connected",
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "left_voicemail",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "left_voicemail",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "no_answer",
    "9d9162e7-6cf3-4944-bf63-4dff82258764": "busy",
    "17b47fee-58de-441e-a44c-c6300d46f273": "wrong_number",
})
CANONICAL_DISPOSITIONS: frozenset[str] = frozenset(
    {"connected", "left_voicemail", "no_answer", "busy", "wrong_number", "bad_timing", "not_interested"}
)

# Engagement type -> (activity type, properties to request besides the stamps).
ENGAGEMENT_PROPERTIES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "calls": ("hs_timestamp", "hs_call_disposition", "hs_call_direction", "hs_call_status", "hs_call_duration",
              "hs_call_title"),
    "emails": ("hs_timestamp", "hs_email_direction", "hs_email_status", "hs_email_subject"),
    "meetings": ("hs_timestamp", "hs_meeting_outcome", "hs_meeting_title", "hs_meeting_start_time"),
    "notes": ("hs_timestamp",),
    "tasks": ("hs_timestamp", "hs_task_status", "hs_task_type", "hs_task_subject"),
})
ENGAGEMENT_TYPES: tuple[str, ...] = tuple(ENGAGEMENT_PROPERTIES)
EMAIL_TYPES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "EMAIL": ("email_sent", "outbound"),
    "FORWARDED_EMAIL": ("email_sent", "outbound"),
    "INCOMING_EMAIL": ("email_reply", "inbound"),
})

# Event types (HubSpot's ``e_`` names) -> activity types; event properties are renamed below.
EVENT_TYPES: Mapping[str, str] = MappingProxyType({
    "e_visited_page": "page_view",
    "e_submitted_form": "form_fill",
    "e_opened_email": "email_open",
    "e_clicked_email": "email_click",
    "e_registered_webinar": "webinar_registered",
    "e_attended_webinar": "webinar_attended",
    "e_downloaded_content": "download",
    "e_unsubscribed": "unsubscribe",
})
EVENT_PROPERTY_NAMES: Mapping[str, str] = MappingProxyType({
    "hs_url": "url", "hs_form_title": "form_name", "hs_email_campaign": "campaign", "hs_page_title": "page_title",
    "hs_asset_name": "asset_name", "hs_webinar_name": "webinar_name",
})


class ConversionError(ValueError):
    """A vendor value leadsync cannot read; the message says which record and property."""


def parse_time(value: Any, where: str) -> datetime:
    """HubSpot timestamps: ISO 8601 (``...Z``), epoch milliseconds, or a datetime from the client."""
    if isinstance(value, datetime):  # the client parses with tzlocal(); keep every stamp in UTC
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value or "").strip()
    if not text:
        raise ConversionError(f"{where}: missing timestamp")
    try:
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConversionError(f"{where}: unreadable timestamp {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_property(value: Scalar) -> str:
    """The string HubSpot takes for a value: ``""`` clears, datetimes as ISO in UTC with milliseconds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        instant = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ----- contacts ----------------------------------------------------------------------------------


_BAND = re.compile(r"^\s*(\d+)\s*(?:-\s*\d+|\+)?\s*$")


def _person_value(person_field: str, raw: str) -> Any:
    """Typed person values: ``employees`` as an int (an ``"25-50"`` band gives its lower bound), revenue as
    a float; everything else stays text. Unreadable numbers stay text so grading can still see them."""
    if person_field == "employees":
        match = _BAND.match(raw.replace(",", ""))
        return int(match.group(1)) if match else raw
    if person_field == "annual_revenue":
        try:
            return float(raw.replace(",", ""))
        except ValueError:
            return raw
    return raw


def contact_properties(inbound: Sequence[InboundMapping], outbound: Sequence[FieldMapping]) -> tuple[str, ...]:
    """Every property a contact pull asks for, each once."""
    names = [*STANDARD_CONTACT_PROPERTIES, *(m.field for m in inbound), *(m.field for m in outbound)]
    return tuple(dict.fromkeys(names))


def split_ids(raw: str | None) -> tuple[str, ...]:
    """``hs_merged_object_ids`` and other multi-value properties are ``;``-separated."""
    return tuple(part.strip() for part in (raw or "").split(";") if part.strip())


def person_record(record_id: str, properties: Mapping[str, str | None], *, inbound: Sequence[InboundMapping],
                  outbound: Sequence[FieldMapping], modstamp: datetime, deleted: bool = False) -> PersonRecord:
    """One contact as the engine sees it (``modstamp``: lastmodifieddate, or archivedAt when deleted)."""
    fields: dict[str, Any] = {}
    for mapping in inbound:
        raw = properties.get(mapping.field)
        if raw not in (None, ""):
            fields[mapping.person_field] = _person_value(mapping.person_field, str(raw))
    owner = properties.get("hubspot_owner_id") or None
    facts = CrmFacts(
        owner_kind=OwnerKind.USER if owner else OwnerKind.NONE, owner_id=owner, is_contact=True,
        hubspot_stage=properties.get("lifecyclestage") or None,
    )
    current: dict[str, Scalar] = {m.field: properties.get(m.field) or None for m in outbound}
    return PersonRecord(
        ref=RecordRef(System.HUBSPOT, CONTACT_KIND, record_id), modstamp=modstamp,
        email=properties.get("email") or None, fields=fields, facts=facts, current=current, deleted=deleted,
        merged_from=split_ids(properties.get("hs_merged_object_ids")),
    )


# ----- engagements ---------------------------------------------------------------------------------


def _label_key(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")


def disposition_table(options: Iterable[tuple[str, str]]) -> dict[str, str]:
    """GUID -> canonical disposition: the defaults, plus portal options whose label names a canonical one."""
    table = dict(DISPOSITION_BY_GUID)
    for value, label in options:
        key = _label_key(label)
        if value not in table and key in CANONICAL_DISPOSITIONS:
            table[value] = key
    return table


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if value else None


def _engagement_activity(kind: str, props: Mapping[str, str | None],
                         dispositions: Mapping[str, str]) -> tuple[str, dict[str, str | None]]:
    """Activity type and canonical properties of one engagement."""
    if kind == "calls":
        guid = props.get("hs_call_disposition")
        return "call", {"disposition": dispositions.get(guid or ""), "disposition_id": guid,
                        "direction": _lower(props.get("hs_call_direction")),
                        "status": _lower(props.get("hs_call_status"))}
    if kind == "emails":
        raw = (props.get("hs_email_direction") or "").upper()
        activity_type, direction = EMAIL_TYPES.get(raw, ("email_sent", None))
        return activity_type, {"direction": direction, "status": _lower(props.get("hs_email_status"))}
    if kind == "meetings":
        return "meeting", {"outcome": _lower(props.get("hs_meeting_outcome"))}
    if kind == "notes":
        return "note", {}
    if kind == "tasks":
        return "task", {"status": _lower(props.get("hs_task_status")), "task_type": _lower(props.get("hs_task_type"))}
    raise ConversionError(f"unknown engagement type {kind!r}")


def engagement_records(
    kind: str, record_id: str, props: Mapping[str, str | None], contact_ids: Sequence[str], *,
    modstamp: datetime, dispositions: Mapping[str, str] = DISPOSITION_BY_GUID,
) -> list[ActivityRecord]:
    """One ActivityRecord per associated contact (none when the engagement is on no contact)."""
    activity_type, extra = _engagement_activity(kind, props, dispositions)
    when = props.get("hs_timestamp") or props.get("hs_createdate")
    occurred = parse_time(when, f"{kind}/{record_id} hs_timestamp") if when else modstamp
    activity = Activity(source=System.HUBSPOT, source_id=f"{kind}/{record_id}", type=activity_type,
                        occurred_at=occurred, properties=MappingProxyType({k: v for k, v in extra.items() if v}))
    return [ActivityRecord(activity=activity, who=RecordRef(System.HUBSPOT, CONTACT_KIND, contact_id),
                           modstamp=modstamp) for contact_id in dict.fromkeys(contact_ids)]


# ----- events and owners -----------------------------------------------------------------------------


def event_record(event_id: str, event_type: str, object_id: str, occurred_at: datetime,
                 properties: Mapping[str, Any]) -> ActivityRecord | None:
    """A contact's web or email event; ``None`` for an event type leadsync does not score (caller counts)."""
    activity_type = EVENT_TYPES.get(event_type)
    if activity_type is None:
        return None
    props = {EVENT_PROPERTY_NAMES.get(k, k.removeprefix("hs_")).lower(): str(v)
             for k, v in properties.items() if v not in (None, "")}
    activity = Activity(source=System.HUBSPOT, source_id=event_id, type=activity_type, occurred_at=occurred_at,
                        properties=MappingProxyType(props))
    return ActivityRecord(activity=activity, who=RecordRef(System.HUBSPOT, CONTACT_KIND, object_id),
                          modstamp=occurred_at)


def owner_record(owner_id: str, email: str | None, archived: bool, updated_at: datetime | None) -> OwnerRecord:
    return OwnerRecord(system=System.HUBSPOT, owner_id=owner_id, email=email or None, active=not archived,
                       modstamp=parse_time(updated_at, f"owner {owner_id} updatedAt") if updated_at else None)


# ----- batch write answers and property definitions ---------------------------------------------------

# Per-record error categories of a 207 that are worth retrying (the record itself is fine).
TRANSIENT_CATEGORIES: frozenset[str] = frozenset({"RATE_LIMITS", "INTERNAL_ERROR", "LOCKED", "TIMEOUT",
                                                  "SERVICE_UNAVAILABLE"})


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """Why one input of a batch failed: the property-level code when HubSpot gives one (``INVALID_OPTION``,
    ``READ_ONLY_VALUE``), else the error's category."""

    code: str
    message: str
    fields: tuple[str, ...]
    transient: bool


def _detail_codes(details: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    codes: list[str] = []
    names: list[str] = []
    for detail in details:
        if detail.get("code"):
            codes.append(str(detail["code"]))
        for name in (detail.get("context") or {}).get("propertyName") or ():
            names.append(str(name))
    return codes, names


def _message_verdicts(message: str) -> tuple[list[str], list[str]]:
    """HubSpot embeds per-property verdicts as JSON in the message: ``... [{"error":..,"name":..}]``."""
    start = message.find("[")
    if start < 0:
        return [], []
    try:
        verdicts = json.loads(message[start:])
    except ValueError:
        return [], []
    if not isinstance(verdicts, list):
        return [], []
    items = [v for v in verdicts if isinstance(v, dict)]
    return [str(v["error"]) for v in items if v.get("error")], [str(v["name"]) for v in items if v.get("name")]


def batch_failures(errors: Iterable[Mapping[str, Any]], ids: Sequence[str]) -> dict[str, RecordFailure]:
    """Record id -> failure, from a 207's ``errors`` (``context.ids``; ids named in the message otherwise)."""
    failures: dict[str, RecordFailure] = {}
    for error in errors:
        message = str(error.get("message") or "")
        category = str(error.get("category") or "ERROR")
        codes, names = _detail_codes(error.get("errors") or ())
        if not codes:
            codes, names = _message_verdicts(message)
        failure = RecordFailure(code=codes[0] if codes else category, message=message,
                                fields=tuple(dict.fromkeys(names)), transient=category in TRANSIENT_CATEGORIES)
        named = [str(i) for i in (error.get("context") or {}).get("ids") or ()]
        if not named:
            named = [i for i in ids if re.search(rf"(?<![0-9]){re.escape(i)}(?![0-9])", message)]
        for record_id in named:
            failures[record_id] = failure
    return failures


@dataclass(frozen=True, slots=True)
class PropertyInfo:
    name: str
    type: str
    options: frozenset[str]
    read_only: bool


def property_problem(info: PropertyInfo | None, name: str, values: frozenset[str] | None, *,
                     must_write: bool) -> str | None:
    """Why a mapped property cannot serve its mapping, or ``None``."""
    if info is None:
        return f"property {name} does not exist"
    if must_write and info.read_only:
        return f"property {name} is read-only for the integration (modificationMetadata.readOnlyValue)"
    if values is None or info.type not in ("enumeration", "bool"):
        return None
    missing = sorted(v for v in values if v and v not in info.options)
    if missing:
        return f"property {name} has no option {', '.join(repr(v) for v in missing)}"
    return None
