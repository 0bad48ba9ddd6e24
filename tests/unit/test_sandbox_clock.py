from __future__ import annotations

import itertools
from datetime import timedelta

from leadsync.sandbox.server import SandboxClock


def test_clock_is_strictly_increasing() -> None:
    clock = SandboxClock()
    stamps = [clock.now() for _ in range(1000)]
    assert all(b > a for a, b in itertools.pairwise(stamps))


def test_clock_skew_can_move_time_backwards() -> None:
    clock = SandboxClock()
    before = clock.now()
    clock.set_offset(-3600)
    after = clock.now()
    assert before - after > timedelta(minutes=59)
