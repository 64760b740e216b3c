"""Pure window planning: which windows of a song have full labels, and what their labels are.

Windows of ``clip_s`` seconds start at ``start_s`` and advance by ``hop_s`` over the
annotated span (every window at least half inside it is a candidate). A window is kept
only when the dynamic annotations cover it fully (one value at every annotation step in
``[start, end)``) and, once the audio is decoded, when the audio covers it too; the others
are counted as dropped, by reason. Its label is the mean of the dynamic values inside it,
and the values themselves are kept as its frames (``F`` per window, NaN-padded).

Songs of a corpus labelled only per song (``static_windows``) get every whole window of
their audio, each labelled with the song's static label and no frames.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mer_zoo.audio.decode import window_starts
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets import SongRecord

__all__ = [
    "DEFAULT_STEP_S",
    "DROP_AUDIO",
    "DROP_LABELS",
    "WindowPlan",
    "annotation_step",
    "fit_to_audio",
    "frames_per_window",
    "plan_windows",
    "relabel",
    "static_windows",
]

DROP_LABELS = "not fully annotated"
DROP_AUDIO = "past the end of the audio"
DEFAULT_STEP_S = 0.5  # DEAM's and PMEmo's dynamic annotations are 2 Hz
_EPS = 1e-6


@dataclass(frozen=True)
class WindowPlan:
    """The windows kept for one song, their labels, and how many were dropped and why."""

    start_s: np.ndarray  # (n,) float64
    end_s: np.ndarray  # (n,) float64
    arousal: np.ndarray  # (n,) float32, mean of the dynamic values in each window
    valence: np.ndarray  # (n,) float32
    frame_times: np.ndarray  # (n, F) float64, the annotation times inside each window, NaN-padded
    arousal_frames: np.ndarray  # (n, F) float32
    valence_frames: np.ndarray  # (n, F) float32
    dropped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.start_s)

    @property
    def span_s(self) -> tuple[float, float]:
        """The audio span the kept windows need: (first start, last end)."""
        return float(self.start_s[0]), float(self.end_s[-1])


def annotation_step(times_s: np.ndarray) -> float:
    """The step between a song's annotation times (its median gap), 0.5 s when it cannot tell."""
    if len(times_s) < 2:
        return DEFAULT_STEP_S
    return float(np.median(np.diff(times_s)))


def frames_per_window(config: FeatureConfig, step_s: float) -> int:
    """How many annotation frames a window holds: its length over the annotation step."""
    return max(1, int(round(config.clip_s / step_s)))


def _empty(n: int, n_frames: int) -> dict[str, Any]:
    return {
        "frame_times": np.full((n, n_frames), np.nan),
        "arousal_frames": np.full((n, n_frames), np.nan, dtype=np.float32),
        "valence_frames": np.full((n, n_frames), np.nan, dtype=np.float32),
    }


def plan_windows(song: SongRecord, config: FeatureConfig, n_frames: int | None = None) -> WindowPlan:
    """Windows from ``config.start_s`` over the song's annotated span, kept where fully annotated.

    ``n_frames`` is the store's frames per window (default: this song's own count).
    """
    times = np.asarray(song.times_s, dtype=np.float64)
    step = annotation_step(times)
    n_frames = n_frames or frames_per_window(config, step)
    if len(times) == 0:
        none = np.zeros(0)
        return WindowPlan(none, none, none.astype("f4"), none.astype("f4"), **_empty(0, n_frames))
    per_window = int(round(config.clip_s / step))
    annotated_end = times[-1] + step
    half_in = annotated_end - config.clip_s / 2 - config.start_s  # room for starts of half-annotated windows
    n_candidates = max(0, int(np.ceil(half_in / config.hop_s - _EPS)))
    starts = config.start_s + config.hop_s * np.arange(n_candidates, dtype=np.float64)
    kept, arousal, valence, inside_rows = [], [], [], []
    dropped: Counter[str] = Counter()
    for start in starts:
        inside = np.flatnonzero((times >= start - _EPS) & (times < start + config.clip_s - _EPS))
        gaps = np.diff(times[inside]) if len(inside) > 1 else np.zeros(0)
        if len(inside) != per_window or (gaps > step * 1.5).any():
            dropped[DROP_LABELS] += 1
            continue
        kept.append(start)
        inside_rows.append(inside[:n_frames])
        arousal.append(np.mean(song.arousal[inside], dtype=np.float64))
        valence.append(np.mean(song.valence[inside], dtype=np.float64))
    start_s = np.asarray(kept, dtype=np.float64)
    frames = _empty(len(kept), n_frames)
    for i, rows in enumerate(inside_rows):
        frames["frame_times"][i, : len(rows)] = times[rows]
        frames["arousal_frames"][i, : len(rows)] = song.arousal[rows]
        frames["valence_frames"][i, : len(rows)] = song.valence[rows]
    return WindowPlan(
        start_s=start_s,
        end_s=start_s + config.clip_s,
        arousal=np.asarray(arousal, dtype=np.float32),
        valence=np.asarray(valence, dtype=np.float32),
        **frames,
        dropped=dropped,
    )


def static_windows(song: SongRecord, n_samples: int, config: FeatureConfig, n_frames: int) -> WindowPlan:
    """Every whole window of the first ``n_samples`` samples from ``config.start_s``, labelled with the song's static label."""
    start_s = window_starts(n_samples / config.sample_rate, config)
    n = len(start_s)
    return WindowPlan(
        start_s=start_s,
        end_s=start_s + config.clip_s,
        arousal=np.full(n, song.static.get("arousal_mean", np.nan), dtype=np.float32),
        valence=np.full(n, song.static.get("valence_mean", np.nan), dtype=np.float32),
        **_empty(n, n_frames),
    )


def fit_to_audio(plan: WindowPlan, n_samples: int, config: FeatureConfig) -> WindowPlan:
    """Drop the windows that need samples beyond the first ``n_samples`` of the audio."""
    ends = np.round(plan.start_s * config.sample_rate).astype(np.int64) + config.clip_samples
    keep = ends <= n_samples
    dropped = Counter(plan.dropped)
    if (~keep).any():
        dropped[DROP_AUDIO] += int((~keep).sum())
    return _kept(plan, keep, dropped)


def relabel(
    song: SongRecord, start_s: np.ndarray, duration_s: float, config: FeatureConfig, n_frames: int, static: bool
) -> WindowPlan | None:
    """The windows ``start_s`` a store holds for ``song``, labelled from its current annotations.

    None when the current annotations would give other windows (one stored window no longer
    fully annotated, or a new one inside the audio's ``duration_s``): the song must be extracted
    again. ``static``: the corpus is labelled per song, its windows do not depend on the labels.
    """
    start_s = np.asarray(start_s, dtype=np.float64)
    n = len(start_s)
    if static:
        return WindowPlan(
            start_s=start_s,
            end_s=start_s + config.clip_s,
            arousal=np.full(n, song.static.get("arousal_mean", np.nan), dtype=np.float32),
            valence=np.full(n, song.static.get("valence_mean", np.nan), dtype=np.float32),
            **_empty(n, n_frames),
        )
    plan = plan_windows(song, config, n_frames)
    keep = np.isin(np.round(plan.start_s, 6), np.round(start_s, 6))
    ends = np.round(plan.start_s * config.sample_rate).astype(np.int64) + config.clip_samples
    if keep.sum() != n or (ends[~keep] <= int(round(duration_s * config.sample_rate))).any():
        return None
    return _kept(plan, keep, Counter())


def _kept(plan: WindowPlan, keep: np.ndarray, dropped: Counter[str]) -> WindowPlan:
    """The windows of ``plan`` where ``keep`` holds, with ``dropped`` as the counts of those left out."""
    return WindowPlan(
        start_s=plan.start_s[keep],
        end_s=plan.end_s[keep],
        arousal=plan.arousal[keep],
        valence=plan.valence[keep],
        frame_times=plan.frame_times[keep],
        arousal_frames=plan.arousal_frames[keep],
        valence_frames=plan.valence_frames[keep],
        dropped=dropped,
    )
