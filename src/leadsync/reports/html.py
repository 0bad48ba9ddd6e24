"""One self-contained HTML file per report: inline CSS and inline SVG, no script and nothing fetched,
so it reads the same offline, from a mail attachment, or from a file share years later."""

from __future__ import annotations

from html import escape

from leadsync.reports.model import Cell, Report, Table
from leadsync.reports.svg import render_chart

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1a202c;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e2e8f0}
dl.params{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;color:#4a5568}
dl.params dt{font-weight:600}.headline{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.headline div{border:1px solid #e2e8f0;border-radius:6px;padding:.6rem 1rem}
.headline b{display:block;font-size:1.3rem}table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{border-bottom:1px solid #edf2f7;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f7fafc}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure.chart{margin:1.5rem 0}figcaption{font-weight:600;margin-bottom:.3rem}
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.8rem;font-size:.8rem}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
p.note{color:#4a5568;font-size:.85rem}p.empty{color:#718096}
"""


def _cell(value: Cell) -> str:
    if value is None:
        return "<td>&ndash;</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float):
        shown = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
        return f'<td class="num">{shown}</td>'
    return f"<td>{escape(value)}</td>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    rows = "".join(f"<tr>{''.join(_cell(c) for c in row)}</tr>" for row in table.rows)
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    body = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>" if table.rows \
        else '<p class="empty">None.</p>'
    return f'<section data-table="{escape(table.key)}"><h2>{escape(table.title)}</h2>{note}{body}</section>'


def render_html(report: Report) -> str:
    params = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.params.items())
    headline = "".join(f"<div>{escape(label)}<b>{escape(value)}</b></div>" for label, value in report.headline)
    charts = "".join(render_chart(c) for c in report.charts)
    tables = "".join(_table(t) for t in report.tables)
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in report.notes)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head><body>"
        f'<main data-report="{escape(report.name)}"><h1>{escape(report.title)}</h1>'
        f'<p class="note">Generated {escape(report.generated_at.isoformat())} by leadsync.</p>'
        f'<dl class="params">{params}</dl><div class="headline">{headline}</div>{charts}{tables}{notes}'
        "</main></body></html>\n"
    )
