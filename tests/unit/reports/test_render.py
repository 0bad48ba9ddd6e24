"""Renderers and charts: every format shows the same cells, escapes what it must, and charts carry
every value."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from leadsync.cli.common import CliError
from leadsync.cli.report import parse_instant
from leadsync.ledger import SlaClock
from leadsync.reports import Chart, Report, Series, Table, Window, render
from leadsync.reports.render import as_json
from leadsync.reports.scoring import band_labels, band_of, predictions
from leadsync.reports.sla import cases_from
from leadsync.reports.svg import render_chart

AT = datetime(2026, 11, 24, 12, tzinfo=UTC)


def sample() -> Report:
    table = Table("t", "Things <b>", ("name", "n", "share %", "ok"),
                  (("a,b \"q\"", 1200, 12.5, True), ("<script>x</script>", None, None, False)))
    chart = Chart("c", "Chart & co", "bars", ("x", "y"), (Series("s1", (3.0, 5.5)), Series("s2", (0.0, 1.0))))
    return Report("demo", "Demo <report>", AT, {"since": "2026-11-01"}, (("total", "2"),), (table,), (chart,),
                  ("a note",))


def test_csv_sections_round_trip() -> None:
    text = render(sample(), "csv")
    lines = text.splitlines()
    assert lines[0] == "# t: Things <b>"
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
    assert rows[0] == ["name", "n", "share %", "ok"]
    assert rows[1] == ['a,b "q"', "1200", "12.5", "True"] and rows[2] == ["<script>x</script>", "", "", "False"]


def test_json_has_rows_as_objects_and_chart_series() -> None:
    data = json.loads(render(sample(), "json"))
    assert data["tables"]["t"]["rows"][0] == {"name": 'a,b "q"', "n": 1200, "share %": 12.5, "ok": True}
    assert data["charts"]["c"]["series"] == {"s1": [3.0, 5.5], "s2": [0.0, 1.0]}
    assert data["headline"] == {"total": "2"} and data["generated_at"] == AT.isoformat()


def test_json_is_the_report_document_one_row_per_line() -> None:
    empty = Table("none", "Nothing \u00e9", ("a",), ())
    report = Report("demo", "Demo", AT, {"since": "2026-11-01"}, (), (sample().tables[0], empty), (), ())
    text = render(report, "json")
    assert json.loads(text) == as_json(report)
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith('{"name"')]
    assert [json.loads(line.rstrip(",")) for line in rows] == as_json(report)["tables"]["t"]["rows"]
    assert "Nothing \u00e9" in text  # not escaped to \\u00e9
    no_tables = Report("demo", "Demo", AT, {}, (), (), (), ())
    assert json.loads(render(no_tables, "json")) == as_json(no_tables)


def test_plain_table_is_aligned_and_has_no_escape_codes() -> None:
    text = render(sample(), "table")
    assert "\x1b[" not in text
    header = next(line for line in text.splitlines() if line.startswith("name"))
    assert re.match(r"name\s+n\s+share %\s+ok", header)
    assert "1,200" in text and "12.5" in text and "yes" in text


def test_html_escapes_everything_and_is_self_contained() -> None:
    html = render(sample(), "html")
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "Demo &lt;report&gt;" in html and "<script" not in html
    assert html.count("<svg") == 1 and html.count('class="bar"') == 4


def test_bar_chart_titles_carry_each_value_and_axis_is_round() -> None:
    svg = render_chart(Chart("c", "t", "bars", ("x", "y"), (Series("s", (3.0, 7.3)),), unit="%"))
    assert "s · x: 3%" in svg and "s · y: 7.30%" in svg
    assert ">10%</text>" in svg  # 7.3 rounds the axis up to 10


def test_empty_chart_says_so() -> None:
    assert "No data" in render_chart(Chart("c", "t", "lines", (), ()))


def test_chart_and_table_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        Chart("c", "t", "bars", ("a", "b", "c"), (Series("s", (1.0, 2.0)),))
    with pytest.raises(ValueError, match="1 cells for 2 columns"):
        Table("t", "t", ("a", "b"), (("x",),))


def test_window_defaults_and_validation() -> None:
    window = Window.default(AT)
    assert window.since == AT - timedelta(days=90) and window.end == AT
    with pytest.raises(ValueError, match="not before"):
        Window(AT, since=AT, until=AT)
    with pytest.raises(ValueError, match="no time zone"):
        Window(datetime(2026, 1, 1))


def test_parse_instant_reads_dates_in_the_calendar_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_instant("2026-11-01", berlin, "--since") == datetime(2026, 11, 1, tzinfo=berlin)
    assert parse_instant("2026-11-01T09:00+00:00", berlin, "--since") == datetime(2026, 11, 1, 9, tzinfo=UTC)
    with pytest.raises(CliError, match="--until 'soon'"):
        parse_instant("soon", berlin, "--until")


@pytest.mark.parametrize(("score", "band"), [(-5, "<0"), (0, "0-25"), (24.9, "0-25"), (100, "100-150"),
                                             (199, "150-200"), (200, "200+"), (1e6, "200+")])
def test_score_bands(score: float, band: str) -> None:
    assert band_of(score) == band
    assert band in band_labels()


def test_prediction_is_the_first_snapshot_per_person_and_version() -> None:
    snaps = [("p", AT, 10.0, "A", "v1"), ("p", AT + timedelta(1), 90.0, "A", "v1"), ("p", AT, 50.0, "B", "v2")]
    assert predictions(snaps) == [("p", "v1", AT, 10.0, "A"), ("p", "v2", AT, 50.0, "B")]


def test_cases_from_clocks() -> None:
    due = AT + timedelta(hours=8)
    clocks = [
        SlaClock(1, "p1", "s", AT, due, owner_id="Ivy@Example.com", met_at=AT + timedelta(hours=1)),
        SlaClock(2, "p2", "s", AT, due, stopped_at=AT + timedelta(hours=9), breached_at=due),  # returned to pool
        SlaClock(3, "p3", "s", AT, due, stopped_at=AT + timedelta(hours=2)),  # owner changed: no verdict
        SlaClock(4, "p4", "s", AT, due),
    ]
    cases, undecided = cases_from(clocks, {"ivy@example.com": "inside"}, {"p1": "form_fill"})
    assert undecided == 1
    assert [(c.person_id, c.stopped_at) for c in cases] == [
        ("p1", AT + timedelta(hours=1)), ("p2", AT + timedelta(hours=9)), ("p4", None)]
    assert (cases[0].team, cases[0].source) == ("inside", "form_fill") and cases[1].breached(AT)
