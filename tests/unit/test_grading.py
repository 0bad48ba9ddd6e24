"""Grading: the shipped profile grades crafted people as domain.md's weights say; steps mode moves by
thirds of a letter; broken copies give located errors; and grades are monotone in matched criteria."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.domain.grades import GRADES, grade_rank
from leadsync.domain.grading import Band, Criterion, GradingMode, GradingProfile, grade
from leadsync.domain.model import Person
from leadsync.rules import grading as grading_rules
from leadsync.rules.source import RuleSetError, parse_toml
from tests.conftest import MAPPINGS

SHIPPED_TEXT = (MAPPINGS / "grading.toml").read_text(encoding="utf-8")


def load_text(text: str) -> GradingProfile:
    data, source = parse_toml(text, "grading.toml")
    return grading_rules.load(data, source)


PROFILE = load_text(SHIPPED_TEXT)

IDEAL = Person(
    id="p-1",
    title="Senior Marketing Manager",
    department="Marketing Operations",
    industry="Computer Software",
    employees=200,
    technologies=("Zendesk", "HubSpot"),
    buying_timeframe="Within 1 month",
)


def counted(person: Person, profile: GradingProfile = PROFILE) -> dict[str, float]:
    return {m.name: m.adjustment for m in grade(person, profile).matched if m.counted}


# --- the shipped profile ---------------------------------------------------------------------------


def test_ideal_buyer_earns_every_weight_and_the_top_grade() -> None:
    result = grade(IDEAL, PROFILE)
    assert result.letter == "A+"
    assert result.points == 40.0
    assert counted(IDEAL) == {
        "title_manager_or_above": 10.0,
        "industry_high_win": 5.0,
        "department_marketing": 5.0,
        "company_size_target": 5.0,
        "uses_our_integrations": 5.0,
        "buying_within_1_month": 10.0,
    }
    assert result.version == PROFILE.version


@pytest.mark.parametrize(
    ("title", "points"),
    [("VP of Sales", 10.0), ("Marketing Analyst", 5.0), ("Receptionist", 0.0), ("Director of IT", 10.0)],
)
def test_title_weights_manager_10_contributor_5_other_0(title: str, points: float) -> None:
    assert grade(Person(id="p", title=title), PROFILE).points == points


def test_title_tiers_count_once_as_the_best_match() -> None:
    result = grade(Person(id="p", title="Analyst Relations Manager", seniority="Director"), PROFILE)
    assert result.points == 10.0
    assert {(m.name, m.counted) for m in result.matched} == {
        ("title_manager_or_above", True),
        ("seniority_manager_or_above", False),
        ("title_individual_contributor", False),
    }


def test_keywords_match_whole_words_only() -> None:
    assert grade(Person(id="p", title="Directory assistant"), PROFILE).points == 0.0  # not "director"
    assert grade(Person(id="p", title="Head   of Growth"), PROFILE).points == 10.0


def test_buying_timeframe_within_1_month_10_within_6_months_5() -> None:
    assert grade(Person(id="p", buying_timeframe="within 1 month"), PROFILE).points == 10.0
    assert grade(Person(id="p", buying_timeframe="3-6 months"), PROFILE).points == 5.0
    assert grade(Person(id="p", buying_timeframe="next year"), PROFILE).points == 0.0


def test_active_student_gets_a_low_grade() -> None:
    student = dataclasses.replace(IDEAL, title="Marketing Student", buying_timeframe=None)
    result = grade(student, PROFILE)
    assert result.points == 5 + 5 + 5 + 5 - 15
    assert result.letter == "D"


def test_missing_data_matches_nothing() -> None:
    result = grade(Person(id="p", title="", technologies=()), PROFILE)
    assert (result.letter, result.points, result.matched) == ("D-", 0.0, ())


def test_company_size_range_includes_both_ends() -> None:
    assert [grade(Person(id="p", employees=n), PROFILE).points for n in (49, 50, 5000, 5001)] == [0, 5, 5, 0]


# --- steps mode ------------------------------------------------------------------------------------

STEPS_TEXT = """\
mode = "steps"
start = "C"
custom_fields = ["budget_confirmed"]

[[criteria]]
name = "vp"
field = "title"
words = ["vp"]
steps = 3

[[criteria]]
name = "budget"
field = "budget_confirmed"
any_of = ["yes"]
steps = 1

[[criteria]]
name = "competitor"
field = "company"
any_of = ["Rival Inc"]
steps = -6

[[criteria]]
name = "revenue_over_10m"
field = "annual_revenue"
at_least = 10_000_000
steps = 2
"""


def test_steps_mode_moves_by_thirds_of_a_letter_and_clamps() -> None:
    profile = load_text(STEPS_TEXT)
    assert grade(Person(id="p"), profile).letter == "C"
    assert grade(Person(id="p", title="VP Sales"), profile).letter == "B"
    budget = Person(id="p", title="VP Sales", extra=MappingProxyType({"budget_confirmed": "Yes"}))
    assert grade(budget, profile).letter == "B+"
    assert grade(dataclasses.replace(budget, annual_revenue=2.5e7), profile).letter == "A"
    assert grade(Person(id="p", company="rival inc"), profile).letter == "F"  # C minus two letters, clamped
    assert grade(Person(id="p", company="rival inc", title="intern"), profile).points == -6


# --- property: monotone in matched criteria --------------------------------------------------------


@st.composite
def profiles(draw: st.DrawFn) -> GradingProfile:
    """Criterion i tests custom field f<i> == "yes", so a person can match any chosen set."""
    mode = draw(st.sampled_from(list(GradingMode)))
    count = draw(st.integers(min_value=1, max_value=8))
    low, high = (-4, 4) if mode is GradingMode.STEPS else (-20, 20)
    criteria = tuple(
        Criterion(
            name=f"c{i}", field=f"f{i}", adjustment=draw(st.integers(min_value=low, max_value=high)),
            any_of=("yes",), group=draw(st.sampled_from([None, "g1", "g2"])),
        )
        for i in range(count)
    )
    minimums = sorted(draw(st.lists(st.integers(-30, 60), min_size=1, max_size=6, unique=True)))
    ranks = sorted(draw(st.lists(st.integers(0, 12), min_size=len(minimums), max_size=len(minimums))))
    bands = tuple(Band(GRADES[r], m) for r, m in zip(ranks, minimums, strict=True))
    start = draw(st.sampled_from(GRADES))
    if mode is GradingMode.STEPS:
        return GradingProfile(mode, criteria, start=start)
    return GradingProfile(mode, criteria, bands=bands)


def matching(indexes: set[int]) -> Person:
    return Person(id="p", extra=MappingProxyType({f"f{i}": "yes" for i in indexes}))


@settings(max_examples=400, deadline=None)
@given(profile=profiles(), data=st.data())
def test_matching_one_more_positive_criterion_never_lowers_the_grade(
    profile: GradingProfile, data: st.DataObject
) -> None:
    size = len(profile.criteria)
    chosen = data.draw(st.sets(st.integers(0, size - 1)))
    positive = [i for i, c in enumerate(profile.criteria) if c.adjustment > 0 and i not in chosen]
    if not positive:
        return
    extra = data.draw(st.sampled_from(positive))
    before = grade(matching(chosen), profile)
    after = grade(matching(chosen | {extra}), profile)
    assert {m.name for m in before.matched} == {f"c{i}" for i in chosen}
    assert grade_rank(after.letter) >= grade_rank(before.letter)
    assert after.points >= before.points


# --- broken copies ---------------------------------------------------------------------------------


def errors_for(text: str) -> list[str]:
    with pytest.raises(RuleSetError) as info:
        load_text(text)
    return [str(e) for e in info.value.errors]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "at", "key", "message"),
    [
        ('field = "department"', 'field = "departmnet"', "departmnet", "criteria[5].field", "unknown person field"),
        ("points = 5\n", "points = 5\nweight = 2\n", "weight", "criteria[2].weight", "unknown key"),
        ("min_points = 34", 'min_points = "34"', '"34"', "bands[1].min_points", "valid number"),
        ('grade = "A-"', 'grade = "A++"', "A++", "bands[2].grade", "unknown grade"),
        ("min_points = 30", "min_points = 35", 'grade = "A-"', "bands[2].grade", "better grade"),
        ("at_least = 50", 'at_least = 50\nwords = ["big"]', "[[criteria]]\nname = \"company_size", "criteria[6]",
         "exactly one test"),
        ("points = -15", "steps = -2", "steps = -2", "criteria[3].steps", "points mode uses points"),
    ],
)
def test_broken_copy_is_rejected_with_file_line_and_key(old: str, new: str, at: str, key: str, message: str) -> None:
    assert old in SHIPPED_TEXT
    text = SHIPPED_TEXT.replace(old, new, 1)
    expected = f"grading.toml:{line_of(text, at)}: [{key}] "
    errors = errors_for(text)
    assert any(e.startswith(expected) and message in e for e in errors), (expected, errors)


def test_custom_fields_must_be_declared_and_ranges_need_numbers() -> None:
    text = STEPS_TEXT.replace('custom_fields = ["budget_confirmed"]', "custom_fields = []").replace(
        'field = "title"\nwords = ["vp"]', 'field = "title"\nat_least = 3'
    )
    errors = errors_for(text)
    line = line_of(text, 'field = "budget_confirmed"')
    expected = f"grading.toml:{line}: [criteria[1].field] unknown person"
    assert any(e.startswith(expected) for e in errors), errors
    assert any("[criteria[0].field] 'title' is not a number" in e for e in errors), errors
