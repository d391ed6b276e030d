"""Server-side SVG charts for the dashboard and the leadership report.

Plain SVG strings: no JavaScript, no CDN, they print, mail and render in any browser
(the machines are offline). Each chart carries its numbers as `<title>` tooltips and
`data-*` attributes, so a reader can hover for the exact figure and a test can check
that the chart shows what the API answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from markupsafe import Markup

# A qualitative palette that stays readable when printed in grey.
PALETTE = (
    "#c0392b",
    "#2980b9",
    "#27ae60",
    "#8e44ad",
    "#d35400",
    "#16a085",
    "#7f8c8d",
    "#f1c40f",
    "#2c3e50",
    "#e84393",
)
FONT = 'font-family="Noto Sans CJK SC, WenQuanYi Micro Hei, Microsoft YaHei, sans-serif"'


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int | float]


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def nice_ceiling(peak: float) -> float:
    """The axis maximum: `peak` rounded up to 1, 2 or 5 times a power of ten."""
    if peak <= 0:
        return 1
    power = 10 ** math.floor(math.log10(peak))
    for step in (1, 2, 5, 10):
        if peak <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def stacked_bars(
    days: Sequence[date], series: Sequence[Series], *, title: str, height: int = 220
) -> Markup:
    """Daily counts as stacked bars, one colour per series, with a legend.

    One series draws a plain bar chart. Every bar carries `data-day` and `data-total`.
    """
    n = max(len(days), 1)
    left, top, bottom, plot_width = 40, 10, 24, 640
    bar = min(40.0, plot_width / n)
    width = left + n * bar + 10
    legend = _legend_positions([f"{s.name}({_num(sum(s.values))})" for s in series], width - left)
    legend_height = (max(y for _x, y in legend) + 1) * 18 if len(series) > 1 else 0
    plot = height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    axis = nice_ceiling(max(totals, default=0))
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{_a(title)}" viewBox="0 0 {width:.0f} {height + legend_height}" '
        f'width="{width:.0f}" preserveAspectRatio="xMinYMin meet" {FONT} font-size="11">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (0, 0.5, 1):
        y = top + plot - plot * tick
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width:.0f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_num(axis * tick)}</text>'
        )
    label_every = max(1, math.ceil(n / 12))
    for i, day in enumerate(days):
        x = left + i * bar
        y = top + plot
        parts.append(f'<g class="bar" data-day="{day.isoformat()}" data-total="{totals[i]}">')
        for k, s in enumerate(series):
            value = s.values[i]
            if not value:
                continue
            h = plot * value / axis
            y -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[k % len(PALETTE)]}"><title>{day:%m-%d} '
                f"{escape(s.name)}:{_num(value)}</title></rect>"
            )
        parts.append("</g>")
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot + 14}" '
                f'text-anchor="middle">{day:%m-%d}</text>'
            )
    if legend_height:
        for k, (s, (x, row)) in enumerate(zip(series, legend, strict=True)):
            y = height + row * 18 + 4
            parts.append(
                f'<rect x="{left + x}" y="{y - 9}" width="10" height="10" '
                f'fill="{PALETTE[k % len(PALETTE)]}"/>'
                f'<text x="{left + x + 14}" y="{y}">{escape(s.name)}({_num(sum(s.values))})</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend_positions(labels: Sequence[str], width: float) -> list[tuple[float, int]]:
    """(x, row) of each legend key: left to right, wrapping at `width`."""
    positions, x, row = [], 0.0, 0
    for label in labels:
        size = 14 + sum(11 if ord(c) > 0x2E80 else 6.5 for c in label) + 16
        if x and x + size > width:
            x, row = 0.0, row + 1
        positions.append((x, row))
        x += size
    return positions


def gauge(value: float | None, label: str, *, target: float | None = None) -> Markup:
    """A half-circle gauge of a rate in [0, 1]; '—' when the rate is undefined."""
    r, cx, cy = 60, 75, 75
    parts = [
        f'<svg class="gauge" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{_a(label)}" viewBox="0 0 150 105" width="150" height="105" '
        f'data-value="{"" if value is None else f"{value:.6f}"}" {FONT}>',
        f"<title>{escape(label)}</title>",
        f'<path d="{_arc(cx, cy, r, 0, 1)}" stroke="#eee" stroke-width="14" fill="none"/>',
    ]
    if value is not None:
        share = min(max(value, 0.0), 1.0)
        colour = "#27ae60" if target is None or value >= target else "#c0392b"
        if share > 0:
            parts.append(
                f'<path d="{_arc(cx, cy, r, 0, share)}" stroke="{colour}" '
                f'stroke-width="14" fill="none"/>'
            )
    if target is not None:
        angle = math.pi * (1 - target)
        x1, y1 = cx + (r - 10) * math.cos(angle), cy - (r - 10) * math.sin(angle)
        x2, y2 = cx + (r + 10) * math.cos(angle), cy - (r + 10) * math.sin(angle)
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#333" '
            f'stroke-width="2"><title>目标 {target * 100:.0f}%</title></line>'
        )
    shown = "—" if value is None else f"{value * 100:.1f}%"
    parts.append(
        f'<text x="{cx}" y="{cy - 5}" text-anchor="middle" font-size="20" '
        f'font-weight="bold">{shown}</text>'
        f'<text x="{cx}" y="{cy + 22}" text-anchor="middle" font-size="12">{escape(label)}</text>'
        "</svg>"
    )
    return Markup("".join(parts))


def _arc(cx: float, cy: float, r: float, start: float, end: float) -> str:
    """An arc of the upper half circle from share `start` to `end` (0 = left, 1 = right)."""
    a0, a1 = math.pi * (1 - start), math.pi * (1 - end)
    x0, y0 = cx + r * math.cos(a0), cy - r * math.sin(a0)
    x1, y1 = cx + r * math.cos(a1), cy - r * math.sin(a1)
    return f"M {x0:.2f} {y0:.2f} A {r} {r} 0 0 1 {x1:.2f} {y1:.2f}"


@dataclass(frozen=True)
class RankBar:
    name: str
    score: float | None  # 0..1
    rank: int | None
    delta: float | None = None  # against the previous period, in score points (0..1)


def ranking_bars(rows: Sequence[RankBar], *, title: str) -> Markup:
    """Horizontal bars of the 三率 score (0–100), best first, with the trend."""
    left, bar_h, width = 150, 18, 560
    plot = width - left - 90
    height = max(1, len(rows)) * (bar_h + 6) + 10
    parts = [
        f'<svg class="chart ranking" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{_a(title)}" viewBox="0 0 {width} {height}" width="{width}" {FONT} '
        f'font-size="12"><title>{escape(title)}</title>'
    ]
    for i, row in enumerate(rows):
        y = 5 + i * (bar_h + 6)
        score = row.score or 0.0
        colour = "#27ae60" if score >= 0.9 else "#f39c12" if score >= 0.8 else "#c0392b"
        name = row.name if len(row.name) <= 11 else row.name[:10] + "…"
        shown = "—" if row.score is None else f"{row.score * 100:.1f}"
        trend = ""
        if row.delta is not None:
            arrow = "▲" if row.delta > 0 else "▼" if row.delta < 0 else "＝"
            tint = "#27ae60" if row.delta > 0 else "#c0392b" if row.delta < 0 else "#777"
            trend = f'<tspan fill="{tint}"> {arrow}{abs(row.delta) * 100:.1f}</tspan>'
        parts.append(
            f'<g class="rank" data-name="{_a(row.name)}" data-score="{_a(shown)}">'
            f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">'
            f"{row.rank or '—'}. {escape(name)}</text>"
            f'<rect x="{left}" y="{y}" width="{plot * score:.1f}" height="{bar_h}" '
            f'fill="{colour}"><title>{escape(row.name)}:{shown}</title></rect>'
            f'<text x="{left + plot * score + 4:.1f}" y="{y + 13}">{shown}{trend}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# Heat-map cells and keyword sizes are drawn by CSS classes (`heat-0`..`heat-5`,
# `kw-0`..`kw-5` in web.css): the pages' Content-Security-Policy allows no inline style.
LEVELS = 5


def heat_level(value: int, peak: int) -> int:
    """0 for an empty cell, else 1..LEVELS by the share of the busiest cell."""
    if value <= 0 or peak <= 0:
        return 0
    return max(1, math.ceil(LEVELS * value / peak))


def keyword_levels(words: Sequence[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(word, count, size level 0..LEVELS) for a keyword cloud: grows with log(count)."""
    if not words:
        return []
    counts = [c for _w, c in words]
    low, high = math.log(min(counts)), math.log(max(counts))
    span = (high - low) or 1.0
    return [(w, c, round(LEVELS * (math.log(c) - low) / span)) for w, c in words]


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
