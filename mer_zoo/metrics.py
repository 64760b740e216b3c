"""Regression metrics for arousal/valence predictions (pure numpy).

Every function takes two equal-length 1-D arrays, ``y_true`` and ``y_pred``. Figures that
are undefined for the input (Pearson's r when either side is constant, R² when the targets
are constant, CCC when both sides are the same constant) are ``nan``, never a warning or an
exception; the blocks write them to JSON as ``null``.

``metrics_block`` scores rows (windows, or songs after pooling); ``per_song_block`` scores
frame sequences the MediaEval 2015 way: RMSE and Pearson's r per song, averaged over songs
with their (population) std, next to the same figures pooled over every frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DIMENSIONS",
    "ccc",
    "dimension_metrics",
    "flatten",
    "mean_std",
    "metrics_block",
    "mse",
    "pearson",
    "per_song_block",
    "r2",
    "rmse",
]

DIMENSIONS = ("arousal", "valence")


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred {p.size}")
    if t.size == 0:
        raise ValueError("no values to score")
    return t, p


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error, in the units of the targets."""
    return float(np.sqrt(mse(y_true, y_pred)))


def r2(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``; nan when the targets are constant."""
    t, p = _pair(y_true, y_pred)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot


def pearson(y_true: Any, y_pred: Any) -> float:
    """Pearson's correlation coefficient; nan when either side is constant."""
    t, p = _pair(y_true, y_pred)
    dt, dp = t - t.mean(), p - p.mean()
    denom = float(np.sqrt(np.sum(dt**2) * np.sum(dp**2)))
    if denom == 0.0:
        return float("nan")
    return float(np.clip(np.sum(dt * dp) / denom, -1.0, 1.0))


def ccc(y_true: Any, y_pred: Any) -> float:
    """Lin's concordance correlation coefficient (population moments).

    ``2 cov(t, p) / (var(t) + var(p) + (mean(t) - mean(p))**2)``: 1 only for perfect
    agreement, 0 for a constant prediction of varying targets; nan when both sides are the
    same constant.
    """
    t, p = _pair(y_true, y_pred)
    cov = float(np.mean((t - t.mean()) * (p - p.mean())))
    denom = float(t.var() + p.var() + (t.mean() - p.mean()) ** 2)
    if denom == 0.0:
        return float("nan")
    return 2.0 * cov / denom


def dimension_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """``mse``, ``rmse``, ``r2``, ``pearson`` and ``ccc`` of one dimension."""
    return {
        "mse": mse(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "r2": r2(y_true, y_pred),
        "pearson": pearson(y_true, y_pred),
        "ccc": ccc(y_true, y_pred),
    }


def _finite_or_none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def metrics_block(
    targets: np.ndarray,
    predictions: np.ndarray,
    song_ids: Sequence[int] | np.ndarray,
    train_mean: Sequence[float] | np.ndarray,
) -> dict[str, Any]:
    """The ``metrics.json`` entry for one part of a split (``test`` or ``val``), one row per window or song.

    Args:
        targets: ``(n, 2)`` true ``[arousal, valence]`` per row (window, or song), on the task's scale.
        predictions: ``(n, 2)`` predicted values for the same rows.
        song_ids: the song of each window (counts the songs).
        train_mean: ``[arousal, valence]`` mean of the training targets: the mean
            baseline, scored on the same windows as ``baseline_mse``.

    Returns:
        ``n_songs``, ``n_windows``, ``mse`` (both dimensions), ``baseline_mse``, and per
        dimension ``mse``, ``rmse``, ``r2``, ``pearson``, ``ccc`` (``None`` where undefined).
    """
    t = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    p = np.asarray(predictions, dtype=np.float64).reshape(-1, 2)
    if t.shape != p.shape:
        raise ValueError(f"targets are {t.shape}, predictions {p.shape}")
    base = np.broadcast_to(np.asarray(train_mean, dtype=np.float64).reshape(1, 2), t.shape)
    block: dict[str, Any] = {
        "n_songs": int(np.unique(np.asarray(song_ids)).size),
        "n_windows": int(t.shape[0]),
        "mse": mse(t, p),
        "baseline_mse": mse(t, base),
    }
    for i, name in enumerate(DIMENSIONS):
        block[name] = {k: _finite_or_none(v) for k, v in dimension_metrics(t[:, i], p[:, i]).items()}
    return block


def flatten(block: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number of a metrics block under its dotted path (``arousal.per_song.rmse.mean``)."""
    out: dict[str, float] = {}
    for key, value in block.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[path] = float(value)
    return out


def mean_std(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """``mean`` and population ``std`` of the finite ``values``, and ``n``, how many there were (None when none)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}


def per_song_block(
    targets: np.ndarray,
    predictions: np.ndarray,
    song_ids: Sequence[int] | np.ndarray,
    train_mean: Sequence[float] | np.ndarray,
) -> dict[str, Any]:
    """Frame-level figures for one part: per song averaged over songs (MediaEval 2015), and pooled.

    Args:
        targets: ``(m, 2)`` true ``[arousal, valence]`` per frame (every frame once, no NaN).
        predictions: ``(m, 2)`` predictions for the same frames.
        song_ids: ``(m,)`` the song of each frame.
        train_mean: the mean baseline's ``[arousal, valence]``.

    Returns:
        ``n_songs``, ``n_frames``, pooled ``mse`` and ``baseline_mse`` (both dimensions), and per
        dimension ``per_song`` (``rmse`` and ``pearson``: ``mean``, ``std`` over songs, ``n``
        songs where defined), ``baseline_per_song`` (``rmse`` of the mean baseline), ``pooled``
        (``mse``, ``rmse``, ``r2``, ``pearson``, ``ccc`` over all frames).
    """
    t = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    p = np.asarray(predictions, dtype=np.float64).reshape(-1, 2)
    songs = np.asarray(song_ids).ravel()
    if t.shape != p.shape or songs.size != t.shape[0]:
        raise ValueError(f"targets are {t.shape}, predictions {p.shape}, song ids {songs.shape}")
    base = np.broadcast_to(np.asarray(train_mean, dtype=np.float64).reshape(1, 2), t.shape)
    order = np.argsort(songs, kind="stable")
    cuts = np.flatnonzero(np.diff(songs[order])) + 1
    groups = np.split(order, cuts)
    block: dict[str, Any] = {
        "n_songs": len(groups),
        "n_frames": int(t.shape[0]),
        "mse": mse(t, p),
        "baseline_mse": mse(t, base),
    }
    for i, name in enumerate(DIMENSIONS):
        rmses = [rmse(t[g, i], p[g, i]) for g in groups]
        rs = [pearson(t[g, i], p[g, i]) if g.size > 1 else float("nan") for g in groups]
        block[name] = {
            "per_song": {"rmse": mean_std(rmses), "pearson": mean_std(rs)},
            "baseline_per_song": {"rmse": mean_std([rmse(t[g, i], base[g, i]) for g in groups])},
            "pooled": {k: _finite_or_none(v) for k, v in dimension_metrics(t[:, i], p[:, i]).items()},
        }
    return block
