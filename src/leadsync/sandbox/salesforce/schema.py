"""Our own field tables for the sObjects the emulator serves.

Each field is a :class:`FieldSpec`; :mod:`describe` renders it into the real describe shape and the
store and the SOQL evaluator read types, write permissions and picklists from it. The standard fields
are the subset leadsync and admins touch; the custom fields are the ones the default mappings write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STRING_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url", "combobox", "multipicklist"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
ID_TYPES = frozenset({"id", "reference"})

KEY_PREFIXES = {
    "Account": "001", "Contact": "003", "Opportunity": "006", "User": "005", "Group": "00G",
    "Lead": "00Q", "Task": "00T", "Event": "00U", "CampaignMember": "00v", "Campaign": "701",
}
TYPE_BY_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: str
    length: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    defaulted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    picklist: tuple[str, ...] = ()
    default_value: str | None = None
    restricted: bool = False
    external_id: bool = False
    custom: bool = False
    name_field: bool = False

    @property
    def required_on_create(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted and self.type != "boolean"


def text(name: str, label: str, length: int = 255, **kw: Any) -> FieldSpec:
    return FieldSpec(name, kw.pop("type", "string"), label, length, **kw)


def pick(name: str, label: str, values: tuple[str, ...], **kw: Any) -> FieldSpec:
    return FieldSpec(name, "picklist", label, kw.pop("length", 255), picklist=values, **kw)


def num(name: str, label: str, type_: str = "double", **kw: Any) -> FieldSpec:
    return FieldSpec(name, type_, label, **kw)


def ref(name: str, label: str, to: tuple[str, ...], rel: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "reference", label, 18, reference_to=to, relationship=rel, **kw)


def flag(name: str, label: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "boolean", label, nillable=False, defaulted=True, **kw)


def when(name: str, label: str, type_: str = "datetime", **kw: Any) -> FieldSpec:
    return FieldSpec(name, type_, label, **kw)


RO: dict[str, Any] = {"createable": False, "updateable": False}


def system_fields(label: str) -> list[FieldSpec]:
    """Fields every sObject has; the emulator sets them, clients cannot."""
    return [
        FieldSpec("Id", "id", f"{label} ID", 18, nillable=False, defaulted=True, **RO),
        flag("IsDeleted", "Deleted", **RO),
        when("CreatedDate", "Created Date", nillable=False, defaulted=True, **RO),
        ref("CreatedById", "Created By ID", ("User",), "CreatedBy", nillable=False, defaulted=True, **RO),
        when("LastModifiedDate", "Last Modified Date", nillable=False, defaulted=True, **RO),
        ref("LastModifiedById", "Last Modified By ID", ("User",), "LastModifiedBy", nillable=False,
            defaulted=True, **RO),
        when("SystemModstamp", "System Modstamp", nillable=False, defaulted=True, **RO),
    ]


LIFECYCLE_VALUES = ("Raw", "Inquiry", "MQL", "SAL", "SQL", "Opportunity", "Customer", "Disqualified", "Recycled")
CONTACT_STATUS_VALUES = (
    "New", "Attempting", "Connected", "Meeting Booked", "Bad Timing", "Not Interested", "Wrong Number",
    "Unqualified",
)
# The four standard values plus "Nurture", the custom value orgs most often add for recycled leads (the
# shipped lifecycle rules read it as a recycle signal).
LEAD_STATUS_VALUES = (
    "Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted", "Nurture",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
# Salesforce's standard Industry picklist.
INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental", "Finance",
    "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media",
    "Not For Profit", "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
    "Utilities", "Other",
)
OPPORTUNITY_STAGES = (
    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
    "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost",
)
CLOSED_STAGES = {"Closed Won": True, "Closed Lost": False}


def leadsync_fields() -> list[FieldSpec]:
    """The custom fields leadsync's default mappings write, on Lead and Contact alike."""
    return [
        num("Lead_Score__c", "Lead Score", custom=True),
        text("Lead_Grade__c", "Lead Grade", 10, custom=True),
        pick("Lifecycle_Status__c", "Lifecycle Status", LIFECYCLE_VALUES, restricted=True, custom=True),
        pick("Contact_Status__c", "Contact Status", CONTACT_STATUS_VALUES, custom=True),
        text("Lifecycle_Reason__c", "Lifecycle Reason", 255, custom=True),
        when("MQL_Date__c", "MQL Date", custom=True),
        when("SLA_Due__c", "SLA Due", custom=True),
        flag("SLA_Breached__c", "SLA Breached", custom=True),
        text("LeadSync_Id__c", "LeadSync ID", 64, external_id=True, custom=True),
    ]


def person_fields() -> list[FieldSpec]:
    return [
        text("FirstName", "First Name", 40),
        text("LastName", "Last Name", 80, nillable=False),
        pick("Salutation", "Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."), length=40),
        text("Name", "Full Name", 121, nillable=False, name_field=True, **RO),
        text("Title", "Title", 128),
        text("Email", "Email", 80, type="email"),
        text("Phone", "Phone", 40, type="phone"),
        text("MobilePhone", "Mobile Phone", 40, type="phone"),
        pick("LeadSource", "Lead Source", LEAD_SOURCES),
        text("Description", "Description", 32000, type="textarea"),
        flag("HasOptedOutOfEmail", "Email Opt Out"),
        when("LastActivityDate", "Last Activity", "date", **RO),
    ]


OWNER_ANY = ref("OwnerId", "Owner ID", ("Group", "User"), "Owner", nillable=False, defaulted=True)
OWNER_USER = ref("OwnerId", "Owner ID", ("User",), "Owner", nillable=False, defaulted=True)

OBJECT_FIELDS: dict[str, list[FieldSpec]] = {
    "Lead": [
        *system_fields("Lead"), *person_fields(),
        text("Company", "Company", 255, nillable=False),
        text("Street", "Street", 255, type="textarea"), text("City", "City", 40), text("State", "State/Province", 80),
        text("PostalCode", "Zip/Postal Code", 20), text("Country", "Country", 80),
        text("Website", "Website", 255, type="url"),
        pick("Status", "Status", LEAD_STATUS_VALUES, nillable=False, defaulted=True,
             default_value="Open - Not Contacted"),
        pick("Industry", "Industry", INDUSTRIES), pick("Rating", "Rating", ("Hot", "Warm", "Cold")),
        num("AnnualRevenue", "Annual Revenue", "currency"), num("NumberOfEmployees", "Employees", "int"),
        OWNER_ANY,
        flag("IsConverted", "Converted", updateable=False),
        when("ConvertedDate", "Converted Date", "date", **RO),
        ref("ConvertedAccountId", "Converted Account ID", ("Account",), "ConvertedAccount", **RO),
        ref("ConvertedContactId", "Converted Contact ID", ("Contact",), "ConvertedContact", **RO),
        ref("ConvertedOpportunityId", "Converted Opportunity ID", ("Opportunity",), "ConvertedOpportunity", **RO),
        flag("IsUnreadByOwner", "Unread By Owner"),
        *leadsync_fields(),
    ],
    "Contact": [
        *system_fields("Contact"), *person_fields(),
        ref("AccountId", "Account ID", ("Account",), "Account"),
        text("Department", "Department", 80),
        text("MailingCity", "Mailing City", 40), text("MailingCountry", "Mailing Country", 80),
        OWNER_USER,
        *leadsync_fields(),
    ],
    "Account": [
        *system_fields("Account"),
        text("Name", "Account Name", 255, nillable=False, name_field=True),
        pick("Type", "Account Type", ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"),
             length=40),
        pick("Industry", "Industry", INDUSTRIES, length=40),
        num("AnnualRevenue", "Annual Revenue", "currency"), num("NumberOfEmployees", "Employees", "int"),
        text("BillingCity", "Billing City", 40), text("BillingCountry", "Billing Country", 80),
        text("Website", "Website", 255, type="url"), text("Phone", "Account Phone", 40, type="phone"),
        text("Description", "Account Description", 32000, type="textarea"),
        OWNER_USER,
    ],
    "Opportunity": [
        *system_fields("Opportunity"),
        ref("AccountId", "Account ID", ("Account",), "Account"),
        ref("ContactId", "Contact ID", ("Contact",), "Contact"),
        text("Name", "Name", 120, nillable=False, name_field=True),
        pick("StageName", "Stage", OPPORTUNITY_STAGES, nillable=False),
        num("Amount", "Amount", "currency"), num("Probability", "Probability (%)", "percent"),
        when("CloseDate", "Close Date", "date", nillable=False),
        pick("Type", "Opportunity Type", ("Existing Business", "New Business")),
        pick("LeadSource", "Lead Source", LEAD_SOURCES),
        flag("IsClosed", "Closed", **RO), flag("IsWon", "Won", **RO),
        OWNER_USER,
    ],
    "Task": [
        *system_fields("Activity"),
        ref("WhoId", "Name ID", ("Contact", "Lead"), "Who"),
        ref("WhatId", "Related To ID", ("Account", "Opportunity", "Campaign"), "What"),
        text("Subject", "Subject", 255, type="combobox"),
        when("ActivityDate", "Due Date Only", "date"),
        pick("Status", "Status", ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"),
             nillable=False, defaulted=True, default_value="Not Started"),
        pick("Priority", "Priority", ("High", "Normal", "Low"), nillable=False, defaulted=True,
             default_value="Normal"),
        OWNER_ANY,
        text("Description", "Description", 32000, type="textarea"),
        pick("Type", "Type", ("Call", "Email", "Meeting", "Other")),
        pick("TaskSubtype", "Task Subtype", ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"),
             updateable=False, defaulted=True, default_value="Task"),
        text("CallDisposition", "Call Result", 255),
        pick("CallType", "Call Type", ("Internal", "Inbound", "Outbound")),
        num("CallDurationInSeconds", "Call Duration", "int"),
        when("CompletedDateTime", "Completed Date/Time", **RO),
        flag("IsClosed", "Closed", **RO),
    ],
    "Event": [
        *system_fields("Activity"),
        ref("WhoId", "Name ID", ("Contact", "Lead"), "Who"),
        ref("WhatId", "Related To ID", ("Account", "Opportunity", "Campaign"), "What"),
        text("Subject", "Subject", 255, type="combobox"),
        when("ActivityDateTime", "Due Date Time"), when("ActivityDate", "Due Date Only", "date"),
        when("StartDateTime", "Start Date Time"), when("EndDateTime", "End Date Time"),
        num("DurationInMinutes", "Duration", "int"),
        text("Location", "Location", 255),
        pick("Type", "Type", ("Call", "Email", "Meeting", "Other")),
        pick("EventSubtype", "Event Subtype", ("Event",), updateable=False, defaulted=True, default_value="Event"),
        OWNER_ANY,
        text("Description", "Description", 32000, type="textarea"),
    ],
    "Campaign": [
        *system_fields("Campaign"),
        text("Name", "Name", 80, nillable=False, name_field=True),
        pick("Type", "Type", ("Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program",
                               "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Other")),
        pick("Status", "Status", ("Planned", "In Progress", "Completed", "Aborted")),
        flag("IsActive", "Active"),
        when("StartDate", "Start Date", "date"), when("EndDate", "End Date", "date"),
        OWNER_USER,
    ],
    "CampaignMember": [
        *system_fields("Campaign Member"),
        ref("CampaignId", "Campaign ID", ("Campaign",), "Campaign", nillable=False, updateable=False),
        ref("LeadId", "Lead ID", ("Lead",), "Lead", updateable=False),
        ref("ContactId", "Contact ID", ("Contact",), "Contact", updateable=False),
        pick("Status", "Status", ("Planned", "Sent", "Received", "Responded", "Registered", "Attended", "No Show"),
             defaulted=True,
             default_value="Sent"),
        flag("HasResponded", "Responded", **RO),
        when("FirstRespondedDate", "First Responded Date", "date", **RO),
    ],
    "User": [
        *system_fields("User"),
        text("Username", "Username", 80, nillable=False),
        text("FirstName", "First Name", 40), text("LastName", "Last Name", 80, nillable=False),
        text("Name", "Full Name", 121, nillable=False, name_field=True, **RO),
        text("Email", "Email", 128, type="email", nillable=False),
        text("Alias", "Alias", 8, nillable=False),
        text("Title", "Title", 80), text("Department", "Department", 80),
        flag("IsActive", "Active"),
    ],
    "Group": [
        *system_fields("Group"),
        text("Name", "Name", 40, nillable=False, name_field=True),
        text("DeveloperName", "Developer Name", 80),
        pick("Type", "Type", ("Regular", "Role", "Queue", "Organization"), nillable=False, restricted=True),
        text("Email", "Email", 255, type="email"),
    ],
}

# Polymorphic relationships resolve to the "Name" entity, which only exposes these fields in SOQL.
NAME_ENTITY_FIELDS = ("Id", "Name", "Type", "Email", "FirstName", "LastName", "Phone", "Title", "IsActive", "Alias")

# Types whose Name is computed from FirstName + LastName.
PERSON_NAME_TYPES = frozenset({"Lead", "Contact", "User"})


class ObjectSchema:
    """Field lookup for one sObject type: by API name and case-insensitively, as SOQL matches."""

    def __init__(self, name: str, fields: list[FieldSpec]) -> None:
        self.name = name
        self.fields = fields
        self.by_name = {f.name: f for f in fields}
        self.by_lower = {f.name.lower(): f for f in fields}
        self.by_relationship = {f.relationship.lower(): f for f in fields if f.relationship}
        self.key_prefix = KEY_PREFIXES[name]

    def field(self, name: str) -> FieldSpec | None:
        return self.by_lower.get(name.lower())


SCHEMAS = {name: ObjectSchema(name, fields) for name, fields in OBJECT_FIELDS.items()}
SCHEMAS_LOWER = {name.lower(): schema for name, schema in SCHEMAS.items()}


def schema_for(type_name: str) -> ObjectSchema | None:
    return SCHEMAS_LOWER.get(type_name.lower())
