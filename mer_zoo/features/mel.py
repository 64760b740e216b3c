"""``mel``: the log-mel spectrogram of each window, librosa's numbers (the default set)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from mer_zoo.audio import fft_engine, log_mel_windows, resolve_mel_backend
from mer_zoo.config import MEL_FIELDS, FeatureConfig
from mer_zoo.features import Extractor, register_extractor

__all__ = ["MelExtractor", "mel"]


class MelExtractor(Extractor):
    """``power_to_db(melspectrogram(...), ref=np.max)`` per window, ``(n_mels, frames)``.

    Computed from the decoded span in one pass (:func:`mer_zoo.audio.melspec.log_mel_windows`)
    on the CPU (numpy, with scipy's or MKL's FFT) or on a GPU (torch); every backend agrees with
    librosa within 0.01 dB.
    """

    kind = "image"
    version = "1"

    def __init__(self, settings: dict[str, Any], device: str = "cpu") -> None:
        self.settings = settings
        self.backend_name, self.device = resolve_mel_backend(device)
        # recorded in the store: numpy/scipy or numpy/mkl_fft (its FFT library), or e.g. torch-cuda
        on_gpu = self.device != "cpu"
        self.backend = f"{self.backend_name}-{self.device}" if on_gpu else f"{self.backend_name}/{fft_engine()}"

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
        """Log-mel windows of ``span``, one STFT pass over it."""
        return log_mel_windows(span, offsets, self.config(windows), backend=self.backend_name, device=self.device)


@register_extractor(kind="image")
def mel(
    *,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop_length: int = 512,
    fmin: float = 0.0,
    fmax: float = 8000.0,
    top_db: float | None = 80.0,
    device: str = "cpu",
) -> MelExtractor:
    """Log-mel spectrogram (librosa's melspectrogram + power_to_db(ref=max)), bins x frames.

    ``device``: ``cpu`` (numpy), ``cuda`` (torch on the GPU) or ``auto`` (CUDA when present).
    """
    return MelExtractor(dict(zip(MEL_FIELDS, (n_mels, n_fft, hop_length, fmin, fmax, top_db))), device)
