"""``lifecycle.toml``: the statuses, their funnel order and role, and the entry rule of each.

Each ``[[status]]`` has a ``name`` (anything the org calls it), a ``role`` (the fixed concept the code
reasons about) and an optional ``[status.enter]`` table. Which entry keys a status may use depends on
its role, so a recycle rule cannot be put on MQL by mistake and silently mean something else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadsync.domain.grades import GRADES
from leadsync.domain.lifecycle import (
    FUNNEL_ROLES,
    REPEATABLE_ROLES,
    DisqualifyRules,
    EntryRules,
    LifecycleRules,
    RecycleRules,
    Role,
    Status,
    Threshold,
)
from leadsync.domain.model import ACTIVITY_TYPES
from leadsync.domain.version import content_version
from leadsync.rules.source import RuleError, RuleSetError, SourceFile, validate

FILE_NAME = "lifecycle.toml"

_STRICT = ConfigDict(extra="forbid", strict=True)
RoleName = Literal["raw", "inquiry", "mql", "sal", "sql", "opportunity", "customer", "disqualified", "recycled"]


class ThresholdModel(BaseModel):
    model_config = _STRICT
    min_score: float
    min_grade: str


class EnterModel(BaseModel):
    model_config = _STRICT
    real_interaction: list[str] = []
    score_and_grade: ThresholdModel | None = None
    matrix: list[ThresholdModel] = []
    hand_raise: list[str] = []
    crm_status: list[str] = []
    owner: Literal["user", "any"] = "any"
    converted: bool = False
    open_opportunity: bool = False
    won_opportunity: bool = False
    lost_opportunity: bool = False
    hygiene: bool = False
    crm_status_reasons: dict[str, str] = {}


class StatusModel(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    role: RoleName
    description: str = ""
    enter: EnterModel = EnterModel()


class LifecycleFile(BaseModel):
    model_config = _STRICT
    status: list[StatusModel] = Field(min_length=1)


_FORWARD_KEYS = {"score_and_grade", "matrix", "hand_raise", "crm_status", "owner", "converted", "open_opportunity",
                 "won_opportunity"}
ALLOWED_ENTER_KEYS: dict[Role, set[str]] = {
    Role.RAW: set(),
    Role.INQUIRY: {"real_interaction"},
    **dict.fromkeys((Role.MQL, Role.SAL, Role.SQL, Role.OPPORTUNITY, Role.CUSTOMER), _FORWARD_KEYS),
    Role.DISQUALIFIED: {"hygiene", "crm_status_reasons"},
    Role.RECYCLED: {"crm_status", "lost_opportunity"},
}


def load(data: dict[str, Any], source: SourceFile) -> LifecycleRules:
    """Validate ``lifecycle.toml`` into :class:`LifecycleRules`; every problem found is reported."""
    model = validate(LifecycleFile, data, source)
    errors = [*_check_roles(model, source), *_check_values(model, source), *_check_crm_claims(model, source)]
    if errors:
        raise RuleSetError(errors)
    return _build(model, content_version({FILE_NAME: data}))


def _check_roles(model: LifecycleFile, source: SourceFile) -> list[RuleError]:
    errors: list[RuleError] = []
    seen: dict[str, int] = {}
    for i, status in enumerate(model.status):
        if status.name in seen:
            errors.append(source.error(("status", i, "name"), f"duplicate status {status.name!r} "
                                       f"(first defined as status #{seen[status.name] + 1})"))
        seen.setdefault(status.name, i)
    for role in Role:
        holders = [i for i, s in enumerate(model.status) if s.role == role.value]
        if not holders:
            errors.append(source.error(("status",), f"no status has role {role.value!r}; every role needs one"))
        elif len(holders) > 1 and role not in REPEATABLE_ROLES:
            errors.append(source.error(("status", holders[1], "role"), f"role {role.value!r} may be held by "
                                       "only one status"))
    # Funnel statuses must appear in role order: an SQL listed before an MQL would invert the funnel.
    best = -1
    for i, status in enumerate(model.status):
        role = Role(status.role)
        if role not in FUNNEL_ROLES:
            continue
        position = FUNNEL_ROLES.index(role)
        if position < best:
            later = FUNNEL_ROLES[best].value
            errors.append(source.error(("status", i, "role"), f"{status.name!r} ({role.value}) is listed after a "
                                       f"later funnel stage ({later}); list statuses in funnel order"))
        best = max(best, position)
    return errors


def _check_values(model: LifecycleFile, source: SourceFile) -> list[RuleError]:
    errors: list[RuleError] = []
    for i, status in enumerate(model.status):
        enter, role, where = status.enter, Role(status.role), ("status", i, "enter")
        for key in sorted(enter.model_fields_set - ALLOWED_ENTER_KEYS[role]):
            allowed = ", ".join(sorted(ALLOWED_ENTER_KEYS[role])) or "none"
            errors.append(source.error((*where, key), f"not an entry rule for a {role.value} status "
                                       f"(allowed: {allowed})"))
        if role == Role.INQUIRY and not enter.real_interaction:
            errors.append(source.error(where, "the inquiry status needs real_interaction = [activity types]"))
        for key, types in (("real_interaction", enter.real_interaction), ("hand_raise", enter.hand_raise)):
            errors += _unknown_activity_types(types, (*where, key), source)
        paths: list[tuple[str | int, ...]] = [("score_and_grade",), *(("matrix", j) for j in range(len(enter.matrix)))]
        values = [enter.score_and_grade, *enter.matrix]
        for path, threshold in zip(paths, values, strict=True):
            if threshold is not None and threshold.min_grade not in GRADES:
                errors.append(source.error((*where, *path, "min_grade"), f"not a grade: {threshold.min_grade!r} "
                                           f"(expected one of {', '.join(GRADES)})"))
        if "owner" in enter.model_fields_set and not enter.crm_status:
            errors.append(source.error((*where, "owner"), "owner only qualifies crm_status; add crm_status"))
    return errors


def _unknown_activity_types(types: Iterable[str], path: tuple[str | int, ...], source: SourceFile) -> list[RuleError]:
    return [source.error(path, f"unknown activity type {kind!r}") for kind in types if kind not in ACTIVITY_TYPES]


def _check_crm_claims(model: LifecycleFile, source: SourceFile) -> list[RuleError]:
    """One CRM status value may lead to one lifecycle status only, or the outcome would hinge on file order."""
    errors: list[RuleError] = []
    owner_of: dict[str, str] = {}
    for i, status in enumerate(model.status):
        values = [*status.enter.crm_status, *status.enter.crm_status_reasons]
        key = "crm_status_reasons" if status.enter.crm_status_reasons else "crm_status"
        for value in values:
            if value in owner_of and owner_of[value] != status.name:
                errors.append(source.error(("status", i, "enter", key), f"CRM status {value!r} already leads to "
                                           f"{owner_of[value]!r}"))
            owner_of.setdefault(value, status.name)
    return errors


def _build(model: LifecycleFile, version: str) -> LifecycleRules:
    statuses: list[Status] = []
    rank = 0
    disqualify, recycle, real = DisqualifyRules(), RecycleRules(), frozenset[str]()
    for status in model.status:
        role, enter = Role(status.role), status.enter
        if role == Role.DISQUALIFIED:
            disqualify = DisqualifyRules(enter.hygiene, dict(enter.crm_status_reasons))
        elif role == Role.RECYCLED:
            recycle = RecycleRules(frozenset(enter.crm_status), enter.lost_opportunity)
        if role == Role.INQUIRY:
            real = frozenset(enter.real_interaction)
        entry = EntryRules() if role not in FUNNEL_ROLES else EntryRules(
            real_interaction=bool(enter.real_interaction),
            score_and_grade=_threshold(enter.score_and_grade),
            matrix=tuple(Threshold(t.min_score, t.min_grade) for t in enter.matrix),
            hand_raise=frozenset(enter.hand_raise),
            crm_status=frozenset(enter.crm_status),
            owner_must_be_user=enter.owner == "user",
            converted=enter.converted,
            open_opportunity=enter.open_opportunity,
            won_opportunity=enter.won_opportunity,
        )
        statuses.append(Status(status.name, role, rank if role in FUNNEL_ROLES else None, entry))
        rank += role in FUNNEL_ROLES
    return LifecycleRules(tuple(statuses), real, disqualify, recycle, version)


def _threshold(model: ThresholdModel | None) -> Threshold | None:
    return None if model is None else Threshold(model.min_score, model.min_grade)
