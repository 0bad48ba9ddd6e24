from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsync.domain.model import Person
from leadsync.domain.routing import RepStatus, RoutingState, route
from leadsync.rules import routing
from leadsync.rules.source import RuleSetError, parse_toml, read_toml

SHIPPED = Path(__file__).resolve().parents[2] / "mappings" / "routing.toml"


def shipped() -> routing.RoutingRules:
    data, source = read_toml(SHIPPED)
    return routing.load(data, source)


def everyone_active(rules: routing.RoutingRules) -> dict[str, RepStatus]:
    return {m.email: RepStatus() for q in rules.queues.values() for m in q.members}


def test_segment_rules_pick_the_queue_first_match_wins() -> None:
    rules = shipped()
    reps = everyone_active(rules)
    big_german = Person("p1", country="Germany", employees=5000)
    small_german = Person("p2", country="DE", employees=20)
    nobody = Person("p3", country="Brazil")
    assert route(big_german, rules, reps, RoutingState())[0].queue == "enterprise"
    assert route(small_german, rules, reps, RoutingState())[0].queue == "dach"
    assignment = route(nobody, rules, reps, RoutingState())[0]
    assert (assignment.queue, assignment.rule) == ("inside-sales", "default")


def test_weighted_round_robin_is_exactly_proportional_over_full_cycles() -> None:
    rules = shipped()
    reps = everyone_active(rules)
    state = RoutingState()
    got: Counter[str | None] = Counter()
    for i in range(30):  # 10 full cycles of total weight 3, well under the capacity of 40
        assignment, state = route(Person(f"p{i}", employees=2000), rules, reps, state)
        got[assignment.owner_email] += 1
    assert got == {"erin.enterprise@example.com": 20, "emil.enterprise@example.com": 10}


def test_no_rep_gets_a_long_run() -> None:
    rules = shipped()
    reps = everyone_active(rules)
    state, picks = RoutingState(), []
    for i in range(30):
        assignment, state = route(Person(f"p{i}", country="Brazil"), rules, reps, state)
        picks.append(assignment.owner_email)
    assert all(a != b for a, b in itertools.pairwise(picks))  # equal weights alternate


def test_inactive_and_full_reps_are_skipped_and_capacity_counts_this_run() -> None:
    rules = shipped()
    reps = everyone_active(rules)
    reps["erin.enterprise@example.com"] = RepStatus(active=False)
    reps["emil.enterprise@example.com"] = RepStatus(open_leads=38)
    state = RoutingState()
    owners = []
    for i in range(3):
        assignment, state = route(Person(f"p{i}", employees=9000), rules, reps, state)
        owners.append(assignment.owner_email)
    assert owners == ["emil.enterprise@example.com", "emil.enterprise@example.com", None]
    assert "inactive" in assignment.reason and "at capacity (40/40)" in assignment.reason


@given(weights=st.lists(st.integers(1, 5), min_size=1, max_size=5), cycles=st.integers(1, 20))
def test_fairness_property(weights: list[int], cycles: int) -> None:
    members = ",".join(f'{{ email = "r{i}@x.io", weight = {w} }}' for i, w in enumerate(weights))
    data, source = parse_toml(f'default_queue = "q"\n[[queues]]\nname = "q"\nmembers = [{members}]\n', "r.toml")
    rules = routing.load(data, source)
    reps = {f"r{i}@x.io": RepStatus() for i in range(len(weights))}
    state, got = RoutingState(), Counter[str | None]()
    for i in range(cycles * sum(weights)):
        assignment, state = route(Person(f"p{i}"), rules, reps, state)
        got[assignment.owner_email] += 1
    assert got == {f"r{i}@x.io": w * cycles for i, w in enumerate(weights)}


def test_broken_routing_file_names_the_line() -> None:
    text = SHIPPED.read_text().replace('queue = "dach"', 'queue = "dakh"')
    text = text.replace('field = "employees"', 'field = "staff"')
    data, source = parse_toml(text, "mappings/routing.toml")
    with pytest.raises(RuleSetError) as info:
        routing.load(data, source)
    rendered = [str(e) for e in info.value.errors]
    assert any("no queue named 'dakh'" in r and r.startswith("mappings/routing.toml:") for r in rendered), rendered
    assert any("unknown person field 'staff'" in r for r in rendered), rendered
    assert all(e.line is not None for e in info.value.errors)
