"""What people do in the org between sync cycles, as a Python API on the emulator.

A rep changes a Lead Status or owner, logs a call, books a meeting, converts a lead, deletes a record; an
import stamps thousands of records with one SystemModstamp. These calls go through the same field checks
as the API (a restricted picklist refuses a bad value: :class:`WriteError`) but cost no API usage.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from leadsync.sandbox.salesforce.schema import SCHEMAS
from leadsync.sandbox.salesforce.store import OrgStore, Record, WriteError, coerce_fields, require_schema
from leadsync.sandbox.salesforce.values import format_datetime, normalize_id
from leadsync.sandbox.server import SandboxClock

LEAD_TO_CONTACT = (
    "FirstName", "LastName", "Salutation", "Title", "Email", "Phone", "MobilePhone", "LeadSource", "Description",
    "HasOptedOutOfEmail", "Lead_Score__c", "Lead_Grade__c", "Lifecycle_Status__c", "Contact_Status__c",
    "Lifecycle_Reason__c", "MQL_Date__c", "SLA_Due__c", "SLA_Breached__c", "LeadSync_Id__c",
)
LEAD_TO_ACCOUNT = {"Company": "Name", "Industry": "Industry", "AnnualRevenue": "AnnualRevenue",
                   "NumberOfEmployees": "NumberOfEmployees", "Country": "BillingCountry", "City": "BillingCity",
                   "Website": "Website", "Phone": "Phone"}


class UserActions:
    store: OrgStore
    lock: threading.RLock
    clock: SandboxClock

    # ----- seeding and reading ----------------------------------------------------------------------
    def load_org(self, records: dict[str, list[dict[str, Any]]]) -> int:
        """Seed the org: ``{"Lead": [{"Id": "00Q...", ...}], ...}``; returns the number of records loaded.

        Ids must be 18-char ids with the type's key prefix; datetimes may be any ISO form and are stored
        as the API prints them. Missing system fields (SystemModstamp, CreatedDate, LastModifiedDate,
        IsDeleted, owner) are filled in. An unknown type or field raises ``ValueError`` naming it.
        """
        with self.lock:
            return self.store.load(records)

    def records(self, type_name: str, include_deleted: bool = False) -> list[Record]:
        """Copies of the stored records of one type (tests read state through this)."""
        schema = require_schema(type_name)
        with self.lock:
            return [dict(r) for r in self.store.scan(schema.name, include_deleted)]

    def record(self, type_name: str, record_id: str) -> Record | None:
        schema = require_schema(type_name)
        with self.lock:
            found = self.store.get(schema.name, normalize_id(record_id) or "")
            return dict(found) if found is not None else None

    # ----- generic edits ----------------------------------------------------------------------------
    def create_record(self, type_name: str, fields: dict[str, Any], by_user: str | None = None) -> str:
        schema = require_schema(type_name)
        # On create, an explicit null is the same as leaving the field out.
        values = coerce_fields(schema, {k: v for k, v in fields.items() if v is not None})
        with self.lock:
            self.store.check(schema, values, None)
            return str(self.store.insert(schema, values, by_user)["Id"])

    def update_record(self, type_name: str, record_id: str, fields: dict[str, Any], by_user: str | None = None) -> str:
        """Change fields as a user would in the UI; returns the new SystemModstamp."""
        schema = require_schema(type_name)
        values = coerce_fields(schema, fields)
        with self.lock:
            existing = self._existing(type_name, record_id)
            self.store.check(schema, values, existing)
            return str(self.store.update(schema, existing, values, by_user)["SystemModstamp"])

    def delete_record(self, type_name: str, record_id: str) -> None:
        schema = require_schema(type_name)
        with self.lock:
            self.store.delete(schema, self._existing(type_name, record_id))

    def _existing(self, type_name: str, record_id: str) -> Record:
        schema = require_schema(type_name)
        problem = self.store.find_missing(schema, record_id)
        if problem is not None:
            raise problem
        return self.store.live[schema.name][str(normalize_id(record_id))]

    # ----- bulk imports (modstamp ties) -------------------------------------------------------------
    def import_records(self, type_name: str, rows: list[dict[str, Any]], by_user: str | None = None) -> list[str]:
        """Create many records sharing one SystemModstamp, as a data import does."""
        schema = require_schema(type_name)
        prepared = [coerce_fields(schema, row) for row in rows]
        with self.lock:
            for values in prepared:
                self.store.check(schema, values, None)
            stamp = self.store.stamp()
            return [str(self.store.insert(schema, v, by_user, stamp)["Id"]) for v in prepared]

    def touch_records(self, type_name: str, record_ids: list[str], fields: dict[str, Any] | None = None,
                      by_user: str | None = None) -> str:
        """Update many records (optionally setting ``fields``) with one shared SystemModstamp; returns it."""
        schema = require_schema(type_name)
        values = coerce_fields(schema, fields or {})
        with self.lock:
            existing = [self._existing(type_name, i) for i in record_ids]
            for record in existing:
                self.store.check(schema, values, record)
            stamp = self.store.stamp()
            for record in existing:
                self.store.update(schema, record, values, by_user, stamp)
            return stamp

    # ----- activities -------------------------------------------------------------------------------
    def log_call(self, who_id: str, disposition: str, subject: str = "Call", when: datetime | None = None,
                 by_user: str | None = None, duration_seconds: int | None = None, what_id: str | None = None) -> str:
        """A completed call Task (TaskSubtype=Call) with its CallDisposition; returns the Task id."""
        moment = when or self.clock.now()
        return self.create_record("Task", {
            "WhoId": who_id, "WhatId": what_id, "Subject": subject, "TaskSubtype": "Call", "Type": "Call",
            "CallDisposition": disposition, "CallType": "Outbound", "Status": "Completed",
            "ActivityDate": moment.date().isoformat(), "CallDurationInSeconds": duration_seconds,
            "OwnerId": by_user,
        }, by_user)

    def log_event(self, who_id: str, subject: str = "Meeting", start: datetime | None = None,
                  duration_minutes: int = 30, by_user: str | None = None, what_id: str | None = None,
                  event_type: str = "Meeting") -> str:
        begin = start or self.clock.now()
        return self.create_record("Event", {
            "WhoId": who_id, "WhatId": what_id, "Subject": subject, "Type": event_type,
            "StartDateTime": format_datetime(begin), "ActivityDateTime": format_datetime(begin),
            "EndDateTime": format_datetime(begin + timedelta(minutes=duration_minutes)),
            "ActivityDate": begin.date().isoformat(), "DurationInMinutes": duration_minutes, "OwnerId": by_user,
        }, by_user)

    def add_campaign_member(self, campaign_id: str, lead_id: str | None = None, contact_id: str | None = None,
                            status: str = "Sent") -> str:
        return self.create_record("CampaignMember", {"CampaignId": campaign_id, "LeadId": lead_id,
                                                     "ContactId": contact_id, "Status": status})

    # ----- opportunities and conversion -------------------------------------------------------------
    def create_opportunity(self, account_id: str, name: str, stage: str = "Prospecting", amount: float | None = None,
                           close_date: str | None = None, contact_id: str | None = None,
                           owner_id: str | None = None) -> str:
        close = close_date or (self.clock.now().date() + timedelta(days=30)).isoformat()
        return self.create_record("Opportunity", {
            "AccountId": account_id, "Name": name, "StageName": stage, "Amount": amount, "CloseDate": close,
            "ContactId": contact_id, "OwnerId": owner_id,
        }, owner_id)

    def set_opportunity_stage(self, opportunity_id: str, stage: str, by_user: str | None = None) -> str:
        return self.update_record("Opportunity", opportunity_id, {"StageName": stage}, by_user)

    def convert_lead(self, lead_id: str, account_id: str | None = None, contact_id: str | None = None,
                     create_opportunity: bool = True, opportunity_name: str | None = None,
                     converted_status: str = "Closed - Converted", by_user: str | None = None) -> dict[str, str | None]:
        """Convert as Lead Convert does; returns ``{"accountId","contactId","opportunityId"}``.

        Creates (or reuses) the Account and Contact, optionally an Opportunity, moves the lead's
        activities to the contact, and marks the lead converted (after which it refuses updates).
        """
        with self.lock:
            lead = self._existing("Lead", lead_id)
            if lead.get("IsConverted"):
                raise WriteError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
            owner = lead["OwnerId"] if str(lead["OwnerId"]).startswith("005") else (by_user or None)
            if account_id is None:
                account = {target: lead.get(source) for source, target in LEAD_TO_ACCOUNT.items()}
                account_id = str(self.store.insert(SCHEMAS["Account"], {**account, "OwnerId": owner}, by_user)["Id"])
            if contact_id is None:
                contact = {name: lead.get(name) for name in LEAD_TO_CONTACT}
                contact_id = str(self.store.insert(SCHEMAS["Contact"], {**contact, "AccountId": account_id,
                                                                        "OwnerId": owner}, by_user)["Id"])
            opportunity_id = None
            if create_opportunity:
                opportunity_id = str(self.store.insert(SCHEMAS["Opportunity"], {
                    "AccountId": account_id, "ContactId": contact_id, "OwnerId": owner,
                    "Name": opportunity_name or f"{lead.get('Company') or lead.get('Name')}-",
                    "StageName": "Prospecting", "LeadSource": lead.get("LeadSource"),
                    "CloseDate": (self.clock.now().date() + timedelta(days=30)).isoformat(),
                }, by_user)["Id"])
            self._reparent_activities(str(lead["Id"]), contact_id, by_user)
            self.store.update(SCHEMAS["Lead"], lead, {
                "IsConverted": True, "Status": converted_status, "ConvertedDate": self.clock.now().date().isoformat(),
                "ConvertedAccountId": account_id, "ConvertedContactId": contact_id,
                "ConvertedOpportunityId": opportunity_id,
            }, by_user)
            return {"accountId": account_id, "contactId": contact_id, "opportunityId": opportunity_id}

    def _reparent_activities(self, lead_id: str, contact_id: str, by_user: str | None) -> None:
        for type_name in ("Task", "Event"):
            for activity in [a for a in self.store.live[type_name].values() if a.get("WhoId") == lead_id]:
                self.store.update(SCHEMAS[type_name], activity, {"WhoId": contact_id}, by_user)
        for member in [m for m in self.store.live["CampaignMember"].values() if m.get("LeadId") == lead_id]:
            self.store.update(SCHEMAS["CampaignMember"], member, {"ContactId": contact_id}, by_user)
