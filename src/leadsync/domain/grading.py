"""The fit grade (A+ .. F): who someone is, from criteria over person fields.

Two modes, chosen per rule file:

- ``steps`` (Pardot-style): start at a letter (default D); every counted criterion moves the grade by
  its ``adjustment`` in thirds of a letter (+1: D -> D+, -3: B -> C), clamped to F .. A+.
- ``points``: counted criteria add their ``adjustment`` as points; the grade is the best band whose
  ``min_points`` the total reaches, F below every band.

A criterion tests one field: ``words`` (any keyword as a whole word, for titles), ``any_of`` (the whole
value, for departments, industries, countries, technologies) or a numeric range (``at_least`` and/or
``at_most``, both inclusive, for employees and revenue). All tests ignore case. Missing data never
matches anything, so an empty record can only earn the starting grade.

Criteria sharing a ``group`` are alternatives (title tiers, buying timeframes): only the largest
adjustment among the group's matches counts, so a "Marketing Manager" matching both the manager and
the individual-contributor keywords earns the manager points once. Ungrouped criteria all count.
Both rules keep the grade monotone: matching one more positive criterion never lowers it.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, NamedTuple

from leadsync.domain.grades import grade_from_rank, grade_rank
from leadsync.domain.model import PERSON_FIELDS, Person

NUMERIC_FIELDS = frozenset({"employees", "annual_revenue"})


class GradingMode(enum.StrEnum):
    STEPS = "steps"
    POINTS = "points"


@dataclass(frozen=True, slots=True)
class Criterion:
    """One fit test over one person field, with its adjustment (thirds of a letter, or points)."""

    name: str
    field: str
    adjustment: float
    words: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    at_least: float | None = None
    at_most: float | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        tests = [bool(self.words), bool(self.any_of), self.at_least is not None or self.at_most is not None]
        if sum(tests) != 1:
            raise ValueError(f"criterion {self.name!r} needs exactly one of words, any_of, or a range")


@dataclass(frozen=True, slots=True)
class Band:
    grade: str
    min_points: float


class MatchedCriterion(NamedTuple):
    name: str
    field: str
    adjustment: float
    counted: bool  # False when a better match in the same group counted instead


@dataclass(frozen=True, slots=True)
class GradeResult:
    letter: str
    points: float  # points mode: the total; steps mode: thirds of a letter moved from the start
    matched: tuple[MatchedCriterion, ...]
    version: str


Test = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class GradingProfile:
    mode: GradingMode
    criteria: tuple[Criterion, ...]
    start: str = "D"
    bands: tuple[Band, ...] = ()
    version: str = ""
    # Criteria grouped by the field they read (each field is fetched once per person), in field order
    # of first use; each entry is (field getter, ((criterion index, test), ...)).
    _by_field: tuple[tuple[Callable[[Person], Any], tuple[tuple[int, Test], ...]], ...] = field(
        init=False, repr=False, compare=False)
    _bands_desc: tuple[Band, ...] = field(init=False, repr=False, compare=False)
    _no_match_letter: str = field(init=False, repr=False, compare=False)  # the letter for a total of 0
    # Per criterion, its explanation line when not counted and when counted (immutable, so shared).
    _lines: tuple[tuple[MatchedCriterion, MatchedCriterion], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grade_rank(self.start)  # ValueError for a letter not on the scale
        ordered = tuple(sorted(self.bands, key=lambda b: b.min_points))
        ranks = [grade_rank(b.grade) for b in ordered]
        if ranks != sorted(ranks):
            raise ValueError("a band with more points must not give a lower grade")
        if self.mode is GradingMode.POINTS and not self.bands:
            raise ValueError("points mode needs bands")
        by_field: dict[str, list[tuple[int, Test]]] = {}
        for index, criterion in enumerate(self.criteria):
            by_field.setdefault(criterion.field, []).append((index, _compile(criterion)))
        compiled = tuple((_getter(name), tuple(tests)) for name, tests in by_field.items())
        object.__setattr__(self, "_by_field", compiled)
        object.__setattr__(self, "_bands_desc", tuple(reversed(ordered)))
        object.__setattr__(self, "_no_match_letter", _letter(self, 0.0))
        lines = tuple((MatchedCriterion(c.name, c.field, c.adjustment, False),
                       MatchedCriterion(c.name, c.field, c.adjustment, True)) for c in self.criteria)
        object.__setattr__(self, "_lines", lines)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != ()


def _texts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, tuple) else (value,)
    return tuple(str(item) for item in items if _present(item))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


def _compile(criterion: Criterion) -> Test:
    """A test over one present field value; plain strings (the common case) skip the list handling."""
    if criterion.words:
        # Whole words only: "cto" must not match "director"; spaces in a keyword match any whitespace.
        alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in criterion.words)
        search = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE).search
        return lambda value: (
            search(value) is not None if type(value) is str else any(search(text) for text in _texts(value))
        )
    if criterion.any_of:
        wanted = frozenset(v.strip().casefold() for v in criterion.any_of)
        return lambda value: (
            value.strip().casefold() in wanted
            if type(value) is str
            else any(text.strip().casefold() in wanted for text in _texts(value))
        )
    low = -math.inf if criterion.at_least is None else criterion.at_least
    high = math.inf if criterion.at_most is None else criterion.at_most

    def in_range(value: Any) -> bool:
        number = _number(value)
        return number is not None and low <= number <= high

    return in_range


def _getter(name: str) -> Callable[[Person], Any]:
    if name in PERSON_FIELDS:
        return attrgetter(name)
    return lambda person: person.extra.get(name)


def grade(person: Person, profile: GradingProfile) -> GradeResult:
    """Grade ``person`` against ``profile``: the letter, the total, and every criterion that matched."""
    matched: list[int] = []
    for get, tests in profile._by_field:
        value = get(person)
        if value is not None and value != "" and value != ():
            for index, test in tests:
                if test(value):
                    matched.append(index)
    if not matched:  # the usual sparse record: nothing to weigh
        return GradeResult(profile._no_match_letter, 0.0, (), profile.version)
    matched.sort()  # criteria order, whatever the field order
    criteria = profile.criteria
    best_in_group: dict[str, int] = {}
    for index in matched:
        group = criteria[index].group
        if group:
            best = best_in_group.get(group)
            if best is None or criteria[index].adjustment > criteria[best].adjustment:
                best_in_group[group] = index
    lines = profile._lines
    if best_in_group:
        counted = [i for i in matched if best_in_group.get(criteria[i].group or "", i) == i]
        explained = tuple([lines[i][i in counted] for i in matched])
    else:  # no groups among the matches: every match counts
        counted = matched
        explained = tuple([lines[i][True] for i in matched])
    total = math.fsum([criteria[i].adjustment for i in counted])
    return GradeResult(_letter(profile, total), total, explained, profile.version)


def _letter(profile: GradingProfile, total: float) -> str:
    if profile.mode is GradingMode.STEPS:
        return grade_from_rank(grade_rank(profile.start) + math.floor(total))
    for band in profile._bands_desc:
        if total >= band.min_points:
            return band.grade
    return "F"
