"""Charts as inline SVG, generated here: no script, no web font, no network, so a report file opened
offline (or attached to an email) looks the same everywhere.

Every chart is a ``<figure>`` holding one ``<svg role="img">`` with a ``<title>``, and every bar or point
carries a ``<title>`` tooltip with its exact value, so the picture never hides a number.
"""

from __future__ import annotations

import math
from html import escape

from leadsync.reports.model import Chart

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568")
WIDTH = 760
PLOT_LEFT = 56
PLOT_RIGHT = 48  # room for the last label of a line chart
PLOT_TOP = 16
PLOT_BOTTOM = 64


def render_chart(chart: Chart) -> str:
    if not chart.labels or not chart.series:
        return f'<figure class="chart" data-chart="{escape(chart.key)}"><figcaption>{escape(chart.title)}' \
               f'</figcaption><p class="empty">No data in this window.</p></figure>'
    body = {"bars": _bars, "hbars": _hbars, "lines": _lines}[chart.kind](chart)
    return f'<figure class="chart" data-chart="{escape(chart.key)}"><figcaption>{escape(chart.title)}' \
           f'</figcaption>{body}{_legend(chart)}</figure>'


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _svg(height: int, title: str, inner: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" style="max-width:{WIDTH}px"><title>{escape(title)}</title>{"".join(inner)}</svg>')


def _top(chart: Chart) -> float:
    """The axis maximum: the peak rounded up to 1, 2, 2.5 or 5 times a power of ten (so ticks read well)."""
    peak = max((v for s in chart.series for v in s.values), default=0.0)
    if peak <= 0:
        return 1.0
    magnitude: float = 10.0 ** math.floor(math.log10(peak))
    return float(next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= peak))


def _axis(height: int, top: float, unit: str) -> list[str]:
    plot_h = height - PLOT_TOP - PLOT_BOTTOM
    out = []
    for step in range(5):
        value = top * step / 4
        y = PLOT_TOP + plot_h - plot_h * step / 4
        out.append(f'<line x1="{PLOT_LEFT}" y1="{y:.1f}" x2="{WIDTH - PLOT_RIGHT}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        out.append(f'<text x="{PLOT_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{escape(_fmt(value))}{escape(unit)}</text>')
    return out


def _label(x: float, y: float, text: str, rotate: bool) -> str:
    transform = f' transform="rotate(-35 {x:.1f} {y:.1f})"' if rotate else ""
    anchor = "end" if rotate else "middle"
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="11"{transform}>{escape(text)}</text>'


def _bars(chart: Chart) -> str:
    height = 300
    plot_h = height - PLOT_TOP - PLOT_BOTTOM
    top = _top(chart)
    slot = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / len(chart.labels)
    bar_w = max(1.0, slot * 0.8 / len(chart.series))
    rotate = len(chart.labels) > 8
    inner = _axis(height, top, chart.unit)
    for i, label in enumerate(chart.labels):
        x0 = PLOT_LEFT + i * slot + slot * 0.1
        for j, series in enumerate(chart.series):
            value = series.values[i]
            h = plot_h * max(value, 0) / top
            inner.append(
                f'<rect class="bar" x="{x0 + j * bar_w:.1f}" y="{PLOT_TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(series.name)} · '
                f'{escape(label)}: {escape(_fmt(value))}{escape(chart.unit)}</title></rect>'
            )
        inner.append(_label(PLOT_LEFT + i * slot + slot / 2, height - PLOT_BOTTOM + 16, label, rotate))
    return _svg(height, chart.title, inner)


def _hbars(chart: Chart) -> str:
    """The funnel: one bar per stage, widest first, centred so it reads as a funnel."""
    row_h = 30
    label_w = 130
    height = PLOT_TOP + row_h * len(chart.labels) + 8
    top = _top(chart)
    series = chart.series[0]
    span = WIDTH - label_w - PLOT_RIGHT - 70
    inner = []
    for i, label in enumerate(chart.labels):
        value = series.values[i]
        w = max(1.0, span * max(value, 0) / top)
        y = PLOT_TOP + i * row_h
        x = label_w + (span - w) / 2
        inner.append(f'<text x="{label_w - 8}" y="{y + 19}" text-anchor="end" font-size="12">{escape(label)}</text>')
        inner.append(
            f'<rect class="bar" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {escape(_fmt(value))}{escape(chart.unit)}</title></rect>'
        )
        inner.append(f'<text x="{label_w + span + 8}" y="{y + 19}" font-size="12">{escape(_fmt(value))}</text>')
    return _svg(height, chart.title, inner)


def _lines(chart: Chart) -> str:
    height = 300
    plot_h = height - PLOT_TOP - PLOT_BOTTOM
    top = _top(chart)
    n = len(chart.labels)
    step = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / max(1, n - 1) if n > 1 else 0.0
    rotate = n > 8
    every = max(1, n // 16)  # label at most ~16 ticks so they stay readable
    inner = _axis(height, top, chart.unit)
    for j, series in enumerate(chart.series):
        colour = PALETTE[j % len(PALETTE)]
        points = [(PLOT_LEFT + i * step, PLOT_TOP + plot_h - plot_h * max(v, 0) / top)
                  for i, v in enumerate(series.values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        inner.append(f'<polyline class="line" points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (x, y), label, value in zip(points, chart.labels, series.values, strict=True):
            inner.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                         f'{escape(series.name)} · {escape(label)}: {escape(_fmt(value))}{escape(chart.unit)}'
                         f'</title></circle>')
    for i, label in enumerate(chart.labels):
        if i % every == 0:
            inner.append(_label(PLOT_LEFT + i * step, height - PLOT_BOTTOM + 16, label, rotate))
    return _svg(height, chart.title, inner)


def _legend(chart: Chart) -> str:
    if len(chart.series) < 2:
        return ""
    items = "".join(
        f'<li><span class="swatch" style="background:{PALETTE[j % len(PALETTE)]}"></span>{escape(s.name)}</li>'
        for j, s in enumerate(chart.series)
    )
    return f'<ul class="legend">{items}</ul>'
