"""Contact status derived from outreach outcomes, on the shipped contact_status.toml, and broken copies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.domain.contact_status import CALL_DISPOSITIONS, MEETING_OUTCOMES, ContactStatusRules, derive
from leadsync.domain.model import Activity, System
from leadsync.rules import contact_status as contact_status_rules
from leadsync.rules.source import RuleSetError, parse_toml

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
SHIPPED_TEXT = (MAPPINGS / "contact_status.toml").read_text(encoding="utf-8")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def load_text(text: str) -> ContactStatusRules:
    data, source = parse_toml(text, "contact_status.toml")
    return contact_status_rules.load(data, source)


RULES = load_text(SHIPPED_TEXT)
_ids = iter(range(10**9))


def call(disposition: str | None, days_ago: float) -> Activity:
    props = {"direction": "outbound"} | ({"disposition": disposition} if disposition else {})
    return Activity(System.SALESFORCE, f"00T{next(_ids)}", "call", NOW - timedelta(days=days_ago), props)


def meeting(outcome: str, days_ago: float) -> Activity:
    return Activity(System.HUBSPOT, f"m{next(_ids)}", "meeting", NOW - timedelta(days=days_ago), {"outcome": outcome})


def email(direction: str | None, days_ago: float) -> Activity:
    kind = "email_reply" if direction == "inbound" else "email_sent"
    props = {"direction": direction} if direction else {}
    return Activity(System.HUBSPOT, f"e{next(_ids)}", kind, NOW - timedelta(days=days_ago), props)


def status_of(*activities: Activity, current: str | None = None) -> str | None:
    change = derive("p1", current, activities, RULES, NOW)
    return current if change is None else change.to_status


def test_no_outreach_is_new() -> None:
    change = derive("p1", None, (), RULES, NOW)
    assert change is not None
    assert (change.to_status, change.rule, change.ruleset_version) == ("New", "new", RULES.version)
    assert derive("p1", "New", (), RULES, NOW) is None


def test_attempts_count_up_then_unresponsive() -> None:
    assert status_of(call("no_answer", 5)) == "Attempting 1"
    assert status_of(call("no_answer", 5), call("left_voicemail", 4)) == "Attempting 2"
    three = (call("no_answer", 5), email("outbound", 4.5), call("busy", 4))
    assert status_of(*three) == "Attempting 3"
    four = (*three, meeting("no_show", 3))
    assert status_of(*four) == "Attempting 3"  # beyond the list, the last attempting status repeats
    change = derive("p1", "Attempting 3", (*four, call("no_answer", 2)), RULES, NOW)
    assert change is not None
    assert (change.from_status, change.to_status) == ("Attempting 3", "Unresponsive")
    assert change.rule == "attempts.unresponsive"
    assert change.facts["attempts"] == 5 and change.facts["value"] == "no_answer"


def test_a_connect_resets_the_attempts() -> None:
    history = (call("no_answer", 9), call("no_answer", 8), call("connected", 7), call("no_answer", 1))
    change = derive("p1", None, history, RULES, NOW)
    assert change is not None
    assert (change.to_status, change.facts["attempts"]) == ("Attempting 1", 1)
    assert status_of(call("no_answer", 9), call("connected", 7)) == "Connected"


def test_dispositions_and_meeting_outcomes_set_their_status() -> None:
    assert status_of(call("no_answer", 3), call("bad_timing", 2)) == "Bad timing"
    assert status_of(call("wrong_number", 2)) == "Bad contact data"
    assert status_of(call("connected", 3), meeting("scheduled", 2)) == "Meeting booked"
    assert status_of(meeting("scheduled", 3), meeting("completed", 1)) == "Meeting held"
    assert status_of(email("outbound", 3), email("inbound", 2)) == "Connected"
    change = derive("p1", "Attempting 1", (call("no_answer", 3), call("not_interested", 2)), RULES, NOW)
    assert change is not None and (change.rule, change.to_status) == ("call.not_interested", "Not interested")


def test_marketing_email_is_not_outreach_and_a_call_without_disposition_is_an_attempt() -> None:
    assert status_of(email(None, 3), email(None, 2)) == "New"
    change = derive("p1", None, (call(None, 2), call("disconnected_weird", 1)), RULES, NOW)
    assert change is not None
    assert (change.to_status, change.facts["calls_without_disposition"]) == ("Attempting 2", 2)


def test_only_attempts_inside_the_window_count() -> None:
    old = tuple(call("no_answer", 40 + i) for i in range(5))
    change = derive("p1", "Unresponsive", old, RULES, NOW)
    assert change is not None
    assert (change.to_status, change.rule) == ("New", "attempts.window_expired")
    mixed = (*old, call("no_answer", 3))
    assert status_of(*mixed) == "Attempting 1"
    aged_after_connect = (call("connected", 50), call("no_answer", 45))
    assert status_of(*aged_after_connect) == "Connected"


def test_activities_after_now_and_order_of_input_do_not_matter() -> None:
    history = [call("no_answer", 3), call("connected", 2), call("no_answer", 1), call("connected", -1)]
    assert status_of(*history) == "Attempting 1"
    assert status_of(*reversed(history)) == "Attempting 1"


outcomes = st.one_of(
    st.sampled_from(CALL_DISPOSITIONS).map(lambda d: ("call", d)),
    st.sampled_from(MEETING_OUTCOMES).map(lambda o: ("meeting", o)),
    st.sampled_from(["outbound", "inbound"]).map(lambda d: ("email", d)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(outcomes, st.integers(min_value=0, max_value=90 * 24)), max_size=12))
def test_derivation_is_a_fixpoint_and_only_names_known_statuses(items: list[tuple[tuple[str, str], int]]) -> None:
    make = {"call": call, "meeting": meeting, "email": email}
    history = tuple(make[channel](value, hours / 24) for (channel, value), hours in items)
    change = derive("p1", None, history, RULES, NOW)
    assert change is not None and change.to_status in RULES.statuses
    assert derive("p1", change.to_status, history, RULES, NOW) is None
    assert derive("p1", change.to_status, tuple(reversed(history)), RULES, NOW) is None


# --- broken copies ------------------------------------------------------------------------------------

def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleSetError) as info:
        load_text(text)
    return [str(e) for e in info.value.errors]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_unknown_status_in_a_route_is_located() -> None:
    text = SHIPPED_TEXT.replace('completed = "Meeting held"', 'completed = "Meeting done"')
    errors = errors_of(text)
    assert f"contact_status.toml:{line_of(text, 'Meeting done')}: [outcomes.meeting.completed] unknown status " \
           "'Meeting done' (not in statuses, and not 'attempt')" in errors
    assert any("'Meeting held' is unreachable" in e for e in errors)


def test_missing_route_unknown_disposition_and_wrong_type() -> None:
    text = (SHIPPED_TEXT.replace('busy = "attempt"\n', 'bussy = "attempt"\n')
            .replace("after_attempts = 5", 'after_attempts = "five"'))
    errors = errors_of(text)
    assert len(errors) == 1 and "[unresponsive.after_attempts]" in errors[0] and "valid integer" in errors[0]
    typo = SHIPPED_TEXT.replace('busy = "attempt"\n', 'bussy = "attempt"\n')
    errors = errors_of(typo)
    assert any(e.startswith(f"contact_status.toml:{line_of(typo, 'bussy')}: [outcomes.call.bussy] unknown call value")
               for e in errors)
    assert any("[outcomes.call] no route for busy" in e for e in errors)


def test_unknown_key_and_unreachable_attempting_status() -> None:
    text = SHIPPED_TEXT.replace("window_days = 30", "window_day = 30")
    assert errors_of(text) == [f"contact_status.toml:{line_of(text, 'window_day =')}: [unresponsive.window_day] "
                               "unknown key"]
    errors = errors_of(SHIPPED_TEXT.replace("after_attempts = 5", "after_attempts = 3"))
    assert len(errors) == 1 and "'Attempting 3' can never be reached" in errors[0]
