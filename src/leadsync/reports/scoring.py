"""``leadsync report scoring``: how well scores and grades predicted conversion, per rule-set version.

For each person and rule-set version, the *prediction* is the first score snapshot that version recorded
in the window; the person *converted* when they first reached an opportunity (or customer) status at or
after that snapshot, up to now. People who had already converted before the prediction predict nothing
and are left out (the report says how many). Each score band and grade then shows people and conversion rate:
a model worth keeping converts more in the higher bands and better grades.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise

from leadsync.domain.grades import GRADES
from leadsync.domain.lifecycle import Role
from leadsync.ledger import Ledger
from leadsync.reports import queries
from leadsync.reports.common import Window
from leadsync.reports.model import Cell, Chart, Report, Series, Table, percent
from leadsync.rules.ruleset import RuleSet

BAND_EDGES: tuple[float, ...] = (0, 25, 50, 75, 100, 150, 200)
CONVERTED_ROLES = (Role.OPPORTUNITY, Role.CUSTOMER)


def band_of(score: float, edges: Sequence[float] = BAND_EDGES) -> str:
    """``"50-75"`` for 50 <= score < 75; below the first edge ``"<0"``, from the last ``"200+"``."""
    if score < edges[0]:
        return f"<{edges[0]:g}"
    for low, high in pairwise(edges):
        if low <= score < high:
            return f"{low:g}-{high:g}"
    return f"{edges[-1]:g}+"


def band_labels(edges: Sequence[float] = BAND_EDGES) -> list[str]:
    return [f"<{edges[0]:g}", *(f"{lo:g}-{hi:g}" for lo, hi in pairwise(edges)),
            f"{edges[-1]:g}+"]


Prediction = tuple[str, str, datetime, float, str | None]  # person, version, at, score, grade


def predictions(snaps: Sequence[tuple[str, datetime, float, str | None, str]]) -> list[Prediction]:
    """The first snapshot per (person, version); ``snaps`` ordered by person, then time."""
    seen: set[tuple[str, str]] = set()
    out: list[Prediction] = []
    for person, at, score, grade, version in snaps:
        if (person, version) not in seen:
            seen.add((person, version))
            out.append((person, version, at, score, grade))
    return out


def build(ledger: Ledger, ruleset: RuleSet, window: Window) -> Report:
    converted_statuses = [s.name for s in ruleset.lifecycle.statuses if s.role in CONVERTED_ROLES]
    with ledger.reading() as uow:
        snaps = queries.scores_in_window(uow.connection, window.since, window.end)
        converted_at = queries.first_entries(uow.connection, converted_statuses, window.now)
    return report_from(predictions(snaps), converted_at, ruleset, window)


def report_from(preds: Sequence[Prediction], converted_at: dict[str, datetime], ruleset: RuleSet,
                window: Window) -> Report:
    bands: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    grades: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    already = 0
    for person, version, at, score, grade in preds:
        when = converted_at.get(person)
        if when is not None and when < at:
            already += 1
            continue
        won = int(when is not None)
        for slot in (bands[(version, band_of(score))], grades[(version, grade or "(none)")]):
            slot[0] += 1
            slot[1] += won
    versions = sorted({v for v, _ in bands})
    band_order = {b: i for i, b in enumerate(band_labels())}
    grade_order = {g: i for i, g in enumerate(GRADES)}

    def rows(data: dict[tuple[str, str], list[int]], order: dict[str, int]) -> tuple[tuple[Cell, ...], ...]:
        ordered = sorted(data.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], len(order)), kv[0][1]))
        return tuple((v, k, n, won, percent(won / n)) for (v, k), (n, won) in ordered)

    band_rows = rows(bands, band_order)
    grade_rows = rows(grades, grade_order)
    tables = (
        Table("score_bands", "Conversion per score band", ("rule-set version", "score band", "people", "converted",
                                                           "conversion %"), band_rows),
        Table("grades", "Conversion per grade", ("rule-set version", "grade", "people", "converted",
                                                 "conversion %"), grade_rows),
    )
    labels = band_labels()
    grade_labels = sorted({k for _, k in grades}, key=lambda g: (grade_order.get(g, len(grade_order)), g))
    charts = (
        _rate_chart("bands", "Conversion % per score band", labels, bands, versions),
        _rate_chart("grades", "Conversion % per grade", grade_labels, grades, versions),
    )
    people = sum(n for n, _ in bands.values())
    won = sum(w for _, w in bands.values())
    notes = (f"{already} prediction(s) left out: the person had converted before the score was taken.",) \
        if already else ()
    return Report(
        name="scoring", title="Scoring and grading against conversion", generated_at=window.now,
        params={**window.params(), "converted means": "reached " + " or ".join(
            s.name for s in ruleset.lifecycle.statuses if s.role in CONVERTED_ROLES)},
        headline=(("predictions", f"{people:,}"), ("converted", f"{won:,}"),
                  ("rule-set versions", f"{len(versions)}")),
        tables=tables, charts=charts, notes=notes,
    )


def _rate_chart(key: str, title: str, labels: Sequence[str], data: dict[tuple[str, str], list[int]],
                versions: Sequence[str]) -> Chart:
    series = []
    for version in versions:
        values = []
        for label in labels:
            n, won = data.get((version, label), [0, 0])
            values.append(round(100 * won / n, 1) if n else 0.0)
        series.append(Series(version[:12], tuple(values)))
    return Chart(key, title, "bars", tuple(labels), tuple(series), unit="%")
