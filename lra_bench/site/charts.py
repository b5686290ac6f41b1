"""Inline SVG charts for the static site: drawn here, in Python, so a page needs no script and no
charting library to show them (it opens from the file system, prints, and reads without JavaScript).

Every point carries a `<title>`, which browsers show as hover text (its values), and every chart has
a `<title>`/`<desc>` for screen readers. Colours come from a fixed palette of distinguishable hues;
each series also has its name in the legend, so colour is never the only key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

# Okabe-Ito's colour-blind-safe palette, then a few more distinct hues.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#8C564B", "#7F7F7F", "#17BECF", "#BCBD22"]
WIDTH, HEIGHT = 640, 360
MARGIN = {"left": 64, "right": 170, "top": 16, "bottom": 48}


@dataclass
class Point:
    x: float
    y: float
    label: str  # the hover text
    size: float | None = None  # scatter: a value shown as the marker's area


@dataclass
class Series:
    name: str
    points: list[Point] = field(default_factory=list)


class _Axis:
    """A linear or log10 mapping from data to pixels, with its tick values."""

    def __init__(self, values: list[float], lo_px: float, hi_px: float, log: bool):
        self.log = log and all(v > 0 for v in values)
        vals = [math.log10(v) for v in values] if self.log else values
        low, high = min(vals), max(vals)
        if high == low:
            low, high = low - (0.5 if self.log else max(abs(low) * 0.1, 1)), high + (0.5 if self.log else max(abs(high) * 0.1, 1))
        pad = (high - low) * 0.05
        self.low, self.high = low - pad, high + pad
        self.lo_px, self.hi_px = lo_px, hi_px

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.lo_px + (v - self.low) / (self.high - self.low) * (self.hi_px - self.lo_px)

    def ticks(self) -> list[float]:
        if self.log:  # decades; 1-2-5 within them when the range spans fewer than three
            decades = range(math.floor(self.low), math.ceil(self.high) + 1)
            for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
                ticks = [m * 10.0 ** e for e in decades for m in mantissas
                         if self.low <= math.log10(m * 10.0 ** e) <= self.high]
                if len(ticks) >= 3:
                    return ticks
            return ticks
        raw = (self.high - self.low) / 5
        step = 10 ** math.floor(math.log10(raw))
        step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
        first = math.ceil(self.low / step) * step
        return [first + i * step for i in range(int((self.high - first) / step) + 1)]


def tick_text(value: float) -> str:
    """1,000 / 0.5 / 12: plain numbers, never 1e3 or 6×10^2."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _frame(title: str, desc: str, x_axis: _Axis, y_axis: _Axis, x_label: str, y_label: str) -> list[str]:
    bottom, top = HEIGHT - MARGIN["bottom"], MARGIN["top"]
    left, right = MARGIN["left"], WIDTH - MARGIN["right"]
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
             f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" class="plot-area"/>']
    for value in x_axis.ticks():
        x = x_axis(value)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" class="grid"/>'
                     f'<text x="{x:.1f}" y="{bottom + 16}" class="tick" text-anchor="middle">{tick_text(value)}</text>')
    for value in y_axis.ticks():
        y = y_axis(value)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{tick_text(value)}</text>')
    parts.append(f'<text x="{(left + right) / 2}" y="{HEIGHT - 8}" class="axis-label" text-anchor="middle">'
                 f"{escape(x_label)}</text>"
                 f'<text transform="translate(14 {(top + bottom) / 2}) rotate(-90)" class="axis-label" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    return parts


def _legend(names: list[str]) -> list[str]:
    x = WIDTH - MARGIN["right"] + 12
    parts = []
    for i, name in enumerate(names):
        y = MARGIN["top"] + 10 + 18 * i
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{x + 18}" y="{y + 2}" class="legend">{escape(name[:22])}</text>')
    return parts


def _axes(series: list[Series], log_x: bool, log_y: bool):
    """The series that have points, and the x and y axes spanning all their points (None when none has)."""
    series = [s for s in series if s.points]
    points = [p for s in series for p in s.points]
    if not points:
        return [], None, None
    return (series, _Axis([p.x for p in points], MARGIN["left"], WIDTH - MARGIN["right"], log_x),
            _Axis([p.y for p in points], HEIGHT - MARGIN["bottom"], MARGIN["top"], log_y))


def line_chart(series: list[Series], title: str, x_label: str, y_label: str, log_x: bool = False,
               log_y: bool = False) -> str:
    """Lines with a marker per point (hover: the point's label); an empty string when there is no point."""
    series, x_axis, y_axis = _axes(series, log_x, log_y)
    if not series:
        return ""
    parts = _frame(title, f"{y_label} against {x_label}, {len(series)} series", x_axis, y_axis, x_label, y_label)
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        coords = [(x_axis(p.x), y_axis(p.y)) for p in sorted(s.points, key=lambda p: p.x)]
        parts.append(f'<g class="series" data-series="{escape(s.name)}"><polyline fill="none" stroke="{colour}" '
                     f'stroke-width="2" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in coords)}"/>')
        for p in s.points:
            parts.append(f'<circle cx="{x_axis(p.x):.1f}" cy="{y_axis(p.y):.1f}" r="4" fill="{colour}">'
                         f"<title>{escape(p.label)}</title></circle>")
        parts.append("</g>")
    return "".join(parts + _legend([s.name for s in series]) + ["</svg>"])


def scatter_chart(series: list[Series], title: str, x_label: str, y_label: str, size_label: str,
                  log_x: bool = False) -> str:
    """Points whose area is proportional to `size` (hover: the label); a size key under the legend."""
    series, x_axis, y_axis = _axes(series, log_x, False)
    if not series:
        return ""
    sizes = [p.size for s in series for p in s.points if p.size]
    biggest = max(sizes) if sizes else None

    def radius(size):  # area proportional to the value; the biggest 14 px, none under 3 px
        return 5.0 if not size or not biggest else max(3.0, 14.0 * math.sqrt(size / biggest))

    parts = _frame(title, f"{y_label} against {x_label}; marker area: {size_label}", x_axis, y_axis, x_label, y_label)
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<g class="series" data-series="{escape(s.name)}">')
        for p in sorted(s.points, key=lambda p: -(p.size or 0)):
            parts.append(f'<circle cx="{x_axis(p.x):.1f}" cy="{y_axis(p.y):.1f}" r="{radius(p.size):.1f}" '
                         f'fill="{colour}" fill-opacity="0.7" stroke="#222"><title>{escape(p.label)}</title></circle>')
        parts.append("</g>")
    parts += _legend([s.name for s in series])
    if biggest:
        y = MARGIN["top"] + 18 * len(series) + 40
        x = WIDTH - MARGIN["right"] + 26
        parts.append(f'<circle cx="{x}" cy="{y}" r="14" fill="none" stroke="#222"/>'
                     f'<text x="{x + 20}" y="{y + 4}" class="legend">{escape(size_label)}:</text>'
                     f'<text x="{x + 20}" y="{y + 18}" class="legend">{tick_text(biggest)}</text>')
    return "".join(parts + ["</svg>"])
