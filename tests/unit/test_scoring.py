"""Scoring: the shipped rules give exact, explained numbers; broken copies give located errors; and the two
properties the model is built around (more positive interest never lowers a score, time never raises
it) hold for arbitrary activity histories."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.domain.model import Activity, Person, System
from leadsync.domain.scoring import (
    FLOOR_LINE,
    ActivityCap,
    Decay,
    DecayKind,
    MatchOp,
    PropertyFilter,
    ScoreResult,
    ScoringModel,
    ScoringRule,
    score,
)
from leadsync.rules import scoring as scoring_rules
from leadsync.rules.source import RuleSetError, parse_toml
from tests.conftest import MAPPINGS

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PERSON = Person(id="p-1", email="ada@example.com")
SHIPPED_TEXT = (MAPPINGS / "scoring.toml").read_text(encoding="utf-8")


def shipped() -> ScoringModel:
    data, source = parse_toml(SHIPPED_TEXT, "scoring.toml")
    return scoring_rules.load(data, source)


MODEL = shipped()
_ids = iter(range(10**9))


def act(kind: str, age: timedelta = timedelta(0), **props: str) -> Activity:
    return Activity(System.HUBSPOT, f"a{next(_ids)}", kind, NOW - age, props)


def lines(result: ScoreResult) -> dict[str, float]:
    return {line.rule: line.points for line in result.breakdown}


def assert_explained(result: ScoreResult) -> None:
    assert round(sum(line.points for line in result.breakdown), 2) == result.value
    assert result.value >= 0


# --- the shipped rules, exact outcomes -------------------------------------------------------------


def test_demo_request_halves_after_one_half_life() -> None:
    result = score(PERSON, [act("demo_request", timedelta(days=30))], MODEL, NOW)
    assert result.value == 25.0
    (line,) = result.breakdown
    assert (line.rule, line.activities, line.raw_points, line.points) == ("demo_request", 1, 50.0, 25.0)
    assert result.version == MODEL.version and result.computed_at == NOW and result.person_id == "p-1"


def test_rules_matching_one_activity_add_up() -> None:
    result = score(PERSON, [act("page_view", url="https://x.io/pricing?plan=team")], MODEL, NOW)
    assert result.value == 6.0
    assert lines(result) == {"page_view": 1.0, "pricing_page_viewed": 5.0}


def test_form_name_filter_ignores_case() -> None:
    result = score(PERSON, [act("form_fill", form_name="CONTACT US"), act("form_fill", form_name="Ebook")], MODEL, NOW)
    assert lines(result) == {"inquiry": 10.0, "contact_us_form": 15.0}
    assert result.value == 25.0


def test_penalties_do_not_fade_and_floor_at_zero_is_explained() -> None:
    old_unsubscribe = act("unsubscribe", timedelta(days=365))
    assert score(PERSON, [old_unsubscribe, act("demo_request")], MODEL, NOW).value == 30.0
    result = score(PERSON, [act("page_view", url="/careers/engineer")], MODEL, NOW)
    assert result.value == 0.0
    assert lines(result) == {"page_view": 1.0, "careers_page_viewed": -10.0, FLOOR_LINE: 9.0}
    assert_explained(result)


def test_future_activities_are_recorded_not_scored() -> None:
    result = score(PERSON, [act("trial_request", timedelta(hours=-2)), act("trial_request")], MODEL, NOW)
    assert result.value == 10.0
    (line,) = result.breakdown
    assert (line.activities, line.future, line.points) == (1, 1, 10.0)


def test_unscored_activity_types_leave_no_line() -> None:
    result = score(PERSON, [act("note"), act("task")], MODEL, NOW)
    assert result.value == 0.0 and result.breakdown == ()


def test_per_day_cap_limits_decayed_points_and_says_so() -> None:
    views = [act("page_view", timedelta(minutes=i), url=f"/p{i}") for i in range(15)]
    pricing = act("page_view", timedelta(minutes=20), url="/pricing")
    result = score(PERSON, [*views, pricing], MODEL, NOW)
    # 16 page-view points + 5 pricing points on one day, capped at 10: both rules scaled by 10/21.
    assert result.value == 10.0
    by_rule = {line.rule: line for line in result.breakdown}
    assert by_rule["page_view"].decayed_points == pytest.approx(16.0, abs=0.01)
    assert by_rule["page_view"].capped_by == ("caps.page_view.per_day",)
    assert by_rule["page_view"].points == pytest.approx(160 / 21, abs=0.01)
    assert by_rule["pricing_page_viewed"].points == pytest.approx(50 / 21, abs=0.01)
    assert_explained(result)


def test_total_cap_applies_after_daily_caps() -> None:
    model = ScoringModel(
        (ScoringRule("open", "email_open", 2),),
        caps=(ActivityCap("email_open", total=7, per_day=3),),
    )
    opens = [act("email_open", timedelta(days=d, minutes=m)) for d in range(4) for m in range(3)]
    result = score(PERSON, opens, model, NOW)
    # 6 points a day, 3 allowed a day, over 4 days = 12, then the total cap of 7.
    assert result.value == 7.0
    assert result.breakdown[0].capped_by == ("caps.email_open.per_day", "caps.email_open.total")


def test_per_day_cap_uses_the_utc_day_whatever_the_offset() -> None:
    model = ScoringModel((ScoringRule("demo", "demo_request", 8),), caps=(ActivityCap("demo_request", per_day=10),))
    plus_two = timezone(timedelta(hours=2))
    late, early = datetime(2026, 3, 9, 23, 30, tzinfo=UTC), datetime(2026, 3, 10, 0, 30, tzinfo=UTC)
    for first, second in ((late, early), (late.astimezone(plus_two), early.astimezone(plus_two))):
        pair = [Activity(System.HUBSPOT, key, "demo_request", at) for key, at in (("a", first), ("b", second))]
        assert score(PERSON, pair, model, NOW).value == 16.0  # two UTC days, though one local date at +02:00
    same_day = [act("demo_request", timedelta(minutes=m)) for m in (1, 2)]
    assert score(PERSON, same_day, model, NOW).value == 10.0


def test_linear_decay_loses_a_share_per_full_period_and_stops_at_zero() -> None:
    model = ScoringModel(
        (ScoringRule("trial", "trial_request", 10),),
        decay=Decay(DecayKind.LINEAR, percent=25, every_days=30),
    )
    assert score(PERSON, [act("trial_request", timedelta(days=29))], model, NOW).value == 10.0
    assert score(PERSON, [act("trial_request", timedelta(days=40))], model, NOW).value == 7.5
    assert score(PERSON, [act("trial_request", timedelta(days=130))], model, NOW).value == 0.0


def test_non_decaying_rule_keeps_full_value() -> None:
    model = ScoringModel(
        (ScoringRule("trial", "trial_request", 10, decays=False),),
        decay=Decay(DecayKind.HALF_LIFE, half_life_days=1),
    )
    assert score(PERSON, [act("trial_request", timedelta(days=300))], model, NOW).value == 10.0


def test_rounding_apportions_cents_so_lines_add_up() -> None:
    ages = [timedelta(days=d, hours=h) for d, h in ((1, 3), (7, 5), (13, 11), (29, 17))]
    activities = [act(kind, age) for age in ages for kind in ("email_click", "download", "webinar_attended")]
    result = score(PERSON, activities, MODEL, NOW)
    assert_explained(result)
    exact = sum(line.decayed_points for line in result.breakdown)
    assert result.value == round(exact, 2)


def test_filters_compile_each_operator() -> None:
    rules = (
        ScoringRule("starts", "page_view", 1, (PropertyFilter("url", MatchOp.STARTS_WITH, ("/docs",)),)),
        ScoringRule("regex", "page_view", 2, (PropertyFilter("url", MatchOp.REGEX, (r"/v\d+/",)),)),
        ScoringRule(
            "both", "page_view", 4,
            (PropertyFilter("url", MatchOp.CONTAINS, ("api",)), PropertyFilter("referrer", MatchOp.EQUALS, ("g",))),
        ),
    )
    model = ScoringModel(rules)
    assert lines(score(PERSON, [act("page_view", url="/DOCS/v2/api")], model, NOW)) == {"starts": 1.0, "regex": 2.0}
    assert score(PERSON, [act("page_view", url="/x/api", referrer="G")], model, NOW).value == 4.0
    assert score(PERSON, [act("page_view")], model, NOW).value == 0.0


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        score(PERSON, [], MODEL, NOW.replace(tzinfo=None))


def test_version_is_a_plain_replaceable_field() -> None:
    replaced = dataclasses.replace(MODEL, version="ruleset-1")
    result = score(PERSON, [act("demo_request")], replaced, NOW)
    assert (result.version, result.value) == ("ruleset-1", 50.0)
    # The lazily built breakdown's tally is no dataclass field: asdict stays small and plain.
    assert dataclasses.asdict(result) == {"person_id": "p-1", "value": 50.0, "version": "ruleset-1", "computed_at": NOW}
    assert result.breakdown is result.breakdown


# --- properties ------------------------------------------------------------------------------------

LINEAR_MODEL = dataclasses.replace(MODEL, decay=Decay(DecayKind.LINEAR, percent=20, every_days=7))
TIGHT_CAPS_MODEL = dataclasses.replace(
    MODEL,
    caps=(
        ActivityCap("page_view", total=7.5, per_day=2.5),
        ActivityCap("email_click", per_day=4),
        ActivityCap("demo_request", total=60),
    ),
)
MODELS = [MODEL, LINEAR_MODEL, TIGHT_CAPS_MODEL]

URLS = ["/", "/pricing", "/careers", "/blog/pricing-guide", "/jobs/1", "/docs"]
KINDS = ["page_view", "email_open", "email_click", "unsubscribe", "form_fill", "download", "demo_request", "note"]
ages = st.integers(min_value=0, max_value=200 * 86400).map(lambda s: timedelta(seconds=s))


@st.composite
def activities(draw: st.DrawFn) -> Activity:
    kind = draw(st.sampled_from(KINDS))
    props = {"url": draw(st.sampled_from(URLS))} if kind == "page_view" else {}
    if kind == "form_fill":
        props = {"form_name": draw(st.sampled_from(["Contact us", "Ebook"]))}
    return act(kind, draw(ages), **props)


@st.composite
def positive_activities(draw: st.DrawFn) -> Activity:
    """Activities every matching rule of which gives positive points."""
    kind = draw(st.sampled_from(["page_view", "email_open", "email_click", "form_fill", "demo_request"]))
    props = {"url": draw(st.sampled_from(["/", "/pricing"]))} if kind == "page_view" else {}
    if kind == "form_fill":
        props = {"form_name": "Contact us"}
    return act(kind, draw(ages), **props)


@settings(max_examples=300, deadline=None)
@given(
    history=st.lists(activities(), max_size=40),
    extra=positive_activities(),
    position=st.integers(min_value=0),
    model=st.sampled_from(MODELS),
)
def test_adding_positive_activity_never_lowers_score(
    history: list[Activity], extra: Activity, position: int, model: ScoringModel
) -> None:
    before = score(PERSON, history, model, NOW)
    at = position % (len(history) + 1)
    after = score(PERSON, [*history[:at], extra, *history[at:]], model, NOW)
    assert after.value >= before.value
    assert_explained(before)
    assert_explained(after)


@settings(max_examples=300, deadline=None)
@given(
    history=st.lists(activities(), max_size=40),
    later=st.integers(min_value=1, max_value=400 * 86400).map(lambda s: timedelta(seconds=s)),
    model=st.sampled_from(MODELS),
)
def test_score_never_rises_as_time_passes(history: list[Activity], later: timedelta, model: ScoringModel) -> None:
    now_value = score(PERSON, history, model, NOW).value
    later_result = score(PERSON, history, model, NOW + later)
    assert later_result.value <= now_value
    assert_explained(later_result)


# --- broken copies give located errors -------------------------------------------------------------


def load_broken(old: str, new: str, at: str) -> tuple[list[str], int]:
    """Load the shipped file with ``old`` replaced by ``new``; return the rendered errors and the line
    of the first ``at`` from the change on (where the error should point)."""
    assert old in SHIPPED_TEXT
    start = SHIPPED_TEXT.index(old)
    text = SHIPPED_TEXT.replace(old, new, 1)
    line = text[: text.index(at, start)].count("\n") + 1
    data, source = parse_toml(text, "scoring.toml")
    with pytest.raises(RuleSetError) as info:
        scoring_rules.load(data, source)
    return [str(e) for e in info.value.errors], line


@pytest.mark.parametrize(
    ("old", "new", "at", "key", "message"),
    [
        ("points = 3\n", "points = 3\nbonus = 2\n", "bonus", "rules[4].bonus", "unknown key"),
        ("points = 5\nwhere = { url", 'points = "five"\nwhere = { url', "points", "rules[1].points", "valid number"),
        ('activity = "email_click"', 'activity = "email_clik"', "email_clik", "rules[4].activity", "unknown activity"),
        ("half_life_days = 30", "half_life_days = -30", "half", "decay.half_life_days", "greater than 0"),
        ("per_day = 3", "per_day = 0", "per_day", "caps.email_open.per_day", "greater than 0"),
        ('{ contains = "/pricing" }', '{ regex = "/pricing(" }', "/pricing(", "rules[1].where.url", "bad regex"),
        ('{ contains = "/pricing" }', '{ contains = "/p", equals = "x" }', '"/p"', "rules[1].where.url", "one of"),
        ("[caps.email_click]", "[caps.call]", "[caps.call]", "caps.call", "no rule gives"),
    ],
)
def test_broken_copy_is_rejected_with_file_line_and_key(old: str, new: str, at: str, key: str, message: str) -> None:
    errors, line = load_broken(old, new, at)
    expected = f"scoring.toml:{line}: [{key}]"
    assert any(e.startswith(expected) and message in e for e in errors), (expected, errors)


def test_every_problem_is_reported_at_once() -> None:
    text = SHIPPED_TEXT.replace('activity = "email_click"', 'activity = "email_clik"').replace(
        'name = "email_reply"', 'name = "email_open"'
    ).replace("[caps.email_click]", "[caps.chat]")
    data, source = parse_toml(text, "scoring.toml")
    with pytest.raises(RuleSetError) as info:
        scoring_rules.load(data, source)
    keys = sorted(e.key for e in info.value.errors)
    assert keys == ["caps.chat", "rules[4].activity", "rules[5].name"]


def test_decay_kind_needs_its_own_settings() -> None:
    errors, _ = load_broken('kind = "half_life"', 'kind = "linear"', "kind")
    assert any("[decay.percent] linear decay needs percent" in e for e in errors), errors
    assert any("[decay.half_life_days] half_life_days does not apply" in e for e in errors), errors
