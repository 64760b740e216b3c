"""What every dataset reader returns: one record per song, gathered into a corpus."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["STATIC_COLUMNS", "Corpus", "SongRecord"]

# The song-level labels every reader fills (NaN when unknown), on the corpus's static scale.
STATIC_COLUMNS = ("valence_mean", "valence_std", "arousal_mean", "arousal_std")


@dataclass(frozen=True)
class SongRecord:
    """One song: where its audio should be, its dynamic labels and its static labels.

    ``audio_path`` may not exist (the build reports that as a per-song failure).
    ``times_s``, ``arousal`` and ``valence`` are aligned, NaN-free and empty when the song
    has no dynamic labels; they are on the corpus's ``dynamic_scale``, the ``static``
    values (keys: ``STATIC_COLUMNS``, NaN if unknown) on its ``static_scale``. ``metadata``
    holds its non-empty values of the corpus's ``metadata_columns`` (artist, album, ...).
    """

    song_id: int
    audio_path: Path
    times_s: np.ndarray  # float64 annotation times in seconds
    arousal: np.ndarray  # float32
    valence: np.ndarray  # float32
    static: Mapping[str, float]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Corpus:
    """All songs a reader found under ``root``, sorted by id, plus what it could not find.

    Attributes:
        dynamic_scale: the scale of the dynamic labels, ``"LOW..HIGH"``.
        static_scale: the scale of the static labels.
        has_dynamic: False for corpora labelled per song only: their windows then cover
            the whole audio from ``start_s`` and carry the song's static labels.
        start_s: the first window start this corpus suggests (its first annotation time),
            used when the user gives none; None keeps the extraction settings' own.
        metadata_columns: the songs' metadata columns (artist, album, ...), stored with the
            songs for ``--split group:COLUMN``; empty when the corpus has none.
    """

    name: str
    root: Path
    songs: list[SongRecord]
    notes: list[str]
    dynamic_scale: str = "-1..1"
    static_scale: str = "1..9"
    has_dynamic: bool = True
    start_s: float | None = None
    metadata_columns: tuple[str, ...] = ()
