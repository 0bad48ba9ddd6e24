"""Render a :class:`Report` as a terminal table, CSV, JSON or a self-contained HTML file.

CSV holds every table of the report one after the other: a ``# <key>: <title>`` line, the header row,
the rows, then a blank line (spreadsheets open it as is; ``csv`` readers split on the comment lines).
JSON is one object with the parameters, headline figures, every table as a list of row objects, and the
chart data. The terminal table uses ``rich`` when the output is a terminal and plain aligned text
otherwise, so piping a report into a file or ``less`` never fills it with escape codes.
"""

from __future__ import annotations

import csv
import io
import json
from typing import IO, Any

from leadsync.reports.html import render_html
from leadsync.reports.model import Cell, Report, Table

FORMATS = ("table", "csv", "json", "html")


def render(report: Report, fmt: str, *, tty: bool = False) -> str:
    if fmt == "table":
        return render_rich(report) if tty else render_text(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r} (one of: {', '.join(FORMATS)})")


def _cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


def render_text(report: Report) -> str:
    out = io.StringIO()
    out.write(f"{report.title}\n{'=' * len(report.title)}\n")
    for label, value in (*report.params.items(), *report.headline):
        out.write(f"{label}: {value}\n")
    for table in report.tables:
        out.write(f"\n{table.title}\n{'-' * len(table.title)}\n")
        if table.note:
            out.write(f"{table.note}\n")
        if not table.rows:
            out.write("(none)\n")
            continue
        cells = [list(table.columns)] + [[_cell(c) for c in row] for row in table.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(table.columns))]
        for index, row in enumerate(cells):
            out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
            if index == 0:
                out.write("  ".join("-" * w for w in widths) + "\n")
    for note in report.notes:
        out.write(f"\n{note}\n")
    return out.getvalue()


def render_rich(report: Report) -> str:
    from rich.console import Console  # only needed on a terminal
    from rich.table import Table as RichTable

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    console.rule(f"[bold]{report.title}")
    for label, value in (*report.params.items(), *report.headline):
        console.print(f"[bold]{label}:[/bold] {value}", highlight=False)
    for table in report.tables:
        rich_table = RichTable(title=table.title, caption=table.note or None, show_lines=False)
        for name in table.columns:
            rich_table.add_column(name, overflow="fold")
        for row in table.rows:
            rich_table.add_row(*(_cell(c) for c in row))
        if not table.rows:
            rich_table.add_row(*(["(none)"] + [""] * (len(table.columns) - 1)))
        console.print(rich_table)
    for note in report.notes:
        console.print(note, highlight=False)
    return buffer.getvalue()


def write_csv_table(table: Table, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    stream.write(f"# {table.key}: {table.title}\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if c is None else c for c in row])
    stream.write("\n")


def render_csv(report: Report) -> str:
    out = io.StringIO()
    for table in report.tables:
        write_csv_table(table, out)
    return out.getvalue()


def as_json(report: Report) -> dict[str, Any]:
    return {
        "report": report.name,
        "title": report.title,
        "generated_at": report.generated_at.isoformat(),
        "params": dict(report.params),
        "headline": dict(report.headline),
        "tables": {t.key: {"title": t.title, "note": t.note, "columns": list(t.columns), "rows": t.records()}
                   for t in report.tables},
        "charts": {c.key: {"title": c.title, "kind": c.kind, "labels": list(c.labels), "unit": c.unit,
                           "series": {s.name: list(s.values) for s in c.series}} for c in report.charts},
        "notes": list(report.notes),
    }


def render_json(report: Report) -> str:
    """Indented, with each table row on one line: readable, and encoded by the json module's C encoder (an
    indented dump goes through its pure-Python encoder: seconds for 50,000 rows)."""
    doc = as_json(report)
    tables = doc.pop("tables")
    parts = []
    for key, table in tables.items():
        rows = table.pop("rows")
        meta = json.dumps(table, ensure_ascii=False)[:-1]
        lines = ",\n".join(f"        {json.dumps(row, ensure_ascii=False)}" for row in rows)
        parts.append(f'    {json.dumps(key, ensure_ascii=False)}: {meta}, "rows": [' +
                     (f"\n{lines}\n    ]}}" if rows else "]}"))
    head = json.dumps(doc, indent=2, ensure_ascii=False)
    return f'{head[:-2]},\n  "tables": {{\n' + ",\n".join(parts) + "\n  }\n}\n"
