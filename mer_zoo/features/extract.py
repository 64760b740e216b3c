"""The work of one Dask task: one song in, its windows' spectrograms (or a reason) out.

Kept apart from ``build.py`` so that workers import only what they run (no rich, no
scheduler code), and so the task never raises: every failure becomes a one-line reason.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from mer_zoo.config import FeatureConfig
from mer_zoo.datasets.base import SongRecord
from mer_zoo.errors import MerZooError
from mer_zoo.features.audio import load_audio, window_slices
from mer_zoo.features.melspec import log_mel
from mer_zoo.features.store import SongFeatures
from mer_zoo.features.windows import fit_to_audio, plan_windows

__all__ = ["THREAD_VARIABLES", "SongResult", "WorkerSetup", "extract_song", "extract_songs", "warm_up"]

# One thread per library per worker: with two workers on two cores, a second BLAS or
# OpenMP thread per worker only oversubscribes (the original's pool ran slower than serial).
THREAD_VARIABLES = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


_BATCH = 3  # windows per log_mel call: ~25 MB of STFT temporaries (8 MB a window)


class SongResult(NamedTuple):
    """What a worker returns: features, or None and a one-line reason; windows dropped and why."""

    song_id: int
    features: SongFeatures | None
    reason: str
    dropped: dict[str, int]


def extract_song(song: SongRecord, config: FeatureConfig) -> SongResult:
    """Plan, decode and transform one song's windows; never raises."""
    try:
        return _extract(song, config)
    except MerZooError as err:
        return SongResult(song.song_id, None, _one_line(str(err)), {})
    except Exception as err:  # a bug or a decoder surprise must not stop the other songs
        return SongResult(song.song_id, None, _one_line(f"{song.audio_path}: {type(err).__name__}: {err}"), {})


def extract_songs(songs: list[SongRecord], config: FeatureConfig) -> list[SongResult]:
    """``extract_song`` for each of a few songs: one Dask task for several, to save its overhead."""
    return [extract_song(song, config) for song in songs]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _extract(song: SongRecord, config: FeatureConfig) -> SongResult:
    if len(song.times_s) == 0:
        return SongResult(song.song_id, None, f"song {song.song_id}: no dynamic annotations (arousal/valence rows missing or empty)", {})
    plan = plan_windows(song, config)
    if len(plan) == 0:
        return SongResult(
            song.song_id,
            None,
            f"song {song.song_id}: no {config.clip_s:g}-s window from {config.start_s:g} s is fully annotated "
            f"(annotations {song.times_s[0]:g}-{song.times_s[-1]:g} s)",
            dict(plan.dropped),
        )
    first, last = plan.span_s
    y, duration = load_audio(song.audio_path, config.sample_rate, offset_s=first, duration_s=last - first)
    fitted = fit_to_audio(plan, int(round(first * config.sample_rate)) + len(y), config)
    if len(fitted) == 0:
        return SongResult(
            song.song_id,
            None,
            f"{song.audio_path}: audio ends at {duration:.2f} s, before the end of its first window "
            f"({first:g}-{first + config.clip_s:g} s)",
            dict(fitted.dropped),
        )
    slices = window_slices(fitted.start_s, first, config)
    mel = np.empty((len(slices), config.n_mels, config.frames), dtype=np.float32)
    for i in range(0, len(slices), _BATCH):  # bounded temporaries however long the song
        mel[i : i + _BATCH] = log_mel(np.stack([y[s] for s in slices[i : i + _BATCH]]), config)
    features = SongFeatures(
        song_id=song.song_id,
        path=str(song.audio_path),
        duration_s=float(duration),
        mel=mel,
        start_s=fitted.start_s,
        end_s=fitted.end_s,
        arousal=fitted.arousal,
        valence=fitted.valence,
        static=dict(song.static),
    )
    return SongResult(song.song_id, features, "", dict(fitted.dropped))


def warm_up(config: FeatureConfig | None = None) -> None:
    """Import the decoders and build the filter bank once, so the first song pays nothing."""
    import scipy.fft  # noqa: F401
    import soundfile  # noqa: F401

    config = config or FeatureConfig()
    log_mel(np.zeros(config.clip_samples, dtype=np.float32), config)


class WorkerSetup(WorkerPlugin):
    """A Dask worker plugin: one thread per numeric library, decoders imported once.

    Local workers also get the ``THREAD_VARIABLES`` in their environment before they start
    (the only way OpenMP reads them); workers of an external cluster get the limits here.
    """

    name = "mer-zoo-worker-setup"

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config

    def setup(self, worker: Any) -> None:
        """Run once on each worker when it joins."""
        os.environ.update(THREAD_VARIABLES)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional: without it the environment variables still apply to new pools
            pass
        else:
            threadpool_limits(1)
        warm_up(self.config)
