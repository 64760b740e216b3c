"""What every synthetic layout shares: latent emotion, the song rendered from it, and its raters.

Each song follows two latent trajectories, arousal and valence in [-1, 1], that drift slowly;
the music follows them (`music.render`). Raters report the latent values some 1-2 s late
plus smooth and white noise; each layout then writes those reports on its own scale.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.datasets.synthetic.music import render

__all__ = ["annotate", "in_parallel", "latent", "write_clip"]

# soundfile's (format, subtype) for each audio suffix the layouts write.
_FORMATS = {".mp3": ("MP3", "MPEG_LAYER_III"), ".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}


def latent(rng: np.random.Generator, duration_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slowly drifting arousal and valence on a 10 Hz grid: a song mean plus three slow waves each."""
    t = np.arange(0.0, duration_s + 1.0, 0.1)
    centre = np.clip(rng.multivariate_normal([0.0, 0.0], [[0.2, 0.05], [0.05, 0.2]]), -0.8, 0.8)
    curves = []
    for mean in centre:
        period = rng.uniform(8.0, 40.0, 3)
        amp = rng.uniform(0.06, 0.16, 3)
        phase = rng.uniform(0, 2 * np.pi, 3)
        drift = (amp[:, None] * np.sin(2 * np.pi * t[None, :] / period[:, None] + phase[:, None])).sum(0)
        curves.append(np.clip(mean + drift, -0.95, 0.95))
    return t, curves[0], curves[1]


def annotate(rng: np.random.Generator, times: np.ndarray, lat_t: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """What raters report at ``times``: the latent value some 1-2 s late, plus smooth and white noise, in [-1, 1]."""
    lag = rng.uniform(1.0, 2.0)
    smooth = np.convolve(rng.normal(0, 0.09, len(times) + 8), np.ones(9) / 3, mode="valid")
    values = np.interp(times - lag, lat_t, curve) + smooth + rng.normal(0, 0.02, len(times))
    return np.clip(values, -1.0, 1.0)


def write_clip(
    rng: np.random.Generator, path: Path, duration_s: float, sample_rate: int, channels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw a song's latent curves, render and write its audio (format from the suffix); return the curves."""
    import soundfile as sf

    lat_t, arousal, valence = latent(rng, duration_s)
    audio = render(rng, duration_s, sample_rate, channels, lat_t, arousal, valence)
    audio_format, subtype = _FORMATS[path.suffix.lower()]
    sf.write(path, audio, sample_rate, format=audio_format, subtype=subtype)
    return lat_t, arousal, valence


def in_parallel(function: Callable[..., Any], jobs: Iterable[tuple[Any, ...]]) -> list[Any]:
    """``function(*job)`` for every job on up to two spawned processes, in job order."""
    jobs = list(jobs)
    workers = min(2, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(function, *zip(*jobs)))
