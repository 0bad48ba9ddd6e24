"""Our own definitions of the HubSpot properties the sandbox serves, per object type.

Only the properties leadsync and the synthetic org use are defined, with the types, field types,
enumeration options and read-only flags HubSpot uses for them. Definitions are mutable on purpose:
hostile-org tests make a property read-only or remove an option (see ``HubSpotEmulator.change_property``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Epoch ms stamped on every standard definition (HubSpot reports its own dates for these).
DEFINITIONS_STAMP = "2019-08-06T02:41:52.261Z"

LIFECYCLE_STAGES = (
    ("subscriber", "Subscriber"), ("lead", "Lead"), ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"), ("customer", "Customer"),
    ("evangelist", "Evangelist"), ("other", "Other"),
)
LEAD_STATUSES = (
    ("NEW", "New"), ("OPEN", "Open"), ("IN_PROGRESS", "In Progress"), ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"), ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"), ("CONNECTED", "Connected"),
    ("BAD_TIMING", "Bad Timing"),
)
# HubSpot's default call dispositions are identified by these fixed GUIDs in every portal.
CALL_DISPOSITIONS = {
    "busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "left_live_message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "left_voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "no_answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "wrong_number": "17b47fee-58de-441e-a44c-c6300d46f273",
}
_DISPOSITION_LABELS = {
    "busy": "Busy", "connected": "Connected", "left_live_message": "Left live message",
    "left_voicemail": "Left voicemail", "no_answer": "No answer", "wrong_number": "Wrong number",
}
CALL_STATUSES = ("BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED", "IN_PROGRESS",
                 "NO_ANSWER", "QUEUED", "RINGING")
MEETING_OUTCOMES = ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")
EMAIL_DIRECTIONS = ("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")
ANALYTICS_SOURCES = ("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
                     "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL", "AI_REFERRALS")
EMPLOYEE_BANDS = ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")

# Properties the emulator itself maintains; their values come from the record, not from writes.
SYSTEM_DATETIMES = {
    "createdate": "created", "hs_createdate": "created",
    "lastmodifieddate": "modified", "hs_lastmodifieddate": "modified",
}


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str  # string | number | date | datetime | enumeration | bool
    field_type: str  # text | textarea | number | date | select | radio | checkbox | booleancheckbox
    group: str
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    read_only_value: bool = False
    hubspot_defined: bool = True
    has_unique_value: bool = False
    owner_options: bool = False  # options are the portal's owners (hubspot_owner_id)

    def option_values(self) -> set[str]:
        return {value for value, _ in self.options}

    def to_json(self, owner_options: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        options = owner_options if self.owner_options and owner_options is not None else self.options
        body: dict[str, Any] = {
            "updatedAt": DEFINITIONS_STAMP, "createdAt": DEFINITIONS_STAMP, "name": self.name,
            "label": self.label, "type": self.type, "fieldType": self.field_type, "description": "",
            "groupName": self.group,
            "options": [{"label": label, "value": value, "displayOrder": i, "hidden": False}
                        for i, (value, label) in enumerate(options)],
            "displayOrder": -1, "calculated": False, "externalOptions": self.owner_options,
            "hasUniqueValue": self.has_unique_value, "hidden": False,
            "modificationMetadata": {"archivable": not self.hubspot_defined,
                                     "readOnlyDefinition": self.hubspot_defined,
                                     "readOnlyValue": self.read_only_value},
            "formField": not self.read_only_value, "archived": False,
        }
        if self.hubspot_defined:
            body["hubspotDefined"] = True
        return body


def _text(name: str, label: str, group: str = "contactinformation", **kw: Any) -> PropertyDef:
    return PropertyDef(name, label, "string", "text", group, **kw)


def _enum(name: str, label: str, options: tuple[tuple[str, str], ...] | list[tuple[str, str]],
          group: str = "contactinformation", field_type: str = "select", **kw: Any) -> PropertyDef:
    return PropertyDef(name, label, "enumeration", field_type, group, list(options), **kw)


def _codes(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, value.replace("_", " ").title()) for value in values]


def _datetime(name: str, label: str, group: str = "contactinformation", **kw: Any) -> PropertyDef:
    return PropertyDef(name, label, "datetime", "date", group, **kw)


def _number(name: str, label: str, group: str = "contactinformation", **kw: Any) -> PropertyDef:
    return PropertyDef(name, label, "number", "number", group, **kw)


def _common(created: str) -> list[PropertyDef]:
    """Properties every object type has."""
    return [
        _number("hs_object_id", "Record ID", read_only_value=True),
        _datetime(created, "Create Date", read_only_value=True),
        _datetime("hs_lastmodifieddate", "Last Modified Date", read_only_value=True),
        PropertyDef("hubspot_owner_id", "Owner", "enumeration", "select", "contactinformation", owner_options=True),
        _enum("hs_merged_object_ids", "Merged Record IDs", [], field_type="checkbox", read_only_value=True),
    ]


def contact_definitions() -> dict[str, PropertyDef]:
    defs = [
        *_common("createdate"),
        _datetime("lastmodifieddate", "Last Modified Date", read_only_value=True),
        _text("email", "Email"), _text("firstname", "First Name"), _text("lastname", "Last Name"),
        _text("jobtitle", "Job Title"), _text("company", "Company Name"), _text("industry", "Industry"),
        _text("phone", "Phone Number"), _text("country", "Country/Region"),
        _enum("numemployees", "Number of Employees", _codes(EMPLOYEE_BANDS)),
        _number("annualrevenue", "Annual Revenue"),
        _enum("hs_analytics_source", "Original Source", _codes(ANALYTICS_SOURCES), group="analyticsinformation",
              read_only_value=True),
        _enum("lifecyclestage", "Lifecycle Stage", LIFECYCLE_STAGES, field_type="radio"),
        _enum("hs_lead_status", "Lead Status", LEAD_STATUSES, field_type="radio"),
        _text("hs_additional_emails", "Additional email addresses", read_only_value=True),
        _datetime("notes_last_updated", "Last Activity Date", group="sales_properties", read_only_value=True),
        _text("recent_conversion_event_name", "Recent Conversion", group="conversioninformation",
              read_only_value=True),
        _datetime("recent_conversion_date", "Recent Conversion Date", group="conversioninformation",
                  read_only_value=True),
        _number("num_conversion_events", "Number of Form Submissions", group="conversioninformation",
                read_only_value=True),
        _number("hs_analytics_num_page_views", "Number of Pageviews", group="analyticsinformation",
                read_only_value=True),
        # The custom properties leadsync writes back.
        _number("leadsync_score", "leadsync score", group="leadsync", hubspot_defined=False),
        _text("leadsync_grade", "leadsync grade", group="leadsync", hubspot_defined=False),
        _datetime("leadsync_sla_due", "leadsync SLA due", group="leadsync", hubspot_defined=False),
        PropertyDef("leadsync_sla_breached", "leadsync SLA breached", "bool", "booleancheckbox", "leadsync",
                    [("true", "Yes"), ("false", "No")], hubspot_defined=False),
    ]
    return {d.name: d for d in defs}


def engagement_definitions(object_type: str) -> dict[str, PropertyDef]:
    group = f"{object_type[:-1]}information"
    defs = [*_common("hs_createdate"), _datetime("hs_timestamp", "Activity date", group)]
    if object_type == "calls":
        defs += [
            _text("hs_call_title", "Call Title", group), PropertyDef("hs_call_body", "Call notes", "string",
                                                                     "textarea", group),
            _enum("hs_call_disposition", "Call outcome",
                  [(guid, _DISPOSITION_LABELS[key]) for key, guid in CALL_DISPOSITIONS.items()], group),
            _enum("hs_call_status", "Call status", _codes(CALL_STATUSES), group),
            _enum("hs_call_direction", "Call direction", _codes(("INBOUND", "OUTBOUND")), group),
            _number("hs_call_duration", "Call duration", group),
        ]
    elif object_type == "emails":
        defs += [
            _enum("hs_email_direction", "Email direction", _codes(EMAIL_DIRECTIONS), group),
            _enum("hs_email_status", "Email send status", _codes(("BOUNCED", "FAILED", "SCHEDULED", "SENDING",
                                                                   "SENT")), group),
            _text("hs_email_subject", "Email subject", group),
            PropertyDef("hs_email_text", "Email text", "string", "textarea", group),
        ]
    elif object_type == "meetings":
        defs += [
            _text("hs_meeting_title", "Meeting name", group),
            PropertyDef("hs_meeting_body", "Meeting description", "string", "textarea", group),
            _datetime("hs_meeting_start_time", "Start time", group), _datetime("hs_meeting_end_time", "End time",
                                                                               group),
            _enum("hs_meeting_outcome", "Meeting outcome", _codes(MEETING_OUTCOMES), group),
        ]
    elif object_type == "notes":
        defs += [PropertyDef("hs_note_body", "Note body", "string", "textarea", group)]
    elif object_type == "tasks":
        defs += [
            _text("hs_task_subject", "Task title", group),
            PropertyDef("hs_task_body", "Task notes", "string", "textarea", group),
            _enum("hs_task_status", "Task status", _codes(("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED",
                                                            "DEFERRED")), group),
            _enum("hs_task_priority", "Priority", _codes(("NONE", "LOW", "MEDIUM", "HIGH")), group),
            _enum("hs_task_type", "Task type", _codes(("CALL", "EMAIL", "TODO")), group),
        ]
    else:
        raise ValueError(f"unknown engagement type {object_type!r}")
    return {d.name: d for d in defs}


# The properties a list/get/search returns when the request names none.
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
}
ENGAGEMENT_DEFAULTS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
