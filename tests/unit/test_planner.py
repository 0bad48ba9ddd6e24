from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leadsync.domain.model import System
from leadsync.domain.planner import (
    CORRECTION_WINDOW,
    MAX_CORRECTIONS,
    DesiredField,
    Scalar,
    SideValue,
    Target,
    WritePlan,
    canonical,
    corrections_in,
    is_echo,
    mass_change_guard,
    plan_writes,
    resolve_two_way,
    same_value,
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


# ----- a CRM user's override of a field leadsync owns: stale read, correction, loop guard -------------------
SCORE = (LEAD, "Lead_Score__c")
WROTE_AT = T - timedelta(hours=1)  # our last write of the score: 87


def plan_over_our_write(held: Scalar, observed: datetime | None, corrections: list[datetime] | None = None,
                        want: Scalar = 87) -> WritePlan:
    return plan_writes([DesiredField(LEAD, "Lead_Score__c", want, person_id="p1")], {SCORE: held},
                       {SCORE: value_hash(87)}, observed_at={} if observed is None else {LEAD: observed},
                       written_at={SCORE: WROTE_AT}, corrections={SCORE: corrections or []}, now=T)


def test_a_value_read_from_before_our_write_is_a_stale_read_and_left_alone() -> None:
    for observed in (WROTE_AT - timedelta(minutes=5), WROTE_AT, None):  # before, at, unknown
        plan = plan_over_our_write(40, observed)
        assert plan.writes == ()
        assert [(s.field, s.reason) for s in plan.skipped] == [("Lead_Score__c", "echo_of_our_write")]
    # Without the times at all (callers that do not know them) a differing value stays a stale read.
    bare = plan_writes([DesiredField(LEAD, "Lead_Score__c", 87)], {SCORE: 40}, {SCORE: value_hash(87)})
    assert bare.writes == () and bare.skipped[0].reason == "echo_of_our_write"


def test_a_value_changed_after_our_write_is_an_override_and_corrected() -> None:
    plan = plan_over_our_write(40, WROTE_AT + timedelta(seconds=1))
    [write] = plan.writes
    assert (write.target, write.field, write.value, write.previous) == (LEAD, "Lead_Score__c", 87, 40)
    assert write.corrects_override and write.value_hash == value_hash(87) and write.person_id == "p1"
    assert write.note == "correcting an override of Lead_Score__c by the CRM (correction 1 of 3 within 24 h)"
    assert plan.skipped == ()


def test_an_override_is_not_a_correction_once_our_own_answer_changed() -> None:
    plan = plan_over_our_write(40, WROTE_AT + timedelta(seconds=1), want=91)
    [write] = plan.writes
    assert write.value == 91 and not write.corrects_override and write.note == ""


def test_the_loop_guard_stops_correcting_after_the_limit_within_the_window() -> None:
    later = WROTE_AT + timedelta(minutes=30)
    three = [T - timedelta(hours=20), T - timedelta(hours=6), T - timedelta(hours=1, minutes=30)]
    limited = plan_over_our_write(40, later, three)
    assert limited.writes == ()
    [skip] = limited.skipped
    assert (skip.field, skip.reason) == ("Lead_Score__c", "override_limit")
    assert "after 3 corrections within 24 h" in skip.note
    assert (T - timedelta(hours=20) + timedelta(hours=24)).isoformat() in skip.note  # when corrections resume

    # A correction older than the window no longer counts: the third one in this window is allowed.
    aged = [T - timedelta(hours=25), *three[1:]]
    [write] = plan_over_our_write(40, later, aged).writes
    assert write.corrects_override and "correction 3 of 3" in write.note


def test_the_loop_guard_limit_and_window_are_parameters() -> None:
    two_hours_ago = [T - timedelta(hours=2)]  # outside a one-hour window
    once = plan_writes([DesiredField(LEAD, "Lead_Score__c", 87)], {SCORE: 40}, {SCORE: value_hash(87)},
                       observed_at={LEAD: T}, written_at={SCORE: WROTE_AT}, corrections={SCORE: two_hours_ago},
                       now=T, max_corrections=1, window=timedelta(hours=1))
    assert once.writes[0].note.endswith("(correction 1 of 1 within 1 h)")
    never = plan_writes([DesiredField(LEAD, "Lead_Score__c", 87)], {SCORE: 40}, {SCORE: value_hash(87)},
                        observed_at={LEAD: T}, written_at={SCORE: WROTE_AT}, now=T, max_corrections=0)
    assert never.writes == () and never.skipped[0].reason == "override_limit"


def test_corrections_are_the_writes_that_resend_the_value_written_before() -> None:
    at = [T + timedelta(minutes=m) for m in range(6)]
    history = [
        (at[0], {"Lead_Score__c": 87, "Lead_Grade__c": "B"}),  # first writes: not corrections
        (at[1], {"Lead_Score__c": "87.0"}),  # the same value again (as the outbox stores it): a correction
        (at[2], {"Lead_Grade__c": "A"}),  # our answer changed: a write, not a correction
        (at[3], {"Lead_Score__c": 87}),  # the previous score write sent 87 too
        (at[4], {"Lead_Score__c": 91}),
        (at[5], {"Lead_Score__c": 87, "Lead_Grade__c": "A"}),  # back to 87 is a change; the grade resent is not
    ]
    assert corrections_in(history) == {"Lead_Score__c": [at[1], at[3]], "Lead_Grade__c": [at[5]]}


@given(gaps=st.lists(st.integers(min_value=1, max_value=36 * 60), min_size=1, max_size=40))
def test_an_override_storm_is_corrected_at_most_the_limit_in_any_window(gaps: list[int]) -> None:
    """A user (or a workflow) overrides the score again before every cycle, at random intervals: whatever
    the rhythm, no 24-hour window holds more than MAX_CORRECTIONS corrections, and an override met with
    room left in the window is always corrected."""
    now, written_at, corrected = T, T - timedelta(minutes=1), []
    for gap in gaps:
        now += timedelta(minutes=gap)
        plan = plan_writes([DesiredField(LEAD, "Lead_Score__c", 87)], {SCORE: 40}, {SCORE: value_hash(87)},
                           observed_at={LEAD: now - timedelta(seconds=30)}, written_at={SCORE: written_at},
                           corrections={SCORE: corrected}, now=now)
        room = sum(1 for c in corrected if now - CORRECTION_WINDOW < c) < MAX_CORRECTIONS
        assert bool(plan.writes) == room
        if plan.writes:
            corrected.append(now)
            written_at = now
    for start in corrected:
        assert sum(1 for c in corrected if start <= c < start + CORRECTION_WINDOW) <= MAX_CORRECTIONS


def test_an_instant_read_back_without_its_fraction_of_a_second_is_our_value_not_an_override() -> None:
    """Salesforce keeps Date/Time fields to the second: what we wrote at .968 reads back as .000. That is
    our value (unchanged), not a user's edit to correct whenever something else on the record changes."""
    ours = T + timedelta(microseconds=968_039)
    assert same_value("2026-11-02T12:00:00.000+0000", ours) and same_value(ours, T)
    assert not same_value("2026-11-02T12:00:01.000+0000", ours) and not same_value("12", 12.5)
    key = (LEAD, "MQL_Date__c")
    plan = plan_writes([DesiredField(LEAD, "MQL_Date__c", ours)], {key: "2026-11-02T12:00:00.000+0000"},
                       {key: value_hash(ours)}, observed_at={LEAD: T + timedelta(hours=2)},
                       written_at={key: T}, now=T + timedelta(hours=3))
    assert plan.writes == () and plan.skipped[0].reason == "unchanged"
