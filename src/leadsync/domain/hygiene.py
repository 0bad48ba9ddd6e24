"""Junk and test sign-ups: rules that disqualify a person (reason ``spam`` or the rule's own) or flag
them for review.

Every rule is checked; the verdict lists every rule that matched, in file order. Disqualify wins over
flag, and the verdict's reason is the reason of the first matched rule with the winning action.
Values are compared without case and with surrounding and repeated whitespace ignored, so " Test " and
"TEST" are the same junk value. An empty field never matches anything but a ``missing`` check.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leadsync.domain.model import HygieneAction, HygieneVerdict, Person

# Runs along one keyboard row (QWERTY, QWERTZ, AZERTY), in either direction, are how mashed input looks.
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "qwertzuiop", "yxcvbnm", "azertyuiop", "qsdfghjklm", "wxcvbn")
_KEYBOARD_RUNS = (*_KEYBOARD_ROWS, *(row[::-1] for row in _KEYBOARD_ROWS))
_REPEATED = re.compile(r"^(.{1,3})\1{2,}$")  # "aaaa", "ababab", "xyzxyzxyz"
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


class HygieneCheck(enum.StrEnum):
    EMAIL_DOMAIN = "email_domain"  # the email's domain, or a parent of it, is listed (disposable mail)
    EMAIL_LOCAL_PART = "email_local_part"  # the mailbox before "@" (and any "+tag") is listed (info@, sales@)
    EMAIL_INVALID = "email_invalid"  # an email is given but is not shaped name@domain.tld
    JUNK_VALUE = "junk_value"  # a field is exactly one of the listed values (test, asdf ...)
    KEYBOARD_MASH = "keyboard_mash"  # a field's letters are a run along one keyboard row (qwert, lkjhg)
    REPEATED = "repeated"  # a field is one to three characters repeated (aaaa, abab ab)
    PATTERN = "pattern"  # a field contains a match for any listed regex (digits, a URL ...)
    MISSING = "missing"  # any listed field is empty


@dataclass(frozen=True, slots=True)
class HygieneRule:
    name: str
    check: HygieneCheck
    action: HygieneAction  # FLAG or DISQUALIFY
    reason: str
    fields: tuple[str, ...] = ()  # person fields examined (not used by the email checks)
    values: tuple[str, ...] = ()  # domains, mailbox names, junk values or regexes, by check
    min_length: int = 4  # keyboard_mash and repeated: shorter values are never judged

    def __post_init__(self) -> None:
        if self.action is HygieneAction.OK:
            raise ValueError(f"hygiene rule {self.name!r}: action must be flag or disqualify")


Test = Callable[[Person], bool]


@dataclass(frozen=True, slots=True)
class HygieneRules:
    rules: tuple[HygieneRule, ...]
    version: str = ""
    _tests: tuple[Test, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tests", tuple(_compile(rule) for rule in self.rules))


def normalise(value: str) -> str:
    return " ".join(value.split()).casefold()


def _texts(person: Person, names: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for name in names:
        value: Any = person.get(name)
        items = value if isinstance(value, tuple) else (value,)
        out.extend(normalise(str(item)) for item in items if item is not None and str(item).strip())
    return out


def _email_parts(person: Person) -> tuple[str, str] | None:
    email = normalise(person.email or "")
    if "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    return local.split("+", 1)[0], domain.rstrip(".")


def _is_mash(text: str, min_length: int) -> bool:
    letters = "".join(ch for ch in text if ch.isalpha())
    return len(letters) >= min_length and any(letters in run for run in _KEYBOARD_RUNS)


def _is_repeated(text: str, min_length: int) -> bool:
    compact = "".join(text.split())
    return len(compact) >= min_length and _REPEATED.match(compact) is not None


def _compile(rule: HygieneRule) -> Test:
    values = frozenset(normalise(v) for v in rule.values)
    names, size = rule.fields, rule.min_length
    match rule.check:
        case HygieneCheck.EMAIL_DOMAIN:
            def listed_domain(person: Person) -> bool:
                parts = _email_parts(person)
                if parts is None:
                    return False
                labels = parts[1].split(".")
                return any(".".join(labels[i:]) in values for i in range(len(labels)))
            return listed_domain
        case HygieneCheck.EMAIL_LOCAL_PART:
            return lambda person: (parts := _email_parts(person)) is not None and parts[0] in values
        case HygieneCheck.EMAIL_INVALID:
            return lambda person: bool(email := (person.email or "").strip()) and not _EMAIL_SHAPE.match(email)
        case HygieneCheck.JUNK_VALUE:
            return lambda person: any(text in values for text in _texts(person, names))
        case HygieneCheck.KEYBOARD_MASH:
            return lambda person: any(_is_mash(text, size) for text in _texts(person, names))
        case HygieneCheck.REPEATED:
            return lambda person: any(_is_repeated(text, size) for text in _texts(person, names))
        case HygieneCheck.PATTERN:
            search = re.compile("|".join(f"(?:{v})" for v in rule.values), re.IGNORECASE).search
            return lambda person: any(search(text) for text in _texts(person, names))
        case HygieneCheck.MISSING:
            return lambda person: any(not _texts(person, (name,)) for name in names)
    raise ValueError(f"unknown hygiene check {rule.check!r}")  # pragma: no cover - enum is exhaustive


def check(person: Person, rules: HygieneRules) -> HygieneVerdict:
    """Run every hygiene rule against ``person``; disqualify wins over flag; every match is listed."""
    matched = [rule for rule, test in zip(rules.rules, rules._tests, strict=True) if test(person)]
    if not matched:
        return HygieneVerdict()
    disqualifying = [rule for rule in matched if rule.action is HygieneAction.DISQUALIFY]
    decisive = disqualifying[0] if disqualifying else matched[0]
    return HygieneVerdict(decisive.action, decisive.reason, tuple(rule.name for rule in matched))
