"""Silence, named: a window whose peak stays below a floor is flagged, not passed off as music.

Digital silence (an all-zero window, a track's lead-in) has no spectrum: ``power_to_db(ref=max)``
would scale its nothing up to a flat 0-dB image. The mel backends give such a window the
floor instead (see ``melspec``), and the store and predictions carry a ``silent`` flag, so that
training leaves these windows out by default and predictions say which values came from silence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SILENCE_DBFS", "silent_windows"]

SILENCE_DBFS = -60.0  # a window whose sample peak is below this (dB full scale, 1.0 = 0 dBFS) is silent


def silent_windows(span: np.ndarray, offsets: Sequence[int], n: int, floor_dbfs: float = SILENCE_DBFS) -> np.ndarray:
    """``(len(offsets),)`` bool: the ``n``-sample window of ``span`` at each offset peaks below ``floor_dbfs``."""
    floor = 10.0 ** (floor_dbfs / 20.0)
    flags = np.zeros(len(offsets), dtype=bool)
    for i, start in enumerate(offsets):
        window = span[int(start) : int(start) + n]
        flags[i] = window.size == 0 or max(float(window.max()), -float(window.min())) < floor
    return flags
