"""``contact_status.toml``: the contact statuses and which call, meeting and email outcome leads where.

Every canonical disposition/outcome must be routed (to a status or to ``"attempt"``): an outcome the
file forgot would otherwise be dropped without a trace.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadsync.domain.contact_status import ATTEMPT, CHANNEL_VALUES, ContactStatusRules
from leadsync.domain.version import content_version
from leadsync.rules.source import RuleError, RuleSetError, SourceFile, validate

FILE_NAME = "contact_status.toml"

_STRICT = ConfigDict(extra="forbid", strict=True)


class UnresponsiveModel(BaseModel):
    model_config = _STRICT
    status: str = Field(min_length=1)
    after_attempts: int = Field(ge=1)
    window_days: int | None = Field(default=None, ge=1)


class RoutesModel(BaseModel):
    model_config = _STRICT
    call: dict[str, str] = {}
    meeting: dict[str, str] = {}
    email: dict[str, str] = {}


class ContactStatusFile(BaseModel):
    model_config = _STRICT
    statuses: list[str] = Field(min_length=1)
    new: str
    attempting: list[str] = Field(min_length=1)
    unresponsive: UnresponsiveModel
    outcomes: RoutesModel


def load(data: dict[str, Any], source: SourceFile) -> ContactStatusRules:
    """Validate ``contact_status.toml`` into :class:`ContactStatusRules`, reporting every problem."""
    model = validate(ContactStatusFile, data, source)
    errors = [*_check_names(model, source), *_check_routes(model, source)]
    if errors:
        raise RuleSetError(errors)
    routes = {channel: dict(getattr(model.outcomes, channel)) for channel in CHANNEL_VALUES}
    return ContactStatusRules(
        statuses=tuple(model.statuses),
        new=model.new,
        attempting=tuple(model.attempting),
        unresponsive=model.unresponsive.status,
        unresponsive_after=model.unresponsive.after_attempts,
        window_days=model.unresponsive.window_days,
        routes=routes,
        version=content_version({FILE_NAME: data}),
    )


def _check_names(model: ContactStatusFile, source: SourceFile) -> list[RuleError]:
    errors: list[RuleError] = []
    known = set(model.statuses)
    for i, name in enumerate(model.statuses):
        if name in model.statuses[:i]:
            errors.append(source.error(("statuses", i), f"duplicate status {name!r}"))
        if name == ATTEMPT:
            errors.append(source.error(("statuses", i), f"{ATTEMPT!r} is reserved for counting attempts"))
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("new",), model.new), (("unresponsive", "status"), model.unresponsive.status),
        *((("attempting", i), name) for i, name in enumerate(model.attempting)),
    ]
    for path, name in named:
        if name not in known:
            errors.append(source.error(path, f"unknown status {name!r} (not in statuses)"))
    if model.unresponsive.after_attempts <= len(model.attempting):
        unreachable = model.attempting[model.unresponsive.after_attempts - 1:]
        errors.append(source.error(("unresponsive", "after_attempts"), f"after {model.unresponsive.after_attempts} "
                                   f"attempts the person is unresponsive, so {', '.join(map(repr, unreachable))} "
                                   "can never be reached; raise after_attempts or shorten attempting"))
    return errors


def _check_routes(model: ContactStatusFile, source: SourceFile) -> list[RuleError]:
    errors: list[RuleError] = []
    known = set(model.statuses)
    used = {model.new, model.unresponsive.status, *model.attempting}
    for channel, canonical in CHANNEL_VALUES.items():
        routes: dict[str, str] = getattr(model.outcomes, channel)
        for value, target in routes.items():
            path = ("outcomes", channel, value)
            if value not in canonical:
                errors.append(source.error(path, f"unknown {channel} value {value!r} (expected one of "
                                           f"{', '.join(canonical)})"))
            elif target != ATTEMPT and target not in known:
                errors.append(source.error(path, f"unknown status {target!r} (not in statuses, and not "
                                           f"{ATTEMPT!r})"))
            used.add(target)
        missing = [value for value in canonical if value not in routes]
        if missing:
            errors.append(source.error(("outcomes", channel), f"no route for {', '.join(missing)}: every {channel} "
                                       f"value must lead to a status or to {ATTEMPT!r}"))
    for i, name in enumerate(model.statuses):
        if name not in used:
            errors.append(source.error(("statuses", i), f"status {name!r} is unreachable: nothing leads to it"))
    return errors
