"""``mel``: the log-mel spectrogram of each window, librosa's numbers (the default set)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from mer_zoo.config import MEL_FIELDS, FeatureConfig
from mer_zoo.features.audio import log_mel
from mer_zoo.features.extractors import Extractor, register_extractor

__all__ = ["MelExtractor", "mel"]

_BATCH = 3  # windows per transform: ~25 MB of STFT temporaries (8 MB a window)


class MelExtractor(Extractor):
    """``power_to_db(melspectrogram(...), ref=np.max)`` per window, ``(n_mels, frames)``."""

    kind = "image"
    version = "1"

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def config(self, windows: FeatureConfig) -> FeatureConfig:
        """The full settings: the store's windows with this set's mel parameters."""
        return dataclasses.replace(windows, **self.settings)

    def params(self) -> dict[str, Any]:
        """The mel parameters (n_mels, n_fft, hop_length, fmin, fmax, top_db)."""
        return dict(self.settings)

    def shape(self, windows: FeatureConfig) -> tuple[int, ...]:
        """``(n_mels, frames)``."""
        config = self.config(windows)
        return (config.n_mels, config.frames)

    def frame_rate_hz(self, windows: FeatureConfig) -> float | None:
        """STFT frames per second."""
        return windows.sample_rate / self.settings["hop_length"]

    def compute(self, span: np.ndarray, offsets: Sequence[int], windows: FeatureConfig) -> np.ndarray:
        """Log-mel windows, a few at a time so temporaries stay bounded however long the song."""
        config = self.config(windows)
        n = config.clip_samples
        out = np.empty((len(offsets), *self.shape(windows)), dtype=np.float32)
        for i in range(0, len(offsets), _BATCH):
            out[i : i + _BATCH] = log_mel(np.stack([span[o : o + n] for o in offsets[i : i + _BATCH]]), config)
        return out


@register_extractor(kind="image")
def mel(
    *,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop_length: int = 512,
    fmin: float = 0.0,
    fmax: float = 8000.0,
    top_db: float | None = 80.0,
) -> MelExtractor:
    """Log-mel spectrogram (librosa's melspectrogram + power_to_db(ref=max)), bins x frames."""
    return MelExtractor(dict(zip(MEL_FIELDS, (n_mels, n_fft, hop_length, fmin, fmax, top_db))))
