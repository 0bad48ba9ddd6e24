"""The reports leaders read, built from the ledger: SLA, funnel, audit, scoring (and the rule-set plan).

Public API::

    report = build_report("sla", ledger, ruleset, Window.default(now), by="owner")
    text = render(report, "html")          # or "table", "csv", "json"

Builders only read (one ``Ledger.reading()`` snapshot each); renderers are pure.
"""

from __future__ import annotations

from typing import Any

from leadsync.ledger import Ledger
from leadsync.reports import audit, funnel, scoring, sla
from leadsync.reports.common import GROUPINGS, Window
from leadsync.reports.model import Chart, Report, Series, Table
from leadsync.reports.render import FORMATS, render
from leadsync.rules.ruleset import RuleSet

REPORTS = ("sla", "funnel", "audit", "scoring")


def build_report(name: str, ledger: Ledger, ruleset: RuleSet, window: Window, **options: Any) -> Report:
    """Build one report. Options: sla ``by``; funnel ``period``; audit ``person``."""
    if name == "sla":
        return sla.build(ledger, ruleset, window, **options)
    if name == "funnel":
        return funnel.build(ledger, ruleset, window, **options)
    if name == "audit":
        return audit.build(ledger, window, **options)
    if name == "scoring":
        return scoring.build(ledger, ruleset, window, **options)
    raise ValueError(f"unknown report {name!r} (one of: {', '.join(REPORTS)})")


__all__ = ["FORMATS", "GROUPINGS", "REPORTS", "Chart", "Report", "Series", "Table", "Window", "build_report",
           "render"]
