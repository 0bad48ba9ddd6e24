"""The behaviour score: points per activity, filtered, decayed, capped, and explained line by line.

The semantics below are what ``mappings/scoring.toml`` promises a CRM admin:

- Every rule whose activity type and property filters match an activity adds its points. Several rules
  may match one activity and they add up: a pricing-page view earns the page-view point *and* the
  pricing bonus. A rule's filters must all match (AND); a filter with several values matches any (OR).
- Positive points fade with the activity's age (``half_life``, stepwise ``linear``, or ``none``).
  Negative points never fade: a penalty that decayed would turn into a gain as time passes.
- Caps limit the *decayed* positive points of one activity type: first per calendar day (UTC), then
  in total. When a cap bites, every rule in the capped group is scaled by the same factor, so the
  breakdown still explains the value. Negative points are never capped.
- The value is never below zero; when penalties outweigh gains a ``(floor at zero)`` line says so.
- Activities dated after ``now`` are not scored; they are counted as ``future`` on their rules' lines.
- Rounding: the value is rounded to cents; line points are apportioned by largest remainder, so
  ``round(sum(line.points for line in breakdown), 2) == value`` always holds.

Those choices make two properties hold (tested with Hypothesis): adding an activity that only earns
positive points never lowers the score at the same ``now``; advancing ``now`` never raises it.
"""

from __future__ import annotations

import enum
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import repeat
from typing import NamedTuple

from leadsync.domain.model import Activity, Person

FLOOR_LINE = "(floor at zero)"
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()

Matcher = Callable[[Mapping[str, str]], bool]


class MatchOp(enum.StrEnum):
    """How a property filter compares; every op is case-insensitive and matches if any value does."""

    EQUALS = "equals"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class PropertyFilter:
    """A condition on one activity property (``url``, ``form_name`` ...); a missing property never matches."""

    property: str
    op: MatchOp
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoringRule:
    name: str
    activity_type: str
    points: float
    filters: tuple[PropertyFilter, ...] = ()
    decays: bool = True  # False keeps a positive rule at full value forever (e.g. a signed contract)


@dataclass(frozen=True, slots=True)
class ActivityCap:
    """The most decayed positive points one activity type may earn, per UTC day and/or in total."""

    activity_type: str
    total: float | None = None
    per_day: float | None = None


class DecayKind(enum.StrEnum):
    NONE = "none"
    HALF_LIFE = "half_life"
    LINEAR = "linear"


@dataclass(frozen=True, slots=True)
class Decay:
    """How positive points fade. ``linear`` is stepwise: ``percent`` of the original points is lost at
    the end of every full ``every_days`` period, floored at zero (Pardot-style)."""

    kind: DecayKind = DecayKind.NONE
    half_life_days: float | None = None
    percent: float | None = None
    every_days: float | None = None

    def __post_init__(self) -> None:
        if self.kind is DecayKind.HALF_LIFE and not (self.half_life_days and self.half_life_days > 0):
            raise ValueError("half_life decay needs half_life_days > 0")
        if self.kind is DecayKind.LINEAR and not (
            self.percent and 0 < self.percent <= 100 and self.every_days and self.every_days > 0
        ):
            raise ValueError("linear decay needs 0 < percent <= 100 and every_days > 0")

    def half_life_rate(self) -> float | None:
        """For half-life decay, ``rate`` such that the share kept at ``age`` days is ``exp(age * rate)``."""
        if self.kind is DecayKind.HALF_LIFE:
            assert self.half_life_days is not None
            return -math.log(2) / self.half_life_days
        return None

    def factor_function(self) -> Callable[[float], float]:
        """A function from age in days (>= 0) to the share of points kept, non-increasing in age."""
        rate = self.half_life_rate()
        if rate is not None:
            exp = math.exp
            return lambda age: exp(age * rate)
        if self.kind is DecayKind.LINEAR:
            assert self.percent is not None and self.every_days is not None
            step, every, floor = self.percent / 100.0, self.every_days, math.floor
            return lambda age: max(0.0, 1.0 - step * floor(age / every))
        return lambda age: 1.0


class _Compiled(NamedTuple):
    slot: int  # the rule's position in ScoringModel.rules
    matcher: Matcher | None
    fades: bool  # positive and decaying: weighted by the decay factor, else counted at full value


class _TypePlan(NamedTuple):
    rules: tuple[_Compiled, ...]
    per_day: bool  # a per-day cap exists for this type, so activities are bucketed by UTC day
    # (slot, fades) when the type has one rule, without filters and without a per-day cap: most types.
    single: tuple[int, bool] | None


@dataclass(frozen=True, slots=True)
class _Plan:
    by_type: Mapping[str, _TypePlan]
    points: tuple[float, ...]
    caps: tuple[tuple[ActivityCap, frozenset[int]], ...]  # each cap with the positive rules it limits
    capped: frozenset[int]  # every rule some cap limits
    uncapped: tuple[int, ...]  # every other rule, in order
    # ``points`` with 0.0 for capped rules, when every point value is finite: rules that matched nothing
    # kept 0.0, so summing all products (in C, via map) adds only exact zeros to the uncapped sum.
    uncapped_points: tuple[float, ...] | None
    per_day_cap_of: Mapping[int, int]  # rule -> position in ``caps``, for the rules a per-day cap limits
    factor: Callable[[float], float]
    half_life_rate: float | None  # set for half-life decay: the hot loop inlines exp(age * rate)


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """A scoring rule set, compiled once at construction (filters, type index, decay constants)."""

    rules: tuple[ScoringRule, ...]
    decay: Decay = Decay()
    caps: tuple[ActivityCap, ...] = ()
    version: str = ""
    _plan: _Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("scoring rule names must be unique")
        caps = {cap.activity_type: cap for cap in self.caps}
        by_type: dict[str, list[_Compiled]] = {}
        for index, rule in enumerate(self.rules):
            fades = rule.decays and rule.points > 0
            by_type.setdefault(rule.activity_type, []).append(_Compiled(index, _compile_filters(rule.filters), fades))
        capped = tuple(
            (cap, frozenset(i for i, r in enumerate(self.rules) if r.activity_type == t and r.points > 0))
            for t, cap in caps.items()
        )
        all_capped: frozenset[int] = frozenset().union(*(members for _, members in capped))
        plan = _Plan(
            by_type={t: _type_plan(rs, t in caps and caps[t].per_day is not None) for t, rs in by_type.items()},
            points=tuple(float(rule.points) for rule in self.rules),
            caps=capped,
            capped=all_capped,
            uncapped=tuple(i for i in range(len(self.rules)) if i not in all_capped),
            uncapped_points=tuple(0.0 if i in all_capped else float(r.points) for i, r in enumerate(self.rules))
            if all(math.isfinite(r.points) for r in self.rules) else None,
            per_day_cap_of={i: pos for pos, (cap, members) in enumerate(capped) if cap.per_day is not None
                             for i in members},
            factor=self.decay.factor_function(),
            half_life_rate=self.decay.half_life_rate(),
        )
        object.__setattr__(self, "_plan", plan)


def _type_plan(rules: list[_Compiled], per_day: bool) -> _TypePlan:
    alone = len(rules) == 1 and rules[0].matcher is None and not per_day
    return _TypePlan(tuple(rules), per_day, (rules[0].slot, rules[0].fades) if alone else None)


class RuleContribution(NamedTuple):
    """One breakdown line: what one rule added to the score and why."""

    rule: str
    activity_type: str
    activities: int  # scored activities the rule matched
    future: int  # matched activities dated after ``now``, not scored
    raw_points: float  # sum of the rule's points, before decay and caps
    decayed_points: float  # after decay, before caps
    points: float  # what the line adds to the value, after caps and rounding
    capped_by: tuple[str, ...]  # e.g. ("caps.page_view.per_day",)


class _Tally(NamedTuple):
    """What the hot loop accumulated for one person: enough to rebuild the breakdown on demand."""

    model: ScoringModel
    counts: list[int]
    future: list[int]
    kept: list[float]  # per rule: sum of decay factors (1.0 per activity for rules that do not fade)
    daily: dict[tuple[int, int], float]  # (rule, UTC day) -> kept, for types with a per-day cap
    total: float  # exact value before the floor at zero and rounding


@dataclass(frozen=True)
class ScoreResult:
    """A score and its explanation.

    ``breakdown`` is built on first access from what the hot loop tallied (the value never depends on
    it), which keeps bulk scoring fast when only values are needed. The tally is not a dataclass field,
    so ``dataclasses.asdict`` gives the plain fields; serialise ``breakdown`` explicitly."""

    person_id: str
    value: float
    version: str
    computed_at: datetime

    @cached_property
    def breakdown(self) -> tuple[RuleContribution, ...]:
        tally: _Tally | None = self.__dict__.get("_tally")
        return () if tally is None else _breakdown(tally, self.value)


def _compile_filter(spec: PropertyFilter) -> Matcher:
    name = spec.property
    wanted = tuple(v.casefold() for v in spec.values)
    if spec.op is MatchOp.REGEX:
        search = re.compile("|".join(f"(?:{v})" for v in spec.values), re.IGNORECASE).search
        return lambda props: (value := props.get(name)) is not None and search(value) is not None
    if spec.op is MatchOp.EQUALS:
        wanted_set = frozenset(wanted)
        return lambda props: (value := props.get(name)) is not None and value.casefold() in wanted_set
    if spec.op is MatchOp.STARTS_WITH:
        return lambda props: (value := props.get(name)) is not None and value.casefold().startswith(wanted)
    if len(wanted) == 1:
        needle = wanted[0]
        return lambda props: (value := props.get(name)) is not None and needle in value.casefold()
    # Several needles: one compiled alternation over the case-folded value instead of a Python loop.
    search_any = re.compile("|".join(re.escape(n) for n in wanted)).search
    return lambda props: (value := props.get(name)) is not None and search_any(value.casefold()) is not None


def _compile_filters(filters: Sequence[PropertyFilter]) -> Matcher | None:
    if not filters:
        return None
    matchers = tuple(_compile_filter(f) for f in filters)
    if len(matchers) == 1:
        return matchers[0]
    return lambda props: all(m(props) for m in matchers)


def score(person: Person, activities: Iterable[Activity], model: ScoringModel, now: datetime) -> ScoreResult:
    """Score ``person`` from ``activities`` as of ``now`` (timezone-aware), with a breakdown that adds up."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    plan = model._plan
    size = len(plan.points)
    counts, future, kept = [0] * size, [0] * size, [0.0] * size
    daily: dict[tuple[int, int], float] = {}
    by_type_get, factor_of, rate, exp = plan.by_type.get, plan.factor, plan.half_life_rate, math.exp
    # The hot loop, run for every activity of every person. A rule's points are constant, so only
    # counts and sums of decay factors ("kept") are accumulated; points are multiplied in once per rule
    # afterwards. Half-life decay and the UTC day of a UTC datetime are inlined (no call per activity).
    for activity in activities:
        type_plan = by_type_get(activity.type)
        if type_plan is None:
            continue
        occurred_at = activity.occurred_at
        age = (now - occurred_at) / _DAY
        rules, per_day, single = type_plan
        if age < 0:
            props = activity.properties
            for slot, matcher, _ in rules:
                if matcher is None or matcher(props):
                    future[slot] += 1
            continue
        factor = exp(age * rate) if rate is not None else factor_of(age)
        if single is not None:  # the usual type: one rule, no filter, no day bucket
            slot, fades = single
            counts[slot] += 1
            kept[slot] += factor if fades else 1.0
            continue
        if not per_day:
            for slot, matcher, fades in rules:
                if matcher is None or matcher(activity.properties):
                    counts[slot] += 1
                    kept[slot] += factor if fades else 1.0
            continue
        day = occurred_at.toordinal() if occurred_at.tzinfo is UTC else _utc_day(occurred_at)
        for slot, matcher, fades in rules:
            if matcher is None or matcher(activity.properties):
                counts[slot] += 1
                weight = factor if fades else 1.0
                kept[slot] += weight
                key = (slot, day)
                daily[key] = daily.get(key, 0.0) + weight
    if not any(counts) and not any(future):
        return ScoreResult(person.id, 0.0, model.version, now)
    total = _total(model._plan, counts, kept, daily)
    tally = _Tally(model, counts, future, kept, daily, total)
    result = ScoreResult(person.id, round(max(total, 0.0) * 100) / 100, model.version, now)
    object.__setattr__(result, "_tally", tally)
    return result


def _utc_day(moment: datetime) -> int:
    """The proleptic ordinal of ``moment``'s UTC date; the cheap path covers the usual UTC datetimes."""
    if moment.tzinfo is UTC:
        return moment.toordinal()
    return (moment - _EPOCH) // _DAY + _EPOCH_ORDINAL


def _total(plan: _Plan, counts: list[int], kept: list[float], daily: dict[tuple[int, int], float]) -> float:
    """The exact score: each capped group's own min(cap, sum) plus every uncapped rule's points.

    Summed from group values rather than from scaled per-rule shares, so float noise in the shares
    (which only explain the value) can never move it."""
    points = plan.points
    if plan.uncapped_points is not None:
        parts = list(map(operator.mul, plan.uncapped_points, kept))
    else:
        parts = [points[i] * kept[i] for i in plan.uncapped if counts[i]]
    if plan.caps:
        parts.extend(_capped_values(plan, counts, kept, daily))
    return math.fsum(parts)


def _capped_values(plan: _Plan, counts: list[int], kept: list[float],
                   daily: dict[tuple[int, int], float]) -> list[float]:
    """Each active cap group's value, min(cap, decayed points), as :func:`_cap_group` computes it for the
    breakdown, for every cap at once: one pass over ``daily`` instead of one per cap, no shares. Day
    totals are summed in the same order, so the values are the same to the last bit."""
    points = plan.points
    cap_of = plan.per_day_cap_of
    day_totals: dict[int, dict[int, float]] = {}  # cap position -> UTC day -> decayed points
    for (index, day), weight in daily.items():
        position = cap_of.get(index)
        if position is not None:
            days = day_totals.get(position)
            if days is None:
                days = day_totals[position] = {}
            days[day] = days.get(day, 0.0) + points[index] * weight
    values = []
    for position, (cap, members) in enumerate(plan.caps):
        for i in members:
            if counts[i]:  # only groups with activity have a value; the others add nothing
                break
        else:
            continue
        if cap.per_day is not None:
            # min(per_day, day total) for every day, summed; map keeps the loop in C.
            totals = day_totals[position].values()
            group_total = math.fsum(map(min, repeat(cap.per_day, len(totals)), totals))
        elif len(members) == 1:
            (i,) = members
            group_total = points[i] * kept[i]  # what fsum of the one product gives
        else:
            group_total = math.fsum([points[i] * kept[i] for i in members])
        values.append(group_total if cap.total is None else min(cap.total, group_total))
    return values


def _cap_group(
    cap: ActivityCap,
    members: frozenset[int],
    points: Sequence[float],
    kept: Sequence[float],
    daily: dict[tuple[int, int], float],
    shares: dict[int, tuple[float, list[str]]],
) -> float:
    """min(cap, decayed points) for one activity type's positive rules: per UTC day first, then in total,
    for the breakdown (:func:`_capped_values` computes the same value for the score itself).

    Records each rule's share of the group value and the caps that cut it in ``shares``; every rule of a
    cut group is scaled by the same factor, so the shares add up to the group value."""
    if cap.per_day is not None:
        day_totals: dict[int, float] = {}
        for (index, day), weight in daily.items():
            if index in members:
                day_totals[day] = day_totals.get(day, 0.0) + points[index] * weight
        group_total = math.fsum(min(cap.per_day, t) for t in day_totals.values())
    else:
        group_total = math.fsum(points[i] * kept[i] for i in members)
    amounts = {i: points[i] * kept[i] for i in members}
    cuts: dict[int, list[str]] = {i: [] for i in members}
    if cap.per_day is not None:
        over = {day: cap.per_day / t for day, t in day_totals.items() if t > cap.per_day}
        for (index, day), weight in daily.items():
            if index in members and day in over:
                amounts[index] -= points[index] * weight * (1.0 - over[day])
                _note(cuts[index], f"caps.{cap.activity_type}.per_day")
    if cap.total is not None and group_total > cap.total:
        scale = cap.total / group_total
        group_total = cap.total
        for index in members:
            if amounts[index] > 0:
                amounts[index] *= scale
                _note(cuts[index], f"caps.{cap.activity_type}.total")
    shares.update({i: (amounts[i], cuts[i]) for i in members})
    return group_total


def _note(names: list[str], cap_name: str) -> None:
    if cap_name not in names:
        names.append(cap_name)


def _breakdown(tally: _Tally, value: float) -> tuple[RuleContribution, ...]:
    """One line per rule that matched anything, plus the floor line; lines add up to ``value`` in cents."""
    model, counts, future, kept, daily, total = tally
    plan, rules = model._plan, model.rules
    shares: dict[int, tuple[float, list[str]]] = {}
    for cap, members in plan.caps:
        if any(counts[i] for i in members):
            _cap_group(cap, members, plan.points, kept, daily, shares)
    lines = [i for i in range(len(counts)) if counts[i] or future[i]]
    parts = [shares[i][0] if i in shares else plan.points[i] * kept[i] for i in lines]
    if total < 0:
        parts.append(-total)
    cents = _apportion(parts, round(value * 100))
    breakdown = [
        RuleContribution(
            rules[i].name, rules[i].activity_type, counts[i], future[i], plan.points[i] * counts[i],
            plan.points[i] * kept[i], c / 100, tuple(shares[i][1]) if i in shares else (),
        )
        for i, c in zip(lines, cents, strict=False)
    ]
    if total < 0:
        breakdown.append(RuleContribution(FLOOR_LINE, "", 0, 0, 0.0, 0.0, cents[-1] / 100, ()))
    return tuple(breakdown)


def _apportion(parts: list[float], target_cents: int) -> list[int]:
    """Integer cents per part, summing to ``target_cents``, each within a cent of its exact value."""
    scaled = [p * 100 for p in parts]
    cents = [math.floor(x) for x in scaled]
    short = target_cents - sum(cents)
    if short:
        order = sorted(range(len(parts)), key=lambda i: scaled[i] - cents[i], reverse=short > 0)
        step = 1 if short > 0 else -1
        for k in range(abs(short)):
            cents[order[k % len(order)]] += step
    return cents
