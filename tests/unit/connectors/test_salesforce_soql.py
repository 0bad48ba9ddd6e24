"""Keyset SOQL: values only through format_soql, names only when they are API names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsync.connectors.salesforce_auth import user_id_of
from leadsync.connectors.salesforce_soql import (
    UnsafeName,
    checked_fields,
    ids_soql,
    in_soql,
    is_record_id,
    keyset_soql,
    semi_join_soql,
)
from leadsync.domain.watermark import Window

T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
END = datetime(2026, 1, 6, 0, 0, 0, tzinfo=UTC)
LEAD_ID = "00QDn000000rCVlMAM"


def test_first_pull_has_only_the_window_end_and_the_keyset_order() -> None:
    soql = keyset_soql("Lead", ["Email", "Status"], Window(None, END), (None, None))
    assert soql == ("SELECT Id, SystemModstamp, Email, Status FROM Lead WHERE SystemModstamp <= "
                    "2026-01-06T00:00:00+00:00 ORDER BY SystemModstamp ASC, Id ASC")


def test_resume_uses_the_keyset_on_timestamp_and_id() -> None:
    soql = keyset_soql("Lead", ["Email"], Window(T0 - timedelta(minutes=5), END), (T0, LEAD_ID))
    assert ("WHERE SystemModstamp >= 2026-01-05T09:55:00+00:00 AND SystemModstamp <= 2026-01-06T00:00:00+00:00 AND "
            "(SystemModstamp > 2026-01-05T10:00:00+00:00 OR (SystemModstamp = 2026-01-05T10:00:00+00:00 AND "
            f"Id > '{LEAD_ID}'))") in soql


def test_a_watermark_id_that_is_not_a_record_id_falls_back_to_the_whole_second() -> None:
    soql = keyset_soql("Lead", [], Window(None, END), (T0, "x' OR Name != '"))
    assert "Name" not in soql and "SystemModstamp >= 2026-01-05T10:00:00+00:00" in soql and "Id >" not in soql


def test_equality_filters_are_quoted() -> None:
    soql = keyset_soql("Group", ["Email"], Window(None, END), (None, None), equals=[("Type", "Queue' OR 'a'='a")])
    assert "Type = 'Queue\\' OR \\'a\\'=\\'a'" in soql


ME = "005Dn000001AbCdEAB"


def test_the_overlap_zone_leaves_out_our_own_rows_and_reads_everything_from_the_watermark_on() -> None:
    soql = keyset_soql("Lead", ["Email"], Window(T0 - timedelta(minutes=5), END), (T0 - timedelta(minutes=5), None),
                       skip_own=(T0, ME))
    assert ("WHERE ((SystemModstamp >= 2026-01-05T09:55:00+00:00 AND SystemModstamp < 2026-01-05T10:00:00+00:00 "
            f"AND LastModifiedById != '{ME}') OR SystemModstamp >= 2026-01-05T10:00:00+00:00) AND "
            "SystemModstamp <= 2026-01-06T00:00:00+00:00 AND SystemModstamp >= 2026-01-05T09:55:00+00:00 ") in soql


def test_no_overlap_or_an_unusable_user_id_means_no_filter() -> None:
    plain = keyset_soql("Lead", [], Window(T0, END), (T0, LEAD_ID))
    assert keyset_soql("Lead", [], Window(T0, END), (T0, LEAD_ID), skip_own=(T0, ME)) == plain
    hostile = keyset_soql("Lead", [], Window(T0 - timedelta(minutes=5), END), (None, None),
                          skip_own=(T0, "x' OR Id != '"))
    assert "LastModifiedById" not in hostile and "OR Id" not in hostile


@pytest.mark.parametrize(("identity", "expected"), [
    (f"https://login.salesforce.com/id/00DDn000000AbCdMAK/{ME}", ME),
    (f"https://test.salesforce.com/id/00DDn000000AbCdMAK/{ME[:15]}/", ME[:15]),
    ("https://login.salesforce.com/id/00DDn000000AbCdMAK/not-a-user", None),
    ("https://login.salesforce.com/id/00DDn000000AbCdMAK/00QDn000000rCVlMAM", None),  # a Lead id, not a user
    (None, None), (17, None),
])
def test_the_integration_user_comes_from_the_login_identity_url(identity: object, expected: str | None) -> None:
    assert user_id_of(identity) == expected


def test_duplicate_fields_are_selected_once_and_relationship_hops_allowed() -> None:
    assert checked_fields(["Id", "Email", "email", "Campaign.Type"]) == ("Id", "Email", "Campaign.Type")


@pytest.mark.parametrize("name", ["Email, Name", "Email FROM User--", "", "1Field", "a.b.c", "Na me", "F'"])
def test_names_that_are_not_api_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeName):
        keyset_soql("Lead", [name], Window(None, END), (None, None))
    with pytest.raises(UnsafeName):
        keyset_soql(name or "x y", [], Window(None, END), (None, None))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        keyset_soql("Lead", [], Window(None, END.replace(tzinfo=None)), (None, None))


def test_id_lists_are_quoted_and_checked() -> None:
    assert ids_soql("Lead", ["Lead_Score__c"], [LEAD_ID]) == (
        "SELECT Id, Lead_Score__c FROM Lead WHERE Id IN ('00QDn000000rCVlMAM')")
    assert in_soql("Contact", ["AccountId"], "AccountId", ["001Dn0000002l9vIAA"]) == (
        "SELECT Id, AccountId FROM Contact WHERE AccountId IN ('001Dn0000002l9vIAA') ORDER BY Id ASC")
    with pytest.raises(ValueError, match="record ids"):
        ids_soql("Lead", [], [LEAD_ID, "00Q' OR Id != '"])


def test_record_ids_are_15_or_18_alphanumerics() -> None:
    assert is_record_id(LEAD_ID) and is_record_id(LEAD_ID[:15])
    assert not is_record_id(LEAD_ID[:16]) and not is_record_id("00Q000000000000AA'") and not is_record_id(None)


@given(st.text(max_size=300))
def test_any_text_as_a_filter_value_stays_inside_one_literal(value: str) -> None:
    soql = keyset_soql("Group", [], Window(None, END), (None, None), equals=[("Name", value)])
    literal = soql.split("Name = ", 1)[1].rsplit(" ORDER BY ", 1)[0]
    assert literal.startswith("'") and literal.endswith("'")
    body = literal[1:-1]
    # Every quote inside the literal is escaped: the literal cannot end early.
    index = 0
    while index < len(body):
        if body[index] == "\\":
            index += 2
            continue
        assert body[index] != "'"
        index += 1


def test_the_contacts_of_the_deals_accounts_are_one_semi_join_with_a_quoted_start() -> None:
    soql = semi_join_soql("Contact", ["AccountId"], "AccountId", "Opportunity", "AccountId", T0)
    assert soql == ("SELECT Id, AccountId FROM Contact WHERE AccountId IN (SELECT AccountId FROM Opportunity WHERE "
                    "SystemModstamp >= 2026-01-05T10:00:00+00:00)")
    assert semi_join_soql("Contact", [], "AccountId", "Opportunity", "AccountId", None).endswith(
        "WHERE AccountId IN (SELECT AccountId FROM Opportunity)")
    with pytest.raises(UnsafeName):
        semi_join_soql("Contact", [], "AccountId", "Opportunity) OR (Id", "AccountId", None)
