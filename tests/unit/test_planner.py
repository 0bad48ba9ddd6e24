from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leadsync.domain.model import System
from leadsync.domain.planner import (
    DesiredField,
    SideValue,
    Target,
    canonical,
    is_echo,
    mass_change_guard,
    plan_writes,
    resolve_two_way,
    value_hash,
)

SF, HS = System.SALESFORCE, System.HUBSPOT
LEAD = Target(SF, "Lead", "00Q000000000001AAA")
CONTACT = Target(HS, "contacts", "101")
T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_canonical_forms_compare_api_answers_with_intent() -> None:
    assert canonical(5) == canonical(5.0) == canonical("5.0") == canonical("5") == "5"
    assert canonical(87.5) == canonical("87.5")
    assert canonical("01234") == "01234"  # a postcode stays text
    assert canonical(None) == canonical("") == ""
    assert canonical(True) == "true"
    assert canonical(T) == canonical("2026-11-02T12:00:00.000+0000") == canonical("2026-11-02T12:00:00.000Z")
    assert canonical(T) != canonical(T + timedelta(seconds=1))


def test_only_changed_owned_fields_are_written() -> None:
    desired = [
        DesiredField(LEAD, "Lead_Score__c", 87, person_id="p1"),
        DesiredField(LEAD, "Lead_Grade__c", "B", person_id="p1"),
        DesiredField(LEAD, "Status", "Working", owned_by_leadsync=False, person_id="p1"),
        DesiredField(CONTACT, "leadsync_score", 87, person_id="p1"),
    ]
    current = {(LEAD, "Lead_Score__c"): "87.0", (LEAD, "Lead_Grade__c"): "C", (CONTACT, "leadsync_score"): None}
    plan = plan_writes(desired, current, {})
    assert [(w.target, w.field, w.value, w.previous) for w in plan.writes] == [  # sorted by target
        (CONTACT, "leadsync_score", 87, None),
        (LEAD, "Lead_Grade__c", "B", "C"),
    ]
    assert {(s.field, s.reason) for s in plan.skipped} == {("Lead_Score__c", "unchanged"), ("Status", "not_owned")}
    assert plan.people() == {"p1"}


def test_a_value_we_already_wrote_is_not_written_again() -> None:
    want = DesiredField(LEAD, "Lead_Grade__c", "B")
    plan = plan_writes([want], {(LEAD, "Lead_Grade__c"): "A"}, {(LEAD, "Lead_Grade__c"): value_hash("B")})
    assert plan.writes == () and plan.skipped[0].reason == "echo_of_our_write"
    assert is_echo("B", value_hash("B")) and not is_echo("C", value_hash("B")) and not is_echo("B", None)


def test_backward_hubspot_stage_is_cleared_first_forward_is_not() -> None:
    back = plan_writes([DesiredField(CONTACT, "lifecyclestage", "lead")],
                       {(CONTACT, "lifecyclestage"): "salesqualifiedlead"}, {})
    forward = plan_writes([DesiredField(CONTACT, "lifecyclestage", "opportunity")],
                          {(CONTACT, "lifecyclestage"): "salesqualifiedlead"}, {})
    assert back.writes[0].clear_first is True
    assert forward.writes[0].clear_first is False
    from_other = plan_writes([DesiredField(CONTACT, "lifecyclestage", "customer")],
                             {(CONTACT, "lifecyclestage"): "other"}, {})
    assert from_other.writes[0].clear_first is True  # HubSpot ranks "other" last


def test_mass_change_guard() -> None:
    assert mass_change_guard(50, 100, max_share=0.1, min_count=10).allowed is False
    assert mass_change_guard(10, 20, max_share=0.1, min_count=10).allowed is True  # not more than min
    assert mass_change_guard(9, 100, max_share=0.1, min_count=5).allowed is True
    assert "50 of 100" in mass_change_guard(50, 100, max_share=0.1, min_count=10).reason


def test_two_way_conflicts() -> None:
    sf = SideValue(SF, "x", T)
    hs = SideValue(HS, "base", T - timedelta(minutes=1))
    assert resolve_two_way("base", sf, hs) == ("x", "salesforce changed it")
    later = SideValue(HS, "y", T + timedelta(seconds=1))
    assert resolve_two_way("base", sf, later)[0] == "y"
    tie = SideValue(HS, "y", T)
    assert resolve_two_way("base", sf, tie)[0] == resolve_two_way("base", tie, sf)[0]


values = st.sampled_from(["base", "a", "b", None])
stamps = st.one_of(st.none(), st.integers(0, 3).map(lambda m: T + timedelta(minutes=m)))


@given(base=values, lv=values, rv=values, lt=stamps, rt=stamps)
def test_two_way_outcome_does_not_depend_on_order(
    base: str | None, lv: str | None, rv: str | None, lt: datetime | None, rt: datetime | None
) -> None:
    left, right = SideValue(SF, lv, lt), SideValue(HS, rv, rt)
    one, two = resolve_two_way(base, left, right), resolve_two_way(base, right, left)
    assert canonical(one[0]) == canonical(two[0])
    # The result is always one of the values on the table.
    assert canonical(one[0]) in {canonical(base), canonical(lv), canonical(rv)}
