"""Contract: people, activities, scores and the append-only history, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from leadsync.domain.model import Activity, Cause, CauseKind, ContactStatusChange, Move, System, Transition
from leadsync.ledger import (
    Identity,
    IdentityConflict,
    IdentityEventKind,
    IdentityKind,
    Ledger,
    ScoreSnapshot,
)


def _transition(person: str, to: str, at: datetime, **extra: object) -> Transition:
    return Transition(
        person, None, to, at, Move.FORWARD, "mql.score_and_grade", "rules-v7", "score 120 >= 100", **extra
    )  # type: ignore[arg-type]


def test_people_keep_every_identity_and_emails_are_normalised(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        assert uow.people.ensure(["p1", "p1", "p2"], now) == 2
        assert uow.people.ensure(["p1"], now) == 0
        uow.people.link("p1", [Identity(IdentityKind.SALESFORCE_LEAD, "00Q1"), Identity.email("Ann@Example.COM")], now)
        uow.people.link("p1", [Identity(IdentityKind.EMAIL, "  ann@example.com ")], now)  # same, re-linked

    with ledger.reading() as uow:
        assert uow.people.find(Identity(IdentityKind.EMAIL, "ANN@example.com")) == "p1"
        assert uow.people.find(Identity(IdentityKind.SALESFORCE_LEAD, "00Q1")) == "p1"
        assert uow.people.find(Identity(IdentityKind.HUBSPOT_CONTACT, "501")) is None
        record = uow.people.get("p1")
    assert record is not None
    assert record.identities == {
        Identity(IdentityKind.SALESFORCE_LEAD, "00Q1"),
        Identity(IdentityKind.EMAIL, "ann@example.com"),
    }


def test_an_identity_cannot_belong_to_two_people(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1", "p2"], now)
        uow.people.link("p1", [Identity(IdentityKind.HUBSPOT_CONTACT, "501")], now)
    with pytest.raises(IdentityConflict, match="501"), ledger.unit_of_work() as uow:
        uow.people.link("p2", [Identity(IdentityKind.HUBSPOT_CONTACT, "501")], now)
    with ledger.reading() as uow:
        assert uow.people.find(Identity(IdentityKind.HUBSPOT_CONTACT, "501")) == "p1"


def test_merge_moves_identities_and_old_ids_resolve_to_the_survivor(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["loser", "survivor"], now)
        uow.people.link("loser", [Identity(IdentityKind.HUBSPOT_CONTACT, "77")], now)
        uow.people.link("survivor", [Identity(IdentityKind.SALESFORCE_CONTACT, "003A")], now)
        uow.people.merge("loser", "survivor", now, run_id="r1", details={"source": "hs_merged_object_ids"})

    with ledger.reading() as uow:
        assert uow.people.find(Identity(IdentityKind.HUBSPOT_CONTACT, "77")) == "survivor"
        assert uow.people.resolve("loser") == "survivor"
        survivor = uow.people.get("survivor")
        events = uow.people.events("survivor")
    assert survivor is not None
    assert Identity(IdentityKind.HUBSPOT_CONTACT, "77") in survivor.identities
    assert [(e.kind, e.details["loser"], e.run_id) for e in events] == [(IdentityEventKind.MERGE, "loser", "r1")]


def test_lead_conversion_keeps_the_lead_id_and_adds_the_contact(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        uow.people.record_conversion("p1", "00Q9", "003Z", now)
    with ledger.reading() as uow:
        assert uow.people.find(Identity(IdentityKind.SALESFORCE_LEAD, "00Q9")) == "p1"
        assert uow.people.find(Identity(IdentityKind.SALESFORCE_CONTACT, "003Z")) == "p1"
        [event] = uow.people.events("p1")
    assert event.kind is IdentityEventKind.LEAD_CONVERSION
    assert dict(event.details) == {"lead_id": "00Q9", "contact_id": "003Z"}


def test_the_same_activity_twice_is_one_row_updated_in_place(ledger: Ledger, now: datetime) -> None:
    first = Activity(System.HUBSPOT, "ev-1", "page_view", now, {"url": "/pricing"})
    edited = Activity(System.HUBSPOT, "ev-1", "page_view", now, {"url": "/pricing?x=1"})
    other_system = Activity(System.SALESFORCE, "ev-1", "call", now, {"disposition": "connected"})
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        uow.activities.upsert([("p1", first), ("p1", first)])
    with ledger.unit_of_work() as uow:
        uow.activities.upsert([("p1", edited), ("p1", other_system)])
    with ledger.reading() as uow:
        assert uow.activities.count() == 2
        stored = uow.activities.for_person("p1")
    assert {(a.source, a.source_id, a.properties.get("url")) for a in stored} == {
        (System.HUBSPOT, "ev-1", "/pricing?x=1"),
        (System.SALESFORCE, "ev-1", None),
    }


def test_score_snapshots_keep_version_and_breakdown(ledger: Ledger, now: datetime) -> None:
    older = ScoreSnapshot("p1", now - timedelta(days=1), 40.0, "B", "rules-v6", {"page_view": 40})
    newer = ScoreSnapshot("p1", now, 115.5, "A-", "rules-v7", {"page_view": 15.5, "demo_request": 100})
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        assert uow.scores.record([newer, older], run_id="r1") == 2
    with ledger.reading() as uow:
        assert uow.scores.latest("p1") == newer
        assert uow.scores.latest("nobody") is None


def test_transitions_round_trip_with_run_and_epoch(ledger: Ledger, now: datetime) -> None:
    later = now + timedelta(hours=2)
    by_user = Transition(
        "p1",
        "MQL",
        "SAL",
        later,
        Move.FORWARD,
        "sal.owner_took_it",
        "rules-v7",
        "owner accepted",
        {"owner_id": "005X", "at": later},
        Cause(CauseKind.CRM_USER, "005X"),
    )
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        written = uow.transitions.append(
            [_transition("p1", "MQL", now, facts={"score": 120}), by_user], run_id="run-1", epoch=0
        )
    assert written == 2
    with ledger.reading() as uow:
        history = uow.transitions.for_person("p1")
        assert uow.transitions.current_status("p1") == "SAL"
    assert [(h.transition.to_status, h.run_id, h.epoch) for h in history] == [("MQL", "run-1", 0), ("SAL", "run-1", 0)]
    assert history[0].transition.facts == {"score": 120}
    assert history[1].transition.cause == Cause(CauseKind.CRM_USER, "005X")
    # Facts are stored as JSON: datetimes come back as ISO text, the rest unchanged.
    assert history[1].transition.facts == {"owner_id": "005X", "at": later.isoformat()}
    assert history[1].transition.at == later and history[1].transition.at.tzinfo is not None


def test_times_are_instants_whatever_zone_they_arrive_in(ledger: Ledger, now: datetime) -> None:
    in_paris = now.astimezone(timezone(timedelta(hours=1)))
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        uow.transitions.append([_transition("p1", "Inquiry", in_paris)], run_id=None, epoch=0)
    with ledger.reading() as uow:
        [stored] = uow.transitions.for_person("p1")
    assert stored.transition.at == now
    assert stored.transition.at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(ledger: Ledger, now: datetime) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now.replace(tzinfo=None))


def test_contact_status_changes_are_their_own_history(ledger: Ledger, now: datetime) -> None:
    change = ContactStatusChange(
        "p1", None, "left_voicemail", now, "cs.call", "rules-v7", "call disposition", {"disposition": "Left VM"}
    )
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        uow.transitions.append_contact_status([change], run_id="r", epoch=0)
    with ledger.reading() as uow:
        assert uow.transitions.contact_status_for_person("p1") == [change]
        assert uow.transitions.for_person("p1") == []


@pytest.mark.parametrize("table", ["transitions", "contact_status_changes"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET to_status = 'Customer'", "DELETE FROM {t}"])
def test_history_cannot_be_changed_even_with_raw_sql(ledger: Ledger, now: datetime, table: str, statement: str) -> None:
    change = ContactStatusChange("p1", None, "connected", now, "cs", "v", "r")
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        uow.transitions.append([_transition("p1", "MQL", now)], run_id=None, epoch=0)
        uow.transitions.append_contact_status([change], run_id=None, epoch=0)

    with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as connection:
        connection.exec_driver_sql(statement.format(t=table))

    with ledger.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT to_status FROM {table}").scalars().all()  # noqa: S608
    assert rows == (["MQL"] if table == "transitions" else ["connected"])


@pytest.mark.postgres
def test_history_cannot_be_truncated_on_postgres(pg_url: str, now: datetime) -> None:
    from leadsync.ledger import open_ledger, upgrade

    upgrade(pg_url)
    with open_ledger(pg_url) as ledger:
        with ledger.unit_of_work() as uow:
            uow.people.ensure(["p1"], now)
            uow.transitions.append([_transition("p1", "MQL", now)], run_id=None, epoch=0)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE transitions")
        with ledger.reading() as uow:
            assert len(uow.transitions.for_person("p1")) == 1


def test_a_transition_for_an_unknown_person_is_refused(ledger: Ledger, now: datetime) -> None:
    with pytest.raises(sa.exc.IntegrityError), ledger.unit_of_work() as uow:
        uow.transitions.append([_transition("ghost", "MQL", now)], run_id=None, epoch=0)


def test_utc_is_what_comes_back(ledger: Ledger) -> None:
    at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # a DST edge in Europe, irrelevant to instants
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], at)
        record = uow.people.get("p1")
    assert record is not None and record.created_at == at
