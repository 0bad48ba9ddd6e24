"""The Salesforce connector against the sandbox emulator over real HTTPS: pulls, writes, read-back, preflight.

Each test builds its own connector (fresh call counts) and resets the emulator's counters, so both sides'
call counts can be asserted exactly. The org is shared by the module; tests create the records they
assert on, and move the sandbox clock forward (``tick``) so their changes get modstamps of their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from leadsync.config.settings import SalesforceSettings, Settings
from leadsync.connectors import salesforce_convert as convert
from leadsync.connectors.port import ActivityRecord, OpportunityRecord, OwnerRecord, Page, PersonRecord
from leadsync.connectors.salesforce import STREAMS, SalesforceConnector, mapping_checks
from leadsync.connectors.salesforce_auth import SalesforceConnection, SalesforceCredentials
from leadsync.domain.fields import FieldMapping, FieldMappings, InboundMapping
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import OwnerKind, System
from leadsync.domain.planner import FieldWrite, Target, value_hash
from leadsync.domain.watermark import Watermark, Window, advance
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sandbox.runtime import Sandbox

from ...conftest import MAPPINGS
from .conftest import Recorder

SF = System.SALESFORCE
HOSTILE = "O'Brien \\' OR Id != '' -- \"x\" \n\t Zoë 🚀 ünïcødé %_"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(persons=30, seed=11, activities_per_person=3, rate_limits=False) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def no_leftover_faults(sb: Sandbox) -> Iterator[None]:
    yield
    sb.sf.faults.clear()


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset(MAPPINGS)


class Tick:
    """Moves the sandbox clock forward in whole seconds, so a test's changes never share a second with
    records stamped before them (SystemModstamp has one-second resolution)."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self, sb: Sandbox, seconds: int = 2) -> None:
        self.offset += seconds
        sb.clock.set_offset(self.offset)


tick = Tick()


def connector(sb: Sandbox, rules: RuleSet, *, mappings: FieldMappings | None = None, batch_size: int = 2000,
              recorder: Recorder | None = None, **kwargs: Any) -> SalesforceConnector:
    credentials = SalesforceCredentials(
        flow="username_password", login_url=sb.sf_url, client_id=sb.sf_client_id, client_secret=sb.sf_client_secret,
        username=sb.sf_username, password=sb.sf_password, security_token=sb.sf_security_token, ca_bundle=sb.ca_path,
    )
    connection = SalesforceConnection(credentials, sleep=recorder or Recorder())
    built = SalesforceConnector(connection, mappings or rules.fields, batch_size=batch_size, **kwargs)
    connection.login()
    sb.sf.counters.reset()
    return built


def soql_log(built: SalesforceConnector) -> list[str]:
    """Every SOQL text the connector sent, as the server received it (decoded from the request URL)."""
    sent: list[str] = []

    def hook(response: requests.Response, *_: Any, **__: Any) -> None:
        query = parse_qs(urlsplit(response.request.url or "").query).get("q")
        if query:
            sent.append(query[0])

    built.connection.http.hooks["response"].append(hook)
    return sent


def pull_all(built: SalesforceConnector, stream: str, mark: Watermark | None = None,
             start: datetime | None = None) -> list[Page]:
    return list(built.pull(stream, mark or Watermark(), Window(start=start, end=built.server_time())))


def keys(pages: list[Page]) -> list[str]:
    return [record_id for page in pages for _, record_id in page.cursor_keys]


def mark_after(pages: list[Page]) -> Watermark:
    return advance(Watermark(), [key for page in pages for key in page.cursor_keys])


def expected_ids(sb: Sandbox, stream: str) -> set[str]:
    if stream == "User":
        return {str(r["Id"]) for r in sb.sf.records("User")}
    if stream == "Group":
        return {str(r["Id"]) for r in sb.sf.records("Group") if r["Type"] == "Queue"}
    return {str(r["Id"]) for r in sb.sf.records(stream, include_deleted=True)}


# ----- pulling ---------------------------------------------------------------------------------------


def test_full_pull_of_every_stream_returns_each_record_once_in_one_query(sb: Sandbox, rules: RuleSet) -> None:
    built = connector(sb, rules)
    for stream in STREAMS:
        pages = pull_all(built, stream)
        ids = keys(pages)
        assert len(ids) == len(set(ids)) and set(ids) == expected_ids(sb, stream), stream
        stamps = [key for page in pages for key in page.cursor_keys]
        assert stamps == sorted(stamps), f"{stream} is not in keyset order"
    accounts = {str(r["AccountId"]) for r in sb.sf.records("Opportunity") if r.get("AccountId")}
    # One query per stream (each under 2000 records) and one semi-join for the contacts of the deals' accounts.
    assert 0 < len(accounts) <= 200
    assert built.calls().by_endpoint == {"query": len(STREAMS) + 1}  # server time: the login's Date header
    assert sb.sf.counters.snapshot() == {"query": len(STREAMS) + 1}
    assert built.calls().reads == len(STREAMS) + 1 and built.calls().writes == 0


def test_people_carry_mapped_fields_facts_and_current_values(sb: Sandbox, rules: RuleSet) -> None:
    tick(sb)
    queue = next(r for r in sb.sf.records("Group") if r["Type"] == "Queue")
    lead_id = sb.sf.create_record("Lead", {
        "LastName": "Facts", "Company": "Acme", "Email": "facts@example.com", "Title": "CTO",
        "NumberOfEmployees": 250, "OwnerId": queue["Id"], "Lead_Score__c": 42, "Lifecycle_Status__c": "MQL",
    })
    built = connector(sb, rules)
    (lead,) = [r for p in pull_all(built, "Lead") for r in p.records if isinstance(r, PersonRecord)
               and r.ref.record_id == lead_id]
    assert lead.ref == RecordRef(SF, "lead", lead_id)
    assert lead.email == "facts@example.com"
    assert lead.fields["title"] == "CTO" and lead.fields["employees"] == 250 and lead.fields["company"] == "Acme"
    assert lead.facts.owner_kind is OwnerKind.QUEUE and lead.facts.owner_id == queue["Id"]
    assert lead.facts.crm_status == "Open - Not Contacted" and not lead.facts.is_contact
    assert lead.current["Lead_Score__c"] == 42 and lead.current["Lifecycle_Status__c"] == "MQL"
    assert lead.current["OwnerId"] == queue["Id"] and not lead.deleted and lead.converted_to is None


def test_incremental_pull_returns_only_what_changed_and_idle_costs_one_query_per_stream(
        sb: Sandbox, rules: RuleSet) -> None:
    built = connector(sb, rules)
    marks = {stream: mark_after(pull_all(built, stream)) for stream in STREAMS}
    tick(sb)
    idle = connector(sb, rules)
    for stream in STREAMS:
        assert keys(pull_all(idle, stream, marks[stream], start=marks[stream].value)) == [], stream
    assert idle.calls().by_endpoint == {"query": len(STREAMS)}
    assert sb.sf.counters.snapshot() == {"query": len(STREAMS)}

    leads = sorted(str(r["Id"]) for r in sb.sf.records("Lead") if not r["IsConverted"])[:2]
    for lead_id in leads:
        sb.sf.update_record("Lead", lead_id, {"Title": "Head of Ops"})
    call_id = sb.sf.log_call(leads[0], "Left voicemail")
    changed = connector(sb, rules)
    lead_pages = pull_all(changed, "Lead", marks["Lead"], start=marks["Lead"].value)
    assert sorted(keys(lead_pages)) == leads
    assert all(r.fields["title"] == "Head of Ops" for p in lead_pages for r in p.records if isinstance(r, PersonRecord))
    task_pages = pull_all(changed, "Task", marks["Task"], start=marks["Task"].value)
    (call,) = [r for p in task_pages for r in p.records]
    assert isinstance(call, ActivityRecord) and keys(task_pages) == [call_id]
    assert call.activity.type == "call" and call.activity.properties["disposition"] == "left_voicemail"
    assert call.who == RecordRef(SF, "lead", leads[0])
    assert keys(pull_all(changed, "Contact", marks["Contact"], start=marks["Contact"].value)) == []


def test_the_overlap_re_read_skips_our_own_write_backs_but_not_other_users_changes(
        sb: Sandbox, rules: RuleSet) -> None:
    built = connector(sb, rules)
    sent = soql_log(built)
    mark = mark_after(pull_all(built, "Lead"))
    a, b, c = sorted(str(r["Id"]) for r in sb.sf.records("Lead") if not r["IsConverted"])[3:6]
    tick(sb)
    [result] = built.apply([write(Target(SF, "Lead", a), "Lead_Score__c", 61)])  # our write-back
    assert result.ok
    tick(sb)
    sb.sf.update_record("Lead", b, {"Title": "VP Sales"})  # a rep, in the UI
    tick(sb)
    sb.sf.update_record("Lead", c, {"Title": "CFO"})
    me = built.connection.session.user_id if built.connection.session else None
    assert me is not None and sb.sf.record("Lead", a)["LastModifiedById"] == me  # the login's user
    assert sb.sf.record("Lead", b)["LastModifiedById"] != me

    tick(sb)
    built = connector(sb, rules)  # a fresh reading of the org's clock, which tick() moved
    sent = soql_log(built)
    echo = pull_all(built, "Lead", mark, start=mark.value)  # no overlap: everything after the watermark
    assert set(keys(echo)) == {a, b, c} and "LastModifiedById" not in sent[-1]
    mark = advance(mark, [k for page in echo for k in page.cursor_keys])
    start = mark.value - timedelta(seconds=300)

    tick(sb)
    built = connector(sb, rules)
    sent = soql_log(built)
    again = pull_all(built, "Lead", mark, start=start)  # the overlap: 300 s before the watermark
    assert built.calls().by_endpoint == {"query": 1}
    assert "LastModifiedById !=" in sent[-1]
    stamps = {str(r["Id"]): convert.parse_datetime(r["SystemModstamp"]) for r in sb.sf.records("Lead", True)}
    by = {str(r["Id"]): r["LastModifiedById"] for r in sb.sf.records("Lead", True)}
    expected = {i for i, t in stamps.items() if t is not None and start <= t
                and (t >= mark.value or by[i] != me)}
    assert set(keys(again)) == expected
    assert a not in expected and {b, c} <= expected  # ours left out, the rep's change re-read


def test_deals_of_450_accounts_find_their_contacts_in_one_semi_join_whatever_the_pages(
        sb: Sandbox, rules: RuleSet) -> None:
    tick(sb)
    accounts = sb.sf.import_records("Account", [{"Name": f"Acct {n}"} for n in range(450)])
    contacts = sb.sf.import_records("Contact", [{"LastName": f"C{n}", "AccountId": a}
                                                for n, a in enumerate(accounts) for _ in range(n % 3)])
    sb.sf.import_records("Opportunity", [{"Name": f"Deal {n}", "AccountId": a, "StageName": "Prospecting",
                                          "CloseDate": "2026-12-31"} for n, a in enumerate(accounts)])
    assert len(contacts) == 450
    built = connector(sb, rules, batch_size=200)
    sent = soql_log(built)
    deals = [r for page in pull_all(built, "Opportunity") for r in page.records]
    assert all(isinstance(d, OpportunityRecord) for d in deals)

    live = [r for r in sb.sf.records("Opportunity") if r.get("AccountId")]
    by_account: dict[str, list[str]] = {}
    for record in sb.sf.records("Contact"):
        if record.get("AccountId"):
            by_account.setdefault(str(record["AccountId"]), []).append(str(record["Id"]))
    expected = {str(o["Id"]): {*by_account.get(str(o["AccountId"]), ()), *([o["ContactId"]] if o.get("ContactId")
                                                                           else [])} for o in live}
    got = {d.record_id: {ref.record_id for ref in d.contact_refs} for d in deals if isinstance(d, OpportunityRecord)}
    assert {k: got[k] for k in expected} == expected
    pages = math.ceil(len(expected_ids(sb, "Opportunity")) / 200)
    semi = math.ceil(sum(len(v) for a, v in by_account.items()
                         if a in {str(o["AccountId"]) for o in live}) / 200)
    assert pages >= 3 and built.calls().by_endpoint == {"query": 2, "query_more": pages - 1 + semi - 1}
    [join] = [q for q in sent if "IN (SELECT AccountId FROM Opportunity" in q]
    assert join.startswith("SELECT Id, AccountId FROM Contact WHERE AccountId IN")


def test_tie_flood_across_small_pages_reads_each_record_once_and_resumes_mid_stamp(
        sb: Sandbox, rules: RuleSet) -> None:
    tick(sb)
    flood = sb.sf.import_records("Lead", [{"LastName": f"Tie {n}", "Company": "Flood"} for n in range(450)])
    total = len(sb.sf.records("Lead", include_deleted=True))
    built = connector(sb, rules, batch_size=200)
    pages = pull_all(built, "Lead")
    ids = keys(pages)
    assert len(ids) == len(set(ids)) == total and set(flood) <= set(ids)
    assert [len(p.cursor_keys) for p in pages[:-1]] == [200] * (len(pages) - 1)
    assert built.calls().by_endpoint == {"query": 1, "query_more": math.ceil(total / 200) - 1}
    assert sb.sf.counters.snapshot() == {"query": 1, "query_more": math.ceil(total / 200) - 1}

    # A crash after the first 200 of the flood: the keyset resumes at (stamp, 200th id), nothing repeats.
    stamp = next(ts for page in pages for ts, rid in page.cursor_keys if rid == flood[0])
    flood_sorted = sorted(flood)
    resumed = Watermark(stamp, frozenset(flood_sorted[:200]))
    rest = keys(list(built.pull("Lead", resumed, Window(start=None, end=built.server_time()))))
    assert rest[:250] == flood_sorted[200:]
    assert not set(rest) & set(flood_sorted[:200])


def test_short_pages_still_follow_next_records_url_to_the_end(sb: Sandbox, rules: RuleSet) -> None:
    built = connector(sb, rules, batch_size=200)
    sb.sf.faults.add(kind="sf_short_page", endpoint="query", params={"size": 3})
    pages = pull_all(built, "Contact")
    ids = keys(pages)
    assert len(pages[0].cursor_keys) == 3
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(sb, "Contact")


def test_deleted_and_converted_leads_arrive_as_such(sb: Sandbox, rules: RuleSet) -> None:
    tick(sb)
    doomed = sb.sf.create_record("Lead", {"LastName": "Doomed", "Company": "Gone Inc"})
    convertee = sb.sf.create_record("Lead", {"LastName": "Convertee", "Company": "Won Ltd", "Email": "c@won.example"})
    mark = mark_after(pull_all(connector(sb, rules), "Lead"))
    tick(sb)
    sb.sf.delete_record("Lead", doomed)
    result = sb.sf.convert_lead(convertee)
    built = connector(sb, rules)
    records = {r.ref.record_id: r for p in pull_all(built, "Lead", mark, start=mark.value) for r in p.records
               if isinstance(r, PersonRecord)}
    assert set(records) == {doomed, convertee}
    assert records[doomed].deleted and not records[convertee].deleted
    contact_ref = RecordRef(SF, "contact", str(result["contactId"]))
    assert records[convertee].converted_to == contact_ref and records[convertee].facts.is_converted
    contacts = [r for p in pull_all(built, "Contact", mark, start=mark.value) for r in p.records]
    assert [r.ref for r in contacts if isinstance(r, PersonRecord)] == [contact_ref]
    assert contacts[0].facts.is_contact and contacts[0].email == "c@won.example"  # type: ignore[union-attr]
    deals = [r for p in pull_all(built, "Opportunity", mark, start=mark.value) for r in p.records]
    assert len(deals) == 1 and isinstance(deals[0], OpportunityRecord)
    assert deals[0].record_id == result["opportunityId"] and contact_ref in deals[0].contact_refs
    assert not deals[0].is_closed and deals[0].stage == "Prospecting"


def test_activities_map_to_the_canonical_vocabulary(sb: Sandbox, rules: RuleSet) -> None:
    tick(sb)
    lead = sb.sf.create_record("Lead", {"LastName": "Active", "Company": "Busy Co"})
    before = {s: mark_after(pull_all(connector(sb, rules), s)) for s in ("Task", "Event", "CampaignMember")}
    tick(sb)
    known = sb.sf.log_call(lead, "No Answer")
    unknown = sb.sf.log_call(lead, "rang twice, dog barked")
    meeting = sb.sf.log_event(lead, "Demo")
    webinar = next(str(r["Id"]) for r in sb.sf.records("Campaign") if r["Type"] == "Webinar")
    attended = sb.sf.add_campaign_member(webinar, lead_id=lead, status="Attended")
    built = connector(sb, rules)
    got = {r.activity.source_id: r for s, m in before.items() for p in pull_all(built, s, m, start=m.value)
           for r in p.records if isinstance(r, ActivityRecord)}
    assert set(got) == {known, unknown, meeting, attended}
    assert got[known].activity.properties == {"disposition": "no_answer", "direction": "outbound",
                                              "call_result": "No Answer"}
    assert "disposition" not in got[unknown].activity.properties  # unknown text: counted as an attempt
    assert got[meeting].activity.type == "meeting"
    assert got[attended].activity.type == "webinar_attended"
    assert all(r.who == RecordRef(SF, "lead", lead) for r in got.values())


def test_owners_are_users_and_queues(sb: Sandbox, rules: RuleSet) -> None:
    built = connector(sb, rules)
    users = [r for p in pull_all(built, "User") for r in p.records]
    queues = [r for p in pull_all(built, "Group") for r in p.records]
    assert all(isinstance(u, OwnerRecord) and not u.is_queue and u.owner_id.startswith("005") for u in users)
    assert all(isinstance(q, OwnerRecord) and q.is_queue and q.owner_id.startswith("00G") for q in queues)
    assert {u.owner_id for u in users} == expected_ids(sb, "User")  # type: ignore[union-attr]
    assert len(queues) == len(expected_ids(sb, "Group")) > 0


def test_hostile_values_and_watermark_ids_never_reach_a_query_raw(sb: Sandbox, rules: RuleSet) -> None:
    tick(sb)
    huge = ("'\\\" " * 2500)[:10_000]
    notes = InboundMapping(SF, "Lead", "Description", "notes", True, "test:1")
    mappings = FieldMappings(rules.fields.outbound_mappings, (*rules.fields.inbound_mappings, notes), "test")
    lead = sb.sf.create_record("Lead", {"LastName": HOSTILE, "Company": HOSTILE[:200], "Title": HOSTILE,
                                        "Description": huge})
    built = connector(sb, rules, mappings=mappings)
    sent = soql_log(built)
    pages = pull_all(built, "Lead", start=datetime.now(UTC) + timedelta(seconds=tick.offset - 10))
    (record,) = [r for p in pages for r in p.records if isinstance(r, PersonRecord) and r.ref.record_id == lead]
    assert record.fields["last_name"] == HOSTILE and record.fields["title"] == HOSTILE
    assert record.fields["notes"] == huge

    hostile_mark = Watermark(record.modstamp, frozenset({HOSTILE + huge}))
    again = list(built.pull("Lead", hostile_mark, Window(start=record.modstamp, end=built.server_time())))
    assert lead in keys(again)  # a non-id in the watermark re-reads its second instead of breaking
    assert len(sent) == 2 and all(HOSTILE not in q and "Zoë" not in q and "\\" not in q for q in sent)
    assert "SystemModstamp >= " in sent[1] and "Id >" not in sent[1]
    current = built.read_current([Target(SF, "Lead", lead)], ["LastName", "Description"])
    assert current == {Target(SF, "Lead", lead): {"LastName": HOSTILE, "Description": huge}}


# ----- writing and reading back ------------------------------------------------------------------------


def write(target: Target, field: str, value: Any) -> FieldWrite:
    return FieldWrite(target=target, field=field, value=value, previous=None, value_hash=value_hash(value))


def test_apply_450_records_in_3_calls_with_per_record_results(sb: Sandbox, rules: RuleSet) -> None:
    tick(sb)
    ids = sb.sf.import_records("Lead", [{"LastName": f"Write {n}", "Company": "W"} for n in range(450)])
    targets = sorted(Target(SF, "Lead", i) for i in ids)
    locked = [targets[5].record_id, targets[150].record_id]
    refused = targets[300]
    mql_at = datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)
    writes = [write(t, "Lead_Score__c", n) for n, t in enumerate(targets)]
    writes += [write(targets[0], "MQL_Date__c", mql_at), write(targets[0], "SLA_Breached__c", True),
               write(targets[0], "Lifecycle_Reason__c", HOSTILE), write(refused, "Lifecycle_Status__c", "Nurture")]
    built = connector(sb, rules)
    sb.sf.faults.add(kind="sf_lock", endpoint="composite.sobjects", params={"ids": locked})
    results = built.apply(writes)

    assert [r.target for r in results] == targets
    assert built.calls().by_endpoint == {"composite.sobjects": 3} and built.calls().writes == 3
    assert sb.sf.counters.snapshot() == {"composite.sobjects": 3}
    failed = {r.target.record_id: r for r in results if not r.ok}
    assert set(failed) == {*locked, refused.record_id}
    assert all(failed[i].transient and failed[i].error_code == "UNABLE_TO_LOCK_ROW" for i in locked)
    bad = failed[refused.record_id]
    assert not bad.transient and bad.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert bad.fields == ("Lifecycle_Status__c",) and bad.error
    stored = {str(r["Id"]): r for r in sb.sf.records("Lead")}
    assert stored[targets[7].record_id]["Lead_Score__c"] == 7
    assert stored[locked[0]]["Lead_Score__c"] is None and stored[refused.record_id]["Lead_Score__c"] is None
    first = stored[targets[0].record_id]
    assert first["MQL_Date__c"] == "2026-03-01T09:30:15.000+0000" and first["SLA_Breached__c"] is True
    assert first["Lifecycle_Reason__c"] == HOSTILE

    back = built.read_current([targets[0], targets[7], Target(SF, "Lead", "00Q000000000000AAA")],
                              ["Lead_Score__c", "SLA_Breached__c"])
    assert back == {targets[0]: {"Lead_Score__c": 0, "SLA_Breached__c": True},
                    targets[7]: {"Lead_Score__c": 7, "SLA_Breached__c": False}}
    assert built.calls().by_endpoint["query"] == 1


def test_a_whole_call_failing_after_retries_is_transient_for_each_record(sb: Sandbox, rules: RuleSet) -> None:
    leads = sorted(str(r["Id"]) for r in sb.sf.records("Lead") if not r["IsConverted"])[:3]
    recorder = Recorder()
    built = connector(sb, rules, recorder=recorder)
    sb.sf.faults.add(kind="status", endpoint="composite.sobjects", status=503, times=None)
    results = built.apply([write(Target(SF, "Lead", i), "Lead_Score__c", 1) for i in leads])
    assert [(r.ok, r.transient) for r in results] == [(False, True)] * 3
    attempts = sb.sf.counters.snapshot()["composite.sobjects"]
    assert attempts == built.calls().writes == 6  # the policy's max_attempts, then give up for this cycle
    assert len(recorder.waits) == 5


def test_a_lost_answer_is_read_back_not_resent(sb: Sandbox, rules: RuleSet) -> None:
    """The org committed the call, then the connection dropped: one write, one read-back, every record ok."""
    tick(sb)
    ids = sb.sf.import_records("Lead", [{"LastName": f"Lost {n}", "Company": "L"} for n in range(3)])
    targets = sorted(Target(SF, "Lead", i) for i in ids)
    built = connector(sb, rules)
    fault = sb.sf.faults.add(kind="drop_after_commit", endpoint="composite.sobjects", times=1)
    results = built.apply([write(t, "Lead_Score__c", 40 + n) for n, t in enumerate(targets)])

    assert fault.fired == 1
    assert [(r.target, r.ok) for r in results] == [(t, True) for t in targets]
    assert sb.sf.counters.snapshot() == {"composite.sobjects": 1, "query": 1}  # no second write on the wire
    assert built.calls().by_endpoint == {"composite.sobjects": 1, "query": 1}
    assert built.connection.counters.get("salesforce", "responses_lost") == 1
    stored = {str(r["Id"]): r["Lead_Score__c"] for r in sb.sf.records("Lead")}
    assert [stored[t.record_id] for t in targets] == [40, 41, 42]


def test_a_write_cut_before_the_handler_ran_is_read_back_and_left_for_the_next_cycle(
        sb: Sandbox, rules: RuleSet) -> None:
    """A reset looks the same to the client as a lost answer: not resent; the read-back shows nothing was
    written, so each record is a transient failure (the next cycle plans it again)."""
    tick(sb)
    ids = sb.sf.import_records("Lead", [{"LastName": f"Cut {n}", "Company": "C"} for n in range(2)])
    targets = sorted(Target(SF, "Lead", i) for i in ids)
    built = connector(sb, rules)
    sb.sf.faults.add(kind="reset", endpoint="composite.sobjects", times=1)
    results = built.apply([write(t, "Lead_Score__c", 7) for t in targets])

    assert [(r.ok, r.transient, r.error_code) for r in results] == [(False, True, "RESPONSE_LOST")] * 2
    assert sb.sf.counters.snapshot() == {"composite.sobjects": 1, "query": 1}
    stored = {str(r["Id"]): r["Lead_Score__c"] for r in sb.sf.records("Lead")}
    assert [stored[t.record_id] for t in targets] == [None, None]


def test_a_503_on_a_write_is_retried_since_the_org_did_not_act(sb: Sandbox, rules: RuleSet) -> None:
    lead = sorted(str(r["Id"]) for r in sb.sf.records("Lead") if not r["IsConverted"])[0]
    built = connector(sb, rules)
    sb.sf.faults.add(kind="status", endpoint="composite.sobjects", status=503, times=1)
    [result] = built.apply([write(Target(SF, "Lead", lead), "Lead_Score__c", 3)])
    assert result.ok and sb.sf.counters.snapshot() == {"composite.sobjects": 2}


# ----- preflight ---------------------------------------------------------------------------------------


def test_preflight_passes_the_default_mappings_and_names_the_line_of_each_problem(
        sb: Sandbox, rules: RuleSet) -> None:
    built = connector(sb, rules)
    checks = mapping_checks(rules.fields, rules.lifecycle, rules.contact_status)
    written = {(c[1], c[2]) for c in checks if c[4]}
    assert written >= {("Lead", "Lifecycle_Status__c"), ("Contact", "Contact_Status__c")}
    assert ("Lead", "OwnerId") not in written and ("Lead", "Company") not in written  # only read
    assert built.problems_for_mappings(rules.fields, rules.lifecycle, rules.contact_status) == []
    assert built.calls().by_endpoint == {"describe": 2}  # Lead and Contact, once each

    read_only = FieldMapping(SF, "Lead", "IsConverted", "sla_breached", "leadsync", None, "fields.toml:71")
    removed = FieldMapping(SF, "Lead", "Lifecycle_Status__c", "lifecycle_status", "leadsync",
                           {s.name: ("Nurture" if s.name == "Recycled" else s.name) for s in rules.lifecycle.statuses},
                           "fields.toml:24")
    loose = FieldMapping(SF, "Contact", "Contact_Status__c", "contact_status", "leadsync",
                         dict.fromkeys(rules.contact_status.statuses, "Voicemail"), "fields.toml:39")
    not_ours = FieldMapping(SF, "Lead", "IsConverted", "owner", "salesforce", None, "fields.toml:80")
    gone = InboundMapping(SF, "Contact", "Shoe_Size__c", "shoe_size", True, "fields.toml:99")
    broken = FieldMappings((read_only, removed, loose, not_ours), (gone,), "broken")
    problems = {p.where: p for p in built.problems_for_mappings(broken, rules.lifecycle, rules.contact_status)}
    problems.update((p.where, p) for p in built.preflight([("fields.toml:90", "Lead", "No_Such_Field__c", None),
                                                            ("fields.toml:91", "Nope", "X__c", None)]))
    assert set(problems) == {"fields.toml:71", "fields.toml:24", "fields.toml:39", "fields.toml:99",
                             "fields.toml:90", "fields.toml:91"}  # read-only IsConverted is fine when only read
    assert "not updateable" in problems["fields.toml:71"].problem and problems["fields.toml:71"].field == "IsConverted"
    assert "restricted picklist refuses 'Nurture'" in problems["fields.toml:24"].problem
    assert "picklist does not offer 'Voicemail'" in problems["fields.toml:39"].problem
    assert "does not exist" in problems["fields.toml:99"].problem and problems["fields.toml:99"].object == "Contact"
    assert "does not exist" in problems["fields.toml:90"].problem
    assert "cannot be described" in problems["fields.toml:91"].problem
    # A fresh describe per preflight run, one per object: Lead, Contact; then Lead, Nope.
    assert built.calls().by_endpoint == {"describe": 6}


# ----- failures the policy absorbs ------------------------------------------------------------------------


def test_a_429_and_503_storm_is_retried_and_counted(sb: Sandbox, rules: RuleSet) -> None:
    recorder = Recorder()
    built = connector(sb, rules, recorder=recorder)
    too_many = [{"message": "Too many concurrent requests", "errorCode": "REQUEST_LIMIT_EXCEEDED_CONCURRENT"}]
    sb.sf.faults.add(kind="status", endpoint="query", status=429, retry_after=2, times=2, body=too_many)
    sb.sf.faults.add(kind="status", endpoint="query", status=503, times=1)
    ids = keys(pull_all(built, "Contact"))
    assert set(ids) == expected_ids(sb, "Contact")
    assert built.calls().by_endpoint["query"] == sb.sf.counters.snapshot()["query"] == 4
    assert built.connection.counters.get("salesforce", "retries") == 3
    assert built.connection.counters.get("salesforce", "rate_limited") == 2
    assert recorder.waits[0] >= 2 and recorder.waits[1] >= 2  # Retry-After respected


def test_an_expired_session_logs_in_again_once(sb: Sandbox, rules: RuleSet) -> None:
    built = connector(sb, rules)
    sb.sf.faults.add(kind="sf_session_expiry", endpoint="query")
    ids = keys(pull_all(built, "Contact"))
    assert set(ids) == expected_ids(sb, "Contact")
    assert sb.sf.counters.snapshot() == {"query": 2, "token": 1}
    assert built.calls().by_endpoint == {"query": 2}
    assert built.connection.counters.get("salesforce", "relogins") == 1


def test_server_time_follows_the_org_clock_not_ours(sb: Sandbox, rules: RuleSet) -> None:
    tick(sb, 3600)
    stale = connector(sb, rules, server_time_max_age=0.0)  # every reading older than 0 s: ask the org
    skewed = stale.server_time()
    assert abs((skewed - datetime.now(UTC)).total_seconds() - tick.offset) < 5
    assert stale.calls().by_endpoint == {"limits": 1}
    fresh = connector(sb, rules)
    pull_all(fresh, "Group")  # the query's Date header serves the next reading: no extra call
    assert abs((fresh.server_time() - skewed).total_seconds()) < 5
    assert fresh.calls().by_endpoint == {"query": 1}


def test_from_settings_builds_a_working_connector(sb: Sandbox, rules: RuleSet, clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(salesforce=SalesforceSettings(
        login_url=sb.sf_url, username=sb.sf_username, client_id=sb.sf_client_id, ca_bundle=sb.ca_path,
        overlap_seconds=120))
    built = SalesforceConnector.from_settings(settings, rules.fields, credentials_overrides={
        "password": sb.sf_password, "security_token": sb.sf_security_token, "client_secret": sb.sf_client_secret})
    assert built.overlap == timedelta(seconds=120)
    sb.sf.counters.reset()
    built.server_time()  # not logged in yet: the login's Date header answers, no API call spent
    assert built.calls().total == 0 and sb.sf.counters.snapshot() == {"token": 1}
    assert set(keys(pull_all(built, "Group"))) == expected_ids(sb, "Group")
    assert built.calls().by_endpoint == {"query": 1}
