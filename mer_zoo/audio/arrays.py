"""Audio handed over as an array: mixed down to mono and resampled the way decoded files are."""

from __future__ import annotations

import numpy as np

from mer_zoo.errors import InputError

__all__ = ["to_mono"]

_MAX_CHANNELS = 64  # an axis this short is channels, not time


def to_mono(samples: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Samples ``(n,)``, ``(n, channels)`` or ``(channels, n)`` at ``sample_rate`` as mono float32 at ``target_rate``.

    Channels are averaged and other rates resampled with soxr at high quality, as
    :func:`mer_zoo.audio.load_audio` does for a file.

    Raises:
        InputError: not 1-D or 2-D, no samples, non-finite values, or a rate that is not positive.
    """
    y = np.asarray(samples)
    if not np.issubdtype(y.dtype, np.number) or y.ndim not in (1, 2) or y.size == 0:
        raise InputError(f"audio samples must be numbers (n,), (n, channels) or (channels, n), got {y.dtype} {y.shape}")
    if int(sample_rate) <= 0:
        raise InputError(f"sample rate must be positive, got {sample_rate}")
    y = y.astype(np.float32, copy=False)
    if y.ndim == 2:  # the channels' mean in float32, as a decoded file's
        channels_first = y.shape[0] < y.shape[1] and y.shape[0] <= _MAX_CHANNELS
        y = y.mean(axis=0 if channels_first else 1, dtype=np.float32)
    if not np.isfinite(y).all():
        raise InputError("audio samples must be finite (found NaN or infinity)")
    if int(sample_rate) != int(target_rate):
        from mer_zoo.audio.decode import resample

        y = resample(y, int(sample_rate), int(target_rate))
    return np.ascontiguousarray(y)
