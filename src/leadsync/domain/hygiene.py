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
_NOT_LETTERS = re.compile(r"[\W\d_]+")
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


Test = Callable[["_View"], bool]


@dataclass(frozen=True, slots=True)
class HygieneRules:
    rules: tuple[HygieneRule, ...]
    version: str = ""
    _tests: tuple[Test, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tests", tuple(_compile(rule) for rule in self.rules))


def normalise(value: str) -> str:
    return " ".join(value.split()).casefold()


class _View:
    """One person's values as the rules compare them, normalised once per check rather than per rule."""

    __slots__ = ("_texts", "email_parts", "person")

    def __init__(self, person: Person) -> None:
        self.person = person
        self._texts: dict[tuple[str, ...], tuple[str, ...]] = {}
        # (mailbox without any +tag, domain), or None without an "@".
        email = normalise(person.email or "")
        local, at, domain = email.rpartition("@")
        self.email_parts = (local.split("+", 1)[0], domain.rstrip(".")) if at else None

    def texts(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """The present values of ``names``, normalised; cached per tuple, as several rules share one."""
        cached = self._texts.get(names)
        if cached is None:
            out: list[str] = []
            for name in names:
                value: Any = self.person.get(name)
                for item in value if isinstance(value, tuple) else (value,):
                    if item is not None and (text := normalise(str(item))):
                        out.append(text)
            cached = self._texts[names] = tuple(out)
        return cached


def _mash_runs(min_length: int) -> frozenset[str]:
    """Every stretch of at least ``min_length`` keys along a keyboard row: one set lookup per value."""
    return frozenset(
        run[start:end]
        for run in _KEYBOARD_RUNS
        for start in range(len(run))
        for end in range(start + min_length, len(run) + 1)
    )


def _is_repeated(text: str, min_length: int) -> bool:
    compact = text.replace(" ", "")
    return len(compact) >= min_length and _REPEATED.match(compact) is not None


def _compile(rule: HygieneRule) -> Test:
    values = frozenset(normalise(v) for v in rule.values)
    names, size = rule.fields, rule.min_length
    match rule.check:
        case HygieneCheck.EMAIL_DOMAIN:
            def listed_domain(view: _View) -> bool:
                parts = view.email_parts
                if parts is None:
                    return False
                labels = parts[1].split(".")
                return any(".".join(labels[i:]) in values for i in range(len(labels)))
            return listed_domain
        case HygieneCheck.EMAIL_LOCAL_PART:
            return lambda view: (parts := view.email_parts) is not None and parts[0] in values
        case HygieneCheck.EMAIL_INVALID:
            return lambda view: bool(email := (view.person.email or "").strip()) and not _EMAIL_SHAPE.match(email)
        case HygieneCheck.JUNK_VALUE:
            return lambda view: not values.isdisjoint(view.texts(names))
        case HygieneCheck.KEYBOARD_MASH:
            runs = _mash_runs(size)
            return lambda view: any(_NOT_LETTERS.sub("", text) in runs for text in view.texts(names))
        case HygieneCheck.REPEATED:
            return lambda view: any(_is_repeated(text, size) for text in view.texts(names))
        case HygieneCheck.PATTERN:
            search = re.compile("|".join(f"(?:{v})" for v in rule.values), re.IGNORECASE).search
            return lambda view: any(search(text) for text in view.texts(names))
        case HygieneCheck.MISSING:
            return lambda view: any(not view.texts((name,)) for name in names)
    raise ValueError(f"unknown hygiene check {rule.check!r}")  # pragma: no cover - enum is exhaustive


def check(person: Person, rules: HygieneRules) -> HygieneVerdict:
    """Run every hygiene rule against ``person``; disqualify wins over flag; every match is listed."""
    view = _View(person)
    matched = [rule for rule, test in zip(rules.rules, rules._tests, strict=True) if test(view)]
    if not matched:
        return HygieneVerdict()
    disqualifying = [rule for rule in matched if rule.action is HygieneAction.DISQUALIFY]
    decisive = disqualifying[0] if disqualifying else matched[0]
    return HygieneVerdict(decisive.action, decisive.reason, tuple(rule.name for rule in matched))
