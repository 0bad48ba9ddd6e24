"""``report funnel``, ``audit`` and ``scoring`` over hand-built ledgers, answers worked out here."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from leadsync.domain.model import Move, System
from leadsync.ledger import Identity, IntentState, Ledger, ScoreSnapshot, WriteIntent
from leadsync.reports import Window, build_report, render
from leadsync.reports.audit import UnknownPerson
from leadsync.rules.ruleset import RuleSet, load_ruleset
from tests.integration.reports.builders import move, sf_lead, utc, walk, write

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
NOW = utc(2026, 11, 24, 12)
WINDOW = Window(NOW, since=utc(2026, 10, 1), until=NOW)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset(MAPPINGS)


def day(d: int, month: int = 11, hour: int = 12) -> object:
    return utc(2026, month, d, hour)


@pytest.fixture
def funnel_ledger(ledger: Ledger) -> Ledger:
    items = [
        *walk("f1", ("Raw", day(2)), ("Inquiry", day(3)), ("MQL", day(4)), ("SAL", day(5)), ("SQL", day(10))),
        *walk("f2", ("Inquiry", day(2)), ("SQL", day(3))),  # skipped MQL and SAL
        *walk("f3", ("Inquiry", day(2)), ("MQL", day(3))),
        move("f3", "MQL", "Recycled", day(4), Move.RECYCLE),  # backward
        move("f3", "Recycled", "MQL", day(11)),  # re-enters MQL: counted once as a first entry
        *walk("f4", ("Inquiry", day(5, 10)), ("MQL", day(6, 10))),  # stuck in MQL since 6 Oct
        *(move(f"b{n:03d}", None, "Raw", utc(2026, 11, 16, 10) + timedelta(seconds=15 * n)) for n in range(100)),
    ]
    write(ledger, items)  # type: ignore[arg-type]
    return ledger


def test_funnel_counts_conversions_and_every_abnormal_flow(funnel_ledger: Ledger, ruleset: RuleSet) -> None:
    report = build_report("funnel", funnel_ledger, ruleset, WINDOW)
    counts = {r["period"]: r for r in report.table("counts").records()}
    week = counts["2026-11-02"]
    assert (week["Raw"], week["Inquiry"], week["MQL"], week["SAL"], week["SQL"]) == (1, 3, 2, 1, 1)
    assert (counts["2026-11-09"]["MQL"], counts["2026-11-09"]["SQL"]) == (1, 1)  # f3's return, f1's SQL
    assert counts["2026-11-16"]["Raw"] == 100
    assert (counts["2026-10-05"]["Inquiry"], counts["2026-10-05"]["MQL"]) == (1, 1)

    cohorts = {(r["cohort"], r["stage"]): r for r in report.table("conversions").records()}
    inquiry = cohorts[("2026-11-02", "Inquiry")]
    assert inquiry["people"] == 3 and inquiry["reached next %"] == 66.7  # f1 and f3 reached MQL; f2 skipped it
    mql = cohorts[("2026-11-02", "MQL")]
    assert mql["people"] == 2 and mql["reached next %"] == 50.0  # f1 reached SAL, f3 was recycled

    anomalies = {(r["kind"], r["stage"]): r for r in report.table("anomalies").records()}
    assert anomalies[("skipped_stage", "SQL")]["example people"] == "f2"
    assert anomalies[("backward_move", "Recycled")]["example people"] == "f3"
    assert anomalies[("re_entry", "MQL")]["example people"] == "f3"
    assert anomalies[("stuck", "MQL")]["example people"] == "f4"  # 49 days > 14
    assert anomalies[("bulk_import", None)]["people"] == 100
    funnel_chart = next(c for c in report.charts if c.key == "funnel")
    first_entries = dict(zip(funnel_chart.labels, funnel_chart.series[0].values, strict=True))
    assert first_entries["MQL"] == 3.0  # f4, f1, f3; not f3 again

    data = json.loads(render(report, "json"))
    assert data["tables"]["counts"]["rows"] == report.table("counts").records()
    html = render(report, "html")
    assert 'data-chart="funnel"' in html and 'data-chart="trend"' in html and "skipped_stage" in html


@pytest.fixture
def audit_ledger(ledger: Ledger) -> Ledger:
    items = walk("f1", ("Inquiry", day(3)), ("MQL", day(4)))
    snaps = [ScoreSnapshot("f1", day(3, hour=13), 40, "C", "v1", {"form_fill": 40}),
             ScoreSnapshot("f1", day(4, hour=9), 110, "B", "v1", {"form_fill": 40, "pricing_page": 70})]
    write(ledger, items, identities={"f1": [Identity.email("Fay@Example.com"), sf_lead("00Q1")]}, snapshots=snaps)
    with ledger.unit_of_work() as uow:
        intent = uow.outbox.add(WriteIntent(System.SALESFORCE, "Lead", "00Q1", {"Lifecycle_Status__c": "MQL"}, "h1"),
                                day(4, hour=13), run_id="r1")
        uow.outbox.mark_failed(intent.id, "UNABLE_TO_LOCK_ROW", day(4, hour=13))
        uow.outbox.add(WriteIntent(System.SALESFORCE, "Lead", "00Qother", {"x": 1}, "h2"), day(4, hour=13))
    return ledger


def test_audit_of_one_person_shows_rule_facts_score_then_and_writes(audit_ledger: Ledger, ruleset: RuleSet) -> None:
    for who in ("fay@example.com", "f1", "00Q1"):
        report = build_report("audit", audit_ledger, ruleset, WINDOW, person=who)
        inquiry, mql = report.table("transitions").records()
        assert (mql["from"], mql["to"], mql["rule"], mql["rule-set version"]) == ("Inquiry", "MQL", "mql.rule", "v1")
        assert mql["score then"] == 110 and mql["grade then"] == "B"
        assert mql["score breakdown then"] == "form_fill=40; pricing_page=70"
        assert inquiry["score then"] is None  # no snapshot before 3 Nov 12:00
        (written,) = report.table("writes").records()
        assert (written["record"], written["state"], written["last error"], written["attempts"]) == \
            ("00Q1", IntentState.FAILED.value, "UNABLE_TO_LOCK_ROW", 1)
    with pytest.raises(UnknownPerson):
        build_report("audit", audit_ledger, ruleset, WINDOW, person="nobody@example.com")


def test_audit_of_a_window_lists_everyone(audit_ledger: Ledger, ruleset: RuleSet) -> None:
    report = build_report("audit", audit_ledger, ruleset, Window(NOW, since=day(4), until=NOW))
    assert [r["to"] for r in report.table("transitions").records()] == ["MQL"]
    assert len(report.table("writes").rows) == 2
    csv_text = render(report, "csv")
    assert "# transitions: Lifecycle transitions" in csv_text and "# writes:" in csv_text


def test_scoring_conversion_per_band_grade_and_version(ledger: Ledger, ruleset: RuleSet) -> None:
    snaps, items = [], []
    # v1: four people scored 120 (band 100-150) with grade A, three convert; two scored 30 with grade C, none.
    for n in range(4):
        snaps.append(ScoreSnapshot(f"h{n}", day(2), 120, "A", "v1"))
        snaps.append(ScoreSnapshot(f"h{n}", day(3), 130, "A", "v1"))  # a later snapshot is not the prediction
        items += walk(f"h{n}", ("MQL", day(2)), *([("Opportunity", day(9))] if n < 3 else []))
    for n in range(2):
        snaps.append(ScoreSnapshot(f"l{n}", day(2), 30, "C", "v1"))
        items += walk(f"l{n}", ("Inquiry", day(1)))
    # v2 re-scores h0 at 60 (band 50-75) before its conversion; x0 converted before being scored: left out.
    snaps.append(ScoreSnapshot("h0", day(5), 60, "B", "v2"))
    items += walk("x0", ("MQL", day(1)), ("Opportunity", day(2)))
    snaps.append(ScoreSnapshot("x0", day(3), 90, "A", "v2"))
    write(ledger, items, snapshots=snaps)

    report = build_report("scoring", ledger, ruleset, WINDOW)
    bands = {(r["rule-set version"], r["score band"]): (r["people"], r["converted"], r["conversion %"])
             for r in report.table("score_bands").records()}
    assert bands == {("v1", "100-150"): (4, 3, 75.0), ("v1", "25-50"): (2, 0, 0.0), ("v2", "50-75"): (1, 1, 100.0)}
    grades = {(r["rule-set version"], r["grade"]): r["conversion %"] for r in report.table("grades").records()}
    assert grades == {("v1", "A"): 75.0, ("v1", "C"): 0.0, ("v2", "B"): 100.0}
    assert any("1 prediction(s) left out" in n for n in report.notes)
    html = render(report, "html")
    assert html.count("<svg") == 2
