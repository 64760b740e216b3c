"""Figures written next to a run: loss curves and paths on the valence-arousal plane.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas), never ``pyplot``: no
global state, no display needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_curves", "plot_va"]

_QUADRANTS = (
    (0.5, 0.5, "happy / excited"),
    (-0.5, 0.5, "angry / tense"),
    (-0.5, -0.5, "sad / depressed"),
    (0.5, -0.5, "calm / relaxed"),
)  # positions as fractions of the half-range from the scale's centre


def plot_curves(history: pd.DataFrame, out: str | Path, *, title: str = "") -> Path:
    """Plot ``train_loss`` and ``val_loss`` per ``epoch`` (and the best epoch) to ``out``."""
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    if len(history):
        ax.plot(history["epoch"], history["train_loss"], "o-", label="train")
        ax.plot(history["epoch"], history["val_loss"], "s-", label="validation")
        best = history.loc[history["val_loss"].idxmin()]
        ax.axvline(best["epoch"], color="0.6", ls=":", label=f"best (epoch {int(best['epoch'])})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE on the task's targets)")
    ax.set_title(title or "loss curves")
    ax.grid(alpha=0.3)
    if len(history):
        ax.legend()
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out)
    return out


def plot_va(
    paths: Mapping[str, tuple[np.ndarray, np.ndarray]],
    out: str | Path,
    *,
    title: str = "valence-arousal path",
    scale: tuple[float, float] = (-1.0, 1.0),
) -> Path:
    """Draw each song's path over its windows on the valence-arousal plane.

    Args:
        paths: song label -> ``(valence, arousal)`` arrays in time order (one point for a song-level value).
        out: the PNG to write.
        title: the figure title.
        scale: the labels' ``(low, high)``; the axes span it and cross at its centre.

    Returns:
        ``out``. Segments are coloured from light (first window) to dark (last), arrows
        mark the direction, a circle marks the start.
    """
    fig = Figure(figsize=(6, 6), dpi=100)
    ax = fig.add_subplot()
    low, high = float(scale[0]), float(scale[1])
    centre, half = (low + high) / 2, (high - low) / 2
    ax.axhline(centre, color="0.7", lw=0.8)
    ax.axvline(centre, color="0.7", lw=0.8)
    for x, y, text in _QUADRANTS:
        ax.text(centre + x * half, centre + y * half, text, ha="center", va="center", color="0.55", fontsize=9,
                style="italic")  # fmt: skip
    cmaps = ("Blues", "Oranges", "Greens", "Reds", "Purples", "Greys")
    for k, (label, (valence, arousal)) in enumerate(paths.items()):
        v = np.asarray(valence, dtype=float)
        a = np.asarray(arousal, dtype=float)
        cmap = cmaps[k % len(cmaps)]
        shade = np.linspace(0.35, 1.0, max(len(v), 2))
        if len(v) > 1:
            segments = np.stack([np.column_stack([v[:-1], a[:-1]]), np.column_stack([v[1:], a[1:]])], axis=1)
            lines = LineCollection(list(segments), cmap=cmap, linewidths=2)
            lines.set_array(shade[1:])
            lines.set_clim(0, 1)
            ax.add_collection(lines)
            for i in range(len(v) - 1):
                ax.annotate(
                    "",
                    xy=(v[i + 1], a[i + 1]),
                    xytext=(v[i], a[i]),
                    arrowprops={"arrowstyle": "->", "color": lines.cmap(shade[i + 1]), "lw": 1.2},
                )
        ax.scatter(v, a, c=shade[: len(v)], cmap=cmap, vmin=0, vmax=1, s=18, zorder=3)
        ax.scatter(v[:1], a[:1], s=70, facecolors="none", edgecolors=colormaps[cmap](0.85), zorder=4, label=label)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xlabel(f"valence (scale {low:g}..{high:g})")
    ax.set_ylabel(f"arousal (scale {low:g}..{high:g})")
    ax.set_title(title)
    if paths:
        ax.legend(loc="lower left", fontsize=8, title="start of each song", title_fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out)
    return out
