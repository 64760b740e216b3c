"""Pure window planning: which windows of a song have full labels, and what their labels are.

Windows of ``clip_s`` seconds start at ``start_s`` and advance by ``hop_s`` over the
annotated span (every window at least half inside it is a candidate). A window is kept
only when the dynamic annotations cover it fully (one value at every annotation step in
``[start, end)``) and, once the audio is decoded, when the audio covers it too; the others
are counted as dropped, by reason. Its label is the mean of the dynamic values inside it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.datasets.base import SongRecord

__all__ = ["DROP_AUDIO", "DROP_LABELS", "WindowPlan", "fit_to_audio", "plan_windows"]

DROP_LABELS = "not fully annotated"
DROP_AUDIO = "past the end of the audio"
_DEFAULT_STEP_S = 0.5  # DEAM's dynamic annotations are 2 Hz
_EPS = 1e-6


@dataclass(frozen=True)
class WindowPlan:
    """The windows kept for one song, their labels, and how many were dropped and why."""

    start_s: np.ndarray  # (n,) float64
    end_s: np.ndarray  # (n,) float64
    arousal: np.ndarray  # (n,) float32, mean of the dynamic values in each window
    valence: np.ndarray  # (n,) float32
    dropped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.start_s)

    @property
    def span_s(self) -> tuple[float, float]:
        """The audio span the kept windows need: (first start, last end)."""
        return float(self.start_s[0]), float(self.end_s[-1])


def _annotation_step(times_s: np.ndarray) -> float:
    if len(times_s) < 2:
        return _DEFAULT_STEP_S
    return float(np.median(np.diff(times_s)))


def plan_windows(song: SongRecord, config: FeatureConfig) -> WindowPlan:
    """Windows from ``config.start_s`` over the song's annotated span, kept where fully annotated."""
    times = np.asarray(song.times_s, dtype=np.float64)
    if len(times) == 0:
        return WindowPlan(*(np.zeros(0, dtype=d) for d in ("f8", "f8", "f4", "f4")))
    step = _annotation_step(times)
    per_window = int(round(config.clip_s / step))
    annotated_end = times[-1] + step
    half_in = annotated_end - config.clip_s / 2 - config.start_s  # room for starts of half-annotated windows
    n_candidates = max(0, int(np.ceil(half_in / config.hop_s - _EPS)))
    starts = config.start_s + config.hop_s * np.arange(n_candidates, dtype=np.float64)
    kept, arousal, valence = [], [], []
    dropped: Counter[str] = Counter()
    for start in starts:
        inside = np.flatnonzero((times >= start - _EPS) & (times < start + config.clip_s - _EPS))
        gaps = np.diff(times[inside]) if len(inside) > 1 else np.zeros(0)
        if len(inside) != per_window or (gaps > step * 1.5).any():
            dropped[DROP_LABELS] += 1
            continue
        kept.append(start)
        arousal.append(np.mean(song.arousal[inside], dtype=np.float64))
        valence.append(np.mean(song.valence[inside], dtype=np.float64))
    start_s = np.asarray(kept, dtype=np.float64)
    return WindowPlan(
        start_s=start_s,
        end_s=start_s + config.clip_s,
        arousal=np.asarray(arousal, dtype=np.float32),
        valence=np.asarray(valence, dtype=np.float32),
        dropped=dropped,
    )


def fit_to_audio(plan: WindowPlan, n_samples: int, config: FeatureConfig) -> WindowPlan:
    """Drop the windows that need samples beyond the first ``n_samples`` of the audio."""
    ends = np.round(plan.start_s * config.sample_rate).astype(np.int64) + config.clip_samples
    keep = ends <= n_samples
    dropped = Counter(plan.dropped)
    if (~keep).any():
        dropped[DROP_AUDIO] += int((~keep).sum())
    return WindowPlan(
        start_s=plan.start_s[keep],
        end_s=plan.end_s[keep],
        arousal=plan.arousal[keep],
        valence=plan.valence[keep],
        dropped=dropped,
    )
