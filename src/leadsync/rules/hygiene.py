"""``hygiene.toml``: junk and test sign-up rules, validated into :class:`leadsync.domain.hygiene.HygieneRules`.

Structure and types are checked by strict pydantic models; meaning (which keys each check needs or
ignores, known or declared fields, regexes that compile, unique names) is checked afterwards, and every
problem is reported at once with its file, line and key.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadsync.domain.hygiene import HygieneCheck, HygieneRule, HygieneRules
from leadsync.domain.model import PERSON_FIELDS, HygieneAction
from leadsync.domain.version import content_version
from leadsync.rules.source import RuleError, RuleSetError, SourceFile, validate

FILE_NAME = "hygiene.toml"

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

# Which optional keys each check uses; giving one it ignores is an error, so nothing is silently unused.
_NEEDS_FIELDS = {HygieneCheck.JUNK_VALUE, HygieneCheck.KEYBOARD_MASH, HygieneCheck.REPEATED,
                 HygieneCheck.PATTERN, HygieneCheck.MISSING}
_NEEDS_VALUES = {HygieneCheck.EMAIL_DOMAIN, HygieneCheck.EMAIL_LOCAL_PART, HygieneCheck.JUNK_VALUE,
                 HygieneCheck.PATTERN}
_TAKES_LENGTH = {HygieneCheck.KEYBOARD_MASH, HygieneCheck.REPEATED}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RuleModel(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    check: Literal[
        "email_domain", "email_local_part", "email_invalid", "junk_value", "keyboard_mash", "repeated",
        "pattern", "missing",
    ]
    action: Literal["flag", "disqualify"]
    reason: str | None = Field(default=None, min_length=1)
    fields: list[str] | None = None
    values: list[str] | None = None
    min_length: int | None = Field(default=None, ge=2)


class HygieneFile(_Strict):
    custom_fields: list[str] = []
    rules: list[RuleModel] = Field(min_length=1)


def load(data: dict[str, Any], source: SourceFile) -> HygieneRules:
    """Validate a parsed ``hygiene.toml``; :class:`RuleSetError` lists every problem found."""
    parsed = validate(HygieneFile, data, source)
    errors: list[RuleError] = []
    for index, name in enumerate(parsed.custom_fields):
        if name in PERSON_FIELDS:
            errors.append(source.error(("custom_fields", index), f"{name!r} is a standard field; do not declare it"))
    known = PERSON_FIELDS | frozenset(parsed.custom_fields)
    rules = [_rule(i, spec, known, source, errors) for i, spec in enumerate(parsed.rules)]
    seen: set[str] = set()
    for index, spec in enumerate(parsed.rules):
        if spec.name in seen:
            errors.append(source.error(("rules", index, "name"), f"duplicate rule name {spec.name!r}"))
        seen.add(spec.name)
    if errors:
        raise RuleSetError(errors)
    return HygieneRules(tuple(r for r in rules if r is not None), version=content_version({FILE_NAME: data}))


def _rule(
    index: int, spec: RuleModel, known: frozenset[str], source: SourceFile, errors: list[RuleError]
) -> HygieneRule | None:
    where = ("rules", index)
    before = len(errors)
    check = HygieneCheck(spec.check)
    for key, needed in (("fields", check in _NEEDS_FIELDS), ("values", check in _NEEDS_VALUES)):
        given = getattr(spec, key)
        if needed and not given:
            errors.append(source.error(where, f"{check.value} needs a non-empty {key} list"))
        elif not needed and given is not None:
            errors.append(source.error((*where, key), f"{check.value} does not use {key}"))
    if spec.min_length is not None and check not in _TAKES_LENGTH:
        errors.append(source.error((*where, "min_length"), f"{check.value} does not use min_length"))
    for position, name in enumerate(spec.fields or []):
        if name not in known:
            errors.append(source.error(
                (*where, "fields", position),
                f"unknown person field {name!r} (declare custom fields in custom_fields)",
            ))
    for value in spec.values or []:
        problem = _value_problem(check, value)
        if problem:
            errors.append(source.error((*where, "values"), problem))
    if len(errors) > before:
        return None
    action = HygieneAction(spec.action)
    reason = spec.reason or ("spam" if action is HygieneAction.DISQUALIFY else spec.name)
    return HygieneRule(
        spec.name, check, action, reason, tuple(spec.fields or ()), tuple(spec.values or ()),
        spec.min_length if spec.min_length is not None else 4,
    )


def _value_problem(check: HygieneCheck, value: str) -> str | None:
    if not value.strip():
        return "empty value"
    if check is HygieneCheck.PATTERN:
        try:
            re.compile(value)
        except re.error as exc:
            return f"bad regex {value!r}: {exc}"
    if check is HygieneCheck.EMAIL_DOMAIN and ("@" in value or " " in value.strip()):
        return f"{value!r} is not a mail domain (write example.com, without @)"
    if check is HygieneCheck.EMAIL_LOCAL_PART and "@" in value:
        return f"{value!r}: give the mailbox name only (info, not info@)"
    return None
