"""``scoring.toml``: points per activity, property filters, caps and decay, validated into a
:class:`leadsync.domain.scoring.ScoringModel`.

Structure and types are checked by strict pydantic models; meaning (activity types, one operator per
filter, regexes that compile, unique names, caps on scored types) is checked afterwards, and every
problem is reported at once with its file, line and key.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadsync.domain.model import ACTIVITY_TYPES
from leadsync.domain.scoring import (
    ActivityCap,
    Decay,
    DecayKind,
    MatchOp,
    PropertyFilter,
    ScoringModel,
    ScoringRule,
)
from leadsync.domain.version import content_version
from leadsync.rules.source import RuleError, RuleSetError, SourceFile, validate

FILE_NAME = "scoring.toml"

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
# Adapters lower-case property keys, so an upper-case key in a filter could never match anything.
PROPERTY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    # Strict: a TOML string is never silently read as a number.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


Values = str | list[str]


class FilterModel(_Strict):
    equals: str | None = None
    any_of: list[str] | None = None
    contains: Values | None = None
    starts_with: Values | None = None
    regex: Values | None = None


class RuleModel(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    activity: str
    points: float
    where: dict[str, FilterModel] = {}
    decays: bool = True


class DecayModel(_Strict):
    kind: Literal["half_life", "linear", "none"]
    half_life_days: float | None = Field(default=None, gt=0)
    percent: float | None = Field(default=None, gt=0, le=100)
    every_days: float | None = Field(default=None, gt=0)


class CapModel(_Strict):
    per_day: float | None = Field(default=None, gt=0)
    total: float | None = Field(default=None, gt=0)


class ScoringFile(_Strict):
    decay: DecayModel
    rules: list[RuleModel] = Field(min_length=1)
    caps: dict[str, CapModel] = {}


def load(data: dict[str, Any], source: SourceFile) -> ScoringModel:
    """Validate a parsed ``scoring.toml``; :class:`RuleSetError` lists every problem found."""
    parsed = validate(ScoringFile, data, source)
    errors: list[RuleError] = []
    rules = tuple(_rule(i, rule, source, errors) for i, rule in enumerate(parsed.rules))
    decay = _decay(parsed.decay, source, errors)
    caps = _caps(parsed, source, errors)
    _check_names(parsed.rules, source, errors)
    if errors:
        raise RuleSetError(errors)
    return ScoringModel(rules=rules, decay=decay, caps=caps, version=content_version({FILE_NAME: data}))


def _rule(index: int, rule: RuleModel, source: SourceFile, errors: list[RuleError]) -> ScoringRule:
    where = ("rules", index)
    if rule.activity not in ACTIVITY_TYPES:
        errors.append(source.error((*where, "activity"), _unknown_activity(rule.activity)))
    filters = []
    for prop, spec in rule.where.items():
        path = (*where, "where", prop)
        if not PROPERTY_PATTERN.match(prop):
            errors.append(source.error(path, "property names are lower-case letters, digits and _"))
        parsed = _filter(prop, spec, source, path, errors)
        if parsed is not None:
            filters.append(parsed)
    return ScoringRule(rule.name, rule.activity, rule.points, tuple(filters), rule.decays)


def _filter(
    prop: str, spec: FilterModel, source: SourceFile, path: tuple[str | int, ...], errors: list[RuleError]
) -> PropertyFilter | None:
    given = {op: value for op, value in spec.model_dump().items() if value is not None}
    if len(given) != 1:
        errors.append(source.error(path, "give exactly one of: equals, any_of, contains, starts_with, regex"))
        return None
    op_name, value = next(iter(given.items()))
    values = (value,) if isinstance(value, str) else tuple(value)
    if not values or any(v == "" for v in values):
        errors.append(source.error(path, f"{op_name} needs at least one non-empty value"))
        return None
    if op_name == "regex":
        for pattern in values:
            try:
                re.compile(pattern)
            except re.error as exc:
                errors.append(source.error(path, f"bad regex {pattern!r}: {exc}"))
                return None
    op = MatchOp.EQUALS if op_name in ("equals", "any_of") else MatchOp(op_name)
    return PropertyFilter(prop, op, values)


def _decay(spec: DecayModel, source: SourceFile, errors: list[RuleError]) -> Decay:
    needed = {"half_life": {"half_life_days"}, "linear": {"percent", "every_days"}, "none": set()}[spec.kind]
    given = {k for k in ("half_life_days", "percent", "every_days") if getattr(spec, k) is not None}
    for key in sorted(needed - given):
        errors.append(source.error(("decay", key), f"{spec.kind} decay needs {key}"))
    for key in sorted(given - needed):
        errors.append(source.error(("decay", key), f"{key} does not apply to {spec.kind} decay"))
    if needed - given or given - needed:
        return Decay()
    return Decay(DecayKind(spec.kind), spec.half_life_days, spec.percent, spec.every_days)


def _caps(parsed: ScoringFile, source: SourceFile, errors: list[RuleError]) -> tuple[ActivityCap, ...]:
    scored = {rule.activity for rule in parsed.rules if rule.points > 0}
    caps = []
    for activity, cap in parsed.caps.items():
        path = ("caps", activity)
        if activity not in ACTIVITY_TYPES:
            errors.append(source.error(path, _unknown_activity(activity)))
        elif activity not in scored:
            errors.append(source.error(path, "no rule gives this activity type positive points; the cap never applies"))
        if cap.per_day is None and cap.total is None:
            errors.append(source.error(path, "give per_day, total or both"))
        caps.append(ActivityCap(activity, cap.total, cap.per_day))
    return tuple(caps)


def _check_names(rules: list[RuleModel], source: SourceFile, errors: list[RuleError]) -> None:
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.name in seen:
            errors.append(source.error(("rules", index, "name"), f"duplicate rule name {rule.name!r}"))
        seen.add(rule.name)


def _unknown_activity(name: str) -> str:
    return f"unknown activity type {name!r} (known: {', '.join(sorted(ACTIVITY_TYPES))})"
