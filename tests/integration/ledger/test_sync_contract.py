"""Contract: outbox, echo hashes, watermarks, runs, quarantine, SLA clocks, reports, the unit of work and
fencing, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest

from leadsync.domain.model import Move, System, Transition
from leadsync.ledger import (
    IntentState,
    IntentStateError,
    Ledger,
    NotFound,
    RunStatus,
    StageWeekCount,
    StaleEpoch,
    Watermark,
    WriteIntent,
    open_ledger,
    upgrade,
)

INTENT = WriteIntent(System.SALESFORCE, "Lead", "00Q1", {"Lifecycle_Status__c": "MQL"}, "sha256:aa")


def _transition(person: str, to: str, at: datetime) -> Transition:
    return Transition(person, None, to, at, Move.FORWARD, "rule", "v1", "because")


def test_the_same_pending_intent_is_recorded_once(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        first = uow.outbox.add(INTENT, now, run_id="r1")
        again = uow.outbox.add(INTENT, now + timedelta(minutes=1), run_id="r2")
        other = uow.outbox.add(WriteIntent(System.HUBSPOT, "contact", "501", {"x": 1}, "sha256:bb"), now)
    assert first.id == again.id != other.id
    assert (first.state, first.attempts, first.run_id, first.intent) == (IntentState.PENDING, 0, "r1", INTENT)
    with ledger.reading() as uow:
        assert [i.id for i in uow.outbox.pending()] == [first.id, other.id]


def test_intent_state_machine(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        intent = uow.outbox.add(INTENT, now)
        failed = uow.outbox.mark_failed(intent.id, "UNABLE_TO_LOCK_ROW", now)
        assert (failed.state, failed.attempts, failed.last_error) == (IntentState.FAILED, 1, "UNABLE_TO_LOCK_ROW")
        assert uow.outbox.retry(intent.id, now).state is IntentState.PENDING
        parked = uow.outbox.quarantine(intent.id, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", now)
        assert (parked.state, parked.attempts) == (IntentState.QUARANTINED, 2)
        with pytest.raises(IntentStateError, match="quarantined; it cannot become applied"):
            uow.outbox.mark_applied(intent.id, now)
        uow.outbox.retry(intent.id, now)
        applied = uow.outbox.mark_applied(intent.id, now + timedelta(seconds=5))
        assert (applied.state, applied.attempts, applied.updated_at) == (
            IntentState.APPLIED,
            3,
            now + timedelta(seconds=5),
        )
        for move in (uow.outbox.retry, lambda i, t: uow.outbox.mark_failed(i, "late", t)):
            with pytest.raises(IntentStateError, match="applied"):
                move(intent.id, now)
        with pytest.raises(NotFound):
            uow.outbox.mark_applied(999_999, now)
        # Once applied, the same payload may be planned again (a value that changed back): a new intent.
        assert uow.outbox.add(INTENT, now).id != intent.id


def test_echo_hashes_are_kept_per_system_record_and_field(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.outbox.remember_written(
            System.HUBSPOT, "contact", "501", {"lifecyclestage": "h1", "hs_lead_status": "h2"}, now
        )
        uow.outbox.remember_written(System.HUBSPOT, "contact", "501", {"lifecyclestage": "h3"}, now)
    with ledger.reading() as uow:
        assert uow.outbox.is_echo(System.HUBSPOT, "contact", "501", "lifecyclestage", "h3")
        assert not uow.outbox.is_echo(System.HUBSPOT, "contact", "501", "lifecyclestage", "h1")
        assert uow.outbox.written_hash(System.HUBSPOT, "contact", "501", "hs_lead_status") == "h2"
        assert uow.outbox.written_hash(System.SALESFORCE, "contact", "501", "hs_lead_status") is None


def test_watermark_round_trip(ledger: Ledger, now: datetime) -> None:
    mark = Watermark("salesforce.Lead", "2026-11-24T09:00:00.000Z", frozenset({"00Q2", "00Q1"}))
    with ledger.unit_of_work() as uow:
        assert uow.watermarks.get("salesforce.Lead") is None
        uow.watermarks.save(mark, now, run_id="r1")
    with ledger.reading() as uow:
        assert uow.watermarks.get("salesforce.Lead") == mark
    moved = Watermark("salesforce.Lead", "2026-11-24T09:05:00.000Z", frozenset({"00Q9"}))
    with ledger.unit_of_work() as uow:
        uow.watermarks.save(moved, now)
        uow.watermarks.save(Watermark("hubspot.contacts", "1764000000000"), now)
    with ledger.reading() as uow:
        assert uow.watermarks.all() == [Watermark("hubspot.contacts", "1764000000000"), moved]


def test_runs_record_counts_calls_and_errors(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        run = uow.runs.start("sync", now, epoch=0, run_id="run-1")
    with ledger.unit_of_work() as uow:
        finished = uow.runs.finish(
            run.id,
            RunStatus.SUCCEEDED,
            now + timedelta(seconds=42),
            counts={"transitions": 3},
            api_calls={System.SALESFORCE: 7, System.HUBSPOT: 5},
            errors=["00Q3: INVALID_OPTION"],
        )
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.ended_at == now + timedelta(seconds=42)
    assert dict(finished.api_calls) == {"salesforce": 7, "hubspot": 5}
    assert (dict(finished.counts), finished.errors) == ({"transitions": 3}, ("00Q3: INVALID_OPTION",))
    with pytest.raises(Exception, match="not running"), ledger.unit_of_work() as uow:
        uow.runs.finish(run.id, RunStatus.FAILED, now)


def test_unfinished_runs_are_marked_aborted(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.runs.start("sync", now, epoch=0, run_id="crashed")
    with ledger.unit_of_work() as uow:
        assert uow.runs.abandon_unfinished(now, "process died") == 1
        assert uow.runs.get("crashed").status is RunStatus.ABORTED


def test_quarantine_retries_only_after_the_cause_changes(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.quarantine.put(System.SALESFORCE, "Lead", "00Q1", "restricted picklist", "fp-1", now)
        again = uow.quarantine.put(
            System.SALESFORCE, "Lead", "00Q1", "restricted picklist", "fp-1", now + timedelta(hours=1)
        )
    assert (again.attempts, again.first_seen, again.last_seen) == (2, now, now + timedelta(hours=1))
    with ledger.unit_of_work() as uow:
        assert not uow.quarantine.should_retry(System.SALESFORCE, "Lead", "00Q1", "fp-1")
        assert uow.quarantine.should_retry(System.SALESFORCE, "Lead", "00Q1", "fp-2")
        assert uow.quarantine.should_retry(System.SALESFORCE, "Lead", "00Q2", "fp-1")
        assert [q.record_id for q in uow.quarantine.held()] == ["00Q1"]
        assert uow.quarantine.release(System.SALESFORCE, "Lead", "00Q1", now)
        assert uow.quarantine.held() == []
        assert uow.quarantine.should_retry(System.SALESFORCE, "Lead", "00Q1", "fp-1")


def test_sla_clocks_open_once_and_close_once(ledger: Ledger, now: datetime) -> None:
    due = now + timedelta(hours=4)
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        clock = uow.sla.start("p1", "mql_accept", now, due, warn_at=now + timedelta(hours=3), owner_id="005A")
        same = uow.sla.start("p1", "mql_accept", now + timedelta(minutes=5), due + timedelta(hours=1))
        assert same == clock
        assert uow.sla.mark_breached(clock.id, due)
        assert not uow.sla.mark_breached(clock.id, due + timedelta(minutes=1))
        met = uow.sla.meet("p1", "mql_accept", due + timedelta(hours=1))
        assert met is not None and (met.breached_at, met.met_at, met.is_open) == (due, due + timedelta(hours=1), False)
        assert uow.sla.meet("p1", "mql_accept", due) is None
        reopened = uow.sla.start("p1", "mql_accept", due, due + timedelta(days=1))
        stopped = uow.sla.stop("p1", "mql_accept", due, "disqualified")
        assert stopped is not None and stopped.id == reopened.id != clock.id and stopped.stop_reason == "disqualified"
        assert [c.id for c in uow.sla.for_person("p1")] == [clock.id, reopened.id]


def test_report_open_clocks_due_in_the_next_hour(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["soon", "later", "met", "overdue"], now)
        uow.sla.start("soon", "first_touch", now, now + timedelta(minutes=30))
        uow.sla.start("later", "first_touch", now, now + timedelta(hours=2))
        uow.sla.start("met", "first_touch", now, now + timedelta(minutes=10))
        uow.sla.meet("met", "first_touch", now)
        uow.sla.start("overdue", "first_touch", now - timedelta(hours=5), now - timedelta(minutes=1))
    with ledger.reading() as uow:
        due = uow.reports.open_clocks_due(now, now + timedelta(hours=1))
    assert [c.person_id for c in due] == ["soon"]


def test_report_transitions_per_stage_per_week(ledger: Ledger) -> None:
    monday = datetime.fromisoformat("2026-11-16T00:00:00+00:00")
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["a", "b"], monday)
        uow.transitions.append(
            [
                _transition("a", "MQL", monday),
                _transition("b", "MQL", monday + timedelta(days=6, hours=23)),  # Sunday night, same week
                _transition("a", "SAL", monday + timedelta(days=7)),  # next Monday
                _transition("b", "MQL", monday - timedelta(seconds=1)),  # before the window
            ],
            run_id=None,
            epoch=0,
        )
    with ledger.reading() as uow:
        counts = uow.reports.transitions_per_stage_per_week(monday, monday + timedelta(days=14))
    assert counts == [
        StageWeekCount("MQL", date(2026, 11, 16), 2),
        StageWeekCount("SAL", date(2026, 11, 23), 1),
    ]


def test_a_unit_of_work_failing_half_way_leaves_nothing(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        intent = uow.outbox.add(INTENT, now)
        uow.watermarks.save(Watermark("s", "1"), now)

    with pytest.raises(RuntimeError, match="crash"), ledger.unit_of_work() as uow:
        uow.transitions.append([_transition("p1", "MQL", now)], run_id="r", epoch=0)
        uow.outbox.mark_applied(intent.id, now)
        uow.watermarks.save(Watermark("s", "2", frozenset({"x"})), now)
        uow.people.ensure(["p2"], now)
        raise RuntimeError("crash between the writes and the commit")

    with ledger.reading() as uow:
        assert uow.transitions.for_person("p1") == []
        assert uow.outbox.get(intent.id).state is IntentState.PENDING
        assert uow.watermarks.get("s") == Watermark("s", "1")
        assert uow.people.get("p2") is None


def test_a_stale_epoch_fails_the_whole_unit_of_work(ledger: Ledger, now: datetime) -> None:
    old = ledger.take_epoch("daemon-a", now)
    new = ledger.take_epoch("daemon-b", now)
    assert (old, new, ledger.current_epoch()) == (1, 2, 2)
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)

    with pytest.raises(StaleEpoch, match=r"stale fencing epoch 1.*current: 2"), ledger.unit_of_work() as uow:
        uow.watermarks.save(Watermark("s", "9"), now)
        uow.transitions.append([_transition("p1", "MQL", now)], run_id="r", epoch=old)
    with pytest.raises(StaleEpoch), ledger.unit_of_work(epoch=old) as uow:
        uow.watermarks.save(Watermark("s", "9"), now)
    with pytest.raises(StaleEpoch), ledger.unit_of_work() as uow:
        uow.transitions.append([_transition("p1", "MQL", now)], run_id="r", epoch=0)  # no leader means 0 only

    with ledger.reading() as uow:
        assert uow.transitions.for_person("p1") == []
        assert uow.watermarks.get("s") is None
    with ledger.unit_of_work(epoch=new) as uow:
        uow.transitions.append([_transition("p1", "MQL", now)], run_id="r", epoch=new)
    with ledger.reading() as uow:
        assert [t.epoch for t in uow.transitions.for_person("p1")] == [2]


@pytest.mark.postgres
def test_a_leader_taking_over_mid_transaction_fences_the_old_writer(pg_url: str, now: datetime) -> None:
    upgrade(pg_url)
    with open_ledger(pg_url) as old_leader, open_ledger(pg_url) as new_leader:
        epoch = old_leader.take_epoch("a", now)
        with old_leader.unit_of_work() as uow:
            uow.people.ensure(["p1"], now)
        with pytest.raises(StaleEpoch), old_leader.unit_of_work(epoch=epoch) as uow:
            uow.transitions.append([_transition("p1", "MQL", now)], run_id="r", epoch=epoch)
            # The old writer is paused here; another replica becomes leader and commits its epoch.
            taker = threading.Thread(target=new_leader.take_epoch, args=("b", now))
            taker.start()
            taker.join(timeout=10)
            assert not taker.is_alive()
        with new_leader.reading() as uow:
            assert uow.transitions.for_person("p1") == []
            assert uow.current_epoch() == epoch + 1
