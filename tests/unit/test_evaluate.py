from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadsync.domain.evaluate import PersonState, desired_fields, evaluate
from leadsync.domain.model import Activity, CrmFacts, Move, Person, System
from leadsync.domain.planner import Target, plan_writes
from leadsync.rules.ruleset import RuleSet, load_ruleset
from tests.conftest import MAPPINGS

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LEAD = Target(System.SALESFORCE, "Lead", "00Q000000000001AAA")
HS_CONTACT = Target(System.HUBSPOT, "contacts", "101")


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset(MAPPINGS)


def manager() -> Person:
    return Person("p1", email="dana@acme-industries.com", first_name="Dana", last_name="Ruiz",
                  title="Marketing Manager",
                  department="Marketing", company="Acme Industries", industry="Software", country="Germany",
                  employees=800, annual_revenue=50_000_000)


def act(kind: str, days_ago: float, **props: str) -> Activity:
    return Activity(System.HUBSPOT, f"{kind}-{days_ago}", kind, NOW - timedelta(days=days_ago), props)


def test_a_demo_request_makes_an_inquiry_an_mql_and_every_field_follows(rules: RuleSet) -> None:
    state = PersonState(manager(), activities=(act("form_fill", 10, form_name="Ebook"), act("demo_request", 1)),
                        lifecycle_status="Inquiry", status_since=NOW - timedelta(days=10))
    result = evaluate(state, rules, NOW)
    assert result.transition is not None
    assert (result.transition.from_status, result.transition.to_status) == ("Inquiry", "MQL")
    assert result.transition.move is Move.FORWARD and result.transition.rule == "mql.hand_raise"
    assert result.transition.ruleset_version == rules.version
    assert result.lifecycle_status == "MQL" and result.mql_at == NOW
    assert result.score.value > 0 and result.grade.letter
    desired = {(d.target, d.field): d for d in desired_fields(result, [LEAD, HS_CONTACT], rules.fields)}
    assert desired[(LEAD, "Lifecycle_Status__c")].value == "MQL"
    assert desired[(HS_CONTACT, "lifecyclestage")].value == "marketingqualifiedlead"
    assert desired[(LEAD, "Lead_Score__c")].value == result.score.value
    assert desired[(LEAD, "MQL_Date__c")].value == NOW
    assert (LEAD, "OwnerId") not in desired  # owners come from routing, never from evaluation


def test_nothing_known_leaves_fields_alone(rules: RuleSet) -> None:
    """A first evaluation with no status and no MQL date must not clear fields someone filled by hand."""
    junk_free = Person("p2", email="sam@example.org", title="Engineer")
    result = evaluate(PersonState(junk_free), rules, NOW)
    fields = {d.field for d in desired_fields(result, [LEAD], rules.fields)}
    assert "MQL_Date__c" not in fields
    assert "Lead_Score__c" in fields


def test_second_evaluation_with_same_facts_plans_no_writes(rules: RuleSet) -> None:
    """The fixpoint the idle cycle relies on: evaluate, 'write', evaluate again -> nothing to write."""
    state = PersonState(manager(), activities=(act("demo_request", 1),), lifecycle_status="Inquiry",
                        status_since=NOW - timedelta(days=3), crm=CrmFacts())
    first = evaluate(state, rules, NOW)
    wanted = desired_fields(first, [LEAD, HS_CONTACT], rules.fields)
    held = {(d.target, d.field): d.value for d in wanted}
    after = PersonState(state.person, state.activities, state.crm, first.lifecycle_status, NOW,
                        first.lifecycle_reason, None, first.contact_status, first.mql_at)
    second = evaluate(after, rules, NOW)
    assert second.transition is None
    assert plan_writes(desired_fields(second, [LEAD, HS_CONTACT], rules.fields), held, {}).writes == ()


def test_junk_signup_is_disqualified_as_spam(rules: RuleSet) -> None:
    junk = Person("p3", email="asdf@mailinator.com", first_name="asdf", last_name="asdf")
    result = evaluate(PersonState(junk, activities=(act("form_fill", 1),)), rules, NOW)
    assert result.hygiene.action.value == "disqualify"
    assert result.lifecycle_status == "Disqualified"
