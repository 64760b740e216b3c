"""A synthetic folder of audio files labelled by CSV manifests, for ``--dataset csv``.

Audio goes under ``OUT/audio/<style>/<set>/`` as a mix of wav, flac and mp3 at 44.1 and 48 kHz,
mono and stereo, 20-35 s long. ``labels.csv`` holds one static row per file
(``song_id,path,valence,arousal,artist`` on 1..9, the song means of the raters' reports plus
noise; about three songs per artist, one song without); with ``dynamic`` also
``labels_dynamic.csv``, long rows ``path,time_s,arousal,valence,artist`` on -1..1 at 2 Hz
from 5 s. Paths are relative to ``OUT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_zoo.datasets.synthetic.emotion import annotate, in_parallel, write_clip
from mer_zoo.errors import InputError

__all__ = ["write_synthetic_csv"]

AUDIO = Path("audio")
LABELS = "labels.csv"
LABELS_DYNAMIC = "labels_dynamic.csv"
STATIC_SCALE = "1..9"
DYNAMIC_SCALE = "-1..1"
FIRST_TIME_S = 5.0
MAX_SONGS = 999
_SUFFIXES = (".wav", ".flac", ".mp3")
_STYLES = ("ambient", "band", "live")


@dataclass(frozen=True)
class _Track:
    index: int
    relative: Path  # to OUT
    song_id: int
    sample_rate: int
    channels: int
    duration_s: float


def write_synthetic_csv(out: Path, n_songs: int = 40, seed: int = 0, dynamic: bool = True) -> str:
    """Write ``n_songs`` synthetic audio files under ``out`` with ``labels.csv`` (and ``labels_dynamic.csv``)."""
    out = Path(out)
    if not 4 <= n_songs <= MAX_SONGS:
        raise InputError(f"--songs must be between 4 and {MAX_SONGS}, got {n_songs}")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    tracks = _plan(n_songs, seed)
    for track in tracks:
        (out / track.relative).parent.mkdir(parents=True, exist_ok=True)
    labels = in_parallel(_make_track, [(track, seed, out / track.relative) for track in tracks])
    rng = np.random.default_rng([seed, 1])
    artists = _artists(n_songs, np.random.default_rng([seed, 5]))
    rows = ["song_id,path,valence,arousal,artist"]
    for track, (_, arousal, valence), artist in zip(tracks, labels, artists):
        v, a = (np.clip(5.0 + 3.6 * x.mean() + rng.normal(0, 0.3), 1.0, 9.0) for x in (valence, arousal))
        rows.append(f"{track.song_id},{track.relative.as_posix()},{v:.2f},{a:.2f},{artist}")
    (out / LABELS).write_text("\n".join(rows) + "\n")
    written = f"{LABELS} (static, {STATIC_SCALE})"
    if dynamic:
        rows = ["path,time_s,arousal,valence,artist"]
        for track, (times, arousal, valence), artist in zip(tracks, labels, artists):
            path = track.relative.as_posix()
            rows += [f"{path},{t:.1f},{a:.4f},{v:.4f},{artist}" for t, a, v in zip(times, arousal, valence)]
        (out / LABELS_DYNAMIC).write_text("\n".join(rows) + "\n")
        written += f" and {LABELS_DYNAMIC} (dynamic, {DYNAMIC_SCALE})"
    counts = ", ".join(f"{sum(t.relative.suffix == s for t in tracks)} {s[1:]}" for s in _SUFFIXES)
    return f"wrote {n_songs} synthetic songs under {out / AUDIO} ({counts}) with {written} (seed {seed})"


def _artists(n_songs: int, rng: np.random.Generator) -> list[str]:
    """About three songs per artist, in a seeded order; the first song has none (an empty cell)."""
    n_artists = max(2, n_songs // 3)
    names = [f"Artist {i + 1}" for i in rng.permutation(np.arange(n_songs) % n_artists)]
    return ["", *names[1:]]


def _plan(n_songs: int, seed: int) -> list[_Track]:
    """Nested folders, mixed formats, rates and channel counts, and non-contiguous song ids."""
    rng = np.random.default_rng([seed, 0])
    formats = rng.permutation(np.arange(n_songs) % len(_SUFFIXES))
    ids = np.sort(rng.choice(np.arange(100, 100 + 10 * n_songs), n_songs, replace=False))
    tracks = []
    for i in range(n_songs):
        style = _STYLES[int(rng.integers(len(_STYLES)))]
        name = f"track_{i + 1:03d}{_SUFFIXES[formats[i]]}"
        tracks.append(
            _Track(
                index=i,
                relative=AUDIO / style / f"set_{int(rng.integers(1, 3))}" / name,
                song_id=int(ids[i]),
                sample_rate=int(rng.choice([44100, 48000])),
                channels=int(rng.choice([1, 2])),
                duration_s=round(float(rng.uniform(20.0, 35.0)), 3),
            )
        )
    return tracks


def _make_track(track: _Track, seed: int, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one track, write it and return its 2 Hz reports on -1..1 (times, arousal, valence)."""
    rng = np.random.default_rng([seed, 4, track.index])
    lat_t, arousal, valence = write_clip(rng, path, track.duration_s, track.sample_rate, track.channels)
    times = np.arange(FIRST_TIME_S, track.duration_s - 0.5, 0.5)
    a, v = (annotate(rng, times, lat_t, curve) for curve in (arousal, valence))
    return times, a, v
