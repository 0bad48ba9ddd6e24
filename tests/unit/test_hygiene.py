"""Hygiene: the shipped rules catch junk and test sign-ups on crafted people and leave real ones alone;
disqualify wins over flag; broken copies give located errors."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from leadsync.domain.hygiene import HygieneCheck, HygieneRule, HygieneRules, check
from leadsync.domain.model import HygieneAction, HygieneVerdict, Person
from leadsync.rules import hygiene as hygiene_rules
from leadsync.rules.source import RuleSetError, parse_toml
from tests.conftest import MAPPINGS

SHIPPED_TEXT = (MAPPINGS / "hygiene.toml").read_text(encoding="utf-8")


def load_text(text: str) -> HygieneRules:
    data, source = parse_toml(text, "hygiene.toml")
    return hygiene_rules.load(data, source)


RULES = load_text(SHIPPED_TEXT)


def person(**fields: str) -> Person:
    base = {"email": "ada.lovelace@acme.io", "first_name": "Ada", "last_name": "Lovelace", "company": "Acme"}
    return Person(id="p", **{**base, **fields})


@pytest.mark.parametrize(
    "real",
    [
        person(),
        person(first_name="Jo", last_name="Li", company="IBM"),
        person(last_name="Trew"),  # four letters along a keyboard row: a real surname
        person(first_name="Anna-Lena", last_name="O'Neil", company="3M"),
        person(email="ada+webinar@acme.io"),
        person(email="ada@mailinator-reviews.com"),  # only the listed domain and its subdomains
    ],
)
def test_real_people_pass(real: Person) -> None:
    assert check(real, RULES) == HygieneVerdict()


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"email": "bot@mailinator.com"}, "disposable_email_domain"),
        ({"email": "bot@eu.YOPMAIL.com"}, "disposable_email_domain"),
        ({"email": "qa@example.com"}, "test_email_domain"),
        ({"email": "qa@acme.test"}, "test_email_domain"),
        ({"first_name": " TEST "}, "junk_value"),
        ({"company": "asdf"}, "junk_value"),
        ({"last_name": "Lkjhg"}, "keyboard_mash"),
        ({"company": "qwertyu"}, "keyboard_mash"),
        ({"first_name": "aaaa"}, "repeated_characters"),
        ({"last_name": "ab ab ab"}, "repeated_characters"),
        ({"first_name": "Ada2"}, "name_with_digits"),
        ({"last_name": "visit www.cheap-pills.biz"}, "url_in_name"),
        ({"first_name": "https://spam.example"}, "url_in_name"),
    ],
)
def test_junk_is_disqualified_as_spam(fields: dict[str, str], rule: str) -> None:
    verdict = check(person(**fields), RULES)
    assert verdict.action is HygieneAction.DISQUALIFY
    assert verdict.reason == "spam"
    assert rule in verdict.rules


@pytest.mark.parametrize(
    ("fields", "rule", "reason"),
    [
        ({"email": "Info@acme.io"}, "role_mailbox", "role_mailbox"),
        ({"email": "sales+eu@acme.io"}, "role_mailbox", "role_mailbox"),
        ({"email": ""}, "missing_email", "missing_email"),
        ({"email": "ada.acme.io"}, "invalid_email", "invalid_email"),
        ({"first_name": "J."}, "single_letter_name", "impossible_name"),
        ({"company": "N/A"}, "placeholder_company", "no_company"),
    ],
)
def test_doubtful_records_are_flagged_for_review(fields: dict[str, str], rule: str, reason: str) -> None:
    assert check(person(**fields), RULES) == HygieneVerdict(HygieneAction.FLAG, reason, (rule,))


def test_disqualify_wins_over_flag_and_every_match_is_listed() -> None:
    verdict = check(person(email="info@mailinator.com", first_name="J", last_name="test"), RULES)
    assert verdict.action is HygieneAction.DISQUALIFY
    assert verdict.reason == "spam"
    assert verdict.rules == ("disposable_email_domain", "role_mailbox", "junk_value", "single_letter_name")


def test_first_matching_rule_of_the_winning_action_gives_the_reason() -> None:
    rules = HygieneRules((
        HygieneRule("no_phone", HygieneCheck.MISSING, HygieneAction.FLAG, "no_phone", fields=("phone",)),
        HygieneRule("competitor", HygieneCheck.EMAIL_DOMAIN, HygieneAction.DISQUALIFY, "competitor",
                    values=("rival.com",)),
        HygieneRule("junk", HygieneCheck.JUNK_VALUE, HygieneAction.DISQUALIFY, "spam", fields=("company",),
                    values=("test",)),
    ))
    verdict = check(Person(id="p", email="x@rival.com", company="Test"), rules)
    assert verdict == HygieneVerdict(HygieneAction.DISQUALIFY, "competitor", ("no_phone", "competitor", "junk"))


def test_custom_fields_are_checked_from_extra() -> None:
    text = SHIPPED_TEXT.replace("custom_fields = []", 'custom_fields = ["referral_code"]') + """
[[rules]]
name = "junk_referral"
check = "junk_value"
action = "flag"
fields = ["referral_code"]
values = ["none"]
"""
    rules = load_text(text)
    junk = Person(id="p", email="a@acme.io", extra=MappingProxyType({"referral_code": "NONE"}))
    assert check(junk, rules) == HygieneVerdict(HygieneAction.FLAG, "junk_referral", ("junk_referral",))


# --- broken copies ---------------------------------------------------------------------------------


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "at", "key", "message"),
    [
        ('reason = "role_mailbox"', 'reason = "role_mailbox"\nseverity = 3', "severity", "rules[2].severity",
         "unknown key"),
        ('action = "flag"\nreason = "role_mailbox"', 'action = "warn"\nreason = "role_mailbox"', '"warn"',
         "rules[2].action", "Input should be"),
        ("min_length = 5", 'min_length = "5"', 'min_length = "5"', "rules[6].min_length", "valid integer"),
        ('fields = ["email"]', 'fields = ["e_mail"]', '"e_mail"', "rules[4].fields[0]", "unknown person field"),
        ("values = ['\\d']", "values = ['\\d(']", "\\d(", "rules[8].values", "bad regex"),
        ('check = "email_invalid"', 'check = "email_invalid"\nfields = ["email"]', 'fields = ["email"]\naction',
         "rules[3].fields", "does not use fields"),
    ],
)
def test_broken_copy_is_rejected_with_file_line_and_key(old: str, new: str, at: str, key: str, message: str) -> None:
    assert old in SHIPPED_TEXT
    text = SHIPPED_TEXT.replace(old, new, 1)
    data, source = parse_toml(text, "hygiene.toml")
    with pytest.raises(RuleSetError) as info:
        hygiene_rules.load(data, source)
    errors = [str(e) for e in info.value.errors]
    expected = f"hygiene.toml:{line_of(text, at)}: [{key}] "
    assert any(e.startswith(expected) and message in e for e in errors), (expected, errors)
