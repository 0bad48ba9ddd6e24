"""Properties, engagements, associations v4, events and owners through the real client."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.contacts import ApiException, SimplePublicObjectInput
from hubspot.crm.objects.calls import PublicObjectSearchRequest

from leadsync.sandbox.hubspot import CALL_DISPOSITIONS, FORM_SUBMISSION_EVENT, PAGE_VIEW_EVENT, HubSpotEmulator
from tests.integration.sandbox.fixtures_hs import *  # noqa: F403 - the pytest fixtures
from tests.integration.sandbox.fixtures_hs import BASE_TIME


def test_properties_api_serves_standard_and_leadsync_definitions(client: HubSpot) -> None:
    listed = {p.name: p for p in client.crm.properties.core_api.get_all("contacts").results}
    stage = listed["lifecyclestage"]
    assert stage.type == "enumeration" and [o.value for o in stage.options] == [
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
        "evangelist", "other"]
    assert {o.value for o in listed["hs_lead_status"].options} >= {"NEW", "ATTEMPTED_TO_CONTACT", "BAD_TIMING"}
    assert [o.value for o in listed["hubspot_owner_id"].options] == ["501"]  # archived owners are not options
    assert listed["leadsync_score"].type == "number" and listed["leadsync_sla_due"].type == "datetime"
    assert listed["leadsync_sla_breached"].type == "bool"
    assert listed["lastmodifieddate"].modification_metadata.read_only_value is True
    assert listed["leadsync_grade"].modification_metadata.read_only_value is False
    single = client.crm.properties.core_api.get_by_name("calls", "hs_call_disposition")
    assert {o.value for o in single.options} == set(CALL_DISPOSITIONS.values())


def test_hostile_property_changes_are_enforced_on_write(client: HubSpot, hs: HubSpotEmulator) -> None:
    hs.change_property("contacts", "leadsync_grade", read_only=True)
    hs.change_property("contacts", "hs_lead_status", remove_options=("BAD_TIMING",))
    api = client.crm.contacts.basic_api
    with pytest.raises(ApiException) as caught:
        api.update("1", SimplePublicObjectInput(properties={"leadsync_grade": "A"}))
    assert "READ_ONLY_VALUE" in json.loads(caught.value.body)["message"]
    with pytest.raises(ApiException) as caught:
        api.update("1", SimplePublicObjectInput(properties={"hs_lead_status": "BAD_TIMING"}))
    assert "INVALID_OPTION" in json.loads(caught.value.body)["message"]
    served = client.crm.properties.core_api.get_by_name("contacts", "hs_lead_status")
    assert "BAD_TIMING" not in {o.value for o in served.options}


def test_logged_activities_are_objects_linked_to_contacts_both_ways(client: HubSpot, hs: HubSpotEmulator) -> None:
    call_id = hs.log_call("3", "no_answer", BASE_TIME + timedelta(days=2), owner_id="501")
    hs.log_call("3", "connected", BASE_TIME + timedelta(days=3))
    meeting_id = hs.log_meeting("4", "NO_SHOW", BASE_TIME + timedelta(days=1))
    hs.log_email("3", "INCOMING_EMAIL")
    call = client.crm.objects.calls.basic_api.get_by_id(
        call_id, properties=["hs_call_disposition", "hs_timestamp", "hubspot_owner_id", "hs_call_status"])
    assert call.properties["hs_call_disposition"] == CALL_DISPOSITIONS["no_answer"]
    assert call.properties["hs_timestamp"] == "2026-01-07T09:00:00.000Z"
    assert call.properties["hubspot_owner_id"] == "501" and call.properties["hs_call_status"] == "COMPLETED"
    found = client.crm.objects.calls.search_api.do_search(PublicObjectSearchRequest(filter_groups=[{"filters": [
        {"propertyName": "hs_call_disposition", "operator": "EQ", "value": CALL_DISPOSITIONS["connected"]}]}]))
    assert found.total == 1
    meeting = client.crm.objects.meetings.basic_api.get_by_id(meeting_id, properties=["hs_meeting_outcome"])
    assert meeting.properties["hs_meeting_outcome"] == "NO_SHOW"
    v4 = client.crm.associations.v4.batch_api
    forward = v4.get_page("contacts", "calls", BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[{"id": "3"}, {"id": "4"}]))
    assert forward.num_errors == 1  # contact 4 has no calls
    assert forward.results[0]._from.id == "3"
    to = forward.results[0].to
    assert len(to) == 2 and to[0].association_types[0].type_id == 193
    back = v4.get_page("calls", "contacts", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": call_id}]))
    assert back.results[0].to[0].to_object_id == "3"
    assert back.results[0].to[0].association_types[0].type_id == 194
    with_links = client.crm.contacts.basic_api.get_by_id("3", associations=["calls", "meetings"])
    linked = with_links.associations["calls"].results
    assert [a.type for a in linked] == ["contact_to_call"] * 2 and call_id in [a.id for a in linked]
    assert "meetings" not in with_links.associations
    listed = client.crm.contacts.basic_api.get_page(limit=5, associations=["calls"]).results
    assert [r.id for r in listed if r.associations] == ["3"]


def test_events_api_serves_page_views_and_form_submissions(client: HubSpot, hs: HubSpotEmulator) -> None:
    for day in range(3):
        hs.page_view("8", f"https://example.com/pricing?d={day}", BASE_TIME + timedelta(days=day))
    hs.submit_form("8", "Demo request", BASE_TIME + timedelta(days=5))
    new_id = hs.submit_form("newcomer@example.com", "Newsletter")
    events = client.events.events_api.get_page(object_type="contact", object_id=8, limit=2)
    assert [e.event_type for e in events.results] == [PAGE_VIEW_EVENT, PAGE_VIEW_EVENT]
    assert events.results[0].properties["hs_url"] == "https://example.com/pricing?d=0"
    rest = client.events.events_api.get_page(object_type="contact", object_id=8, after=events.paging.next.after)
    assert [e.event_type for e in rest.results] == [PAGE_VIEW_EVENT, FORM_SUBMISSION_EVENT]
    forms = client.events.events_api.get_page(object_type="contact", event_type=FORM_SUBMISSION_EVENT)
    assert sorted(e.object_id for e in forms.results) == sorted(["8", new_id])
    window = client.events.events_api.get_page(object_type="contact", object_id=8,
                                               occurred_after=BASE_TIME + timedelta(hours=12),
                                               occurred_before=BASE_TIME + timedelta(days=4))
    assert len(window.results) == 2
    # Every contact's events, in a time window (the listing the sync pages through), before and after one
    # more event arrives: the ordered index is rebuilt, and the window bounds are exclusive.
    everyone = client.events.events_api.get_page(object_type="contact", occurred_after=BASE_TIME,
                                                 occurred_before=BASE_TIME + timedelta(days=5), limit=50)
    assert [e.properties.get("hs_url", "")[-3:] for e in everyone.results] == ["d=1", "d=2"]
    hs.page_view("9", "https://example.com/docs", BASE_TIME + timedelta(days=1, hours=1))
    again = client.events.events_api.get_page(object_type="contact", occurred_after=BASE_TIME,
                                              occurred_before=BASE_TIME + timedelta(days=5), limit=50)
    assert [(e.object_id, e.occurred_at) for e in again.results] == [
        ("8", BASE_TIME + timedelta(days=1)), ("9", BASE_TIME + timedelta(days=1, hours=1)),
        ("8", BASE_TIME + timedelta(days=2))]
    assert hs.contact("8").props["recent_conversion_event_name"] == "Demo request"
    assert hs.contact(new_id).props["email"] == "newcomer@example.com"


def test_owners_active_and_archived(client: HubSpot) -> None:
    active = client.crm.owners.owners_api.get_page()
    assert [o.id for o in active.results] == ["501"] and active.results[0].email == "ana@example.com"
    archived = client.crm.owners.owners_api.get_page(archived=True)
    assert [o.id for o in archived.results] == ["502"] and archived.results[0].archived is True
    assert client.crm.owners.owners_api.get_by_id(501).first_name == "Ana"


def test_user_actions_validate_and_stamp_server_time(client: HubSpot, hs: HubSpotEmulator) -> None:
    with pytest.raises(ValueError, match="hubspot_owner_id: INVALID_OPTION"):
        hs.set_owner("1", "502")  # archived owners cannot own records
    assert hs.set_owner("1", "501") is True
    assert hs.set_owner("1", "501") is False  # nothing changed, nothing bumped
    note_id = hs.log_note("1", "Asked for pricing")
    task_id = hs.log_task("1", "Send deck", status="COMPLETED", task_type="EMAIL")
    with pytest.raises(ValueError, match="hs_meeting_outcome: INVALID_OPTION"):
        hs.log_meeting("1", "MAYBE")
    with pytest.raises(KeyError):
        hs.log_call("99999", "connected")
    note = client.crm.objects.notes.basic_api.get_by_id(note_id, properties=["hs_note_body"])
    task = client.crm.objects.tasks.basic_api.get_by_id(task_id, properties=["hs_task_status", "hs_task_type"])
    assert note.properties["hs_note_body"] == "Asked for pricing"
    assert task.properties == {"hs_task_status": "COMPLETED", "hs_task_type": "EMAIL"}
    hs.archive_contact("1")
    with pytest.raises(KeyError):
        hs.contact("1")
