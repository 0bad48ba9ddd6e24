"""Leadership on real databases: one leader, a clear refusal on SQLite, fast takeover on PostgreSQL."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadsync.daemon.leadership import AdvisoryLeadership, FileLeadership, LeadershipUnavailable, Role
from leadsync.ledger import Ledger, StaleEpoch, Watermark, open_ledger, upgrade


def wait_until(check: Callable[[], bool], seconds: float = 15.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not true within {seconds}s")
        time.sleep(0.05)
    return time.monotonic() - started


def write_with(ledger: Ledger, epoch: int, stream: str) -> None:
    with ledger.unit_of_work(epoch=epoch) as uow:
        uow.watermarks.save(Watermark(stream, "1"), datetime.now(UTC))


def test_a_second_process_on_one_sqlite_file_is_refused_with_the_file_and_holder(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    database = tmp_path / "ledger.db"
    first = FileLeadership(sqlite_ledger, database, holder="host-a:1")
    first.start()
    assert first.role() is Role.LEADER and first.epoch() == 1
    second = FileLeadership(sqlite_ledger, database, holder="host-b:2")
    with pytest.raises(LeadershipUnavailable) as refused:
        second.start()
    message = str(refused.value)
    assert f"{database}.lock" in message and f"pid {os.getpid()}" in message and "host-a:1" in message
    assert sqlite_ledger.current_epoch() == 1  # the refused process took no epoch
    first.stop()
    second.start()  # once released, the next process leads with a higher epoch
    assert second.epoch() == 2
    with pytest.raises(StaleEpoch):
        write_with(sqlite_ledger, 1, "late")
    second.stop()


@pytest.mark.postgres
def test_a_standby_takes_over_within_seconds_when_the_leaders_lock_connection_dies(pg_url: str) -> None:
    upgrade(pg_url)
    with open_ledger(pg_url) as ledger_a, open_ledger(pg_url) as ledger_b:
        a = AdvisoryLeadership(ledger_a, ledger_a.url, holder="a", retry_seconds=0.2)
        b = AdvisoryLeadership(ledger_b, ledger_b.url, holder="b", retry_seconds=0.2)
        a.start()
        b.start()
        try:
            assert (a.role(), b.role()) == (Role.LEADER, Role.STANDBY)
            old = a.epoch()
            assert old is not None
            time.sleep(0.6)  # a few retries: the standby must not get in while the leader lives
            assert (a.role(), b.role()) == (Role.LEADER, Role.STANDBY)
            write_with(ledger_a, old, "a-before")

            engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
            with engine.connect() as admin:
                holder_pid = admin.execute(sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")).scalar_one()
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": holder_pid})
            engine.dispose()

            took = wait_until(b.is_leader)
            assert took < 10
            wait_until(lambda: not a.is_leader())  # the old leader notices and stops writing
            new = b.epoch()
            assert new is not None and new > old
            assert ledger_b.current_epoch() == new
            with pytest.raises(StaleEpoch):
                write_with(ledger_a, old, "a-after")  # a paused old leader's late write is refused
            write_with(ledger_b, new, "b-after")
            with ledger_b.reading() as uow:
                assert uow.watermarks.get("a-after") is None and uow.watermarks.get("b-after") is not None
            time.sleep(0.6)
            assert a.role() is Role.STANDBY  # and it does not get the lock back while b holds it
        finally:
            a.stop()
            b.stop()
