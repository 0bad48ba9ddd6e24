"""Lifecycle decisions on the shipped lifecycle.toml, named moves, broken copies, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.domain.grades import GRADES
from leadsync.domain.lifecycle import (
    ActivitySummary,
    IllegalMove,
    LifecycleInput,
    LifecycleRules,
    Role,
    decide,
    is_legal,
    named_move,
    summarize,
)
from leadsync.domain.model import (
    Activity,
    Cause,
    CauseKind,
    CrmFacts,
    HygieneAction,
    HygieneVerdict,
    Move,
    OwnerKind,
    System,
)
from leadsync.rules import lifecycle as lifecycle_rules
from leadsync.rules.source import RuleSetError, parse_toml

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SHIPPED_TEXT = (MAPPINGS / "lifecycle.toml").read_text(encoding="utf-8")


def load_text(text: str) -> LifecycleRules:
    data, source = parse_toml(text, "lifecycle.toml")
    return lifecycle_rules.load(data, source)


RULES = load_text(SHIPPED_TEXT)


def act(kind: str, days_ago: float = 1, **props: str) -> Activity:
    return Activity(System.HUBSPOT, f"{kind}-{days_ago}", kind, NOW - timedelta(days=days_ago), props)


def facts(score: float = 0, grade: str | None = None, activities: tuple[Activity, ...] = (),
          **kw: object) -> LifecycleInput:
    return LifecycleInput(score, grade, activity=summarize(activities, RULES), **kw)  # type: ignore[arg-type]


# --- entry rules on the shipped file ------------------------------------------------------------------


def test_imported_record_that_only_opened_an_email_stays_raw() -> None:
    f = facts(5, "C", (act("email_open"), act("page_view")), crm=CrmFacts(imported=True))
    first = decide("p1", None, f, RULES, NOW)
    assert first is not None
    assert (first.to_status, first.move, first.rule) == ("Raw", Move.INITIAL, "raw.imported")
    assert decide("p1", "Raw", f, RULES, NOW) is None


def test_form_fill_moves_raw_to_inquiry() -> None:
    t = decide("p1", "Raw", facts(10, "C", (act("email_open", 3), act("form_fill", 2))), RULES, NOW)
    assert t is not None
    assert (t.from_status, t.to_status, t.move, t.rule) == ("Raw", "Inquiry", Move.FORWARD, "inquiry.real_interaction")
    assert t.facts["real_interactions"] == 1
    assert t.ruleset_version == RULES.version


def test_score_and_grade_together_make_an_mql() -> None:
    t = decide("p1", "Inquiry", facts(120, "B", (act("form_fill"),)), RULES, NOW)
    assert t is not None
    assert (t.to_status, t.rule) == ("MQL", "mql.score_and_grade")
    assert t.facts["score"] == 120 and t.facts["grade"] == "B"
    assert t.facts["min_score"] == 100 and t.facts["min_grade"] == "B"
    assert "120 >= 100" in t.reason


def test_high_score_with_low_grade_is_not_an_mql() -> None:
    assert decide("p1", "Inquiry", facts(150, "C-", (act("form_fill"),)), RULES, NOW) is None
    assert decide("p1", "Inquiry", facts(99, "B-", (act("form_fill"),)), RULES, NOW) is None


def test_matrix_cell_qualifies_an_excellent_fit_on_less_engagement() -> None:
    t = decide("p1", "Inquiry", facts(70, "A", (act("form_fill"),)), RULES, NOW)
    assert t is not None
    assert (t.to_status, t.rule) == ("MQL", "mql.matrix")
    assert (t.facts["min_score"], t.facts["min_grade"]) == (60, "A-")


def test_demo_request_is_a_hand_raise_whatever_the_score() -> None:
    t = decide("p1", "Inquiry", facts(0, "F", (act("demo_request"),)), RULES, NOW)
    assert t is not None
    assert (t.to_status, t.rule, t.facts["hand_raise"]) == ("MQL", "mql.hand_raise", ["demo_request"])


def test_working_contacted_with_a_user_owner_is_sal_but_not_with_a_queue() -> None:
    user = CrmFacts(crm_status="Working - Contacted", owner_kind=OwnerKind.USER, owner_id="005x")
    t = decide("p1", "MQL", facts(120, "B", crm=user), RULES, NOW)
    assert t is not None
    assert (t.to_status, t.rule, t.facts["crm_status"]) == ("SAL", "sal.crm_status", "Working - Contacted")
    queue = CrmFacts(crm_status="Working - Contacted", owner_kind=OwnerKind.QUEUE)
    assert decide("p1", "MQL", facts(120, "B", crm=queue), RULES, NOW) is None


def test_conversion_is_sql_and_open_opportunity_is_opportunity() -> None:
    t = decide("p1", "SAL", facts(crm=CrmFacts(is_converted=True)), RULES, NOW)
    assert t is not None and (t.to_status, t.rule) == ("SQL", "sql.converted")
    t = decide("p1", "SQL", facts(crm=CrmFacts(is_converted=True, has_open_opportunity=True)), RULES, NOW)
    assert t is not None and (t.to_status, t.rule) == ("Opportunity", "opportunity.open_opportunity")


def test_won_opportunity_makes_a_customer_and_records_skipped_stages() -> None:
    t = decide("p1", "Inquiry", facts(crm=CrmFacts(has_won_opportunity=True)), RULES, NOW)
    assert t is not None
    assert (t.to_status, t.move, t.rule) == ("Customer", Move.FORWARD, "customer.won_opportunity")
    assert t.facts["skipped"] == ["MQL", "SAL", "SQL", "Opportunity"]
    assert "skipped MQL, SAL, SQL, Opportunity" in t.reason
    assert decide("p1", "Customer", facts(crm=CrmFacts(has_won_opportunity=True)), RULES, NOW) is None


def test_first_status_can_skip_ahead() -> None:
    t = decide("p1", None, facts(120, "A", (act("form_fill"),)), RULES, NOW)
    assert t is not None
    assert (t.from_status, t.to_status, t.move) == (None, "MQL", Move.INITIAL)
    assert t.facts["skipped"] == ["Inquiry"]


def test_hygiene_disqualify_gives_reason_spam() -> None:
    junk = HygieneVerdict(HygieneAction.DISQUALIFY, None, ("test_values",))
    t = decide("p1", "Inquiry", facts(10, "D", (act("form_fill"),), hygiene=junk), RULES, NOW)
    assert t is not None
    assert (t.to_status, t.move, t.rule) == ("Disqualified", Move.DISQUALIFY, "disqualified.hygiene")
    assert t.facts["disqualified_reason"] == "spam"
    flagged = HygieneVerdict(HygieneAction.FLAG, "review", ("role_address",))
    assert decide("p1", "Inquiry", facts(10, "D", (act("form_fill"),), hygiene=flagged), RULES, NOW) is None


def test_crm_status_maps_to_a_disqualification_reason() -> None:
    t = decide("p1", "MQL", facts(crm=CrmFacts(crm_status="Competitor")), RULES, NOW)
    assert t is not None
    assert (t.to_status, t.rule, t.facts["disqualified_reason"]) == ("Disqualified", "disqualified.crm_status",
                                                                      "competitor")
    own_reason = CrmFacts(crm_status="Closed - Not Converted", disqualified_reason="budget")
    t = decide("p1", "MQL", facts(crm=own_reason), RULES, NOW)
    assert t is not None and t.facts["disqualified_reason"] == "budget"


def test_nothing_automatic_leaves_disqualified() -> None:
    f = facts(500, "A+", (act("demo_request"),), crm=CrmFacts(has_open_opportunity=True))
    assert decide("p1", "Disqualified", f, RULES, NOW) is None


def test_lost_opportunity_recycles_and_stays_recycled_without_fresh_evidence() -> None:
    lost = CrmFacts(is_converted=True, has_lost_opportunity=True)
    t = decide("p1", "Opportunity", facts(150, "A", (act("form_fill", 10),), crm=lost), RULES, NOW)
    assert t is not None
    assert (t.to_status, t.move, t.rule) == ("Recycled", Move.RECYCLE, "recycled.lost_opportunity")
    # Next cycle: the score is still high, but nothing happened since the recycle.
    later = NOW + timedelta(hours=1)
    again = facts(150, "A", (act("form_fill", 10),), crm=lost, status_since=NOW, crm_changed_at=NOW - timedelta(days=1))
    assert decide("p1", "Recycled", again, RULES, later) is None


def test_recycled_requalifies_as_mql_on_a_new_hand_raise_and_never_goes_to_inquiry() -> None:
    recycled_at = NOW - timedelta(days=20)
    nurture = CrmFacts(crm_status="Nurture")
    new_raise = facts(30, "C", (act("form_fill", 40), act("contact_us", 1)), crm=nurture, status_since=recycled_at,
                      crm_changed_at=recycled_at - timedelta(days=1))
    t = decide("p1", "Recycled", new_raise, RULES, NOW)
    assert t is not None
    assert (t.from_status, t.to_status, t.move, t.rule) == ("Recycled", "MQL", Move.FORWARD, "mql.hand_raise")
    # Once MQL, the old "Nurture" verdict is stale and does not recycle again.
    settled = facts(30, "C", (act("form_fill", 40), act("contact_us", 1)), crm=nurture, status_since=NOW,
                    crm_changed_at=recycled_at - timedelta(days=1))
    assert decide("p1", "MQL", settled, RULES, NOW) is None
    # A form fill alone (Inquiry evidence) never takes a recycled person back to Inquiry.
    only_inquiry = facts(0, None, (act("form_fill", 1),), status_since=recycled_at)
    assert decide("p1", "Recycled", only_inquiry, RULES, NOW) is None


def test_a_nurture_email_open_does_not_requalify_but_a_new_form_fill_does() -> None:
    recycled_at = NOW - timedelta(days=20)
    nurture = CrmFacts(crm_status="Nurture")
    # The score was already over the bar when sales recycled; an opened nurture email proves nothing new.
    opened = facts(150, "A", (act("form_fill", 40), act("email_open", 1)), crm=nurture, status_since=recycled_at,
                   crm_changed_at=recycled_at)
    assert decide("p1", "Recycled", opened, RULES, NOW) is None
    filled = facts(150, "A", (act("form_fill", 40), act("form_fill", 1)), crm=nurture, status_since=recycled_at,
                   crm_changed_at=recycled_at)
    t = decide("p1", "Recycled", filled, RULES, NOW)
    assert t is not None and (t.to_status, t.rule) == ("MQL", "mql.score_and_grade")


def test_a_lead_taken_back_from_its_rep_requalifies_as_mql_not_sal_on_the_stale_acceptance() -> None:
    # The SLA sweep recycled the lead; the CRM still says "Working - Contacted", owned by the rep.
    recycled_at = NOW - timedelta(days=3)
    stale = CrmFacts(crm_status="Working - Contacted", owner_kind=OwnerKind.USER, owner_id="005A")
    raised = facts(30, "C", (act("contact_us", 1),), crm=stale, status_since=recycled_at,
                   crm_changed_at=recycled_at - timedelta(days=2))
    t = decide("p1", "Recycled", raised, RULES, NOW)
    assert t is not None and (t.to_status, t.rule) == ("MQL", "mql.hand_raise")
    # Next cycle: the same stale status does not carry the new MQL on to SAL...
    settled = facts(30, "C", (act("contact_us", 1),), crm=stale, status_since=NOW,
                    crm_changed_at=recycled_at - timedelta(days=2), recycled_at=recycled_at)
    assert decide("p1", "MQL", settled, RULES, NOW + timedelta(minutes=5)) is None
    # ...a new acceptance (the CRM changed after the recycle) does.
    accepted = facts(30, "C", (act("contact_us", 1),), crm=stale, status_since=NOW,
                     crm_changed_at=NOW + timedelta(hours=1), recycled_at=recycled_at)
    t = decide("p1", "MQL", accepted, RULES, NOW + timedelta(hours=2))
    assert t is not None and (t.to_status, t.rule) == ("SAL", "sal.crm_status")
    # Without any fresh evidence the lead stays recycled, stale acceptance or not.
    quiet = facts(30, "C", (act("contact_us", 5),), crm=stale, status_since=recycled_at,
                  crm_changed_at=recycled_at - timedelta(days=2))
    assert decide("p1", "Recycled", quiet, RULES, NOW) is None


def test_recycled_stays_while_crm_still_says_recycle_and_its_time_is_unknown() -> None:
    f = facts(0, None, (act("demo_request", 1),), crm=CrmFacts(crm_status="Recycled"),
              status_since=NOW - timedelta(days=5))
    assert decide("p1", "Recycled", f, RULES, NOW) is None


def test_summarize_counts_only_real_interactions_and_latest_hand_raise() -> None:
    s = summarize((act("email_open", 5), act("page_view", 4), act("form_fill", 3), act("demo_request", 2),
                   act("demo_request", 1), act("email_open", 0.5)), RULES)
    assert s.real_interactions == 3  # form_fill and two demo requests
    assert s.first_interaction_at == NOW - timedelta(days=3)
    assert s.last_interaction_at == NOW - timedelta(days=1)
    assert s.last_activity_at == NOW - timedelta(days=0.5)
    assert s.hand_raises == (("demo_request", NOW - timedelta(days=1)),)


# --- named moves -------------------------------------------------------------------------------------

ADMIN = Cause(CauseKind.ADMIN, "ops@example.com")


def test_named_disqualify_recycle_and_reopen() -> None:
    t = named_move("p1", "SQL", Move.DISQUALIFY, None, "competitor", ADMIN, RULES, NOW)
    assert (t.from_status, t.to_status, t.move, t.rule, t.cause) == ("SQL", "Disqualified", Move.DISQUALIFY,
                                                                     "disqualify.admin", ADMIN)
    assert t.reason == "disqualify by ops@example.com: competitor"
    sales = Cause(CauseKind.CRM_USER, "005u")
    t = named_move("p1", "MQL", Move.RECYCLE, None, "no budget this year", sales, RULES, NOW)
    assert (t.to_status, t.rule) == ("Recycled", "recycle.crm_user")
    t = named_move("p1", "Disqualified", Move.REOPEN, "Inquiry", "not spam after all", ADMIN, RULES, NOW)
    assert (t.from_status, t.to_status, t.move) == ("Disqualified", "Inquiry", Move.REOPEN)


@pytest.mark.parametrize(
    ("current", "move", "target", "reason", "message"),
    [
        ("MQL", Move.DISQUALIFY, None, "  ", "needs a reason"),
        ("Recycled", Move.REOPEN, "Inquiry", "retry", "not allowed"),
        ("Customer", Move.RECYCLE, None, "lost", "not allowed"),
        ("MQL", Move.REOPEN, None, "why", "needs a target"),
        ("MQL", Move.FORWARD, "SAL", "why", "not a named move"),
        ("Disqualified", Move.DISQUALIFY, None, "again", "not allowed"),
        ("MQL", Move.REOPEN, "Nonexistent", "why", "unknown lifecycle status"),
        (None, Move.DISQUALIFY, None, "spam", "no lifecycle status yet"),
    ],
)
def test_illegal_named_moves_are_refused_with_a_clear_message(
    current: str | None, move: Move, target: str | None, reason: str, message: str
) -> None:
    with pytest.raises(IllegalMove, match=message):
        named_move("p1", current, move, target, reason, ADMIN, RULES, NOW)


def test_status_names_in_file_order() -> None:
    assert RULES.status_names() == ("Raw", "Inquiry", "MQL", "SAL", "SQL", "Opportunity", "Customer", "Disqualified",
                                    "Recycled")


def test_is_legal_table() -> None:
    assert is_legal(None, "Raw", Move.INITIAL, RULES)
    assert is_legal("Raw", "Customer", Move.FORWARD, RULES)
    assert not is_legal("SQL", "MQL", Move.FORWARD, RULES)
    assert not is_legal("Recycled", "Inquiry", Move.FORWARD, RULES)
    assert is_legal("Recycled", "MQL", Move.FORWARD, RULES)
    assert not is_legal("Disqualified", "MQL", Move.FORWARD, RULES)
    assert is_legal("Disqualified", "MQL", Move.REOPEN, RULES)
    assert not is_legal("MQL", "Nope", Move.FORWARD, RULES)


# --- renamed statuses and an added MAQL: names are data --------------------------------------------

def test_renamed_statuses_and_an_added_maql_work_without_code() -> None:
    text = SHIPPED_TEXT.replace('name = "MQL"', 'name = "Marketing Qualified"').replace(
        '[[status]]\nname = "SAL"',
        '[[status]]\nname = "MAQL"\nrole = "mql"\n[status.enter]\n'
        'score_and_grade = { min_score = 300, min_grade = "B" }\n\n[[status]]\nname = "SAL"',
    )
    rules = load_text(text)
    assert [s.name for s in rules.funnel()][2:4] == ["Marketing Qualified", "MAQL"]
    t = decide("p1", "Inquiry", facts(350, "A", (act("form_fill"),)), rules, NOW)
    assert t is not None and t.to_status == "MAQL" and t.facts["skipped"] == ["Marketing Qualified"]
    t = decide("p1", "Inquiry", facts(120, "B", (act("form_fill"),)), rules, NOW)
    assert t is not None and t.to_status == "Marketing Qualified"


# --- broken copies ------------------------------------------------------------------------------------

def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleSetError) as info:
        load_text(text)
    return [str(e) for e in info.value.errors]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_unknown_key_is_located() -> None:
    text = SHIPPED_TEXT.replace("hand_raise = [", "hand_rise = [")
    assert errors_of(text) == [f"lifecycle.toml:{line_of(text, 'hand_rise')}: [status[2].enter.hand_rise] unknown key"]


def test_wrong_type_is_located() -> None:
    text = SHIPPED_TEXT.replace("min_score = 100,", 'min_score = "lots",')
    (error,) = errors_of(text)
    assert error.startswith(f"lifecycle.toml:{line_of(text, 'lots')}: [status[2].enter.score_and_grade.min_score]")
    assert "valid number" in error


def test_bad_grade_activity_type_and_misplaced_rule_are_all_reported() -> None:
    text = (SHIPPED_TEXT.replace('min_grade = "B" }', 'min_grade = "Q" }')
            .replace('"demo_request", "contact_us"]', '"demo_request", "phone_call"]')
            .replace("lost_opportunity = true", "lost_opportunity = true\nwon_opportunity = true  # misplaced"))
    errors = errors_of(text)
    assert len(errors) == 3
    assert any("score_and_grade.min_grade] not a grade: 'Q'" in e for e in errors)
    assert any("hand_raise] unknown activity type 'phone_call'" in e for e in errors)
    assert any(e.startswith(f"lifecycle.toml:{line_of(text, '# misplaced')}:")
               and "not an entry rule for a recycled status" in e for e in errors)


def test_funnel_out_of_order_and_missing_role_and_shared_crm_status() -> None:
    text = SHIPPED_TEXT.replace('role = "sal"', 'role = "sql"').replace('crm_status = ["Recycled", "Nurture"]',
                                                                        'crm_status = ["Recycled", "Qualified"]')
    errors = errors_of(text)
    assert any("no status has role 'sal'" in e for e in errors)
    assert any("CRM status 'Qualified' already leads to 'SQL'" in e for e in errors)
    reordered = SHIPPED_TEXT.replace('role = "mql"', 'role = "opportunity"')
    errors = errors_of(reordered)
    assert any("[status[3].role] 'SAL' (sal) is listed after a later funnel stage (opportunity)" in e for e in errors)
    assert any("no status has role 'mql'" in e for e in errors)


def test_duplicate_status_name() -> None:
    text = SHIPPED_TEXT.replace('name = "SQL"', 'name = "SAL"')
    (error,) = errors_of(text)
    assert error == f"lifecycle.toml:{line_of(text, 'Sales qualified') - 2}: [status[4].name] duplicate status 'SAL' " \
                    "(first defined as status #4)"


# --- properties ---------------------------------------------------------------------------------------

STATUS_NAMES = [s.name for s in RULES.statuses]
times = st.integers(min_value=0, max_value=60 * 24 * 60).map(lambda m: NOW - timedelta(minutes=m))
activity_types = st.sampled_from(["email_open", "page_view", "form_fill", "demo_request", "contact_us", "download"])
activities = st.lists(st.tuples(activity_types, times), max_size=6).map(
    lambda items: tuple(Activity(System.HUBSPOT, str(i), k, at) for i, (k, at) in enumerate(items)))
crm_facts = st.builds(
    CrmFacts,
    crm_status=st.sampled_from([None, "Open - Not Contacted", "Working - Contacted", "Qualified", "Recycled",
                                "Nurture", "Closed - Not Converted", "Competitor"]),
    owner_kind=st.sampled_from(list(OwnerKind)),
    is_converted=st.booleans(),
    has_open_opportunity=st.booleans(),
    has_won_opportunity=st.booleans(),
    has_lost_opportunity=st.booleans(),
    imported=st.booleans(),
)
hygiene = st.sampled_from([HygieneVerdict(), HygieneVerdict(HygieneAction.FLAG, "review"),
                           HygieneVerdict(HygieneAction.DISQUALIFY, "spam")])


@st.composite
def inputs(draw: st.DrawFn) -> tuple[str | None, LifecycleInput]:
    current = draw(st.none() | st.sampled_from(STATUS_NAMES))
    summary = summarize(draw(activities), RULES)
    status_since = None if current is None else draw(st.none() | times)
    f = LifecycleInput(
        draw(st.floats(min_value=-50, max_value=400, allow_nan=False)),
        draw(st.none() | st.sampled_from(GRADES)),
        draw(crm_facts),
        draw(hygiene),
        summary,
        status_since,
        draw(st.none() | times),
        None if current is None else draw(st.none() | times),
    )
    return current, f


def rank(name: str) -> int | None:
    return RULES.status(name).rank


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_decide_is_legal_forward_only_deterministic_and_reaches_a_fixpoint(
    case: tuple[str | None, LifecycleInput],
) -> None:
    current, f = case
    t = decide("p", current, f, RULES, NOW)
    assert t == decide("p", current, f, RULES, NOW)
    if t is None:
        return
    assert is_legal(t.from_status, t.to_status, t.move, RULES), t
    if t.move == Move.FORWARD:
        assert current is not None
        frm, to = rank(current), rank(t.to_status)
        assert to is not None
        # Backwards only ever through a named move; Recycled re-enters the funnel at MQL or beyond.
        assert (frm is not None and to > frm) or (RULES.status(current).role == Role.RECYCLED
                                                   and to >= (rank("MQL") or 0))
    # The caller records the transition: the status changes and its clock restarts now.
    # After re-qualifying from Recycled, the recycle time travels as ``recycled_at``.
    recycled_at = f.status_since if current is not None and RULES.status(current).role == Role.RECYCLED \
        else f.recycled_at
    settled = LifecycleInput(f.score, f.grade, f.crm, f.hygiene, f.activity, NOW, f.crm_changed_at, recycled_at)
    assert decide("p", t.to_status, settled, RULES, NOW) is None


def would_be_legal(current: str | None, move: Move, target: str | None) -> bool:
    if current is None or move not in (Move.DISQUALIFY, Move.RECYCLE, Move.REOPEN):
        return False
    if target is None:
        if move == Move.REOPEN:
            return False
        target = RULES.first(Role.DISQUALIFIED if move == Move.DISQUALIFY else Role.RECYCLED).name
    return is_legal(current, target, move, RULES)


@settings(max_examples=200, deadline=None)
@given(inputs(), st.lists(st.sampled_from(list(Move)), max_size=4), st.data())
def test_only_named_moves_go_backwards(case: tuple[str | None, LifecycleInput], moves: list[Move],
                                       data: st.DataObject) -> None:
    current, f = case
    for move in moves:
        target = data.draw(st.none() | st.sampled_from(STATUS_NAMES))
        try:
            t = named_move("p", current, move, target, "because", ADMIN, RULES, NOW)
        except IllegalMove:
            assert not would_be_legal(current, move, target)
            continue
        assert t.move in (Move.DISQUALIFY, Move.RECYCLE, Move.REOPEN)
        assert is_legal(t.from_status, t.to_status, t.move, RULES)
        current = t.to_status
    after = decide("p", current, f, RULES, NOW)
    if after is not None:
        assert is_legal(current, after.to_status, after.move, RULES)


def test_empty_summary_is_the_default() -> None:
    assert summarize((), RULES) == ActivitySummary()
