"""``grading.toml``: fit criteria and how they become a letter, validated into a
:class:`leadsync.domain.grading.GradingProfile`.

Structure and types are checked by strict pydantic models; meaning (known or declared fields, one test
per criterion, ranges only on numbers, the adjustment key that fits the mode, grades on the scale,
bands that never give fewer points a better letter) is checked afterwards, all problems at once.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadsync.domain.grades import GRADES
from leadsync.domain.grading import NUMERIC_FIELDS, Band, Criterion, GradingMode, GradingProfile
from leadsync.domain.model import PERSON_FIELDS
from leadsync.domain.version import content_version
from leadsync.rules.source import RuleError, RuleSetError, SourceFile, validate

FILE_NAME = "grading.toml"

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CriterionModel(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    field: str
    group: str | None = Field(default=None, pattern=NAME_PATTERN)
    words: list[str] = []
    any_of: list[str] = []
    at_least: float | None = None
    at_most: float | None = None
    points: float | None = None
    steps: int | None = None


class BandModel(_Strict):
    grade: str
    min_points: float


class GradingFile(_Strict):
    mode: Literal["steps", "points"]
    start: str | None = None
    custom_fields: list[str] = []
    criteria: list[CriterionModel] = Field(min_length=1)
    bands: list[BandModel] = []


def load(data: dict[str, Any], source: SourceFile) -> GradingProfile:
    """Validate a parsed ``grading.toml``; :class:`RuleSetError` lists every problem found."""
    parsed = validate(GradingFile, data, source)
    errors: list[RuleError] = []
    mode = GradingMode(parsed.mode)
    fields = _fields(parsed, source, errors)
    criteria = [_criterion(i, c, mode, fields, source, errors) for i, c in enumerate(parsed.criteria)]
    _check_mode(parsed, mode, source, errors)
    if errors:
        raise RuleSetError(errors)
    return GradingProfile(
        mode=mode,
        criteria=tuple(c for c in criteria if c is not None),
        start=parsed.start or "D",
        bands=tuple(Band(b.grade, b.min_points) for b in parsed.bands),
        version=content_version({FILE_NAME: data}),
    )


def _fields(parsed: GradingFile, source: SourceFile, errors: list[RuleError]) -> frozenset[str]:
    for index, name in enumerate(parsed.custom_fields):
        if name in PERSON_FIELDS:
            errors.append(source.error(("custom_fields", index), f"{name!r} is a standard field; do not declare it"))
    return PERSON_FIELDS | frozenset(parsed.custom_fields)


def _criterion(
    index: int,
    spec: CriterionModel,
    mode: GradingMode,
    fields: frozenset[str],
    source: SourceFile,
    errors: list[RuleError],
) -> Criterion | None:
    where = ("criteria", index)
    before = len(errors)
    if spec.field not in fields:
        known = ", ".join(sorted(fields))
        errors.append(source.error((*where, "field"), f"unknown person field {spec.field!r} (known: {known}; "
                                   "declare custom fields in custom_fields)"))
    has_range = spec.at_least is not None or spec.at_most is not None
    if sum([bool(spec.words), bool(spec.any_of), has_range]) != 1:
        errors.append(source.error(where, "give exactly one test: words, any_of, or at_least/at_most"))
    if has_range and spec.field in _TEXT_FIELDS:
        errors.append(source.error((*where, "field"), f"{spec.field!r} is not a number; use words or any_of"))
    if spec.words and spec.field in NUMERIC_FIELDS:
        errors.append(source.error((*where, "words"), f"{spec.field!r} is a number; use at_least/at_most"))
    if any(not v.strip() for v in (*spec.words, *spec.any_of)):
        errors.append(source.error(where, "empty keyword or value"))
    if spec.at_least is not None and spec.at_most is not None and spec.at_least > spec.at_most:
        errors.append(source.error((*where, "at_least"), "at_least is above at_most"))
    wanted, unwanted = ("steps", "points") if mode is GradingMode.STEPS else ("points", "steps")
    if getattr(spec, unwanted) is not None:
        errors.append(source.error((*where, unwanted), f"{mode.value} mode uses {wanted}, not {unwanted}"))
    adjustment = getattr(spec, wanted)
    if adjustment is None:
        errors.append(source.error(where, f"{mode.value} mode needs {wanted} on every criterion"))
    if len(errors) > before:
        return None
    return Criterion(
        spec.name, spec.field, float(adjustment), tuple(spec.words), tuple(spec.any_of),
        spec.at_least, spec.at_most, spec.group,
    )


# Canonical fields holding text: a numeric range on them is a mistake. Custom fields may hold numbers.
_TEXT_FIELDS = frozenset(
    {"email", "first_name", "last_name", "title", "seniority", "department", "company", "industry", "country",
     "technologies", "lead_source", "phone", "buying_timeframe"}
)


def _check_mode(parsed: GradingFile, mode: GradingMode, source: SourceFile, errors: list[RuleError]) -> None:
    if parsed.start is not None and parsed.start not in GRADES:
        errors.append(source.error(("start",), f"unknown grade {parsed.start!r} (grades: {', '.join(GRADES)})"))
    if mode is GradingMode.POINTS and parsed.start is not None:
        errors.append(source.error(("start",), "start applies to steps mode only"))
    if mode is GradingMode.STEPS and parsed.bands:
        errors.append(source.error(("bands",), "bands apply to points mode only"))
    if mode is GradingMode.POINTS and not parsed.bands:
        errors.append(source.error(("mode",), "points mode needs [[bands]]"))
    names: set[str] = set()
    for index, criterion in enumerate(parsed.criteria):
        if criterion.name in names:
            errors.append(source.error(("criteria", index, "name"), f"duplicate criterion {criterion.name!r}"))
        names.add(criterion.name)
    _check_bands(parsed.bands, source, errors)


def _check_bands(bands: list[BandModel], source: SourceFile, errors: list[RuleError]) -> None:
    valid = []
    for index, band in enumerate(bands):
        if band.grade not in GRADES:
            errors.append(source.error(("bands", index, "grade"), f"unknown grade {band.grade!r}"))
        else:
            valid.append((band.min_points, GRADES.index(band.grade), index))
    valid.sort()
    for (low_points, low_rank, _), (high_points, high_rank, index) in itertools.pairwise(valid):
        if high_points == low_points:
            errors.append(source.error(("bands", index, "min_points"), "two bands with the same min_points"))
        elif high_rank <= low_rank:
            errors.append(source.error(
                ("bands", index, "grade"), "more points must give a better grade than the band below"
            ))
