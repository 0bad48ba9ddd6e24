"""Reliability test 7: loop termination. Users on both sides edit leads and contacts, and override the
fields leadsync owns, every cycle for a while (an edit storm). Our own writes come back as changes.
Once the users stop, writes stop within a bounded number of cycles, and both CRMs hold the ledger's
status; during the storm each cycle writes only records of people somebody touched."""

from __future__ import annotations

import random
from pathlib import Path

from leadsync.ledger import Identity, IdentityKind

from .harness import Rig, assert_transitions_legal, lifecycle_mismatches, rig
from .storm import edit_storm

QUIET_WITHIN = 3  # cycles after the last edit: the write, its echo, one spare


def people_of(target: Rig, touched: set[str]) -> set[str]:
    found = set()
    with target.ledger.reading() as uow:
        for record_id in touched:
            for kind in (IdentityKind.SALESFORCE_LEAD, IdentityKind.HUBSPOT_CONTACT):
                person = uow.people.find(Identity(kind, record_id))
                if person is not None:
                    found.add(uow.people.resolve(person))
    return found


def storm_then_quiet(target: Rig, chooser: random.Random, storm_cycles: int, *, override_owned: bool) -> None:
    target.run_until_quiet()
    for _ in range(storm_cycles):
        touched = edit_storm(target, chooser, chooser.randint(3, 8), override_owned=override_owned)
        target.settle()
        report = target.cycle()
        written_people = {p.person_id for p in report.plans if p.writes}
        # Writes go to people someone touched (this or the last storm cycle, whose echo may still come).
        assert written_people <= people_of(target, touched) | set(report.pull.people_changed)

    quiet = target.run_until_quiet(max_cycles=QUIET_WITHIN)
    idle = target.cycle()

    assert len(quiet) <= QUIET_WITHIN
    assert idle.writes == [] and idle.api_calls["salesforce"]["writes"] == 0
    assert idle.api_calls["hubspot"]["writes"] == 0
    assert_transitions_legal(target)


def test_edit_storms_on_both_sides_stop_writing_within_a_bounded_number_of_cycles(
        fault_seed: int, tmp_path: Path, ledger_url: str, soak: bool) -> None:
    """Users also overwrite leadsync's lifecycle fields here (see the README of the failing tests for
    why convergence is asserted only in the next test)."""
    with rig(tmp_path / "storm", ledger_url=ledger_url, persons=12, seed=fault_seed) as target:
        storm_then_quiet(target, random.Random(fault_seed), 10 if soak else 3, override_owned=True)


def test_after_a_storm_of_crm_work_both_crms_hold_the_ledgers_status(
        fault_seed: int, tmp_path: Path, ledger_url: str, soak: bool) -> None:
    with rig(tmp_path / "storm", ledger_url=ledger_url, persons=12, seed=fault_seed) as target:
        storm_then_quiet(target, random.Random(fault_seed), 10 if soak else 3, override_owned=False)
        assert lifecycle_mismatches(target) == []
