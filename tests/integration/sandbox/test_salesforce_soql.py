"""SOQL over HTTPS through the real simple-salesforce client: operators, escapes, relationships, paging."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest

from leadsync.sandbox.salesforce.emulator import SF_SHORT_PAGE, SalesforceEmulator
from leadsync.sandbox.salesforce.soql import parse
from leadsync.sandbox.salesforce.soql_eval import compile_query
from tests.integration.sandbox.conftest_sf import SEED_TIME, lead, make_id, stamp

pytest_plugins = ["tests.integration.sandbox.conftest_sf"]

REP = make_id("005", 1)
QUEUE = make_id("00G", 1)
ACCOUNT = make_id("001", 1)


def seed(emulator: SalesforceEmulator) -> None:
    emulator.load_org({
        "User": [{"Id": REP, "Username": "rep@example.com", "LastName": "Rep", "FirstName": "Ana",
                  "Email": "rep@example.com", "Alias": "arep", "IsActive": True}],
        "Group": [{"Id": QUEUE, "Name": "Inbound Queue", "Type": "Queue"}],
        "Account": [{"Id": ACCOUNT, "Name": "Acme", "Industry": "Banking"}],
        "Lead": [
            lead(1, OwnerId=REP, Lead_Score__c=10.0, Status="Working - Contacted", Lifecycle_Status__c="MQL"),
            lead(2, OwnerId=QUEUE, Lead_Score__c=55.5, Country="Germany", Lifecycle_Status__c="SQL"),
            lead(3, OwnerId=REP, Lead_Score__c=None, Email=None, Title="VP_Sales 100%"),
            lead(4, OwnerId=REP, Lead_Score__c=90.0, LastName="O'Brien \\ \"Q\" Zoë\nline", Country="germany"),
        ],
        "Contact": [{"Id": make_id("003", 1), "LastName": "Smith", "AccountId": ACCOUNT, "OwnerId": REP}],
        "Task": [{"Id": make_id("00T", 1), "WhoId": make_id("00Q", 1), "Subject": "Call", "TaskSubtype": "Call",
                  "CallDisposition": "Connected", "OwnerId": REP}],
    })


def last_names(result: dict[str, Any]) -> list[str]:
    return [r["LastName"] for r in result["records"]]


@pytest.fixture
def org(sf_emulator: SalesforceEmulator) -> SalesforceEmulator:
    seed(sf_emulator)
    return sf_emulator


@pytest.mark.parametrize(("where", "expected"), [
    ("Lead_Score__c > 10", ["Lead2", "O'Brien \\ \"Q\" Zoë\nline"]),
    ("Lead_Score__c >= 10 AND Lead_Score__c < 90", ["Lead1", "Lead2"]),
    ("Lead_Score__c <= 10", ["Lead1"]),
    ("Lead_Score__c != 10", ["Lead2", "Lead3", "O'Brien \\ \"Q\" Zoë\nline"]),  # null != 10 is true in SOQL
    ("Lead_Score__c = null", ["Lead3"]),
    ("Email != null AND Country = null", ["Lead1"]),
    ("Country = 'GERMANY'", ["Lead2", "O'Brien \\ \"Q\" Zoë\nline"]),  # text compares case-insensitively
    ("Lifecycle_Status__c IN ('MQL', 'SQL')", ["Lead1", "Lead2"]),
    ("Lifecycle_Status__c NOT IN ('MQL')", ["Lead2", "Lead3", "O'Brien \\ \"Q\" Zoë\nline"]),
    ("NOT (Lifecycle_Status__c = 'MQL' OR Lifecycle_Status__c = 'SQL')", ["Lead3", "O'Brien \\ \"Q\" Zoë\nline"]),
    ("Email LIKE 'LEAD_@%'", ["Lead1", "Lead2", "O'Brien \\ \"Q\" Zoë\nline"]),
    ("Title LIKE '%\\_sales 100\\%'", ["Lead3"]),
    ("Title LIKE 'VP_Sales%' AND (Owner.Name = 'Ana Rep' OR Owner.Name = 'Inbound Queue')", ["Lead3"]),
    ("Owner.Name = 'Inbound Queue'", ["Lead2"]),
    ("IsConverted = false AND Status = 'Working - Contacted'", ["Lead1"]),
    (f"OwnerId = '{REP[:15]}'", ["Lead1", "Lead3", "O'Brien \\ \"Q\" Zoë\nline"]),  # 15-char ids match
    (f"SystemModstamp > {(SEED_TIME + timedelta(minutes=2)).strftime('%Y-%m-%dT%H:%M:%SZ')}",
     ["Lead3", "O'Brien \\ \"Q\" Zoë\nline"]),
    (f"SystemModstamp <= {(SEED_TIME + timedelta(minutes=62)).strftime('%Y-%m-%dT%H:%M:%S')}+01:00",
     ["Lead1", "Lead2"]),
    ("CreatedDate < 2026-01-01T00:00:00Z", []),
])
def test_where_operators(org: SalesforceEmulator, sf: Salesforce, where: str, expected: list[str]) -> None:
    # The WHERE texts are query syntax under test, not values: spliced in as literals on purpose.
    result = sf.query(format_soql("SELECT Id, LastName FROM Lead WHERE {:literal} ORDER BY LastName", where))
    assert last_names(result) == sorted(expected, key=str.casefold)
    assert result["totalSize"] == len(expected)


def test_format_soql_values_round_trip_exactly(org: SalesforceEmulator, sf: Salesforce) -> None:
    tricky = "O'Brien \\ \"Q\" Zoë\nline"
    result = sf.query(format_soql("SELECT LastName FROM Lead WHERE LastName = {}", tricky))
    assert last_names(result) == [tricky]
    for value in ("tab\there", "back\\slash'", "cr\r\f\b"):
        new_id = sf.Lead.create({"LastName": value, "Company": "X"})["id"]
        found = sf.query(format_soql("SELECT Id, LastName FROM Lead WHERE LastName = {}", value))["records"]
        assert [(r["Id"], r["LastName"]) for r in found] == [(new_id, value)]
    like = sf.query(format_soql("SELECT LastName FROM Lead WHERE Title LIKE '{:like}%'", "VP_Sales 100%"))
    assert last_names(like) == ["Lead3"]


def test_relationship_fields_nest_like_the_real_api(org: SalesforceEmulator, sf: Salesforce) -> None:
    record = sf.query("SELECT Id, Owner.Name, Owner.Email, Name FROM Lead WHERE LastName = 'Lead1'")["records"][0]
    assert list(record) == ["attributes", "Id", "Owner", "Name"]
    assert record["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{make_id('00Q', 1)}"}
    assert record["Owner"] == {"attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{REP}"},
                               "Name": "Ana Rep", "Email": "rep@example.com"}
    assert record["Name"] == "F1 Lead1"
    queue_owned = sf.query("SELECT Owner.Name, Owner.Type FROM Lead WHERE LastName = 'Lead2'")["records"][0]
    assert queue_owned["Owner"]["attributes"]["type"] == "Group"
    assert queue_owned["Owner"]["Type"] == "Queue"
    contact = sf.query("SELECT Account.Name, Account.Industry FROM Contact")["records"][0]
    assert contact["Account"]["Name"] == "Acme"
    assert contact["Account"]["Industry"] == "Banking"
    call = sf.query("SELECT CallDisposition, Who.Email, Who.Type, What.Name FROM Task")["records"][0]
    assert call["Who"]["Email"] == "lead1@example.com"
    assert call["Who"]["Type"] == "Lead"
    assert call["What"] is None


def test_order_by_several_fields_with_nulls(org: SalesforceEmulator, sf: Salesforce) -> None:
    asc = sf.query("SELECT LastName FROM Lead ORDER BY Lead_Score__c")
    assert last_names(asc)[0] == "Lead3"  # ASC puts nulls first by default
    desc = sf.query("SELECT LastName FROM Lead ORDER BY Lead_Score__c DESC")
    assert last_names(desc)[-1] == "Lead3"  # DESC puts nulls last by default
    forced = sf.query("SELECT LastName FROM Lead ORDER BY Lead_Score__c ASC NULLS LAST")
    assert last_names(forced)[-1] == "Lead3"
    multi = sf.query("SELECT LastName FROM Lead ORDER BY Owner.Name DESC, Lead_Score__c DESC NULLS FIRST")
    assert last_names(multi) == ["Lead2", "Lead3", "O'Brien \\ \"Q\" Zoë\nline", "Lead1"]
    window = sf.query("SELECT LastName FROM Lead ORDER BY LastName LIMIT 2 OFFSET 1")
    assert last_names(window) == ["Lead2", "Lead3"]


def test_count_query(org: SalesforceEmulator, sf: Salesforce) -> None:
    result = sf.query("SELECT COUNT() FROM Lead WHERE Lead_Score__c > 0")
    assert (result["totalSize"], result["done"], result["records"]) == (3, True, [])


@pytest.mark.parametrize(("soql", "code", "fragment"), [
    ("SELECT Id, Bogus__c FROM Lead", "INVALID_FIELD", "No such column 'Bogus__c' on entity 'Lead'"),
    ("SELECT Id FROM Lead WHERE Nope = 1", "INVALID_FIELD", "No such column 'Nope' on entity 'Lead'"),
    ("SELECT Boss.Name FROM Lead", "INVALID_FIELD", "Didn't understand relationship 'Boss'"),
    ("SELECT Id FROM Leed", "INVALID_TYPE", "sObject type 'Leed' is not supported"),
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
    ("SELECT Id FROM Lead WHERE Email = 'a' AND Country = 'b' OR Title = 'c'", "MALFORMED_QUERY",
     "unexpected token: 'OR'"),
    ("SELECT Id FROM Lead WHERE Email = 'unterminated", "MALFORMED_QUERY", "unterminated"),
    ("SELECT Id FROM Lead WHERE Email = 'bad \\q escape'", "MALFORMED_QUERY", "Illegal character sequence"),
    ("SELECT Id FROM Lead WHERE Email = 'a\\_b'", "MALFORMED_QUERY", "only valid in a LIKE"),
    ("SELECT Id FROM Lead WHERE Lead_Score__c = '5'", "INVALID_QUERY_FILTER_OPERATOR", "must be of type double"),
    ("SELECT Id FROM Lead WHERE CreatedDate = NEXT_DECADE", "MALFORMED_QUERY", "NEXT_DECADE"),
])
def test_bad_queries_get_the_real_error_codes(org: SalesforceEmulator, sf: Salesforce, soql: str, code: str,
                                              fragment: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert caught.value.status == 400
    error = caught.value.content[0]
    assert error["errorCode"] == code
    assert fragment in error["message"]


def test_date_literals_follow_the_sandbox_clock(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    now = sf_emulator.clock.now()
    sf_emulator.load_org({"Lead": [
        lead(1, CreatedDate=stamp(now - timedelta(days=2))), lead(2, CreatedDate=stamp(now - timedelta(days=40))),
        lead(3, CreatedDate=stamp(now - timedelta(days=1)), ConvertedDate=(now - timedelta(days=1)).date().isoformat()),
    ]})
    assert last_names(sf.query("SELECT LastName FROM Lead WHERE CreatedDate = LAST_N_DAYS:30 ORDER BY LastName")) \
        == ["Lead1", "Lead3"]
    assert last_names(sf.query("SELECT LastName FROM Lead WHERE CreatedDate < LAST_N_DAYS:30")) == ["Lead2"]
    assert last_names(sf.query("SELECT LastName FROM Lead WHERE ConvertedDate = YESTERDAY")) == ["Lead3"]
    assert last_names(sf.query("SELECT LastName FROM Lead WHERE CreatedDate = TODAY")) == []
    day = (now - timedelta(days=1)).date()
    assert last_names(sf.query(format_soql("SELECT LastName FROM Lead WHERE ConvertedDate >= {}", day))) == ["Lead3"]


def test_query_all_includes_deleted_records(org: SalesforceEmulator, sf: Salesforce) -> None:
    org.delete_record("Lead", make_id("00Q", 2))
    assert "Lead2" not in last_names(sf.query("SELECT LastName FROM Lead"))
    everything = sf.query_all("SELECT LastName, IsDeleted FROM Lead WHERE IsDeleted = true", include_deleted=True)
    assert [(r["LastName"], r["IsDeleted"]) for r in everything["records"]] == [("Lead2", True)]


def many_leads(emulator: SalesforceEmulator, count: int, shared_stamp_every: int = 1) -> list[str]:
    """``count`` leads; consecutive groups of ``shared_stamp_every`` share one SystemModstamp (ties)."""
    rows = [lead(n, SystemModstamp=stamp(SEED_TIME + timedelta(seconds=n // shared_stamp_every)))
            for n in range(1, count + 1)]
    emulator.load_org({"Lead": rows})
    return [row["Id"] for row in rows]


def test_paging_follows_next_records_url_with_batch_size(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    ids = many_leads(sf_emulator, 650)
    first = sf.query("SELECT Id FROM Lead ORDER BY Id", headers={"Sforce-Query-Options": "batchSize=200"})
    assert (first["totalSize"], first["done"], len(first["records"])) == (650, False, 200)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    pages, seen = 1, [r["Id"] for r in first["records"]]
    result = first
    while not result["done"]:
        result = sf.query_more(result["nextRecordsUrl"], identifier_is_url=True)
        seen += [r["Id"] for r in result["records"]]
        pages += 1
    assert pages == 4
    assert seen == sorted(ids)
    assert len(sf.query("SELECT Id FROM Lead")["records"]) == 650  # default page is 2000
    assert sf_emulator.counters.snapshot()["query_more"] == 3


def test_query_locator_keeps_its_snapshot(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    ids = many_leads(sf_emulator, 300)
    first = sf.query("SELECT Id, Status FROM Lead ORDER BY Id", headers={"Sforce-Query-Options": "batchSize=200"})
    sf_emulator.update_record("Lead", ids[250], {"Status": "Working - Contacted"})
    sf_emulator.delete_record("Lead", ids[260])
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert [r["Id"] for r in rest["records"]] == ids[200:]
    assert {r["Status"] for r in rest["records"]} == {"Open - Not Contacted"}


def test_short_pages_still_carry_the_cursor(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    ids = many_leads(sf_emulator, 250)
    sf_emulator.faults.add(kind=SF_SHORT_PAGE, endpoint="query", params={"size": 7})
    result = sf.query_all("SELECT Id FROM Lead ORDER BY Id")
    assert [r["Id"] for r in result["records"]] == sorted(ids)
    assert sf_emulator.counters.snapshot()["query_more"] == 1


def test_keyset_query_over_modstamp_ties_returns_each_record_once(sf_emulator: SalesforceEmulator,
                                                                  sf: Salesforce) -> None:
    ids = set(many_leads(sf_emulator, 530, shared_stamp_every=45))  # 45 records share each stamp
    seen: list[str] = []
    watermark, last_id = "2000-01-01T00:00:00Z", make_id("00Q", 0)
    while True:
        soql = format_soql(
            "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp > {:literal} OR "
            "(SystemModstamp = {:literal} AND Id > {}) ORDER BY SystemModstamp, Id LIMIT 100",
            watermark, watermark, last_id)
        page = sf.query(soql)["records"]
        if not page:
            break
        seen += [r["Id"] for r in page]
        watermark, last_id = page[-1]["SystemModstamp"].replace(".000+0000", "Z"), page[-1]["Id"]
    assert len(seen) == len(ids) == len(set(seen))
    assert set(seen) == ids


def test_sorted_views_agree_with_a_plain_sort(sf_emulator: SalesforceEmulator) -> None:
    """The bisecting, early-stopping path must return exactly what filter-then-sort returns."""
    rng = random.Random(7)
    scores = [None, 1.0, 5.0, 5.0, 9.5]
    rows = [lead(n, Lead_Score__c=rng.choice(scores), Country=rng.choice([None, "DE", "de", "FR"]),
                 SystemModstamp=stamp(SEED_TIME + timedelta(seconds=rng.randrange(20)))) for n in range(1, 300)]
    sf_emulator.load_org({"Lead": rows})
    middle = stamp(SEED_TIME + timedelta(seconds=10)).replace(".000+0000", "Z")
    queries = [
        "SELECT Id FROM Lead WHERE SystemModstamp > {m} OR (SystemModstamp = {m} AND Id > '{i}') "
        "ORDER BY SystemModstamp, Id LIMIT 37",
        "SELECT Id FROM Lead WHERE Lead_Score__c >= 5 AND Country = 'de' ORDER BY Lead_Score__c NULLS LAST, Id",
        "SELECT Id FROM Lead WHERE Country > 'd' ORDER BY Country, Id LIMIT 20 OFFSET 3",
        "SELECT Id FROM Lead WHERE Lead_Score__c = null OR Lead_Score__c > 1 ORDER BY Lead_Score__c, Id",
        "SELECT Id FROM Lead ORDER BY SystemModstamp, Id LIMIT 5 OFFSET 290",
    ]
    for template in queries:
        text = template.format(m=middle, i=make_id("00Q", 150))
        compiled = compile_query(parse(text), sf_emulator.store.lookup, sf_emulator.clock.now())
        plain = compiled.select(sf_emulator.store.scan("Lead", False))
        viewed = sf_emulator.views.select(sf_emulator.store, compiled, False)
        assert [r["Id"] for r in viewed] == [r["Id"] for r in plain], text
        assert plain or "OFFSET 290" in text


def test_sorted_views_see_writes_between_pages(sf_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    ids = many_leads(sf_emulator, 10)
    query = "SELECT Id FROM Lead WHERE SystemModstamp > 2026-01-01T00:00:00Z ORDER BY SystemModstamp, Id"
    assert [r["Id"] for r in sf.query(query)["records"]] == ids
    sf_emulator.update_record("Lead", ids[0], {"Rating": "Hot"})  # its modstamp moves to now: last in order
    assert [r["Id"] for r in sf.query(query)["records"]] == ids[1:] + ids[:1]


# ----- semi-joins and anti-joins --------------------------------------------------------------------------


def deals_org(emulator: SalesforceEmulator) -> tuple[str, str]:
    """Acme has a deal and two contacts, Globex a deal whose opportunity was deleted and one contact."""
    seed(emulator)
    globex = make_id("001", 2)
    emulator.load_org({
        "Account": [{"Id": globex, "Name": "Globex"}],
        "Contact": [{"Id": make_id("003", 2), "LastName": "Jones", "AccountId": ACCOUNT, "OwnerId": REP},
                    {"Id": make_id("003", 3), "LastName": "Gone", "AccountId": globex, "OwnerId": REP},
                    {"Id": make_id("003", 4), "LastName": "Loner", "OwnerId": REP}],
        "Opportunity": [{"Id": make_id("006", 1), "Name": "Big", "AccountId": ACCOUNT, "StageName": "Prospecting",
                         "CloseDate": "2026-12-31"},
                        {"Id": make_id("006", 2), "Name": "Lost", "AccountId": globex, "StageName": "Prospecting",
                         "CloseDate": "2026-12-31"}],
    })
    emulator.delete_record("Opportunity", make_id("006", 2))
    return ACCOUNT, globex


def test_a_semi_join_finds_the_contacts_of_accounts_with_live_deals(sf_emulator: SalesforceEmulator,
                                                                   sf: Salesforce) -> None:
    deals_org(sf_emulator)
    result = sf.query("SELECT Id, AccountId FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity)")
    assert sorted(last_names(sf.query("SELECT LastName FROM Contact WHERE AccountId IN "
                                      "(SELECT AccountId FROM Opportunity)"))) == ["Jones", "Smith"]
    assert {r["AccountId"] for r in result["records"]} == {ACCOUNT}
    since = format_soql("SELECT LastName FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity "
                        "WHERE SystemModstamp >= {t}) AND LastName != 'Smith'", t=SEED_TIME - timedelta(days=1))
    assert last_names(sf.query(since)) == ["Jones"]
    later = format_soql("SELECT LastName FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity "
                        "WHERE SystemModstamp >= {t})", t=SEED_TIME + timedelta(days=3650))
    assert last_names(sf.query(later)) == []
    anti = sf.query("SELECT LastName FROM Contact WHERE AccountId NOT IN (SELECT AccountId FROM Opportunity)")
    assert sorted(last_names(anti)) == ["Gone", "Loner"]  # a null AccountId is not in the set
    by_id = sf.query("SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE LastName = 'Gone')")
    assert [r["Name"] for r in by_id["records"]] == ["Globex"]


@pytest.mark.parametrize(("soql", "fragment"), [
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity) OR LastName = 'x'",
     "not allowed with the 'OR' operator"),
    ("SELECT Id FROM Contact WHERE NOT AccountId IN (SELECT AccountId FROM Opportunity)",
     "not allowed with the 'NOT' operator"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity WHERE AccountId IN "
     "(SELECT Id FROM Account))", "Nesting of semi join sub-selects"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity) AND OwnerId IN "
     "(SELECT Id FROM User) AND Id IN (SELECT ContactId FROM Opportunity)", "Maximum of 2"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT AccountId, Name FROM Opportunity)", "exactly one field"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity ORDER BY Name)",
     "ORDER is not allowed"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity LIMIT 5)", "LIMIT is not allowed"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT Name FROM Opportunity)", "can only query id fields"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT Account.Id FROM Opportunity)", "can only query id fields"),
    ("SELECT Id FROM Contact WHERE LastName IN (SELECT AccountId FROM Opportunity)", "compared with id fields"),
])
def test_semi_joins_the_real_api_refuses(org: SalesforceEmulator, sf: Salesforce, soql: str, fragment: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert caught.value.content[0]["errorCode"] in ("MALFORMED_QUERY", "INVALID_FIELD")
    assert fragment in caught.value.content[0]["message"]


def test_api_writes_carry_the_session_user_and_user_actions_another(org: SalesforceEmulator, sf: Salesforce) -> None:
    me = org.login.users[org.credentials.username].user_id  # the user the sessions belong to
    lead_one, lead_two = make_id("00Q", 1), make_id("00Q", 2)
    sf.Lead.update(lead_one, {"Title": "API"})
    org.update_record("Lead", lead_two, {"Title": "UI"})
    writers = {r["Id"]: r["LastModifiedById"] for r in org.records("Lead")}
    assert writers[lead_one] == me and writers[lead_two] != me
    mine = format_soql("SELECT LastName FROM Lead WHERE (Title != null AND LastModifiedById != {me}) OR "
                       "LastName = 'Lead3'", me=writers[lead_one])
    assert sorted(last_names(sf.query(mine))) == ["Lead2", "Lead3"]
