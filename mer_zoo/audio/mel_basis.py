"""The numbers both log-mel backends share: librosa's Slaney filter bank, the window, the work precision.

Pure functions of the extraction settings, cached: the ``(n_mels, 1 + n_fft // 2)`` filter
bank of ``librosa.filters.mel``, the periodic Hann window, the FFT-bin range the bank uses
(bins above ``fmax`` carry no weight), the frame count of a centred STFT, and the working
precision: float32 when the floor is at most 80 dB below the maximum, float64 otherwise.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from mer_zoo.config import FeatureConfig

__all__ = ["AMIN", "frame_count", "mel_filter_bank", "mel_plan", "silent_db", "work_dtype"]

AMIN = 1e-10  # librosa's power floor before the log
Float = np.dtype[np.floating[Any]]


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default)."""
    hz = np.asanyarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    mel = hz / f_sp
    log_part = hz >= min_log_hz
    mel[log_part] = min_log_hz / f_sp + np.log(hz[log_part] / min_log_hz) / logstep
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    hz = f_sp * mel
    log_part = mel >= min_log_mel
    hz[log_part] = min_log_hz * np.exp(logstep * (mel[log_part] - min_log_mel))
    return hz


@lru_cache(maxsize=8)
def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """The ``(n_mels, 1 + n_fft // 2)`` Slaney-normalised filter bank of ``librosa.filters.mel``."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = np.array([fmin, fmax], dtype=np.float64)
    low, high = _hz_to_mel(edges)
    mel_freqs = _mel_to_hz(np.linspace(low, high, n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = np.subtract.outer(mel_freqs, fft_freqs)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


def silent_db(top_db: float | None) -> float:
    """The value of every bin of a window with no power at all: the floor (``-top_db``, else AMIN's -100 dB).

    ``power_to_db(ref=max)`` would make its own maximum of nothing, a flat 0-dB image that looks
    like loud noise; the floor says "nothing here" in the same units as any window's quietest bin.
    """
    return -float(top_db) if top_db is not None else 10.0 * float(np.log10(AMIN))


def work_dtype(config: FeatureConfig) -> Float:
    """float32 holds values within 80 dB of the maximum to 1e-4 dB; deeper floors need float64."""
    return np.dtype(np.float32 if config.top_db is not None and config.top_db <= 80 else np.float64)


@lru_cache(maxsize=8)
def mel_plan(config: FeatureConfig, dtype: Float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Periodic Hann window, the filter bank's non-zero columns and their FFT-bin range."""
    n_fft = config.n_fft
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(dtype)
    basis = mel_filter_bank(config.sample_rate, n_fft, config.n_mels, config.fmin, config.fmax)
    used = np.flatnonzero(basis.any(axis=0))  # bins above fmax carry no weight: skip them
    lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
    basis = np.ascontiguousarray(basis[:, lo:hi], dtype=dtype)
    for array in (window, basis):
        array.setflags(write=False)
    return window, basis, lo, hi


def frame_count(n: int, config: FeatureConfig) -> int:
    """Frames of a centred STFT of ``n`` samples (``config.frames`` for a whole window)."""
    return 1 + (n + 2 * (config.n_fft // 2) - config.n_fft) // config.hop_length
