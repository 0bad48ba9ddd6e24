"""The SLA engine against hand-built ledgers: clocks from transitions and activities, due times in the
Berlin business calendar of ``mappings/sla.toml`` (09:00-17:00 Mon-Fri, Berlin holidays, 24 and 31 Dec
closed), and the sweep's actions on a breach."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from leadsync.domain.model import CauseKind, Move
from leadsync.ledger import IntentState, Ledger
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sla_engine import reconcile, sweep
from tests.integration.reports.builders import activity, berlin, hs_contact, sf_lead, walk, write
from tests.integration.reports.builders import move as move_to

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset(MAPPINGS)


def clocks(ledger: Ledger, ruleset: RuleSet, person: str, now_: object) -> dict[str, list[object]]:
    with ledger.unit_of_work() as uow:
        reconcile(uow, ruleset.sla, person, now_, owner_id="ivy.inside@example.com")  # type: ignore[arg-type]
    with ledger.reading() as uow:
        found: dict[str, list[object]] = {}
        for c in uow.sla.for_person(person):
            found.setdefault(c.sla, []).append(c)
        return found


def test_accept_first_touch_and_follow_up_clocks_from_history(ledger: Ledger, ruleset: RuleSet) -> None:
    mql, sal, call = berlin(2026, 11, 2, 10), berlin(2026, 11, 2, 15), berlin(2026, 11, 3, 10)
    write(ledger, walk("p1", ("Inquiry", berlin(2026, 11, 2, 9)), ("MQL", mql), ("SAL", sal)),
          activities=[("p1", activity("call", call, "c1")), ("p1", activity("page_view", call - H, "v1"))])
    now = berlin(2026, 11, 3, 12)
    found = clocks(ledger, ruleset, "p1", now)
    (accept,) = found["mql_accepted"]
    assert accept.started_at == mql and accept.met_at == sal  # 5 business hours: met
    assert accept.due_at == berlin(2026, 11, 3, 10)  # 8 business hours: Mon 10-17 (7) + Tue 09-10 (1)
    assert accept.warn_at == berlin(2026, 11, 2, 16)  # 75% = 6 business hours: Mon 10-16
    assert accept.owner_id == "ivy.inside@example.com"
    (touch,) = found["first_touch"]
    assert (touch.started_at, touch.met_at, touch.due_at) == (sal, call, berlin(2026, 11, 3, 11))
    first, second = found["follow_up"]  # the call restarts the follow-up clock
    assert (first.started_at, first.met_at) == (sal, call)
    assert second.started_at == call and second.is_open
    assert second.due_at == berlin(2026, 11, 5, 10)  # 16 business hours: Tue 10-17, Wed, Thu 09-10

    again = clocks(ledger, ruleset, "p1", now)  # idempotent: nothing new, nothing reclosed
    assert [(c.id, c.met_at) for cs in again.values() for c in cs] == \
        [(c.id, c.met_at) for cs in found.values() for c in cs]


@pytest.mark.parametrize(("mql", "due", "why"), [
    (berlin(2026, 11, 6, 16), berlin(2026, 11, 9, 16), "weekend: Fri 16-17 then Mon 09-16"),
    (berlin(2026, 11, 2, 16, 30), berlin(2026, 11, 3, 16, 30), "overnight: Mon 16:30-17 then Tue 09-16:30"),
    (berlin(2026, 12, 23, 14), berlin(2026, 12, 28, 14), "24 Dec closed, 25/26 Dec holidays"),
    (berlin(2026, 10, 23, 13), berlin(2026, 10, 26, 13), "DST ends Sun 25 Oct: still 8 business hours"),
    (berlin(2026, 11, 7, 11), berlin(2026, 11, 9, 17), "started on a Saturday: all of Monday, due at its closing"),
])
def test_due_times_in_business_time(ledger: Ledger, ruleset: RuleSet, mql: object, due: object, why: str) -> None:
    write(ledger, walk("p", ("Inquiry", mql - H), ("MQL", mql)))  # type: ignore[operator]
    (clock,) = clocks(ledger, ruleset, "p", due + H)["mql_accepted"]  # type: ignore[operator]
    assert clock.due_at == due, why
    assert clock.is_open


def test_dst_clock_spans_73_wall_clock_hours(ledger: Ledger, ruleset: RuleSet) -> None:
    mql = berlin(2026, 10, 23, 13)  # CEST, UTC+2
    write(ledger, walk("p", ("Inquiry", mql - H), ("MQL", mql)))
    (clock,) = clocks(ledger, ruleset, "p", mql + 100 * H)["mql_accepted"]
    assert clock.due_at - clock.started_at == 73 * H  # Fri 11:00 UTC -> Mon 12:00 UTC (CET, UTC+1)


def test_sweep_records_breach_writes_fields_notifies_and_returns_to_pool(ledger: Ledger, ruleset: RuleSet) -> None:
    sal, call = berlin(2026, 11, 2, 15), berlin(2026, 11, 3, 10)
    epoch = write(ledger, walk("p1", ("Inquiry", berlin(2026, 11, 2, 9)), ("MQL", berlin(2026, 11, 2, 10)),
                               ("SAL", sal)),
                  activities=[("p1", activity("call", call, "c1"))],
                  identities={"p1": [sf_lead("00Q000000000001"), hs_contact("501")]})
    clocks(ledger, ruleset, "p1", berlin(2026, 11, 3, 12))
    warned_at = berlin(2026, 11, 5, 9)
    early = sweep(ledger, ruleset, warned_at, epoch=epoch)
    assert early.breached == [] and early.warned == []  # follow_up has no warning; nothing due yet

    now = berlin(2026, 11, 5, 11)  # the follow-up clock was due Thu 10:00
    result = sweep(ledger, ruleset, now, epoch=epoch, run_id="sweep-1", warned_until=warned_at)
    assert [c.sla for c in result.breached] == ["follow_up"]
    assert result.intents == 2  # breach flag on the Salesforce lead and the HubSpot contact
    (moved,) = result.returned_to_pool
    assert (moved.from_status, moved.to_status, moved.move) == ("SAL", "Recycled", Move.RECYCLE)
    assert moved.cause.kind is CauseKind.RULE and moved.cause.actor == "sla:follow_up"
    with ledger.reading() as uow:
        assert uow.transitions.current_status("p1") == "Recycled"
        follow = [c for c in uow.sla.for_person("p1") if c.sla == "follow_up"]
        assert follow[-1].breached_at == now and follow[-1].stopped_at == now
        assert follow[-1].stop_reason is not None and "pool" in follow[-1].stop_reason
        intents = uow.outbox.pending()
        fields = {(i.intent.target.value, i.intent.object, i.intent.record_id): dict(i.intent.fields) for i in intents}
        assert fields == {("salesforce", "Lead", "00Q000000000001"): {"SLA_Breached__c": True},
                          ("hubspot", "contacts", "501"): {"leadsync_sla_breached": True}}
        assert all(i.state is IntentState.PENDING and i.run_id == "sweep-1" for i in intents)

    repeat = sweep(ledger, ruleset, now + H, epoch=epoch, warned_until=now)
    assert repeat.breached == [] and repeat.returned_to_pool == []  # recorded once, acted on once


def test_sweep_warns_once_between_sweeps(ledger: Ledger, ruleset: RuleSet) -> None:
    mql = berlin(2026, 11, 2, 10)
    epoch = write(ledger, walk("p2", ("Inquiry", mql - H), ("MQL", mql)))
    clocks(ledger, ruleset, "p2", mql + H)
    first = sweep(ledger, ruleset, berlin(2026, 11, 2, 16, 30), epoch=epoch, warned_until=berlin(2026, 11, 2, 15))
    assert [c.sla for c in first.warned] == ["mql_accepted"]  # warn_at Mon 16:00 (6 of 8 business hours)
    second = sweep(ledger, ruleset, berlin(2026, 11, 3, 9, 45), epoch=epoch, warned_until=first.swept_at)
    assert second.warned == []
    breach = sweep(ledger, ruleset, berlin(2026, 11, 3, 10, 1), epoch=epoch, warned_until=second.swept_at)
    assert [c.sla for c in breach.breached] == ["mql_accepted"]
    assert breach.returned_to_pool == []  # mql_accepted only writes fields and notifies


def test_reconcile_queues_the_due_date_write_back(ledger: Ledger, ruleset: RuleSet) -> None:
    mql = berlin(2026, 11, 2, 10)
    write(ledger, walk("p3", ("Inquiry", mql - H), ("MQL", mql)), identities={"p3": [sf_lead("00Q3")]})
    with ledger.unit_of_work() as uow:
        changes = reconcile(uow, ruleset.sla, "p3", mql + H, fields=ruleset.fields, run_id="sync-1")
    assert [c.sla for c in changes.started] == ["mql_accepted"]
    with ledger.reading() as uow:
        (intent,) = uow.outbox.pending()
    assert (intent.intent.object, intent.intent.record_id) == ("Lead", "00Q3")
    assert dict(intent.intent.fields) == {"SLA_Due__c": "2026-11-03T09:00:00.000Z", "SLA_Breached__c": False}

    write(ledger, [move_to("p3", "MQL", "SAL", mql + 2 * H)])
    with ledger.unit_of_work() as uow:
        reconcile(uow, ruleset.sla, "p3", mql + 3 * H, fields=ruleset.fields)
    with ledger.reading() as uow:
        latest = uow.outbox.pending()[-1]
    # Accepted: mql_accepted met; first_touch (4 business hours) and follow_up (16) now run: the earlier is due.
    assert dict(latest.intent.fields) == {"SLA_Due__c": "2026-11-02T15:00:00.000Z", "SLA_Breached__c": False}
