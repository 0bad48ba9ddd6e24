"""One-off writers (``leadsync sync --once``) lead exactly like a daemon: the same lock, a fresh epoch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadsync.daemon.leadership import LeadershipUnavailable, for_ledger, lead_once
from leadsync.ledger import Ledger


def test_an_epoch_left_by_a_daemon_that_exited_does_not_block_a_one_off_leader(ledger: Ledger) -> None:
    ledger.take_epoch("daemon@gone", datetime.now(UTC))
    with lead_once(ledger) as epoch:
        assert epoch == 2
    assert ledger.current_epoch() == 2
    with lead_once(ledger) as again:
        assert again == 3  # every one-off run is fenced by its own, newer epoch


def test_a_live_daemon_refuses_a_one_off_leader_and_keeps_its_epoch(ledger: Ledger) -> None:
    daemon = for_ledger(ledger)
    daemon.start()
    try:
        assert daemon.is_leader()
        held = daemon.epoch()
        with pytest.raises(LeadershipUnavailable), lead_once(ledger):
            pass
        assert ledger.current_epoch() == held  # the refused attempt took no epoch
    finally:
        daemon.stop()
    with lead_once(ledger) as epoch:
        assert held is not None and epoch == held + 1
