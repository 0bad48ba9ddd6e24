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


def test_the_rep_a_lead_was_taken_from_is_skipped_and_keeps_their_place() -> None:
    rules = shipped()
    reps = everyone_active(rules)
    ivy, ian, isa = "ivy.inside@example.com", "ian.inside@example.com", "isa.inside@example.com"
    # Ivy would be next (round robin starts at the first member); the lead was taken back from her.
    assignment, state = route(Person("p1"), rules, reps, RoutingState(), exclude=frozenset({ivy}))
    assert assignment.owner_email == ian and f"{ivy} had it before" in assignment.reason
    # Skipping her cost her no turn: the next three new MQLs go to the three reps, one each.
    picks = []
    for i in range(3):
        choice, state = route(Person(f"q{i}"), rules, reps, state)
        picks.append(choice.owner_email)
    assert sorted(picks) == sorted([ivy, ian, isa])
    # With the only other reps unavailable, the lead waits rather than going back to her.
    reps[ian], reps[isa] = RepStatus(active=False), RepStatus(active=False)
    waiting, _ = route(Person("p2"), rules, reps, RoutingState(), exclude=frozenset({ivy}))
    assert waiting.owner_email is None and "had it before" in waiting.reason


POOL = '\n[pool]\nsalesforce_owner_id = "{sf}"\nhubspot_owner_id = "{hs}"\nsalesforce_status = "{status}"\n'


def test_the_pool_owner_is_read_and_the_shipped_file_has_none() -> None:
    assert shipped().pool is None  # an example in the comments: the ids are each org's own
    text = SHIPPED.read_text() + POOL.format(sf="00GDn000000zwY5MAI", hs="", status="Open - Not Contacted")
    pool = routing.load(*parse_toml(text, "routing.toml")).pool
    assert pool is not None and pool.salesforce_is_queue
    assert (pool.salesforce_owner_id, pool.hubspot_owner_id, pool.salesforce_status) == (
        "00GDn000000zwY5MAI", "", "Open - Not Contacted")
    user = routing.load(*parse_toml(SHIPPED.read_text() + POOL.format(sf="005Dn000000zwY5", hs="70000001",
                                                                      status="Open"), "routing.toml")).pool
    assert user is not None and not user.salesforce_is_queue and user.hubspot_owner_id == "70000001"


def test_a_broken_pool_names_each_line() -> None:
    base = SHIPPED.read_text()
    text = base + POOL.format(sf="00Q000000000001", hs="owner-7", status="  ")
    with pytest.raises(RuleSetError) as info:
        routing.load(*parse_toml(text, "routing.toml"))
    lines = len(base.splitlines())
    rendered = [str(e) for e in info.value.errors]
    assert rendered == [
        f"routing.toml:{lines + 3}: [pool.salesforce_owner_id] '00Q000000000001' is not a Salesforce queue id "
        "(00G...) or user id (005...) of 15 or 18 characters",
        f"routing.toml:{lines + 4}: [pool.hubspot_owner_id] 'owner-7' is not a HubSpot owner id (digits), nor \"\" "
        "to clear the owner",
        f"routing.toml:{lines + 5}: [pool.salesforce_status] a returned lead needs a status (e.g. \"Open - Not "
        "Contacted\"): the one its rep set would read as the next rep's acceptance",
    ]
    missing = base + '\n[pool]\nsalesforce_owner_id = "00GDn000000zwY5MAI"\n'
    with pytest.raises(RuleSetError) as info:
        routing.load(*parse_toml(missing, "routing.toml"))
    [error] = info.value.errors
    assert "salesforce_status" in str(error) and error.line is not None


@pytest.mark.parametrize(("status", "moves"), [
    ("Working - Contacted", "SAL"), ("Unqualified", "Disqualified"), ("Nurture", "Recycled (for good)")])
def test_a_pool_status_that_would_move_the_returned_lead_is_refused_with_its_line(tmp_path: Path, status: str,
                                                                                  moves: str) -> None:
    import shutil

    from leadsync.rules.ruleset import load_ruleset

    shutil.copytree(SHIPPED.parent, tmp_path / "m")
    file = tmp_path / "m" / "routing.toml"
    base = file.read_text()
    file.write_text(base + POOL.format(sf="00GDn000000zwY5MAI", hs="", status=status))
    with pytest.raises(RuleSetError) as info:
        load_ruleset(tmp_path / "m")
    [error] = info.value.errors
    assert str(error) == (f"{file}:{len(base.splitlines()) + 5}: [pool.salesforce_status] {status!r} moves a "
                          f"returned lead to {moves} in lifecycle.toml; use a status that means unworked (e.g. "
                          "\"Open - Not Contacted\")")
    file.write_text(base + POOL.format(sf="00GDn000000zwY5MAI", hs="", status="Open - Not Contacted"))
    assert load_ruleset(tmp_path / "m").routing.pool is not None
