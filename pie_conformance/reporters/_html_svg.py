"""Inline SVG charts for the HTML report: metric curves, the progress timeline and epoch durations.

Colours are the Okabe-Ito palette, which stays distinct under the common colour-vision deficiencies; every
series also differs by line style and marker fill, so no chart depends on colour alone. All text goes
through :func:`esc`; numbers are formatted by the kit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from pie_conformance._escape import visible

#: Okabe-Ito: blue, vermillion, bluish green, orange, reddish purple, sky blue, yellow, black.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
TRAIN_COLOUR, VALID_COLOUR = PALETTE[0], PALETTE[1]

_W, _H = 480, 270
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 62, 16, 14, 46
#: Points per series up to which each point has its own tooltip.
_MAX_TOOLTIPS = 30


def esc(text: object) -> str:
    """Text or attribute value made safe for HTML and SVG (control characters and undecodable bytes of the
    script's shown as escapes first, see :mod:`pie_conformance._escape`)."""
    return escape(visible(text), quote=True)


def fmt(value: float) -> str:
    """A number short enough for a tick label or a tooltip."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks: list[float] = []
    v = first
    while v <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


@dataclass(frozen=True)
class Series:
    """One line of a chart: (x, y) points, a colour and whether it is drawn dashed with hollow markers."""

    label: str
    points: Sequence[tuple[float, float]]
    colour: str
    dashed: bool = False
    split: str = ""  # "train" | "valid", for the data attributes tests and scripts can query
    group: str = ""  # "all" or a class name


class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float) -> None:
        if hi <= lo:  # one value: centre it
            lo, hi = lo - 0.5, hi + 0.5
        self.lo, self.hi, self.a, self.b = lo, hi, a, b

    def __call__(self, v: float) -> float:
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def _y_range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo >= 0 and hi <= 1 and hi - lo > 0.05:
        # Ratios read best on their own scale; small changes near one value get zoomed instead.
        return (0.0 if lo < 0.5 else lo), (1.0 if hi > 0.5 else hi)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.5
    return lo - pad, hi + pad


def line_chart(
    title: str, series: Sequence[Series], *, x_label: str, y_label: str, attrs: dict[str, str] | None = None
) -> str:
    """An SVG line chart; every point is a ``circle`` with a tooltip, inside ``g.series`` per line."""
    pts = [p for s in series for p in s.points]
    extra = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in (attrs or {}).items())
    head = (
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{esc(title)}"'
        f' preserveAspectRatio="xMidYMid meet"{extra}><title>{esc(title)}</title>'
    )
    if not pts:
        return head + f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no values</text></svg>'
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    y_lo, y_hi = _y_range(ys)
    sx = _Scale(min(xs), max(xs), _PAD_L + 8, _W - _PAD_R - 8)
    sy = _Scale(y_lo, y_hi, _H - _PAD_B, _PAD_T)
    parts = [
        head,
        f'<rect class="plot" x="{_PAD_L}" y="{_PAD_T}" width="{_W - _PAD_L - _PAD_R}"'
        f' height="{_H - _PAD_T - _PAD_B}"/>',
    ]
    for t in nice_ticks(sy.lo, sy.hi):
        y = sy(t)
        parts.append(
            f'<line class="grid" x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(fmt(t))}</text>'
        )
    x_ticks = [t for t in nice_ticks(sx.lo, sx.hi, 8) if float(t).is_integer()] or [sx.lo]
    for t in x_ticks:
        x = sx(t)
        parts.append(
            f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{_H - _PAD_B}" y2="{_H - _PAD_B + 5}"/>'
            f'<text class="tick" x="{x:.1f}" y="{_H - _PAD_B + 20}" text-anchor="middle">'
            f"{esc(fmt(t))}</text>"
        )
    parts.append(
        f'<text class="axis-label" x="{(_PAD_L + _W - _PAD_R) / 2}" y="{_H - 4}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
    )
    parts.append(
        f'<text class="axis-label" transform="translate(16 {(_PAD_T + _H - _PAD_B) / 2}) rotate(-90)" '
        f'text-anchor="middle">{esc(y_label)}</text>'
    )
    for s in series:
        if not s.points:
            continue
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        fill = "#ffffff" if s.dashed else s.colour
        # Markers inherit colour from the group; a tooltip per point only while there are few (the values
        # table under the chart has them all), so a 100-epoch report stays small.
        tips = len(s.points) <= _MAX_TOOLTIPS
        # Long series get small markers so that the points still read as points, not as a thick line.
        radius, ring = ("3", "1.5") if tips else ("1.6", "0.8")
        parts.append(
            f'<g class="series" data-split="{esc(s.split)}" data-group="{esc(s.group)}" fill="{fill}"'
            f' stroke="{s.colour}" stroke-width="{ring}"><title>{esc(s.label)}</title>'
            f'<polyline points="{coords}" fill="none" stroke-width="{2 if tips else 1.5}"{dash}/>'
        )
        for x, y in s.points:
            tip = f"<title>{esc(s.label)}, epoch {esc(fmt(x))}: {esc(fmt(y))}</title>" if tips else ""
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="{radius}">{tip}</circle>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def legend(series: Sequence[Series]) -> str:
    """An HTML legend: a small SVG swatch (colour, dash and marker) and the label of each series."""
    items = []
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        fill = "#ffffff" if s.dashed else s.colour
        items.append(
            '<li><svg class="swatch" viewBox="0 0 28 10" aria-hidden="true">'
            f'<line x1="0" x2="28" y1="5" y2="5"'
            f' stroke="{s.colour}" stroke-width="2"{dash}/><circle cx="14" cy="5" r="3" fill="{fill}"'
            f' stroke="{s.colour}" stroke-width="1.5"/></svg>{esc(s.label)}</li>'
        )
    return '<ul class="legend">' + "".join(items) + "</ul>"


def timeline_chart(
    arrivals: Sequence[tuple[float, str, str]], near: Sequence[tuple[float, str]], end: float, end_label: str
) -> str:
    """When each progress line arrived (ticks labelled ``(seconds, tick label, tooltip)``), near misses
    (triangles, ``(seconds, tooltip)``) and the end of the run."""
    w, h, left, right = _W, 120, 20, 28
    span = max([end, *(a[0] for a in arrivals), *(t for t, _ in near), 1e-3])
    sx = _Scale(0.0, span, left, w - right)
    base = 58
    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {w} {h}" role="img" aria-label="Progress timeline:'
        f' {len(arrivals)} progress lines over {esc(fmt(span))} s"><title>Progress timeline</title>',
        f'<line class="axis" x1="{left}" x2="{w - right}" y1="{base}" y2="{base}"/>',
    ]
    for t in nice_ticks(0.0, span, 8):
        x = sx(t)
        parts.append(
            f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 5}"/>'
            f'<text class="tick" x="{x:.1f}" y="{base + 21}" text-anchor="middle">{esc(fmt(t))} s</text>'
        )
    parts.append('<g class="arrivals">')
    last_label = -1e9
    for t, tick, label in arrivals:
        x = sx(t)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base - 22}" y2="{base}" stroke="{TRAIN_COLOUR}"'
            f' stroke-width="2"><title>{esc(label)} at {esc(fmt(t))} s</title></line>'
        )
        # A label only where it does not run into the previous one (fast epochs arrive in bursts).
        if x - last_label >= 8 + 7 * len(tick):
            last_label = x
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{base - 26}" text-anchor="middle">{esc(tick)}</text>'
            )
    parts.append("</g>")
    for t, label in near:
        x = sx(t)
        parts.append(
            f'<path d="M{x:.1f},{base + 2} l-6,12 h12 z" fill="{VALID_COLOUR}">'
            f"<title>{esc(label)} at {esc(fmt(t))} s</title></path>"
        )
    x = sx(end)
    parts.append(
        f'<rect x="{x - 4:.1f}" y="{base - 16}" width="8" height="16" fill="#000000">'
        f"<title>{esc(end_label)} at {esc(fmt(end))} s</title></rect>"
    )
    parts.append(
        f'<text class="axis-label" x="{w / 2}" y="{h - 4}" text-anchor="middle">seconds since the'
        " script started</text></svg>"
    )
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, str, float]], *, y_label: str) -> str:
    """Vertical bars ``(tick label, tooltip, seconds)``, one per epoch; the first (which includes the
    script's start-up) in its own colour."""
    head = (
        f'<svg class="chart bars" viewBox="0 0 {_W} {_H}" role="img" aria-label="{esc(title)}">'
        f"<title>{esc(title)}</title>"
    )
    if not bars:
        return head + f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no epochs</text></svg>'
    hi = max(b[2] for b in bars) or 1.0
    sy = _Scale(0.0, hi * 1.05, _H - _PAD_B, _PAD_T)
    slot = (_W - _PAD_L - _PAD_R) / len(bars)
    parts = [head]
    for t in nice_ticks(0.0, hi * 1.05):
        y = sy(t)
        parts.append(
            f'<line class="grid" x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(fmt(t))}</text>'
        )
    every = max(1, math.ceil(len(bars) / 12))
    parts.append('<g class="series">')
    for i, (tick, label, v) in enumerate(bars):
        x = _PAD_L + i * slot
        y = sy(v)
        colour = PALETTE[3] if i == 0 else PALETTE[2]
        parts.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{y:.1f}" width="{max(slot * 0.8, 0.5):.1f}"'
            f' height="{max(_H - _PAD_B - y, 0):.1f}" fill="{colour}"><title>{esc(label)}: '
            f"{esc(fmt(v))} s</title></rect>"
        )
        if i % every == 0 or i == len(bars) - 1:
            parts.append(
                f'<text class="tick" x="{x + slot / 2:.1f}" y="{_H - _PAD_B + 20}" text-anchor="middle">'
                f"{esc(tick)}</text>"
            )
    parts.append("</g>")
    parts.append(
        f'<text class="axis-label" x="{(_PAD_L + _W - _PAD_R) / 2}" y="{_H - 4}" text-anchor="middle">'
        "epoch</text>"
    )
    parts.append(
        f'<text class="axis-label" transform="translate(16 {(_PAD_T + _H - _PAD_B) / 2}) rotate(-90)" '
        f'text-anchor="middle">{esc(y_label)}</text></svg>'
    )
    return "".join(parts)
