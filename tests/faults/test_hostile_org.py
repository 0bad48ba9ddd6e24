"""Reliability test 11: a hostile org and hostile data.

- An admin makes a mapped field read-only and removes a picklist value the rules write: preflight fails
  fast, names each mapping line (file:line), writes nothing, keeps failing the same way (no crash loop)
  and passes again once the org is fixed.
- Merges, archives and deletes between cycles: the survivor keeps the person, nothing is written to a
  record that is gone, every transition stays legal and the sync goes quiet.
- Hostile values (quotes, backslashes, SOQL/JSON metacharacters, unicode, a 30,000-character text, a
  huge HubSpot property): each record syncs, no value is altered, no other record is touched.
- No secret (passwords, security token, client secret, HubSpot token) appears in any log line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leadsync.ledger import Identity, IdentityKind
from leadsync.sync.preflight import PreflightFailed, PreflightGate, run_preflight

from .harness import MAPPINGS, RULESET, Rig, assert_transitions_legal, rig
from .storm import live_contacts, live_leads

HOSTILE_TEXT = [
    "O'Brien", 'Say "hi"', "back\\slash\\", "x' OR Name LIKE '%", "'; DELETE FROM Lead; --", "{\"$ne\": null}",
    "Zoë Ångström", "東京 株式会社", "مرحبا", "🚀 launch", "tab\tand\nnewline", "%_*?[]",
]


def mapping_line(field: str) -> str:
    """``fields.toml:N`` of the mapping whose ``field = "..."`` names ``field``."""
    for number, line in enumerate((MAPPINGS / "fields.toml").read_text().splitlines(), start=1):
        if re.fullmatch(rf'field\s*=\s*"{field}"(\s*#.*)?', line.strip()):
            return f"fields.toml:{number}"
    raise AssertionError(f"no mapping line for {field}")


def assert_no_secret_logged(target: Rig, logged: str) -> None:
    assert logged.strip(), "nothing was logged: the check would prove nothing"
    box = target.sandbox
    for name, secret in [("salesforce password", box.sf_password), ("security token", box.sf_security_token),
                         ("client secret", box.sf_client_secret), ("hubspot token", box.hs_token)]:
        assert secret not in logged, f"the {name} appears in the log"


def test_a_read_only_field_and_a_removed_option_fail_preflight_fast_with_their_mapping_lines(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with rig(tmp_path / "org", persons=4, seed=3) as target:
        target.sandbox.hs.change_property("contacts", "leadsync_score", read_only=True)
        target.sandbox.hs.change_property("contacts", "lifecyclestage", remove_options=("marketingqualifiedlead",))
        gate = PreflightGate()

        for _ in range(3):  # every cycle fails the same clear way; nothing crashes, nothing is written
            with pytest.raises(PreflightFailed) as failed:
                gate.require(RULESET, target.connectors)
            text = str(failed.value)
            assert f"{mapping_line('leadsync_score')}: hubspot contacts.leadsync_score" in text
            assert f"{mapping_line('lifecyclestage')}: hubspot contacts.lifecyclestage" in text
            assert "marketingqualifiedlead" in text
            assert len(failed.value.problems) == 2
        assert sum(target.write_calls().values()) == 0
        result = run_preflight(RULESET, target.connectors)
        assert result.calls["hubspot"] <= 3 and result.calls["salesforce"] <= 3  # a few describes, no more

        target.sandbox.hs.change_property("contacts", "leadsync_score", read_only=False)
        target.sandbox.hs.change_property("contacts", "lifecyclestage",
                                          add_options=(("marketingqualifiedlead", "Marketing Qualified Lead"),))
        assert gate.require(RULESET, target.connectors).ok  # a failed result is never reused
        target.run_until_quiet()
        assert_no_secret_logged(target, capfd.readouterr().out)


def test_merges_archives_deletes_and_an_expired_session_between_cycles(
        tmp_path: Path, ledger_url: str, capfd: pytest.CaptureFixture[str]) -> None:
    with rig(tmp_path / "org", ledger_url=ledger_url, persons=12, seed=7) as target:
        target.run_until_quiet()
        contacts, leads = live_contacts(target), live_leads(target)
        survivor, merged, archived = contacts[0], contacts[1], contacts[2]
        target.sandbox.hs.merge_contacts(survivor, merged)
        target.sandbox.hs.archive_contact(archived)
        target.sandbox.sf.delete_record("Lead", leads[0])
        target.sandbox.sf.faults.add(kind="sf_session_expiry", endpoint="query", times=1)
        target.settle()
        reports = target.run_until_quiet(max_cycles=4)

        gone = {merged, archived, leads[0]}
        assert [w.target for r in reports for w in r.writes if w.target.record_id in gone] == []
        assert sum(r.pull.merges for r in reports) >= 1
        assert all(r.status == "succeeded" and r.outcome.failed == 0 for r in reports)
        with target.ledger.reading() as uow:
            kept = uow.people.find(Identity(IdentityKind.HUBSPOT_CONTACT, survivor))
            folded = uow.people.find(Identity(IdentityKind.HUBSPOT_CONTACT, merged))
            assert kept is not None and folded is not None and uow.people.resolve(folded) == kept
        assert_transitions_legal(target)
        assert_no_secret_logged(target, capfd.readouterr().out)


def test_hostile_values_sync_unaltered_without_touching_other_records(
        tmp_path: Path, ledger_url: str, capfd: pytest.CaptureFixture[str]) -> None:
    with rig(tmp_path / "org", ledger_url=ledger_url, persons=6, seed=9) as target:
        target.run_until_quiet()
        sf, hs = target.sandbox.sf, target.sandbox.hs
        before_leads = {str(r["Id"]) for r in sf.records("Lead")}
        made: dict[str, dict[str, str]] = {}
        for n, text in enumerate(HOSTILE_TEXT):
            fields = {"LastName": text[:80], "Company": f"{text} Ltd"[:255], "Title": text[:128],
                      "Email": f"hostile.{n}@weird-data.example", "Description": ((text + " ") * 2_000)[:30_000]}
            made[sf.create_record("Lead", fields)] = fields
        huge = "ü" * 200_000
        contact = hs.create_contact({"email": "o'brien+\\x@weird-data.example", "firstname": "\"; DROP",
                                     "lastname": "Zoë 🚀", "jobtitle": huge})
        target.settle()
        reports = target.run_until_quiet()

        assert all(r.status == "succeeded" and r.outcome.failed == 0 for r in reports)
        with target.ledger.reading() as uow:
            people = {i: uow.people.find(Identity(IdentityKind.SALESFORCE_LEAD, i)) for i in made}
            hs_person = uow.people.find(Identity(IdentityKind.HUBSPOT_CONTACT, contact))
        assert None not in people.values() and hs_person is not None
        for lead_id, fields in made.items():
            record = sf.record("Lead", lead_id)
            assert record is not None and {k: record[k] for k in fields} == fields  # not altered
            assert record["Lifecycle_Status__c"] is not None  # synced like any lead
        assert hs.contact(contact).props["jobtitle"] == huge
        assert {str(r["Id"]) for r in sf.records("Lead")} == before_leads | set(made)  # nothing else touched
        assert_transitions_legal(target)
        assert_no_secret_logged(target, capfd.readouterr().out)
