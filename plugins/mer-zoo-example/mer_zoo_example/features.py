"""An example mer-zoo feature-set plugin: log energy in a few log-spaced frequency bands per frame.

The entry point in ``pyproject.toml`` names this module; importing it runs the
``register_extractor`` decorator below, so ``mer-zoo features`` lists ``example_band_energy``
with source ``mer-zoo-example`` and ``mer-zoo build-features --set example_band_energy``
computes it. The frames are ``mel``'s (centred, ``n_fft`` 2048, hop 512), so they line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.features import Extractor, register_extractor

__all__ = ["BandEnergy", "band_energy_db", "example_band_energy"]


def band_energy_db(
    clip: np.ndarray, sr: int, n_bands: int, n_fft: int, hop_length: int, fmin: float, fmax: float
) -> np.ndarray:
    """``(n_bands, 1 + len(clip) // hop_length)`` band energies in dB of one window (centred Hann frames)."""
    padded = np.pad(np.asarray(clip, dtype=np.float64), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=-1)) ** 2
    band = np.digitize(np.fft.rfftfreq(n_fft, 1.0 / sr), np.geomspace(fmin, fmax, n_bands + 1)) - 1
    energy = np.stack([power[:, band == b].sum(axis=-1) for b in range(n_bands)])
    return 10.0 * np.log10(energy + 1e-10)


class BandEnergy(Extractor):
    """Band energies in dB, ``(n_bands, frames)`` per window."""

    kind = "sequence"
    version = "1"

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def params(self) -> dict[str, Any]:
        """The band and frame settings."""
        return dict(self.settings)

    def shape(self, windows: FeatureConfig) -> tuple[int, ...]:
        """``(n_bands, 1 + clip_samples // hop_length)``."""
        return (self.settings["n_bands"], 1 + windows.clip_samples // self.settings["hop_length"])

    def frame_rate_hz(self, windows: FeatureConfig) -> float | None:
        """STFT frames per second."""
        return windows.sample_rate / self.settings["hop_length"]

    def compute(self, span: np.ndarray, offsets: Sequence[int], windows: FeatureConfig) -> np.ndarray:
        """Each window's band energies."""
        n = windows.clip_samples
        return np.stack(
            [band_energy_db(span[o : o + n], windows.sample_rate, **self.settings) for o in offsets]
        ).astype(np.float32)


@register_extractor(kind="sequence")
def example_band_energy(
    *, n_bands: int = 8, n_fft: int = 2048, hop_length: int = 512, fmin: float = 50.0, fmax: float = 16000.0
) -> BandEnergy:
    """Example plugin: log energy in n_bands log-spaced bands per frame, bands x frames."""
    if not 0 < fmin < fmax:
        raise ValueError(f"need 0 < fmin < fmax, got {fmin}, {fmax}")
    return BandEnergy({"n_bands": n_bands, "n_fft": n_fft, "hop_length": hop_length, "fmin": fmin, "fmax": fmax})
