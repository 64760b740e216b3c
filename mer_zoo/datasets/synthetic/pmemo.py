"""A synthetic PMEmo2019 release whose chorus clips carry learnable emotion.

Laid out the way the release unpacks, under ``OUT/PMEmo2019``: ``chorus/{musicId}.mp3`` clips of
25-40 s (a few shorter than the first 5-s window from 15.5 s), ``annotations/`` with static
labels and long-format dynamic labels (2 Hz from 15.5 s to the clip's end) on [0, 1] plus their
stds, and ``metadata.csv``. As in PMEmo, a few songs have static labels but no dynamic rows.
The labels are the raters' reports of `emotion` mapped from -1..1 onto 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_zoo.datasets.synthetic.emotion import annotate, in_parallel, write_clip
from mer_zoo.errors import InputError

__all__ = ["write_synthetic_pmemo"]

RELEASE = Path("PMEmo2019")
CHORUS = RELEASE / "chorus"
ANNOTATIONS = RELEASE / "annotations"
METADATA = RELEASE / "metadata.csv"
FIRST_FRAME_S = 15.5
MAX_SONGS = 1000  # musicIds 1..1000, as in the release
HEADERS = {
    "static_annotations.csv": "musicId,Arousal(mean),Valence(mean)",
    "static_annotations_std.csv": "musicId,Arousal(std),Valence(std)",
    "dynamic_annotations.csv": "musicId,frameTime,Arousal(mean),Valence(mean)",
    "dynamic_annotations_std.csv": "musicId,frameTime,Arousal(std),Valence(std)",
    "metadata.csv": "musicId,fileName,title,artist,album,duration,chorus_start_time,chorus_end_time",
}


@dataclass(frozen=True)
class _Clip:
    music_id: int
    duration_s: float
    dynamic: bool  # False: static labels only


def write_synthetic_pmemo(out: Path, n_songs: int = 40, seed: int = 0) -> str:
    """Write ``n_songs`` synthetic chorus clips and labels in PMEmo2019's layout under ``out``; return a summary."""
    out = Path(out)
    if not 4 <= n_songs <= MAX_SONGS:
        raise InputError(f"--songs must be between 4 and {MAX_SONGS}, got {n_songs}")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    for folder in (CHORUS, ANNOTATIONS):
        (out / folder).mkdir(parents=True, exist_ok=True)
    clips = _plan(n_songs, seed)
    labels = in_parallel(_make_clip, [(clip, seed, out / CHORUS / f"{clip.music_id}.mp3") for clip in clips])
    rng = np.random.default_rng([seed, 1])
    _write_dynamic(out / ANNOTATIONS, clips, labels, rng)
    _write_static(out / ANNOTATIONS, clips, labels, rng)
    _write_metadata(out / METADATA, clips, rng)
    short = sum(clip.duration_s < FIRST_FRAME_S + 5 for clip in clips)
    return (
        f"wrote {n_songs} synthetic songs in PMEmo layout to {out / RELEASE}: {short} clips shorter than the first "
        f"window ({FIRST_FRAME_S:g}-{FIRST_FRAME_S + 5:g} s), {sum(not c.dynamic for c in clips)} with static "
        f"labels only (seed {seed})"
    )


def _plan(n_songs: int, seed: int) -> list[_Clip]:
    """Sorted ids from 1..1000, clips of 25-40 s, a few of 16-20 s, a few without dynamic rows."""
    rng = np.random.default_rng([seed, 0])
    ids = np.sort(rng.choice(np.arange(1, MAX_SONGS + 1), n_songs, replace=False))
    quirky = rng.permutation(n_songs)
    n_quirks = max(1, round(0.08 * n_songs))
    short, static_only = set(quirky[:n_quirks]), set(quirky[n_quirks : 2 * n_quirks])
    return [
        _Clip(
            music_id=int(music_id),
            duration_s=round(float(rng.uniform(16.0, 20.0) if i in short else rng.uniform(25.0, 40.0)), 3),
            dynamic=i not in static_only,
        )
        for i, music_id in enumerate(ids)
    ]


def _make_clip(clip: _Clip, seed: int, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one clip, write its mp3 and return its 2 Hz annotations on [0, 1] (times, arousal, valence)."""
    rng = np.random.default_rng([seed, 3, clip.music_id])
    lat_t, arousal, valence = write_clip(rng, path, clip.duration_s, 44100, 2)
    times = np.arange(FIRST_FRAME_S, np.floor(2 * clip.duration_s) / 2 + 0.25, 0.5)
    a, v = ((annotate(rng, times, lat_t, curve) + 1) / 2 for curve in (arousal, valence))
    return times, a, v


def _write_dynamic(
    folder: Path, clips: list[_Clip], labels: list[tuple[np.ndarray, ...]], rng: np.random.Generator
) -> None:
    """The long dynamic means and stds: one row per song and frame, songs without dynamic labels left out."""
    means = [HEADERS["dynamic_annotations.csv"]]
    stds = [HEADERS["dynamic_annotations_std.csv"]]
    for clip, (times, arousal, valence) in zip(clips, labels):
        if not clip.dynamic:
            continue
        spread = np.clip(rng.uniform(0.08, 0.2, 2)[:, None] + rng.normal(0, 0.01, (2, len(times))), 0.01, 0.5)
        for i, t in enumerate(times):
            means.append(f"{clip.music_id},{t:.1f},{arousal[i]:.4f},{valence[i]:.4f}")
            stds.append(f"{clip.music_id},{t:.1f},{spread[0, i]:.4f},{spread[1, i]:.4f}")
    (folder / "dynamic_annotations.csv").write_text("\n".join(means) + "\n")
    (folder / "dynamic_annotations_std.csv").write_text("\n".join(stds) + "\n")


def _write_static(
    folder: Path, clips: list[_Clip], labels: list[tuple[np.ndarray, ...]], rng: np.random.Generator
) -> None:
    """Static means (the clip's mean report plus rater noise) and stds, for every song."""
    means = [HEADERS["static_annotations.csv"]]
    stds = [HEADERS["static_annotations_std.csv"]]
    for clip, (_, arousal, valence) in zip(clips, labels):
        a, v = (np.clip(x.mean() + rng.normal(0, 0.03), 0.0, 1.0) for x in (arousal, valence))
        means.append(f"{clip.music_id},{a:.4f},{v:.4f}")
        stds.append(f"{clip.music_id},{rng.uniform(0.1, 0.25):.4f},{rng.uniform(0.1, 0.25):.4f}")
    (folder / "static_annotations.csv").write_text("\n".join(means) + "\n")
    (folder / "static_annotations_std.csv").write_text("\n".join(stds) + "\n")


def _write_metadata(path: Path, clips: list[_Clip], rng: np.random.Generator) -> None:
    """Titles, artists and where in the (unreleased) full song each chorus clip starts and ends."""
    rows = [HEADERS["metadata.csv"]]
    for clip in clips:
        start = float(rng.uniform(40.0, 150.0))
        end = start + clip.duration_s
        clock = [f"{int(s) // 60:02d}:{int(s) % 60:02d}" for s in (start, end)]
        artist = int(rng.integers(1, 1 + max(2, len(clips) // 3)))
        rows.append(
            f"{clip.music_id},{clip.music_id}.mp3,Synthetic song {clip.music_id},Synthetic artist {artist},"
            f"Synthetic album {artist},{clip.duration_s:.1f},{clock[0]},{clock[1]}"
        )
    path.write_text("\n".join(rows) + "\n")
