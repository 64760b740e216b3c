"""openSMILE sets through the ``opensmile`` package: eGeMAPS and ComParE, per frame and per window.

``egemaps`` and ``compare`` are the low-level descriptors (LLDs) of eGeMAPSv02 (25) and
ComParE_2016 (65) per 10-ms frame; ``egemaps_functionals`` (88) and ``compare_functionals``
(6,373) are the functionals of the whole window. Each window's samples go to
``opensmile.Smile(...).process_signal(clip, sample_rate)`` at the store's rate, so the values
are openSMILE's own.

openSMILE emits a few frames fewer than a window holds (its last frames need a whole
analysis window: 496 for 5 s). LLD sets are stored with a fixed ``round(clip_s / 0.01)``
frames per window (one per 10-ms hop, 500 for 5 s): openSMILE's frames first, then copies
of its last frame up to that count (or its frames cut at that count, should it emit more).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from typing import Any

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.features import Extractor, register_extractor

__all__ = [
    "HOP_S",
    "OpenSmileSet",
    "compare",
    "compare_functionals",
    "egemaps",
    "egemaps_functionals",
    "fit_frames",
    "lld_frames",
    "smile",
]

HOP_S = 0.01  # openSMILE's LLD frame step in both feature sets
_EGEMAPS = ("eGeMAPSv02", "eGeMAPSv01b", "GeMAPSv01b")
_COMPARE = ("ComParE_2016",)


def lld_frames(clip_s: float) -> int:
    """LLD frames stored per window: one per 10-ms hop of the window."""
    return max(1, round(clip_s / HOP_S))


def fit_frames(values: np.ndarray, n: int) -> np.ndarray:
    """openSMILE's ``(frames, D)`` LLDs as ``(D, n)``: cut at ``n`` or padded with copies of the last frame."""
    if len(values) == 0:
        raise ValueError("openSMILE returned no frames")
    values = values[:n]
    if len(values) < n:
        values = np.concatenate([values, np.repeat(values[-1:], n - len(values), axis=0)])
    return np.ascontiguousarray(values.T)


@lru_cache(maxsize=8)
def smile(feature_set: str, level: str) -> Any:
    """The ``opensmile.Smile`` of a feature set and level (``lld`` or ``func``), built once per process."""
    import opensmile

    return opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set], feature_level=opensmile.FeatureLevel(level))


class OpenSmileSet(Extractor):
    """One openSMILE feature set at one level: LLDs ``(D, frames)`` or functionals ``(D,)`` per window."""

    version = "1"

    def __init__(self, feature_set: str, level: str) -> None:
        self.feature_set, self.level = feature_set, level
        self.kind = "sequence" if level == "lld" else "vector"
        self.backend = f"opensmile {metadata.version('opensmile')}"

    def params(self) -> dict[str, Any]:
        """The openSMILE feature set (the level is the set's name)."""
        return {"feature_set": self.feature_set}

    def n_features(self) -> int:
        """Descriptors (LLDs) or functionals per window."""
        return len(smile(self.feature_set, self.level).feature_names)

    def shape(self, windows: FeatureConfig) -> tuple[int, ...]:
        """``(D, round(clip_s / 0.01))`` for LLDs, ``(D,)`` for functionals."""
        if self.level == "lld":
            return (self.n_features(), lld_frames(windows.clip_s))
        return (self.n_features(),)

    def frame_rate_hz(self, windows: FeatureConfig) -> float | None:
        """100 frames per second for LLDs; None for functionals."""
        return 1.0 / HOP_S if self.level == "lld" else None

    def compute(self, span: np.ndarray, offsets: Sequence[int], windows: FeatureConfig) -> np.ndarray:
        """``process_signal`` on each window's samples at the store's rate."""
        extractor = smile(self.feature_set, self.level)
        n, sr = windows.clip_samples, windows.sample_rate
        out = np.empty((len(offsets), *self.shape(windows)), dtype=np.float32)
        for i, offset in enumerate(offsets):
            values = extractor.process_signal(span[offset : offset + n], sr).to_numpy(dtype=np.float32)
            out[i] = fit_frames(values, out.shape[-1]) if self.level == "lld" else values[0]
        return out


def _checked(feature_set: str, allowed: tuple[str, ...]) -> str:
    if feature_set not in allowed:
        raise ValueError(f"feature_set must be one of {', '.join(allowed)}, got {feature_set!r}")
    return feature_set


@register_extractor(kind="sequence")
def egemaps(*, feature_set: str = "eGeMAPSv02") -> OpenSmileSet:
    """eGeMAPSv02 low-level descriptors per 10-ms frame (openSMILE), 25 x frames."""
    return OpenSmileSet(_checked(feature_set, _EGEMAPS), "lld")


@register_extractor(kind="vector")
def egemaps_functionals(*, feature_set: str = "eGeMAPSv02") -> OpenSmileSet:
    """eGeMAPSv02 functionals of each window (openSMILE), 88 values."""
    return OpenSmileSet(_checked(feature_set, _EGEMAPS), "func")


@register_extractor(kind="sequence")
def compare(*, feature_set: str = "ComParE_2016") -> OpenSmileSet:
    """ComParE_2016 low-level descriptors per 10-ms frame (openSMILE), 65 x frames."""
    return OpenSmileSet(_checked(feature_set, _COMPARE), "lld")


@register_extractor(kind="vector")
def compare_functionals(*, feature_set: str = "ComParE_2016") -> OpenSmileSet:
    """ComParE_2016 functionals of each window (openSMILE), 6,373 values."""
    return OpenSmileSet(_checked(feature_set, _COMPARE), "func")
