"""What every dataset reader returns: one record per song, gathered into a corpus."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Corpus", "SongRecord"]


@dataclass(frozen=True)
class SongRecord:
    """One song: where its audio should be, its dynamic labels and its static labels.

    ``audio_path`` may not exist (the build reports that as a per-song failure).
    ``times_s``, ``arousal`` and ``valence`` are aligned, NaN-free and empty when the song
    has no dynamic labels; dynamic values are on [-1, 1], static ones on 1..9 (NaN if unknown).
    """

    song_id: int
    audio_path: Path
    times_s: np.ndarray  # float64 annotation times in seconds
    arousal: np.ndarray  # float32
    valence: np.ndarray  # float32
    static: Mapping[str, float]


@dataclass(frozen=True)
class Corpus:
    """All songs a reader found under ``root``, sorted by id, plus what it could not find."""

    name: str
    root: Path
    songs: list[SongRecord]
    notes: list[str]
