"""Revision 0002 (the sync engine's tables) and their repository, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from leadsync.ledger import Ledger, current, downgrade, open_ledger, upgrade
from leadsync.ledger.engine import make_engine
from leadsync.ledger.schema import SYNC_TABLES
from leadsync.ledger.sync_state import OpportunityLink, SyncRecordRow

SF_LEAD = ("salesforce", "lead")


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _record(record_id: str, person: str, now: datetime, *, email: str | None = None, deleted: bool = False,
            current: dict[str, object] | None = None) -> SyncRecordRow:
    return SyncRecordRow(*SF_LEAD, record_id, person, email, now, {"first_name": "Ada"}, {"crm_status": "Open"},
                         current or {}, deleted, now)


def test_0002_adds_the_sync_tables_and_its_downgrade_removes_only_them(empty_url: str, now: datetime) -> None:
    upgrade(empty_url, "0001")
    assert not set(SYNC_TABLES) & _tables(empty_url)
    upgrade(empty_url)
    assert set(SYNC_TABLES) <= _tables(empty_url)
    with open_ledger(empty_url) as ledger, ledger.unit_of_work() as uow:
        uow.people.ensure(["p1"], now)
        uow.sync.save_records([_record("00Q1", "p1", now)])

    downgrade(empty_url, "0001")
    assert current(empty_url) == "0001"
    assert not set(SYNC_TABLES) & _tables(empty_url)
    assert "persons" in _tables(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            assert "ix_persons_merged_into" not in {i["name"] for i in sa.inspect(connection).get_indexes("persons")}
            assert connection.execute(sa.text("SELECT id FROM persons")).scalars().all() == ["p1"]
    finally:
        engine.dispose()
    upgrade(empty_url)
    with open_ledger(empty_url) as ledger, ledger.reading() as uow:
        assert uow.sync.records_of(["p1"]) == []


def test_0002_keeps_tables_the_older_engine_created_itself(empty_url: str, now: datetime) -> None:
    upgrade(empty_url, "0001")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:  # what the engine's create_all used to leave behind, with a row
            connection.exec_driver_sql("CREATE TABLE sync_dirty (person_id VARCHAR(64) PRIMARY KEY, "
                                       "marked_at TIMESTAMP WITH TIME ZONE NOT NULL)")
            connection.execute(sa.text("INSERT INTO sync_dirty VALUES ('p9', :at)"), {"at": now})
    finally:
        engine.dispose()
    upgrade(empty_url)
    with open_ledger(empty_url) as ledger, ledger.reading() as uow:
        assert uow.sync.dirty() == ["p9"]


def test_records_upsert_in_bulk_and_read_by_key_person_and_email(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["p1", "p2"], now)
        uow.sync.save_records([_record("00Q1", "p1", now, email="a@x.io"), _record("00Q2", "p2", now, email="a@x.io"),
                               _record("00Q3", "p2", now, email="b@x.io", deleted=True)])
    later = now + timedelta(minutes=5)
    with ledger.unit_of_work() as uow:  # the second save of a key updates it; the last row per key wins
        uow.sync.save_records([_record("00Q1", "p1", later, current={"Status": "x"}),
                               _record("00Q1", "p1", later, current={"Status": "MQL"})])
    with ledger.reading() as uow:
        found = uow.sync.records([(*SF_LEAD, "00Q1"), (*SF_LEAD, "00Q2"), (*SF_LEAD, "nope")])
        assert set(found) == {(*SF_LEAD, "00Q1"), (*SF_LEAD, "00Q2")}
        assert (found[(*SF_LEAD, "00Q1")].modstamp, found[(*SF_LEAD, "00Q1")].current) == (later, {"Status": "MQL"})
        assert [r.record_id for r in uow.sync.records_of(["p2"])] == ["00Q2", "00Q3"]
        assert uow.sync.people_with_emails(["a@x.io", "b@x.io"]) == {"a@x.io": {"p2"}}  # 00Q1 lost its email
        assert uow.sync.live_record_keys(["salesforce"]) == {(*SF_LEAD, "00Q1"), (*SF_LEAD, "00Q2")}
        assert uow.sync.live_record_keys(["hubspot"]) == set()


def test_deal_links_are_replaced_whole_and_found_by_record(ledger: Ledger, now: datetime) -> None:
    first = OpportunityLink("006A", (*SF_LEAD, "00Q1"), False, False, "Prospecting", now)
    with ledger.unit_of_work() as uow:
        uow.sync.replace_opportunity_links(["006A"], [first, OpportunityLink("006A", (*SF_LEAD, "00Q2"), False,
                                                                             False, "Prospecting", now)])
        uow.sync.replace_opportunity_links(["006A"], [OpportunityLink("006A", (*SF_LEAD, "00Q2"), True, True,
                                                                      "Closed Won", now)])
    with ledger.reading() as uow:
        assert uow.sync.opportunities_for([(*SF_LEAD, "00Q1")]) == []
        [link] = uow.sync.opportunities_for([(*SF_LEAD, "00Q1"), (*SF_LEAD, "00Q2")])
        assert (link.is_closed, link.is_won, link.stage) == (True, True, "Closed Won")
        assert set(uow.sync.opportunity_links(["006A", "006B"])) == {"006A"}


def test_dirty_marks_duplicates_and_merge_families(ledger: Ledger, now: datetime) -> None:
    with ledger.unit_of_work() as uow:
        uow.people.ensure(["a", "b", "c", "d"], now)
        uow.people.merge("c", "b", now)  # c -> b -> a: c belongs to a's family through b
        uow.people.merge("b", "a", now)
        uow.sync.mark_dirty(["d", "a", "d"], now)
        uow.sync.flag_duplicates([("a", "d", "x@y.io"), ("a", "d", "x@y.io")], now)
    with ledger.unit_of_work() as uow:
        assert uow.sync.dirty() == ["a", "d"]
        uow.sync.clear_dirty(["a"])
        assert uow.sync.dirty() == ["d"]
        assert uow.sync.duplicates_of("d") == [("a", "x@y.io")]
        assert uow.sync.population() == 2
        assert uow.sync.all_people() == ["a", "d"]
        families = uow.sync.merged_into(["a", "d"])
        assert (sorted(families["a"]), families["d"]) == (["b", "c"], [])


def test_the_leader_row_reads_back(ledger: Ledger, now: datetime) -> None:
    with ledger.reading() as uow:
        assert uow.sync.leader() is None
    epoch = ledger.take_epoch("host-1:42", now)
    with ledger.reading() as uow:
        row = uow.sync.leader()
    assert row is not None and (row.holder, row.epoch, row.taken_at) == ("host-1:42", epoch, now)
