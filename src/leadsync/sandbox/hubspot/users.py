"""Acting as the portal's people between sync cycles: reps edit contacts and log activities, contacts
fill forms and view pages. Each action stamps server time from the sandbox clock, like the UI does.

User edits differ from API writes in one way: a rep in the UI may move ``lifecyclestage`` backwards
(the API ignores that), so the backward-move rule is not applied here. Values are validated like any
write; a bad one raises ``ValueError`` saying which property and why.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from leadsync.sandbox.hubspot.properties import CALL_DISPOSITIONS, PropertyDef
from leadsync.sandbox.hubspot.store import Associations, Event, ObjectStore, Record
from leadsync.sandbox.hubspot.wire import format_ms, to_ms
from leadsync.sandbox.hubspot.writes import validate

PAGE_VIEW_EVENT = "e_visited_page"
FORM_SUBMISSION_EVENT = "e_submitted_form"


class UserActions:
    """Mixed into :class:`HubSpotEmulator`; the attributes below are the emulator's."""

    stores: dict[str, ObjectStore]
    associations: Associations
    owners: dict[str, dict[str, Any]]
    lock: threading.RLock

    def now_ms(self) -> int:
        raise NotImplementedError

    def owner_ids(self) -> list[str]:
        raise NotImplementedError

    def definitions(self, object_type: str) -> dict[str, PropertyDef]:
        raise NotImplementedError

    def add_event(self, object_type: str, object_id: str, event_type: str, occurred_ms: int,
                  properties: dict[str, str]) -> Event:
        raise NotImplementedError

    # ----- contacts ---------------------------------------------------------------------------------
    def create_contact(self, properties: dict[str, Any]) -> str:
        with self.lock:
            values = self._valid("contacts", properties)
            store = self.stores["contacts"]
            email = values.get("email")
            if email and store.by_email(email) is not None:
                raise ValueError(f"a contact with email {email} already exists")
            now = self.now_ms()
            record_id = store.new_id()
            store.add(Record(record_id, int(record_id), {k: v for k, v in values.items() if v}, now, now))
            return record_id

    def update_contact(self, contact_id: str, properties: dict[str, Any]) -> bool:
        """Apply a rep's edit; True when something changed (lastmodifieddate bumped)."""
        with self.lock:
            record = self._contact(contact_id)
            return self.stores["contacts"].apply(record, self._valid("contacts", properties), self.now_ms())

    def set_owner(self, contact_id: str, owner_id: str | None) -> bool:
        return self.update_contact(contact_id, {"hubspot_owner_id": owner_id or ""})

    def archive_contact(self, contact_id: str) -> None:
        with self.lock:
            self.stores["contacts"].archive(self._contact(contact_id), self.now_ms())

    def contact(self, contact_id: str) -> Record:
        """The live record (tests read state directly); KeyError if absent, archived or merged away."""
        with self.lock:
            return self._contact(contact_id)

    def merge_contacts(self, primary_id: str, secondary_id: str) -> Record:
        """Merge ``secondary`` into ``primary``: the secondary's id disappears (404), the survivor lists it
        in ``hs_merged_object_ids``, keeps its own values and takes the secondary's where it has none;
        activities, associations and events move to the survivor."""
        with self.lock:
            store = self.stores["contacts"]
            primary, secondary = self._contact(primary_id), self._contact(secondary_id)
            merged_ids = [i for i in primary.props.get("hs_merged_object_ids", "").split(";") if i]
            merged_ids += [secondary.id, *[i for i in secondary.props.get("hs_merged_object_ids", "").split(";") if i]]
            changes = {k: v for k, v in secondary.props.items()
                       if k not in primary.props and k not in ("email", "hs_merged_object_ids")}
            changes["hs_merged_object_ids"] = ";".join(dict.fromkeys(merged_ids))
            if secondary.props.get("email"):
                extra = [e for e in primary.props.get("hs_additional_emails", "").split(";") if e]
                changes["hs_additional_emails"] = ";".join(dict.fromkeys([*extra, secondary.props["email"]]))
            store.remove(secondary)
            self.associations.move("contacts", secondary.id, primary.id)
            self._move_events(secondary.id, primary.id)
            store.apply(primary, changes, self.now_ms())
            return primary

    # ----- activities --------------------------------------------------------------------------------
    def log_call(self, contact_id: str, disposition: str | None, when: datetime | None = None, *,
                 status: str = "COMPLETED", direction: str = "OUTBOUND", owner_id: str | None = None,
                 title: str | None = None, body: str | None = None, duration_ms: int | None = None) -> str:
        """Log a call; ``disposition`` is a key of CALL_DISPOSITIONS (``"connected"``, ``"no_answer"``...)
        or a disposition GUID."""
        guid = CALL_DISPOSITIONS.get(disposition, disposition) if disposition else None
        return self._log("calls", contact_id, when, owner_id, {
            "hs_call_disposition": guid, "hs_call_status": status, "hs_call_direction": direction,
            "hs_call_title": title, "hs_call_body": body, "hs_call_duration": duration_ms})

    def log_email(self, contact_id: str, direction: str = "EMAIL", when: datetime | None = None, *,
                  subject: str | None = None, status: str = "SENT", owner_id: str | None = None) -> str:
        return self._log("emails", contact_id, when, owner_id, {
            "hs_email_direction": direction, "hs_email_subject": subject, "hs_email_status": status})

    def log_meeting(self, contact_id: str, outcome: str = "SCHEDULED", when: datetime | None = None, *,
                    title: str | None = None, owner_id: str | None = None) -> str:
        return self._log("meetings", contact_id, when, owner_id, {
            "hs_meeting_outcome": outcome, "hs_meeting_title": title})

    def log_note(self, contact_id: str, body: str, when: datetime | None = None, *,
                 owner_id: str | None = None) -> str:
        return self._log("notes", contact_id, when, owner_id, {"hs_note_body": body})

    def log_task(self, contact_id: str, subject: str, when: datetime | None = None, *, status: str = "NOT_STARTED",
                 task_type: str = "TODO", owner_id: str | None = None) -> str:
        return self._log("tasks", contact_id, when, owner_id, {
            "hs_task_subject": subject, "hs_task_status": status, "hs_task_type": task_type})

    # ----- behaviour --------------------------------------------------------------------------------------
    def submit_form(self, contact: str, form_name: str, when: datetime | None = None, *,
                    page_url: str | None = None) -> str:
        """A form submission by a contact id or an email (an unknown email creates the contact, as
        HubSpot forms do). Returns the contact id."""
        with self.lock:
            if "@" in contact:
                found = self.stores["contacts"].by_email(contact)
                contact_id = found.id if found is not None else self.create_contact({"email": contact})
            else:
                contact_id = self._contact(contact).id
            occurred = to_ms(when) if when else self.now_ms()
            record = self._contact(contact_id)
            count = int(record.props.get("num_conversion_events", "0")) + 1
            self.add_event("contact", contact_id, FORM_SUBMISSION_EVENT, occurred,
                           {"hs_form_title": form_name, **({"hs_url": page_url} if page_url else {})})
            self.stores["contacts"].apply(record, {
                "recent_conversion_event_name": form_name, "recent_conversion_date": format_ms(occurred),
                "num_conversion_events": str(count)}, self.now_ms())
            return contact_id

    def page_view(self, contact_id: str, url: str, when: datetime | None = None, *, title: str | None = None) -> None:
        with self.lock:
            record = self._contact(contact_id)
            occurred = to_ms(when) if when else self.now_ms()
            self.add_event("contact", contact_id, PAGE_VIEW_EVENT, occurred,
                           {"hs_url": url, **({"hs_page_title": title} if title else {})})
            views = int(record.props.get("hs_analytics_num_page_views", "0")) + 1
            self.stores["contacts"].apply(record, {"hs_analytics_num_page_views": str(views)}, self.now_ms())

    # ----- internals --------------------------------------------------------------------------------------
    def _contact(self, contact_id: str) -> Record:
        record = self.stores["contacts"].live(str(contact_id))
        if record is None:
            raise KeyError(f"no live contact {contact_id}")
        return record

    def _valid(self, object_type: str, properties: dict[str, Any]) -> dict[str, str]:
        values, errors = validate(self.definitions(object_type), properties, self.owner_ids())
        if errors:
            raise ValueError("; ".join(f"{e.name}: {e.error}: {e.message}" for e in errors))
        return values

    def _log(self, object_type: str, contact_id: str, when: datetime | None, owner_id: str | None,
             properties: dict[str, Any]) -> str:
        with self.lock:
            contact = self._contact(contact_id)
            stamp = to_ms(when) if when else self.now_ms()
            given = {k: v for k, v in properties.items() if v is not None}
            values = self._valid(object_type, {**given, **({"hubspot_owner_id": owner_id} if owner_id else {})})
            values["hs_timestamp"] = format_ms(stamp)
            store = self.stores[object_type]
            now = self.now_ms()
            record_id = store.new_id()
            store.add(Record(record_id, int(record_id), values, now, now))
            self.associations.link(object_type, record_id, "contacts", contact.id)
            self.note_activity(contact)
            return record_id

    def note_activity(self, contact: Record) -> None:
        """Logging an activity updates the contact's Last Activity Date, which bumps lastmodifieddate."""
        now = self.now_ms()
        self.stores["contacts"].apply(contact, {"notes_last_updated": format_ms(now)}, now)

    def _move_events(self, old_id: str, new_id: str) -> None:
        events = getattr(self, "events", None)
        if events is not None:
            events.move("contact", old_id, new_id)
