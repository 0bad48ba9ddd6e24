"""Reliability test 1: kill -9 at seeded points (mid-pull, during the cursor commit, before a write call,
mid-batch, after the ack and before the commit), then a restart: the final state equals the undisturbed
run's, nothing is lost and nothing is written twice. SQLite and PostgreSQL.

The cycle runs in a child process (``crash_child``) that SIGKILLs itself at the seeded point; the restart
is a fresh engine with fresh connectors in this process, as after a real crash."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .crash_child import POINTS, SPEC_ENV
from .harness import (
    ROOT,
    ReferenceRun,
    Rig,
    assert_not_written_twice,
    assert_nothing_sent_twice,
    assert_same_outcome,
    assert_transitions_legal,
    rig,
)

PERSONS = 12


def crash_in_child(target: Rig, point: str, nth: int) -> int:
    target.advance()
    spec = {"ledger_url": target.ledger_url, "sandbox_env": target.sandbox.env(), "clock_offset": target.offset,
            "point": point, "nth": nth}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    env[SPEC_ENV] = json.dumps(spec)
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "tests.faults.crash_child"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode


def seeded_crash(seed: int) -> tuple[str, int]:
    chooser = random.Random(seed)
    return chooser.choice(POINTS), chooser.randint(1, 6)


@pytest.mark.parametrize("point", POINTS)
def test_each_crash_point_on_the_first_sync_then_restart_equals_the_undisturbed_run(
        point: str, ledger_url: str, tmp_path: Path, reference: ReferenceRun) -> None:
    expected, _ = reference(PERSONS, 7)
    with rig(tmp_path / "faulty", ledger_url=ledger_url, persons=PERSONS, seed=7) as faulty:
        assert crash_in_child(faulty, point, 3) == -signal.SIGKILL
        faulty.run_until_quiet()
        outcome = faulty.outcome()
        assert_same_outcome(outcome, expected)
        assert_not_written_twice(outcome, expected)
        assert_nothing_sent_twice(faulty)
        assert assert_transitions_legal(faulty) == sum(len(v) for v in expected.transitions.values())


@pytest.mark.slow
def test_seeded_crash_points_twice_in_a_row_then_restart_equals_the_undisturbed_run(
        fault_seed: int, ledger_url: str, tmp_path: Path, reference: ReferenceRun) -> None:
    expected, _ = reference(PERSONS, 7)
    first, second = seeded_crash(fault_seed), seeded_crash(fault_seed + 1000)
    with rig(tmp_path / "faulty", ledger_url=ledger_url, persons=PERSONS, seed=7) as faulty:
        crashes = [crash_in_child(faulty, *first), crash_in_child(faulty, *second)]
        assert -signal.SIGKILL in crashes, (first, second, crashes)
        faulty.run_until_quiet()
        outcome = faulty.outcome()
        assert_same_outcome(outcome, expected)
        assert_not_written_twice(outcome, expected)
        assert_transitions_legal(faulty)
