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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, NamedTuple

from leadsync.domain.model import PERSON_FIELDS, HygieneAction, HygieneVerdict, Person

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


class _FieldPlan(NamedTuple):
    """Every text rule that reads one person field, so the field is fetched and normalised once."""

    get: Callable[[Person], Any]
    missing: tuple[int, ...]  # rule indices that match when the field is empty
    junk: Mapping[str, tuple[int, ...]]  # normalised junk value -> rules listing it
    mash: Mapping[str, tuple[int, ...]]  # letters of a keyboard run -> rules (each with its min_length)
    shortest_run: int  # the shortest key of ``mash``: shorter texts cannot be a listed run
    repeated: tuple[tuple[int, int], ...]  # (min_length, rule index)
    patterns: tuple[tuple[Callable[[str], object], int], ...]  # (compiled search, rule index)
    any_pattern: Callable[[str], object] | None  # all of ``patterns`` in one regex, when that is safe


class _Plan(NamedTuple):
    """The rules regrouped by what they read. A person is checked in one pass over their fields with
    dict lookups, instead of one closure per rule each re-reading the fields: ``check`` runs for every
    person in every cycle, and this keeps it to a few microseconds."""

    domains: Mapping[str, tuple[int, ...]]  # listed domain -> email_domain rules
    mailboxes: Mapping[str, tuple[int, ...]]  # listed mailbox -> email_local_part rules
    invalid: tuple[int, ...]  # email_invalid rules
    fields: tuple[_FieldPlan, ...]
    names: tuple[str, ...]  # rule names, by index


@dataclass(frozen=True, slots=True)
class HygieneRules:
    rules: tuple[HygieneRule, ...]
    version: str = ""
    _plan: _Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", _compile(self.rules))


def normalise(value: str) -> str:
    return " ".join(value.split()).casefold()


def _mash_runs(min_length: int) -> frozenset[str]:
    """Every stretch of at least ``min_length`` keys along a keyboard row: one set lookup per value."""
    return frozenset(
        run[start:end]
        for run in _KEYBOARD_RUNS
        for start in range(len(run))
        for end in range(start + min_length, len(run) + 1)
    )


def _compile(rules: tuple[HygieneRule, ...]) -> _Plan:
    domains: dict[str, list[int]] = {}
    mailboxes: dict[str, list[int]] = {}
    invalid: list[int] = []
    per_field: dict[str, dict[str, Any]] = {}

    def slot(name: str) -> dict[str, Any]:
        return per_field.setdefault(name, {"missing": [], "junk": {}, "mash": {}, "repeated": [], "patterns": []})

    for index, rule in enumerate(rules):
        values = [normalise(v) for v in rule.values]
        match rule.check:
            case HygieneCheck.EMAIL_DOMAIN:
                _index_values(domains, values, index)
            case HygieneCheck.EMAIL_LOCAL_PART:
                _index_values(mailboxes, values, index)
            case HygieneCheck.EMAIL_INVALID:
                invalid.append(index)
            case HygieneCheck.MISSING:
                for name in rule.fields:
                    slot(name)["missing"].append(index)
            case HygieneCheck.JUNK_VALUE:
                for name in rule.fields:
                    _index_values(slot(name)["junk"], values, index)
            case HygieneCheck.KEYBOARD_MASH:
                runs = _mash_runs(rule.min_length)
                for name in rule.fields:
                    _index_values(slot(name)["mash"], runs, index)
            case HygieneCheck.REPEATED:
                for name in rule.fields:
                    slot(name)["repeated"].append((rule.min_length, index))
            case HygieneCheck.PATTERN:
                search = re.compile(_alternation(rule.values), re.IGNORECASE).search
                for name in rule.fields:
                    slot(name)["patterns"].append((search, index, rule.values))
            case _:  # pragma: no cover - the enum is exhaustive
                raise ValueError(f"unknown hygiene check {rule.check!r}")
    fields = tuple(
        _FieldPlan(
            get=_getter(name), missing=_frozen(parts["missing"]), junk=_frozen_index(parts["junk"]),
            mash=_frozen_index(parts["mash"]), shortest_run=min(map(len, parts["mash"]), default=0),
            repeated=tuple(parts["repeated"]),
            patterns=tuple((search, index) for search, index, _ in parts["patterns"]),
            any_pattern=_any_pattern([values for _, _, values in parts["patterns"]]),
        )
        for name, parts in per_field.items()
    )
    return _Plan(_frozen_index(domains), _frozen_index(mailboxes), tuple(invalid), fields,
                 tuple(rule.name for rule in rules))


def _alternation(regexes: Iterable[str]) -> str:
    return "|".join(f"(?:{v})" for v in regexes)


# Backreferences and conditionals refer to groups by number or name, which combining regexes would change.
_GROUP_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def _any_pattern(per_rule: list[tuple[str, ...]]) -> Callable[[str], object] | None:
    """One regex that matches where any of a field's pattern rules does: most values match none, and
    one search then spares one search per rule. Left out where combining could change a rule's meaning
    (group references) or does not compile (a group name used twice)."""
    if len(per_rule) < 2 or any(_GROUP_REFERENCE.search(v) for values in per_rule for v in values):
        return None
    try:  # each rule's own regex, whole, as one alternative
        return re.compile(_alternation(_alternation(values) for values in per_rule), re.IGNORECASE).search
    except re.error:
        return None


def _index_values(index: dict[str, list[int]], values: Iterable[str], rule: int) -> None:
    for value in values:
        rules = index.setdefault(value, [])
        if rule not in rules:
            rules.append(rule)


def _frozen(indices: list[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(indices))  # a rule naming a field twice is still one rule


def _frozen_index(index: dict[str, list[int]]) -> Mapping[str, tuple[int, ...]]:
    return {value: tuple(rules) for value, rules in index.items()}


def _getter(name: str) -> Callable[[Person], Any]:
    if name in PERSON_FIELDS:
        return attrgetter(name)
    return lambda person: person.extra.get(name)


def _texts(value: Any) -> tuple[str, ...]:
    """A field's present values (a tuple field gives several), normalised; empty ones left out."""
    out: list[str] = []
    for item in value if isinstance(value, tuple) else (value,):
        if item is not None and (text := normalise(str(item))):
            out.append(text)
    return tuple(out)


_CLEAN = HygieneVerdict()


def check(person: Person, rules: HygieneRules) -> HygieneVerdict:
    """Run every hygiene rule against ``person``; disqualify wins over flag; every match is listed."""
    domains, mailboxes, invalid, fields, names = rules._plan
    hits: set[int] = set()
    raw_email = person.email or ""
    if invalid and (email := raw_email.strip()) and not _EMAIL_SHAPE.match(email):
        hits.update(invalid)
    if domains or mailboxes:
        local, at, domain = " ".join(raw_email.split()).casefold().rpartition("@")  # normalise(), inlined
        if at:
            if mailboxes and (found := mailboxes.get(local.split("+", 1)[0])):
                hits.update(found)
            if domains:  # the domain, then each parent: "a.b.c", "b.c", "c"
                suffix = domain.rstrip(".")
                while True:
                    if found := domains.get(suffix):
                        hits.update(found)
                    dot = suffix.find(".")
                    if dot < 0:
                        break
                    suffix = suffix[dot + 1:]
    # Unpacked in the loop header: one step instead of a named-attribute lookup per use.
    for get, missing, junk, mash, shortest_run, repeated, patterns, any_pattern in fields:
        value = get(person)
        if type(value) is str:  # the usual case, inlined: one normalised text or none
            text = " ".join(value.split()).casefold()
            texts: tuple[str, ...] = (text,) if text else ()
        else:
            texts = _texts(value)
        if not texts:
            hits.update(missing)
            continue
        for text in texts:
            if junk and (found := junk.get(text)):
                hits.update(found)
            if mash and len(text) >= shortest_run:
                # Letters only; a text of letters alone (the usual name) is its own result, skip the regex.
                letters = text if text.isalpha() else _NOT_LETTERS.sub("", text)
                if found := mash.get(letters):
                    hits.update(found)
            if repeated:
                compact = text.replace(" ", "")
                # A repeat of a 1-3 character unit has its first character again within the next three:
                # a cheap test that spares most texts the regex.
                if compact[:1] in compact[1:4] and _REPEATED.match(compact) is not None:
                    hits.update(index for size, index in repeated if len(compact) >= size)
            if patterns and (any_pattern is None or any_pattern(text) is not None):
                for search, index in patterns:
                    if index not in hits and search(text):
                        hits.add(index)
    if not hits:
        return _CLEAN
    matched = sorted(hits)
    decisive = rules.rules[matched[0]]
    if decisive.action is not HygieneAction.DISQUALIFY:
        for index in matched:
            if rules.rules[index].action is HygieneAction.DISQUALIFY:
                decisive = rules.rules[index]
                break
    return HygieneVerdict(decisive.action, decisive.reason, tuple(map(names.__getitem__, matched)))
