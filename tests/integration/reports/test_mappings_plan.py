"""``leadsync mappings plan``: an edited rule folder evaluated against the ledger's people, read-only."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from leadsync.cli import mappings_plan
from leadsync.ledger import Ledger
from leadsync.reports import plan
from leadsync.rules.ruleset import load_ruleset
from tests.integration.reports.builders import activity, utc, walk, write

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
NOW = utc(2026, 11, 24, 12)


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """The shipped rules with webinar attendance as a hand-raise and demo requests no longer one."""
    folder = tmp_path / "edited"
    shutil.copytree(MAPPINGS, folder)
    lifecycle = folder / "lifecycle.toml"
    text = lifecycle.read_text(encoding="utf-8")
    assert 'hand_raise = ["demo_request", "contact_us"]' in text
    lifecycle.write_text(text.replace('hand_raise = ["demo_request", "contact_us"]',
                                      'hand_raise = ["webinar_attended", "contact_us"]'), encoding="utf-8")
    return folder


@pytest.fixture
def people(ledger: Ledger) -> Ledger:
    write(ledger, walk("a", ("Inquiry", utc(2026, 11, 20))), activities=[
        ("a", activity("webinar_attended", utc(2026, 11, 20), "a1")),  # edited: MQL by hand-raise
        ("b", activity("demo_request", utc(2026, 11, 21), "b1")),  # current: MQL; edited: only an inquiry
        ("c", activity("page_view", utc(2026, 11, 21), "c1")),  # the same under both
        ("d", activity("form_fill", utc(2026, 11, 21), "d1")),  # the same under both
    ])
    return ledger


def test_plan_lists_status_changes_and_mql_crossings(people: Ledger, edited: Path) -> None:
    current, new = load_ruleset(MAPPINGS), load_ruleset(edited)
    report = plan.build(people, current, new, NOW, loader=plan.ledger_state)
    summary = {r["measure"]: r["people"] for r in report.table("summary").records()}
    assert summary["evaluated"] == 4 and summary["would change status"] == 2
    assert summary["would cross into MQL or beyond"] == 1 and summary["would fall below MQL"] == 1
    rows = {r["person"]: r for r in report.table("changes").records()}
    assert set(rows) == {"a", "b"}
    assert (rows["a"]["status now"], rows["a"]["next status (current rules)"], rows["a"]["next status (edited rules)"],
            rows["a"]["MQL line"]) == ("Inquiry", "Inquiry", "MQL", "into MQL+")
    assert (rows["b"]["status now"], rows["b"]["next status (current rules)"], rows["b"]["next status (edited rules)"],
            rows["b"]["MQL line"]) == (None, "MQL", "Inquiry", "out of MQL+")
    with people.reading() as uow:  # read-only: nothing was recorded
        assert [t.transition.to_status for t in uow.transitions.for_person("a")] == ["Inquiry"]
        assert uow.transitions.for_person("b") == []


def test_plan_command(people: Ledger, edited: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LEADSYNC__LEDGER__URL", people.url.render_as_string(hide_password=False))
    monkeypatch.setattr(plan, "default_loader", lambda: (plan.ledger_state, "ledger only"))
    parser = argparse.ArgumentParser()
    mappings_plan.register(parser.add_subparsers(dest="action"), [])
    args = parser.parse_args(["plan", str(edited), "--current", str(MAPPINGS), "--format", "json",
                              "--as-of", NOW.isoformat()])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["headline"] == {"would change status": "2", "cross into MQL+": "1", "fall below MQL": "1"}


def test_default_loader_falls_back_to_the_ledger_without_sync_tables(people: Ledger) -> None:
    load, _source = plan.default_loader()
    with people.reading() as uow:
        state = load(uow, "a", load_ruleset(MAPPINGS))
    assert state.person.id == "a" and state.lifecycle_status == "Inquiry" and len(state.activities) == 1
