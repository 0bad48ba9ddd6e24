"""The HubSpot connector over real HTTPS against the sandbox's HubSpot emulator: pulls, writes, preflight.

Call counts are asserted twice: the connector's own ``calls()`` and the emulator's request counters.
Changes are made the way people make them (the emulator's user API) and stamped by the sandbox clock;
``settle()`` waits out the one-second resolution of the ``Date`` header server time is read from.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from leadsync.config.settings import HubSpotSettings, Settings
from leadsync.connectors.hubspot import STREAMS, HubSpotConnector
from leadsync.connectors.hubspot_client import HubSpotConnection
from leadsync.connectors.policy import RetrySettings
from leadsync.connectors.port import ActivityRecord, OwnerRecord, Page, PersonRecord
from leadsync.connectors.ratelimit import CallCounters, HubSpotLimiter
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import System
from leadsync.domain.planner import FieldWrite, Target
from leadsync.domain.watermark import Watermark, Window, advance, window
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sandbox.hubspot.wire import format_ms
from leadsync.sandbox.runtime import Sandbox

from ...conftest import MAPPINGS

Make = Callable[..., HubSpotConnector]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset(MAPPINGS)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(persons=400, seed=11) as running:
        yield running


@pytest.fixture(scope="module")
def limiter() -> HubSpotLimiter:
    """One limiter for every connector of the module, as one daemon has: the emulator's search window
    does not forget the previous test's calls."""
    return HubSpotLimiter.build()


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def make(sandbox: Sandbox, rules: RuleSet, limiter: HubSpotLimiter) -> Iterator[Make]:
    opened: list[HubSpotConnector] = []

    def build(*, lag: float = 0.0, retry: RetrySettings | None = None, sleep: Callable[[float], None] = time.sleep,
              emulator_sandbox: Sandbox | None = None, own_limiter: HubSpotLimiter | None = None) -> HubSpotConnector:
        target = emulator_sandbox or sandbox
        connection = HubSpotConnection(access_token=target.hs_token, host=target.hs_url, ca_bundle=target.ca_path,
                                       retry=retry, sleep=sleep, limiter=own_limiter or limiter)
        connector = HubSpotConnector(connection, rules.fields, lag_margin_seconds=lag)
        opened.append(connector)
        return connector

    yield build
    for connector in opened:
        connector.close()


def settle() -> None:
    time.sleep(1.1)


def live_contacts(sandbox: Sandbox) -> set[str]:
    with sandbox.hs.lock:
        return {r.id for r in sandbox.hs.stores["contacts"].records.values() if not r.archived}


def cycle(connector: HubSpotConnector, stream: str, mark: Watermark, *,
          overlap: float = 0.0) -> tuple[list[Page], Watermark, Window]:
    """One incremental pull as the engine runs it: window from server time, watermark advanced per page."""
    span = window(mark, connector.server_time(), overlap=timedelta(seconds=overlap), lag_margin=connector.lag_margin)
    pages = []
    for page in connector.pull(stream, mark, span):
        pages.append(page)
        mark = advance(mark, page.cursor_keys, limit=span.end)
    return pages, mark, span


def persons(pages: list[Page]) -> list[PersonRecord]:
    return [r for page in pages for r in page.records if isinstance(r, PersonRecord)]


def activities(pages: list[Page]) -> list[ActivityRecord]:
    return [r for page in pages for r in page.records if isinstance(r, ActivityRecord)]


def hits(sandbox: Sandbox) -> dict[str, int]:
    return dict(sandbox.hs.counters.snapshot())


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
            if after.get(k, 0) != before.get(k, 0)}


def contact_target(record_id: str) -> Target:
    return Target(System.HUBSPOT, "contacts", record_id)


def write(record_id: str, field: str, value: Any, *, clear_first: bool = False) -> FieldWrite:
    return FieldWrite(contact_target(record_id), field, value, None, "h", clear_first=clear_first)


# ----- contacts ----------------------------------------------------------------------------------------


def test_full_pull_returns_every_contact_once_in_the_fewest_pages(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    expected = live_contacts(sandbox)
    before = hits(sandbox)
    pages, _, _ = cycle(connector, "contacts", Watermark())
    ids = [p.ref.record_id for p in persons(pages)]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    minimum = math.ceil(len(expected) / 200)
    assert connector.calls().by_endpoint == {"owners.list": 1, "contacts.search": minimum}  # owners: server time
    assert delta(before, hits(sandbox)) == {"owners.list": 1, "contacts.search": minimum}
    stamps = [p.modstamp for p in persons(pages)]
    assert stamps == sorted(stamps)


def test_incremental_pull_returns_only_what_users_changed_and_an_idle_one_costs_one_search(
        make: Make, sandbox: Sandbox) -> None:
    connector = make()
    _, mark, _ = cycle(connector, "contacts", Watermark())
    changed = sorted(live_contacts(sandbox))[:3]
    sandbox.hs.update_contact(changed[0], {"jobtitle": "VP Sales"})
    sandbox.hs.update_contact(changed[1], {"lifecyclestage": "customer"})
    sandbox.hs.set_owner(changed[2], None)
    settle()
    searches = connector.calls().by_endpoint["contacts.search"]
    pages, mark, _ = cycle(connector, "contacts", mark)
    got = {p.ref.record_id: p for p in persons(pages)}
    assert sorted(got) == changed
    assert got[changed[0]].fields["title"] == "VP Sales"
    assert got[changed[1]].facts.hubspot_stage == "customer"
    assert got[changed[2]].facts.owner_id is None
    assert connector.calls().by_endpoint["contacts.search"] == searches + 1
    settle()
    pages, _, _ = cycle(connector, "contacts", mark)
    assert persons(pages) == []
    assert connector.calls().by_endpoint["contacts.search"] == searches + 2


def test_index_lag_leaves_a_just_modified_contact_for_the_next_cycle_instead_of_losing_it(
        make: Make, sandbox: Sandbox) -> None:
    connector = make(lag=3.0)
    _, mark, _ = cycle(connector, "contacts", Watermark())
    victim = sorted(live_contacts(sandbox))[10]
    sandbox.hs.set_index_lag(2.0)
    try:
        sandbox.hs.update_contact(victim, {"jobtitle": "Late Indexed"})
        settle()
        pages, mark, span = cycle(connector, "contacts", mark)
        assert victim not in {p.ref.record_id for p in persons(pages)}
        assert mark.value is not None and mark.value <= span.end
        time.sleep(3.5)  # past the lag margin plus the Date header's one-second resolution
        pages, mark, _ = cycle(connector, "contacts", mark)
        picked = {p.ref.record_id: p for p in persons(pages)}
        assert victim in picked and picked[victim].fields["title"] == "Late Indexed"
    finally:
        sandbox.hs.set_index_lag(0.0)


def test_short_pages_that_still_carry_a_cursor_are_followed(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    sandbox.hs.faults.add(kind="hs_short_page", endpoint="contacts.search", params={"size": 0})
    sandbox.hs.faults.add(kind="hs_short_page", endpoint="contacts.search", params={"size": 7})
    expected = live_contacts(sandbox)
    pages, _, _ = cycle(connector, "contacts", Watermark())
    ids = [p.ref.record_id for p in persons(pages)]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    # An empty page and a 7-record page, then the remainder in full pages.
    assert connector.calls().by_endpoint["contacts.search"] == 2 + math.ceil((len(expected) - 7) / 200)


def test_merges_list_the_merged_ids_and_archived_contacts_come_back_deleted(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    _, mark, _ = cycle(connector, "contacts", Watermark())
    survivor = sandbox.hs.create_contact({"email": "survivor@merge.example", "firstname": "Sur"})
    merged = sandbox.hs.create_contact({"email": "merged@merge.example", "lastname": "Vivor"})
    doomed = sandbox.hs.create_contact({"email": "doomed@archive.example"})
    settle()
    _, archived_mark, _ = cycle(connector, "contacts_archived", Watermark())
    sandbox.hs.merge_contacts(survivor, merged)
    sandbox.hs.archive_contact(doomed)
    settle()
    pages, _, _ = cycle(connector, "contacts", mark)
    got = {p.ref.record_id: p for p in persons(pages)}
    assert got[survivor].merged_from == (merged,)
    assert merged not in got and doomed not in got  # archived records leave search: only the listing has them
    pages, _, _ = cycle(connector, "contacts_archived", archived_mark)
    deleted = persons(pages)
    assert [(p.ref, p.deleted, p.email) for p in deleted] == [
        (RecordRef(System.HUBSPOT, "contact", doomed), True, "doomed@archive.example")]


def test_a_tie_flood_past_the_10k_cap_is_read_once_each_without_a_400(make: Make, rules: RuleSet) -> None:
    with Sandbox(persons=3, seed=5, rate_limits=False) as flooded:
        stamp = format_ms(int(time.time() * 1000) - 60_000)
        flooded.hs.load_org({"contacts": [
            {"id": str(500_000 + n), "createdAt": stamp, "updatedAt": stamp,
             "properties": {"email": f"bulk{n}@import.example"}} for n in range(10_300)]})
        unthrottled = HubSpotLimiter.build(search_per_second=1000, burst_limit=10_000)  # as the emulator here
        connector = make(emulator_sandbox=flooded, own_limiter=unthrottled)
        expected = live_contacts(flooded)
        pages, _, _ = cycle(connector, "contacts", Watermark())
        ids = [p.ref.record_id for p in persons(pages)]
        assert len(ids) == len(set(ids)) == len(expected)
        searches = flooded.hs.counters.snapshot()["contacts.search"]
        assert searches == connector.calls().by_endpoint["contacts.search"]
        # 49 pages to the budget, the stamp again in id order (52 pages), one page past it.
        assert searches == 49 + math.ceil(10_300 / 200) + 1


# ----- activities ---------------------------------------------------------------------------------------


def test_engagements_with_their_contacts_dispositions_directions_and_outcomes(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    first = sandbox.hs.create_contact({"email": "calls-one@engage.example"})
    second = sandbox.hs.create_contact({"email": "calls-two@engage.example"})
    marks = {}
    for stream in ("calls", "emails", "meetings", "notes", "tasks"):
        _, marks[stream], _ = cycle(connector, stream, Watermark())
    connected = sandbox.hs.log_call(first, "connected")
    voicemail = sandbox.hs.log_call(first, "left_voicemail", direction="INBOUND")
    with sandbox.hs.lock:  # one call logged on two contacts
        sandbox.hs.associations.link("calls", connected, "contacts", second)
    sandbox.hs.log_email(first, "INCOMING_EMAIL")
    sandbox.hs.log_email(first, "EMAIL")
    sandbox.hs.log_meeting(second, "COMPLETED")
    sandbox.hs.log_note(second, "Spoke about pricing")
    sandbox.hs.log_task(second, "Send deck")
    settle()
    before = connector.calls().by_endpoint
    got: dict[str, list[ActivityRecord]] = {}
    for stream in marks:
        pages, _, _ = cycle(connector, stream, marks[stream])
        got[stream] = activities(pages)
    calls = sorted((a.activity.source_id, a.who.record_id, a.activity.properties.get("disposition"),
                    a.activity.properties.get("direction")) for a in got["calls"])
    assert calls == sorted([(f"calls/{connected}", first, "connected", "outbound"),
                            (f"calls/{connected}", second, "connected", "outbound"),
                            (f"calls/{voicemail}", first, "left_voicemail", "inbound")])
    assert sorted((a.activity.type, a.activity.properties["direction"]) for a in got["emails"]) == [
        ("email_reply", "inbound"), ("email_sent", "outbound")]
    assert [(a.activity.type, a.activity.properties["outcome"], a.who.record_id) for a in got["meetings"]] == [
        ("meeting", "completed", second)]
    assert [a.activity.type for a in got["notes"]] == ["note"] and [a.activity.type for a in got["tasks"]] == ["task"]
    spent = {k: v - before.get(k, 0) for k, v in connector.calls().by_endpoint.items() if v != before.get(k, 0)}
    # One search and one associations read per stream.
    assert spent == {"calls.search": 1, "emails.search": 1, "meetings.search": 1, "notes.search": 1,
                     "tasks.search": 1, "associations.batch_read": 5}


def test_events_page_views_and_form_fills_in_order(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    contact = sandbox.hs.create_contact({"email": "events@web.example"})
    _, mark, _ = cycle(connector, "events", Watermark())
    sandbox.hs.page_view(contact, "https://www.leadsync-demo.example/pricing")
    sandbox.hs.submit_form(contact, "Contact us", page_url="https://www.leadsync-demo.example/contact")
    with sandbox.hs.lock:
        custom = sandbox.hs.add_event("contact", contact, "pe4711_watched_demo", sandbox.hs.now_ms(), {})
    settle()
    pages, mark, _ = cycle(connector, "events", mark)
    got = activities(pages)
    assert [(a.activity.type, a.who.record_id) for a in got] == [("page_view", contact), ("form_fill", contact)]
    assert connector.skipped_events == {"pe4711_watched_demo": 1}  # not scored, but counted and passed over
    assert custom.id in {key for page in pages for _, key in page.cursor_keys}
    assert got[0].activity.properties["url"] == "https://www.leadsync-demo.example/pricing"
    assert got[1].activity.properties["form_name"] == "Contact us"
    settle()
    before = connector.calls().by_endpoint["events.list"]
    pages, _, _ = cycle(connector, "events", mark)
    assert activities(pages) == [] and connector.calls().by_endpoint["events.list"] == before + 1


def test_owners_active_and_archived(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    pages = list(connector.pull("owners", Watermark(), Window(None, connector.server_time())))
    owners = [r for page in pages for r in page.records if isinstance(r, OwnerRecord)]
    with sandbox.hs.lock:
        expected = {oid: not o.get("archived") for oid, o in sandbox.hs.owners.items()}
    assert {o.owner_id: o.active for o in owners} == expected
    assert all(o.email for o in owners)


def owner_ids(pages: list[Page]) -> dict[str, bool]:
    return {r.owner_id: r.active for page in pages for r in page.records if isinstance(r, OwnerRecord)}


def test_server_time_costs_no_call_of_its_own_and_archived_owners_are_listed_only_when_someone_left(
        make: Make, sandbox: Sandbox) -> None:
    connector = make()
    before = hits(sandbox)
    end = connector.server_time()  # a fresh process: the first active owners page, kept for the stream
    assert delta(before, hits(sandbox)) == {"owners.list": 1}
    first = list(connector.pull("owners", Watermark(), Window(None, end)))
    # The active page came from memory; the archived listing runs the first time in a process.
    assert delta(before, hits(sandbox)) == {"owners.list": 2}
    with sandbox.hs.lock:
        expected = {oid: not o.get("archived") for oid, o in sandbox.hs.owners.items()}
    assert owner_ids(first) == expected

    again = list(connector.pull("owners", Watermark(), Window(None, connector.server_time())))
    assert delta(before, hits(sandbox)) == {"owners.list": 3}  # nobody left: the active listing only
    assert owner_ids(again) == {oid: True for oid, active in expected.items() if active}

    leaving = sorted(oid for oid, active in expected.items() if active)[0]
    with sandbox.hs.lock:
        sandbox.hs.owners[leaving]["archived"] = True
    try:
        later = list(connector.pull("owners", Watermark(), Window(None, connector.server_time())))
        assert delta(before, hits(sandbox)) == {"owners.list": 5}  # an active owner vanished: archived too
        assert owner_ids(later)[leaving] is False
        list(connector.pull("owners", Watermark(), Window(None, connector.server_time())))
        assert delta(before, hits(sandbox)) == {"owners.list": 6}  # already known as gone
    finally:
        with sandbox.hs.lock:
            sandbox.hs.owners[leaving]["archived"] = False
    assert connector.calls().by_endpoint == {"owners.list": 6}


def test_a_stale_server_time_page_is_not_served_to_the_owners_stream(
        sandbox: Sandbox, rules: RuleSet, limiter: HubSpotLimiter) -> None:
    now = [1000.0]
    connection = HubSpotConnection(access_token=sandbox.hs_token, host=sandbox.hs_url, ca_bundle=sandbox.ca_path,
                                   limiter=limiter)
    connector = HubSpotConnector(connection, rules.fields, lag_margin_seconds=0, monotonic=lambda: now[0])
    try:
        end = connector.server_time()
        now[0] += 301.0  # the owners pull comes five minutes later: listed afresh
        list(connector.pull("owners", Watermark(), Window(None, end)))
        assert connector.calls().by_endpoint == {"owners.list": 3}
    finally:
        connector.close()


# ----- writes ------------------------------------------------------------------------------------------


def test_250_records_in_3_calls_and_a_207_invalid_option_is_quarantinable(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    ids = [sandbox.hs.create_contact({"email": f"batch{n}@write.example"}) for n in range(250)]
    writes = [write(i, "leadsync_score", n) for n, i in enumerate(ids)]
    writes.append(write(ids[17], "hs_lead_status", "NOT_A_STATUS"))
    writes.append(write(ids[230], "hs_analytics_source", "OFFLINE"))
    before = hits(sandbox)
    results = connector.apply(writes)
    assert delta(before, hits(sandbox)) == {"contacts.batch_update": 3}
    assert connector.calls().writes == 3 and connector.calls().reads == 0
    assert [r.target.record_id for r in results] == ids
    bad = [r for r in results if not r.ok]
    assert [(r.target.record_id, r.error_code, r.fields, r.transient) for r in bad] == [
        (ids[17], "INVALID_OPTION", ("hs_lead_status",), False),
        (ids[230], "READ_ONLY_VALUE", ("hs_analytics_source",), False)]
    assert "NOT_A_STATUS" in (bad[0].error or "")
    assert sandbox.hs.contact(ids[200]).props["leadsync_score"] == "200"
    assert "leadsync_score" not in sandbox.hs.contact(ids[17]).props  # the failed record was not applied


def test_a_batch_that_keeps_failing_is_transient_for_each_record(make: Make, sandbox: Sandbox) -> None:
    connector = make(retry=RetrySettings(max_attempts=2, backoff_initial=0.01, backoff_max=0.02))
    ids = [sandbox.hs.create_contact({"email": f"flaky{n}@write.example"}) for n in range(3)]
    sandbox.hs.faults.add(kind="status", endpoint="contacts.batch_update", status=503, times=2)
    results = connector.apply([write(i, "leadsync_grade", "B") for i in ids])
    assert [(r.ok, r.transient, r.fields) for r in results] == [(False, True, ("leadsync_grade",))] * 3
    assert connector.calls().by_endpoint == {"contacts.batch_update": 2}
    sandbox.hs.faults.add(kind="hs_batch_error", endpoint="contacts.batch_update",
                          params={"ids": [ids[1]], "category": "RATE_LIMITS"})
    results = connector.apply([write(i, "leadsync_grade", "B") for i in ids])
    assert [(r.ok, r.transient) for r in results] == [(True, False), (False, True), (True, False)]


def test_a_backward_lifecycle_stage_is_cleared_then_set_and_read_back(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    contact = sandbox.hs.create_contact({"email": "backwards@stage.example", "lifecyclestage": "opportunity"})
    other = sandbox.hs.create_contact({"email": "forwards@stage.example", "lifecyclestage": "lead"})
    [plain] = connector.apply([write(contact, "lifecyclestage", "lead")])
    assert plain.ok and sandbox.hs.contact(contact).props["lifecyclestage"] == "opportunity"  # HubSpot ignores it
    connector = make()
    before = hits(sandbox)
    results = connector.apply([write(contact, "lifecyclestage", "lead", clear_first=True),
                               write(contact, "leadsync_score", 12),
                               write(other, "lifecyclestage", "marketingqualifiedlead")])
    assert [(r.target.record_id, r.ok, r.error) for r in results] == [(contact, True, None), (other, True, None)]
    assert sandbox.hs.contact(contact).props["lifecyclestage"] == "lead"
    assert sandbox.hs.contact(contact).props["leadsync_score"] == "12"
    assert sandbox.hs.contact(other).props["lifecyclestage"] == "marketingqualifiedlead"
    assert delta(before, hits(sandbox)) == {"contacts.batch_update": 2, "contacts.batch_read": 1}
    assert connector.calls().by_endpoint == {"contacts.batch_update": 2, "contacts.batch_read": 1}


def test_a_lost_answer_is_read_back_not_resent(make: Make, sandbox: Sandbox) -> None:
    """The portal committed the batch, then the connection dropped: one write, one read-back, all ok."""
    ids = [sandbox.hs.create_contact({"email": f"lost{n}@answer.example"}) for n in range(3)]
    connector = make()
    before = hits(sandbox)
    fault = sandbox.hs.faults.add(kind="drop_after_commit", endpoint="contacts.batch_update", times=1)
    try:
        results = connector.apply([write(i, "leadsync_score", 30 + n) for n, i in enumerate(ids)])
    finally:
        sandbox.hs.faults.clear()
    assert fault.fired == 1
    assert [(r.target.record_id, r.ok) for r in results] == [(i, True) for i in ids]
    assert delta(before, hits(sandbox)) == {"contacts.batch_update": 1, "contacts.batch_read": 1}
    assert connector.calls().by_endpoint == {"contacts.batch_update": 1, "contacts.batch_read": 1}
    assert connector.connection.counters.get("hubspot", "responses_lost") == 1
    assert [sandbox.hs.contact(i).props["leadsync_score"] for i in ids] == ["30", "31", "32"]


def test_a_lost_clear_is_read_back_and_the_set_follows_and_a_reset_write_is_left_for_the_next_cycle(
        make: Make, sandbox: Sandbox) -> None:
    backwards = sandbox.hs.create_contact({"email": "lostclear@stage.example", "lifecyclestage": "customer"})
    connector = make()
    before = hits(sandbox)
    sandbox.hs.faults.add(kind="drop_after_commit", endpoint="contacts.batch_update", times=1)  # the clear
    try:
        [result] = connector.apply([write(backwards, "lifecyclestage", "lead", clear_first=True)])
    finally:
        sandbox.hs.faults.clear()
    assert result.ok and sandbox.hs.contact(backwards).props["lifecyclestage"] == "lead"
    # The clear, its read-back, the set, and the clear-then-set read-back: nothing sent twice.
    assert delta(before, hits(sandbox)) == {"contacts.batch_update": 2, "contacts.batch_read": 2}

    untouched = sandbox.hs.create_contact({"email": "reset@write.example"})
    before = hits(sandbox)
    sandbox.hs.faults.add(kind="reset", endpoint="contacts.batch_update", times=1)  # before the handler ran
    try:
        [cut] = connector.apply([write(untouched, "leadsync_score", 5)])
    finally:
        sandbox.hs.faults.clear()
    assert (cut.ok, cut.transient, cut.error_code) == (False, True, "RESPONSE_LOST")
    assert "leadsync_score" not in sandbox.hs.contact(untouched).props
    assert delta(before, hits(sandbox)) == {"contacts.batch_update": 1, "contacts.batch_read": 1}


def test_hostile_values_round_trip_through_writes_reads_and_search(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    hostile = ["O'Brien \"the\" \\back\\slash\\", "' OR 1=1 --", "Zoë 日本語 🚀 \u202e", "x" * 60_000,
               '{"filterGroups": []}']
    ids = [sandbox.hs.create_contact({"email": f"hostile{n}@values.example"}) for n in range(len(hostile))]
    _, mark, _ = cycle(connector, "contacts", Watermark())
    settle()
    results = connector.apply([write(i, "leadsync_grade", v) for i, v in zip(ids, hostile, strict=True)])
    assert all(r.ok for r in results)
    held = connector.read_current([contact_target(i) for i in ids], ["leadsync_grade"])
    assert [held[contact_target(i)]["leadsync_grade"] for i in ids] == hostile
    settle()
    pages, _, _ = cycle(connector, "contacts", mark)
    pulled = {p.ref.record_id: p.current["leadsync_grade"] for p in persons(pages)}
    assert [pulled[i] for i in ids] == hostile


def test_read_current_batches_100_and_leaves_out_missing_records(make: Make, sandbox: Sandbox) -> None:
    connector = make()
    ids = sorted(live_contacts(sandbox))[:150]
    held = connector.read_current([contact_target(i) for i in ids] + [contact_target("999999999")], ["email"])
    assert set(held) == {contact_target(i) for i in ids}
    assert held[contact_target(ids[0])]["email"] == sandbox.hs.contact(ids[0]).props.get("email")
    assert connector.calls().by_endpoint == {"contacts.batch_read": 2}


# ----- preflight and pacing ------------------------------------------------------------------------------


def test_preflight_names_the_mapping_line_of_a_read_only_property_and_a_removed_option(
        make: Make, sandbox: Sandbox, rules: RuleSet) -> None:
    connector = make()
    assert connector.problems_for_mappings(rules.fields, rules.lifecycle, rules.contact_status) == []
    sandbox.hs.change_property("contacts", "leadsync_score", read_only=True)
    sandbox.hs.change_property("contacts", "lifecyclestage", remove_options=("marketingqualifiedlead",))
    try:
        problems = make().problems_for_mappings(rules.fields, rules.lifecycle, rules.contact_status)
    finally:
        sandbox.hs.change_property("contacts", "leadsync_score", read_only=False)
        sandbox.hs.change_property("contacts", "lifecyclestage",
                                   add_options=(("marketingqualifiedlead", "Marketing Qualified Lead"),))
    where = {m.field: m.where for m in rules.fields.outbound(System.HUBSPOT, "contacts")}
    assert sorted((p.where, p.field) for p in problems) == sorted(
        [(where["leadsync_score"], "leadsync_score"), (where["lifecyclestage"], "lifecyclestage")])
    by_field = {p.field: p.problem for p in problems}
    assert "read-only" in by_field["leadsync_score"] and "'marketingqualifiedlead'" in by_field["lifecyclestage"]
    assert all(p.where.startswith("fields.toml:") or "fields.toml:" in p.where for p in problems)
    direct = make().preflight([("here:1", "contacts", "no_such_property", None)])
    assert [(p.where, p.field) for p in direct] == [("here:1", "no_such_property")]


def test_a_429_storm_waits_retry_after_and_the_search_limiter_causes_no_429(
        make: Make, sandbox: Sandbox, limiter: HubSpotLimiter) -> None:
    sleep = RecordingSleep()
    connector = make(sleep=sleep)
    sandbox.hs.faults.add(kind="status", endpoint="contacts.search", status=429, retry_after=1, times=3)
    expected = live_contacts(sandbox)
    before = hits(sandbox)
    pages, _, _ = cycle(connector, "contacts", Watermark())
    assert len(persons(pages)) == len(expected)
    minimum = math.ceil(len(expected) / 200)
    assert delta(before, hits(sandbox))["contacts.search"] == minimum + 3
    assert sum(1 for w in sleep.waits if w >= 1.0) >= 3
    # Now 18 searches back to back: our limiter paces them under the emulator's 5 per second.
    rate_limited = limiter.counters.get("hubspot", "rate_limited")
    for _ in range(3):
        for stream in ("contacts", "calls", "emails", "meetings", "notes", "tasks"):
            list(connector.pull(stream, Watermark(), Window(connector.server_time(), connector.server_time())))
    assert limiter.counters.get("hubspot", "rate_limited") == rate_limited
    assert limiter.counters.get("hubspot", "throttled") > 0


# ----- construction and server time ------------------------------------------------------------------------


def test_from_settings_and_server_time_follows_the_servers_clock_not_ours(
        sandbox: Sandbox, rules: RuleSet, clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(hubspot=HubSpotSettings(host=sandbox.hs_url, access_token=SecretStr(sandbox.hs_token),
                                                ca_bundle=sandbox.ca_path, lag_margin_seconds=45))
    counters = CallCounters()
    connector = HubSpotConnector.from_settings(settings, rules.fields, counters=counters)
    try:
        assert connector.lag_margin == timedelta(seconds=45)
        assert list(connector.streams()) == list(STREAMS)
        sandbox.clock.set_offset(7200)
        try:
            skewed = connector.server_time()  # no response seen yet: the first owners page, kept
            assert connector.calls().by_endpoint == {"owners.list": 1}
            assert counters.get("hubspot", "calls") == 1
            local = datetime.now(UTC)
            assert timedelta(seconds=7190) < skewed - local < timedelta(seconds=7210)
            time.sleep(0.3)
            assert connector.server_time() > skewed  # advanced by elapsed time, without another call
            assert connector.calls().by_endpoint == {"owners.list": 1}
        finally:
            sandbox.clock.set_offset(0)
        list(connector.pull("owners", Watermark(), Window(None, skewed)))
        assert abs(connector.server_time() - datetime.now(UTC)) < timedelta(seconds=5)
    finally:
        connector.close()
    with pytest.raises(ValueError, match="no stream"):
        list(connector.pull("deals", Watermark(), Window(None, skewed)))


def test_a_failed_clear_skips_its_set_and_a_failed_set_after_a_clear_says_the_field_is_empty(
        make: Make, sandbox: Sandbox) -> None:
    stuck = sandbox.hs.create_contact({"email": "stuck@stage.example", "lifecyclestage": "customer"})
    emptied = sandbox.hs.create_contact({"email": "emptied@stage.example", "lifecyclestage": "customer"})
    plain = sandbox.hs.create_contact({"email": "plain@stage.example"})
    sandbox.hs.faults.add(kind="hs_batch_error", endpoint="contacts.batch_update",
                          params={"ids": [stuck], "category": "VALIDATION_ERROR", "message": "refused"})
    # Faults fire in order, one request each: the clear request meets the first, the set the second.
    sandbox.hs.faults.add(kind="hs_batch_error", endpoint="contacts.batch_update",
                          params={"ids": [emptied], "category": "RATE_LIMITS", "message": "busy"})
    connector = make()
    results = connector.apply([write(stuck, "lifecyclestage", "lead", clear_first=True),
                               write(emptied, "lifecyclestage", "lead", clear_first=True),
                               write(plain, "leadsync_grade", "A")])
    by_id = {r.target.record_id: r for r in results}
    assert (by_id[stuck].ok, by_id[stuck].error, by_id[stuck].transient) == (False, "refused", False)
    assert sandbox.hs.contact(stuck).props["lifecyclestage"] == "customer"  # never cleared, never set
    assert (by_id[emptied].ok, by_id[emptied].transient) == (False, True)
    assert "lifecyclestage was cleared first and is now empty" in (by_id[emptied].error or "")
    assert "lifecyclestage" not in sandbox.hs.contact(emptied).props
    assert by_id[plain].ok and sandbox.hs.contact(plain).props["leadsync_grade"] == "A"
    assert connector.calls().by_endpoint == {"contacts.batch_update": 2}  # nothing left to read back
