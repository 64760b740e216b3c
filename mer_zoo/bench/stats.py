"""The bench's statistics, pure functions: the corrected t-test over folds, song bootstraps, ranks.

k-fold runs share training songs, so their per-fold differences are not independent; the
Nadeau-Bengio corrected resampled t-test widens the variance of the mean difference by
``1/k + n_test/n_train`` instead of ``1/k`` and reads the t distribution with ``k - 1`` dof.
Pooled figures (every test song of every fold together) get a percentile bootstrap interval
over songs resampled with replacement; a difference between two models resamples the same
songs for both, so it is paired too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sp

__all__ = ["BOOTSTRAP_RESAMPLES", "Interval", "PairedTest", "bootstrap_interval", "corrected_t_test", "ranks_with_ties"]

BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison over folds: mean difference (a - b), its 95% interval and p-value."""

    mean_diff: float
    low: float
    high: float
    p_value: float
    k: int

    @property
    def tie(self) -> bool:
        """True when the interval holds zero: the two cannot be told apart."""
        return self.low <= 0.0 <= self.high


def corrected_t_test(a: Sequence[float], b: Sequence[float], n_train: int, n_test: int) -> PairedTest:
    """Nadeau-Bengio corrected resampled t-test of paired per-fold figures ``a`` and ``b``."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    k = int(d.size)
    if k < 2 or n_train < 1:
        raise ValueError(f"need at least 2 paired folds and training songs, got {k} and {n_train}")
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    se = math.sqrt((1.0 / k + n_test / n_train) * var)
    half = float(_sp.t.ppf(0.975, k - 1)) * se
    if se == 0.0:
        p = 1.0 if mean == 0.0 else 0.0
    else:
        p = float(2.0 * _sp.t.sf(abs(mean / se), k - 1))
    return PairedTest(mean, mean - half, mean + half, p, k)


@dataclass(frozen=True)
class Interval:
    """A figure and its 95% percentile bootstrap interval."""

    value: float
    low: float
    high: float


def bootstrap_interval(
    errors: Sequence[float],
    weights: Sequence[float],
    other: Sequence[float] | None = None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """The pooled figure ``sum(w * e) / sum(w)`` over songs, or its difference with ``other`` (the same
    songs' errors under another model), with a 95% interval from songs resampled with replacement."""
    e = np.asarray(errors, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    d = e if other is None else e - np.asarray(other, dtype=np.float64)
    if d.size == 0 or d.shape != w.shape:
        raise ValueError(f"need one weight per song error, got {d.size} errors and {w.size} weights")
    idx = np.random.default_rng(seed).integers(0, d.size, size=(resamples, d.size))
    ws = w[idx]
    stats = (ws * d[idx]).sum(axis=1) / ws.sum(axis=1)
    low, high = np.percentile(stats, [2.5, 97.5])
    return Interval(float((w * d).sum() / w.sum()), float(low), float(high))


def ranks_with_ties(means: Sequence[float], tied_with_best: Sequence[bool]) -> list[int]:
    """Rank 1 for the best (lowest) mean and every entry tied with it; the rest by their mean from 2 on."""
    order = sorted(range(len(means)), key=lambda i: means[i])
    out = [0] * len(means)
    rank = 1
    for i in order:
        if i == order[0] or tied_with_best[i]:
            out[i] = 1
        else:
            rank += 1
            out[i] = rank
    return out
