"""Reliability test 6: partial batch failures. Write batches come back with some records failed:
transient ones (a whole-call 503, UNABLE_TO_LOCK_ROW, HubSpot LOCKED) are retried to success; permanent
ones (a restricted picklist refusing the value, HubSpot's INVALID_OPTION) are quarantined with their
reason and not retried while their cause stands; every other record of the batch is recorded as written.
Everything but the quarantined records ends as in the undisturbed run."""

from __future__ import annotations

from pathlib import Path

from leadsync.domain.model import System

from .harness import (
    Outcome,
    ReferenceRun,
    assert_not_written_twice,
    assert_same_crm,
    assert_transitions_legal,
    rig,
)

PERSONS = 12


def written_in(reference: Outcome, system: str, obj: str) -> list[str]:
    return sorted(r for (s, o, r) in reference.applied_per_target if s == system and o == obj)


def assert_same_except(outcome: Outcome, expected: Outcome, sf_ids: set[str], hs_ids: set[str]) -> None:
    assert_same_crm({k: v for k, v in outcome.salesforce.items() if k[1] not in sf_ids},
                    {k: v for k, v in expected.salesforce.items() if k[1] not in sf_ids})
    assert_same_crm({k: v for k, v in outcome.hubspot.items() if k not in hs_ids},
                    {k: v for k, v in expected.hubspot.items() if k not in hs_ids})


def test_transient_failures_are_retried_and_permanent_ones_quarantined_with_their_reason(
        tmp_path: Path, ledger_url: str, reference: ReferenceRun) -> None:
    expected, _ = reference(PERSONS, 7)
    [sf_bad] = written_in(expected, "salesforce", "Lead")[:1]
    [hs_bad] = written_in(expected, "hubspot", "contacts")[:1]
    with rig(tmp_path / "partial", ledger_url=ledger_url, persons=PERSONS, seed=7) as target:
        sf, hs = target.sandbox.sf, target.sandbox.hs
        sf.faults.add(kind="status", status=503, endpoint="composite.sobjects", times=1)
        sf.faults.add(kind="sf_lock", endpoint="composite.sobjects", times=None, params={
            "ids": [sf_bad], "status_code": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "message": "bad value for restricted picklist field"})
        hs.faults.add(kind="status", status=503, endpoint="contacts.batch_update", times=1)
        hs.faults.add(kind="hs_batch_error", endpoint="contacts.batch_update", times=None, params={
            "ids": [hs_bad], "category": "VALIDATION_ERROR", "message": "INVALID_OPTION: not an allowed option"})
        reports = target.run_until_quiet()
        idle = target.cycle()

        assert reports[0].outcome.quarantined == 2
        assert idle.api_calls["salesforce"]["writes"] == 0 and idle.api_calls["hubspot"]["writes"] == 0
        with target.ledger.reading() as uow:
            sf_quarantined = uow.quarantine.get(System.SALESFORCE, "Lead", sf_bad)
            hs_quarantined = uow.quarantine.get(System.HUBSPOT, "contacts", hs_bad)
        assert sf_quarantined is not None and "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in sf_quarantined.reason
        assert hs_quarantined is not None and "INVALID_OPTION" in hs_quarantined.reason
        outcome = target.outcome()
        assert_same_except(outcome, expected, {sf_bad}, {hs_bad})
        assert outcome.open_intents == {"pending": 0, "failed": 0}
        written = {t for t in expected.applied_per_target if t[2] not in (sf_bad, hs_bad)}
        assert {t for t in written if outcome.applied_per_target.get(t, 0) == 0} == set()
        assert_not_written_twice(outcome, expected)
        assert_transitions_legal(target)


def test_per_record_lock_errors_in_a_batch_are_retried_to_the_undisturbed_end_state(
        tmp_path: Path, ledger_url: str, reference: ReferenceRun) -> None:
    expected, _ = reference(PERSONS, 7)
    locked_leads = written_in(expected, "salesforce", "Lead")[:2]
    locked_contact = written_in(expected, "hubspot", "contacts")[-1]
    with rig(tmp_path / "locks", ledger_url=ledger_url, persons=PERSONS, seed=7) as target:
        sf_lock = target.sandbox.sf.faults.add(kind="sf_lock", endpoint="composite.sobjects", times=1,
                                               params={"ids": locked_leads})
        hs_lock = target.sandbox.hs.faults.add(kind="hs_batch_error", endpoint="contacts.batch_update", times=1,
                                     params={"ids": [locked_contact], "category": "LOCKED",
                                             "message": "the record is being updated by another process"})
        first = target.run_until_quiet()[0]

        assert sf_lock.fired == 1 and hs_lock.fired == 1
        assert first.outcome.failed + first.outcome.applied >= 3  # each lock answered, retried or deferred

        outcome = target.outcome()
        assert_same_except(outcome, expected, set(), set())
        assert outcome.statuses == expected.statuses and outcome.transitions == expected.transitions
        assert outcome.open_intents == {"pending": 0, "failed": 0}
        with target.ledger.reading() as uow:
            assert all(uow.quarantine.get(System.SALESFORCE, "Lead", i) is None for i in locked_leads)
        assert_not_written_twice(outcome, expected)
        assert_transitions_legal(target)
