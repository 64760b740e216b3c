"""Inline SVG plots for the pages, pure functions (numbers in, markup out; no files, no network).

- :func:`spread_svg`: one row per name, a dot per value, a bar at the mean, optionally a
  quartile box (fold spreads, per-song error distributions);
- :func:`va_plane_svg`: truth and prediction of each song on the valence-arousal plane, joined;
- :func:`curves_svg`: training and validation loss per epoch.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["curves_svg", "spread_svg", "va_plane_svg"]

_BLUE, _RED, _GREY = "#3b6ea5", "#c0392b", "#999"


def _scale(low: float, high: float, a: float, b: float) -> tuple[float, float, float]:
    """An axis from data [low, high] onto pixels [a, b]: (low, data span never 0, pixel span)."""
    return low, (high - low) or 1.0, b - a


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11, turn: bool = False) -> str:
    """A label at (x, y); ``turn`` writes it upwards (a vertical axis)."""
    at = f'transform="translate({x:.1f} {y:.1f}) rotate(-90)"' if turn else f'x="{x:.1f}" y="{y:.1f}"'
    return f'<text {at} font-size="{size}" text-anchor="{anchor}">{html.escape(text)}</text>'


def spread_svg(values: Mapping[str, Sequence[float]], label: str, *, box: bool = False) -> str:
    """One row per name: a dot per value, a red bar at the mean, with ``box`` the quartiles and median."""
    rows = list(values.items())
    allv = [float(v) for _, vs in rows for v in vs]
    width, left, step = 420, 100, 24
    low, span, px = _scale(min(allv, default=0.0), max(allv, default=1.0), left, width - 15)

    def x(v: float) -> float:
        return left + (v - low) / span * px

    parts = [f'<svg viewBox="0 0 {width} {step * len(rows) + 44}" role="img" aria-label="{html.escape(label)}">']
    for i, (name, vs) in enumerate(rows):
        y = 20 + i * step
        parts.append(_text(left - 8, y + 4, name, "end", 12))
        if box and vs:
            q1, med, q3 = np.percentile(vs, [25, 50, 75])
            parts.append(f'<rect x="{x(q1):.1f}" y="{y - 7}" width="{max(x(q3) - x(q1), 1):.1f}" height="14" '
                         f'fill="none" stroke="{_GREY}"/><line x1="{x(med):.1f}" x2="{x(med):.1f}" y1="{y - 7}" '
                         f'y2="{y + 7}" stroke="{_GREY}" stroke-width="2"/>')  # fmt: skip
        parts += [f'<circle cx="{x(v):.1f}" cy="{y}" r="3.5" fill="{_BLUE}" opacity=".6"/>' for v in vs]
        if vs:
            m = x(sum(vs) / len(vs))
            parts.append(
                f'<line x1="{m:.1f}" x2="{m:.1f}" y1="{y - 9}" y2="{y + 9}" stroke="{_RED}" stroke-width="2"/>'
            )
    y = 20 + len(rows) * step
    parts += [_text(left, y + 8, f"{low:.4g}"), _text(width - 15, y + 8, f"{low + span:.4g}", "end"),
              _text((left + width) / 2, y + 22, label, "middle")]  # fmt: skip
    return "".join(parts) + "</svg>"


def va_plane_svg(truth: Sequence[tuple[float, float]], predicted: Sequence[tuple[float, float]], label: str) -> str:
    """Each song's true (grey) and predicted (blue) ``(valence, arousal)``, joined by a line; valence across."""
    pts = np.asarray([*truth, *predicted], dtype=np.float64).reshape(-1, 2)
    low = float(pts.min()) if pts.size else -1.0
    high = float(pts.max()) if pts.size else 1.0
    pad = 0.05 * ((high - low) or 1.0)
    low, span, px = _scale(low - pad, high + pad, 40, 380)

    def at(v: float, a: float) -> tuple[float, float]:
        return 40 + (v - low) / span * px, 380 - (a - low) / span * px

    parts = [f'<svg viewBox="0 0 400 420" role="img" aria-label="{html.escape(label)}" class="square">',
             f'<rect x="40" y="40" width="{px:.0f}" height="{px:.0f}" fill="none" stroke="#ccc"/>']  # fmt: skip
    if low < 0 < low + span:  # the scale's centre lines when it spans zero
        cx, cy = at(0.0, 0.0)
        parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="40" y2="380" stroke="#eee"/>'
                     f'<line x1="40" x2="380" y1="{cy:.1f}" y2="{cy:.1f}" stroke="#eee"/>')  # fmt: skip
    for (tv, ta), (pv, pa) in zip(truth, predicted, strict=True):
        (x1, y1), (x2, y2) = at(tv, ta), at(pv, pa)
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#bbb"/>'
                     f'<circle cx="{x1:.1f}" cy="{y1:.1f}" r="3" fill="{_GREY}"/>'
                     f'<circle cx="{x2:.1f}" cy="{y2:.1f}" r="3" fill="{_BLUE}"/>')  # fmt: skip
    parts += [_text(210, 400, "valence", "middle"), _text(22, 210, "arousal", "middle", turn=True),
              _text(40, 395, f"{low:.3g}"), _text(380, 395, f"{low + span:.3g}", "end"),
              _text(40, 25, "grey: truth, blue: prediction (one pair per song)"),
              _text(210, 415, label, "middle", 10)]  # fmt: skip
    return "".join(parts) + "</svg>"


def curves_svg(epochs: Sequence[float], series: Mapping[str, Sequence[float]], label: str) -> str:
    """Lines of each named series (train and validation loss) over ``epochs``."""
    ys = [float(v) for vs in series.values() for v in vs if np.isfinite(v)]
    ylow, yspan, ypx = _scale(min(ys, default=0.0), max(ys, default=1.0), 20, 220)
    xlow, xspan, xpx = _scale(min(epochs, default=0), max(epochs, default=1), 60, 580)
    colours = (_BLUE, _RED, "#27ae60", "#8e44ad")
    parts = [f'<svg viewBox="0 0 600 260" role="img" aria-label="{html.escape(label)}">',
             '<line x1="60" x2="580" y1="220" y2="220" stroke="#ccc"/>']  # fmt: skip
    for i, (name, vs) in enumerate(series.items()):
        pts = " ".join(f"{60 + (e - xlow) / xspan * xpx:.1f},{220 - (v - ylow) / yspan * ypx:.1f}"
                       for e, v in zip(epochs, vs, strict=True) if np.isfinite(v))  # fmt: skip
        colour = colours[i % len(colours)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{70 + 130 * i}" y="14" font-size="11" fill="{colour}">{html.escape(name)}</text>')
    parts += [_text(55, 224, f"{ylow:.3g}", "end"), _text(55, 24, f"{ylow + yspan:.3g}", "end"),
              _text(60, 236, f"{xlow:g}"), _text(580, 236, f"{xlow + xspan:g}", "end"),
              _text(320, 252, label, "middle")]  # fmt: skip
    return "".join(parts) + "</svg>"
