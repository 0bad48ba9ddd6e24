"""CRM search through the real client: filters, sorts, paging, the 10k cap, short pages, index lag."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest, SimplePublicObjectInput

from leadsync.sandbox.hubspot import HubSpotEmulator
from leadsync.sandbox.tls import SandboxTLS
from tests.integration.sandbox.fixtures_hs import *  # noqa: F403 - the pytest fixtures
from tests.integration.sandbox.fixtures_hs import BASE_TIME, TOKEN, EmulatorFactory, client_for, contact


def search(client: HubSpot, filters: list[dict[str, Any]] | None = None, **options: Any) -> Any:
    groups = options.pop("groups", None) or ([{"filters": filters}] if filters else [])
    request = PublicObjectSearchRequest(filter_groups=groups, **{"limit": 200, **options})
    return client.crm.contacts.search_api.do_search(request)


def ids(page: Any) -> list[str]:
    return [r.id for r in page.results]


def ms(minutes: int) -> str:
    """Epoch milliseconds (as the client sends them) of BASE_TIME + minutes."""
    return str(int(BASE_TIME.timestamp() * 1000) + minutes * 60_000)


def test_comparison_operators_on_dates_numbers_and_strings(client: HubSpot, hs: HubSpotEmulator) -> None:
    for n in (3, 4, 5):
        hs.update_contact(str(n), {"leadsync_score": n * 10, "jobtitle": f"Head of Sales {n}"})
    assert ids(search(client, [{"propertyName": "createdate", "operator": "BETWEEN", "value": ms(10),
                                "highValue": ms(12)}])) == ["10", "11", "12"]
    # 3, 4 and 5 were just modified, so only 1 and 2 are older than minute 4.
    assert ids(search(client, [{"propertyName": "lastmodifieddate", "operator": "LT", "value": ms(4)}])) == ["1", "2"]
    assert ids(search(client, [{"propertyName": "createdate", "operator": "GTE",
                                "value": "2026-01-05T13:09:00Z"}])) == ["249", "250"]
    assert ids(search(client, [{"propertyName": "leadsync_score", "operator": "GT", "value": "35"}])) == ["4", "5"]
    assert ids(search(client, [{"propertyName": "email", "operator": "IN",
                                "values": ["C8@example.com", "c9@example.com"]}])) == ["8", "9"]
    assert ids(search(client, [{"propertyName": "jobtitle", "operator": "CONTAINS_TOKEN", "value": "sales"}])) == [
        "3", "4", "5"]
    assert search(client, [{"propertyName": "jobtitle", "operator": "NOT_HAS_PROPERTY"}]).total == 247
    both = search(client, [{"propertyName": "jobtitle", "operator": "HAS_PROPERTY"},
                           {"propertyName": "leadsync_score", "operator": "NEQ", "value": "40"}])
    assert ids(both) == ["3", "5"]


def test_filter_groups_are_ored_and_sorts_order_results(client: HubSpot) -> None:
    groups = [{"filters": [{"propertyName": "email", "operator": "EQ", "value": f"c{n}@example.com"}]}
              for n in (30, 10, 20)]
    page = search(client, groups=groups, sorts=[{"propertyName": "createdate", "direction": "DESCENDING"}],
                  properties=["email"])
    assert ids(page) == ["30", "20", "10"]
    assert page.results[0].properties == {"email": "c30@example.com"}
    assert page.paging is None


def test_too_many_filter_groups_or_filters_are_400(client: HubSpot) -> None:
    one = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    for groups in ([{"filters": [one]}] * 6, [{"filters": [one] * 11}], [{"filters": [one] * 9}] * 3):
        with pytest.raises(ApiException) as caught:
            search(client, groups=groups)
        assert caught.value.status == 400
        assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"


def test_search_pages_with_cursor_and_stops_with_400_at_10000(start_hubspot: EmulatorFactory,
                                                               sandbox_tls: SandboxTLS) -> None:
    emulator = start_hubspot()
    emulator.load_org({"contacts": [contact(n) for n in range(1, 10_051)]})
    client = client_for(emulator, sandbox_tls.ca_path)
    first = search(client, sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}])
    assert first.total == 10_050 and len(first.results) == 200 and first.paging.next.after == "200"
    second = search(client, after=first.paging.next.after)
    assert ids(second)[0] == "201"
    last_allowed = search(client, after="9800")
    assert ids(last_allowed)[-1] == "10000" and last_allowed.paging.next.after == "10000"
    with pytest.raises(ApiException) as caught:
        search(client, after=last_allowed.paging.next.after)
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"


def test_short_pages_still_carry_a_cursor_and_lose_nothing(client: HubSpot, hs: HubSpotEmulator) -> None:
    hs.faults.add(kind="hs_short_page", endpoint="contacts.search", times=2, params={"size": 3})
    collected: list[str] = []
    after = None
    calls = 0
    while True:
        page = search(client, after=after)
        calls += 1
        if calls == 1:
            assert len(page.results) == 3 and page.paging.next.after == "3"
        collected += ids(page)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert collected == [str(n) for n in range(1, 251)]
    assert calls == 4
    assert hs.counters.snapshot()["contacts.search"] == 4


def test_seeded_short_page_rate_makes_short_pages(start_hubspot: EmulatorFactory, sandbox_tls: SandboxTLS) -> None:
    emulator = start_hubspot(short_page_rate=1.0, seed=7)
    emulator.load_org({"contacts": [contact(n) for n in range(1, 401)]})
    page = search(client_for(emulator, sandbox_tls.ca_path))
    assert len(page.results) < 200
    assert page.paging.next.after == str(len(page.results))


def test_index_lag_hides_fresh_changes_from_search_only(start_hubspot: EmulatorFactory,
                                                         sandbox_tls: SandboxTLS) -> None:
    emulator = start_hubspot(index_lag_seconds=30)
    emulator.load_org({"contacts": [contact(n) for n in range(1, 21)]})
    client = client_for(emulator, sandbox_tls.ca_path)
    client.crm.contacts.basic_api.update("7", SimplePublicObjectInput(properties={"hs_lead_status": "CONNECTED"}))
    wanted = [{"propertyName": "hs_lead_status", "operator": "EQ", "value": "CONNECTED"}]
    assert search(client, wanted).total == 0
    assert search(client).total == 19  # the changed contact is out of the index entirely
    assert client.crm.contacts.basic_api.get_by_id("7", properties=["hs_lead_status"]).properties[
        "hs_lead_status"] == "CONNECTED"
    emulator.clock.set_offset(31)
    assert ids(search(client, wanted)) == ["7"]


def test_index_lag_fault_applies_to_one_search(client: HubSpot, hs: HubSpotEmulator) -> None:
    hs.update_contact("2", {"jobtitle": "Buyer"})
    hs.faults.add(kind="hs_index_lag", endpoint="contacts.search", times=1, params={"seconds": 60})
    wanted = [{"propertyName": "jobtitle", "operator": "EQ", "value": "buyer"}]
    assert search(client, wanted).total == 0
    assert ids(search(client, wanted)) == ["2"]


def test_incremental_window_on_lastmodifieddate_sees_user_edits(client: HubSpot, hs: HubSpotEmulator) -> None:
    now_ms = int(hs.clock.now().timestamp() * 1000)
    hs.update_contact("100", {"jobtitle": "Analyst"})
    hs.clock.set_offset(1)  # a second later, so the two edits cannot share a millisecond
    hs.log_call("40", "connected")
    page = search(client, [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(now_ms)}],
                  sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                  properties=["lastmodifieddate", "notes_last_updated"])
    assert ids(page) == ["100", "40"]
    assert page.results[1].properties["notes_last_updated"] is not None


def test_malformed_search_bodies_are_400_not_500(hs: HubSpotEmulator, sandbox_tls: SandboxTLS) -> None:
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox_tls.ca_path)
    url = f"{hs.base_url}/crm/v3/objects/contacts/search"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for body in ("{not json", "[]", '{"filterGroups": {"filters": []}}', '{"filterGroups": [{"filters": 3}]}',
                 '{"sorts": "createdate"}', '{"limit": 201}', '{"filterGroups": [{"filters": [{"propertyName": '
                 '"nope", "operator": "EQ", "value": "1"}]}]}'):
        answer = session.post(url, data=body, headers=headers)
        assert answer.status_code == 400, body
        assert answer.json()["category"] == "VALIDATION_ERROR"


def test_text_query_wildcards_and_not_in(client: HubSpot, hs: HubSpotEmulator) -> None:
    hs.update_contact("15", {"company": "Acme Robotics"})
    hs.update_contact("16", {"company": "Acmeville Farms"})
    assert ids(search(client, query="acme")) == ["15", "16"]
    assert ids(search(client, [{"propertyName": "company", "operator": "CONTAINS_TOKEN", "value": "robot*"}])) == ["15"]
    assert ids(search(client, [{"propertyName": "company", "operator": "HAS_PROPERTY"},
                               {"propertyName": "company", "operator": "NOT_IN", "values": ["acme robotics"]}])) == [
        "16"]


def test_keyset_walk_over_a_tie_flood_sees_each_record_once(start_hubspot: EmulatorFactory,
                                                             sandbox_tls: SandboxTLS) -> None:
    """500 contacts share one lastmodifieddate: (timestamp, id) keyset pages of 200 see each exactly once."""
    stamp = BASE_TIME.replace(hour=12)
    emulator = start_hubspot()
    emulator.load_org({"contacts": [contact(n, modified=stamp) for n in range(1, 501)]})
    client = client_for(emulator, sandbox_tls.ca_path)
    last_ms, last_id, seen = "0", "0", []
    while True:
        groups = [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": last_ms}]},
                  {"filters": [{"propertyName": "lastmodifieddate", "operator": "EQ", "value": last_ms},
                               {"propertyName": "hs_object_id", "operator": "GT", "value": last_id}]}]
        page = search(client, groups=groups, sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                      properties=["lastmodifieddate"])
        if not page.results:
            break
        seen += ids(page)
        last_id = page.results[-1].id
        last_ms = str(int(page.results[-1].updated_at.timestamp() * 1000))
    assert seen == [str(n) for n in range(1, 501)]
    assert emulator.counters.snapshot()["contacts.search"] == 4
