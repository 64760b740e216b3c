"""A synthetic dataset in DEAM's exact (Kaggle) layout whose audio carries learnable emotion.

The songs come from `emotion` (latent arousal/valence, the music that follows them, raters).
The dynamic annotations are the raters' reports at 2 Hz from 15 s on -1..1; the static ones
are the song means mapped onto the 1..9 scale plus noise. ``metadata/metadata_2013.csv``,
``_2014.csv`` and ``_2015.csv`` name about three songs per artist, with each year's own header
and quirks as in the release (tab-padded quoted cells, rows longer than the header, ``N/A``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_zoo.datasets.synthetic.emotion import annotate, in_parallel, write_clip
from mer_zoo.errors import InputError

__all__ = ["replicate_deam", "write_synthetic_deam"]

AVERAGED = Path("DEAM_Annotations/annotations/annotations averaged per song")
DYNAMIC = AVERAGED / "dynamic (per second annotations)"
SONG_LEVEL = AVERAGED / "song_level"
AUDIO = Path("DEAM_audio/MEMD_audio")
METADATA = Path("metadata")
METADATA_HEADERS = {
    "metadata_2013.csv": "song_id,file_name,Artist,Song title,start of the segment (min.sec),"
    "end of the segment (min.sec),Genre",
    "metadata_2014.csv": "Id,Artist,Album,Track,Genre",
    "metadata_2015.csv": "id,Filename,title,artist,album,genre",
}
_GENRES = ("Rock", "Pop", "Electronic", "Jazz", "Classical", "Hip-Hop")
STATIC_FILES = ("static_annotations_averaged_songs_1_2000.csv", "static_annotations_averaged_songs_2000_2058.csv")
STATIC_1_2000 = "song_id, valence_mean, valence_std, arousal_mean, arousal_std"
STATIC_2000_2058 = (
    "song_id, valence_mean, valence_std, valence_ max_mean, valence_max_std, valence_min_mean, "
    "valence_min_std, arousal_mean, arousal_std, arousal_max_mean, arousal_max_std, "
    "arousal_min_mean, arousal_min_std"
)
MAX_SONGS = 999 + 1000 + 58  # the id ranges of DEAM's 2013, 2014 and 2015 parts


@dataclass(frozen=True)
class _Song:
    song_id: int
    sample_rate: int
    channels: int
    duration_s: float
    full: bool  # a 2015-style full song rather than a 45-s excerpt


def write_synthetic_deam(out: Path, n_songs: int = 60, seed: int = 0) -> str:
    """Write ``n_songs`` synthetic songs in DEAM's Kaggle layout under ``out``; return a summary line."""
    out = Path(out)
    if not 4 <= n_songs <= MAX_SONGS:
        raise InputError(f"--songs must be between 4 and {MAX_SONGS}, got {n_songs}")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    for folder in (AUDIO, DYNAMIC, SONG_LEVEL):
        (out / folder).mkdir(parents=True, exist_ok=True)
    songs = _plan(n_songs, seed)
    jobs = [(song, seed, out / AUDIO / f"{song.song_id}.mp3") for song in songs]
    labels = in_parallel(_make_song, jobs)
    _write_dynamic(out / DYNAMIC, songs, labels)
    _write_static(out / SONG_LEVEL, songs, labels, np.random.default_rng([seed, 1]))
    _write_metadata(out / METADATA, songs, np.random.default_rng([seed, 5]))
    full = sum(s.full for s in songs)
    short = sum(not s.full and s.duration_s < 45.0 for s in songs)
    return (
        f"wrote {n_songs} synthetic songs in DEAM layout to {out}: {n_songs - full} excerpts "
        f"({short} shorter than 45 s), {full} full songs, "
        f"{sum(s.sample_rate != 44100 for s in songs)} at 48 kHz, {sum(s.channels == 1 for s in songs)} mono (seed {seed})"
    )


def replicate_deam(src: Path, dst: Path, copies: int) -> Path:
    """Copy a Kaggle-layout dataset ``copies`` times under new ids (id + 10,000 k): hard-linked audio, copied rows."""
    (dst / AUDIO).mkdir(parents=True)
    for mp3 in sorted((src / AUDIO).glob("*.mp3")):
        for k in range(copies):
            os.link(mp3, dst / AUDIO / f"{int(mp3.stem) + 10_000 * k}.mp3")
    csvs = [DYNAMIC / "arousal.csv", DYNAMIC / "valence.csv"] + [SONG_LEVEL / name for name in STATIC_FILES]
    for csv in csvs:
        header, *rows = (src / csv).read_text().splitlines()
        ids_rest = [row.split(",", 1) for row in rows]
        clones = [f"{int(i) + 10_000 * k},{rest}" for k in range(copies) for i, rest in ids_rest]
        (dst / csv).parent.mkdir(parents=True, exist_ok=True)
        (dst / csv).write_text("\n".join([header, *clones]) + "\n")
    return dst


def _plan(n_songs: int, seed: int) -> list[_Song]:
    """Song ids, formats and durations: mostly 44.1 kHz stereo 45-s excerpts, a few quirks."""
    rng = np.random.default_rng([seed, 0])
    n_full = min(58, max(1, round(0.05 * n_songs)))
    n_excerpts = n_songs - n_full
    n_2013 = min(999, n_excerpts * 2 // 5)
    ids = np.concatenate(
        [
            np.sort(rng.choice(np.arange(2, 1001), n_2013, replace=False)),
            np.sort(rng.choice(np.arange(1001, 2001), n_excerpts - n_2013, replace=False)),
        ]
    )
    quirky = rng.permutation(n_excerpts)
    n_48k, n_mono, n_short = max(1, n_songs // 60), max(1, n_songs // 50), max(1, round(0.08 * n_excerpts))
    rate_48k = set(quirky[:n_48k])
    mono = set(quirky[n_48k : n_48k + n_mono])
    short = set(quirky[n_48k + n_mono : n_48k + n_mono + n_short])
    songs = [
        _Song(
            song_id=int(song_id),
            sample_rate=48000 if i in rate_48k else 44100,
            channels=1 if i in mono else 2,
            duration_s=round(float(rng.uniform(44.6, 44.9) if i in short else rng.uniform(45.02, 45.6)), 3),
            full=False,
        )
        for i, song_id in enumerate(ids)
    ]
    songs += [
        _Song(
            song_id=2001 + i, sample_rate=44100, channels=2, duration_s=round(float(rng.uniform(60, 100)), 3), full=True
        )
        for i in range(n_full)
    ]
    return songs


def _make_song(song: _Song, seed: int, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one song, write its mp3 and return its 2 Hz annotations (times, arousal, valence)."""
    rng = np.random.default_rng([seed, 2, song.song_id])
    lat_t, arousal, valence = write_clip(rng, path, song.duration_s, song.sample_rate, song.channels)
    if song.full:  # labels stop a little before the song ends
        last = np.floor(2 * (song.duration_s - rng.uniform(1.0, 3.0))) / 2
    else:  # 60 values, sometimes a 61st at 45 s
        last = 45.0 if song.duration_s > 45.3 and rng.random() < 0.3 else 44.5
    times = np.arange(15.0, last + 0.25, 0.5)
    a, v = (annotate(rng, times, lat_t, x) for x in (arousal, valence))
    return times, a, v


def _write_dynamic(folder: Path, songs: list[_Song], labels: list[tuple[np.ndarray, ...]]) -> None:
    """``arousal.csv``/``valence.csv``: one wide row per song, shorter rows end in empty cells."""
    width = max(len(times) for times, _, _ in labels)
    header = "song_id," + ",".join(f"sample_{15000 + 500 * i}ms" for i in range(width))
    for column, name in ((1, "arousal"), (2, "valence")):
        rows = [header]
        for song, row in zip(songs, labels):
            values = [f"{v:.4f}" for v in row[column]]
            rows.append(",".join([str(song.song_id), *values, *[""] * (width - len(values))]))
        (folder / f"{name}.csv").write_text("\n".join(rows) + "\n")


def _write_static(
    folder: Path, songs: list[_Song], labels: list[tuple[np.ndarray, ...]], rng: np.random.Generator
) -> None:
    """Both averaged static files: song means mapped to 1..9 with rater noise, DEAM's headers."""
    excerpts, full = [STATIC_1_2000], [STATIC_2000_2058]
    for song, (_, arousal, valence) in zip(songs, labels):
        stats = []
        for dynamic in (valence, arousal):
            mean = float(np.clip(5.0 + 3.6 * dynamic.mean() + rng.normal(0, 0.3), 1.0, 9.0))
            stats.append((round(mean, 1), rng.uniform(0.5, 1.6)))
        if song.full:
            cells = []
            for mean, std in stats:
                spread = rng.uniform(0.5, 1.8, 2)
                high, low = min(9.0, mean + spread[0]), max(1.0, mean - spread[1])
                cells += [
                    f"{mean:.1f}",
                    f"{std:.2f}",
                    f"{high:.1f}",
                    f"{rng.uniform(0.5, 1.6):.2f}",
                    f"{low:.1f}",
                    f"{rng.uniform(0.5, 1.6):.2f}",
                ]
            full.append(",".join([str(song.song_id), *cells]))
        else:
            (vm, vs), (am, sd) = stats
            excerpts.append(",".join([str(song.song_id), f"{vm:g}", f"{vs:.2f}", f"{am:g}", f"{sd:.2f}"]))
    for name, rows in zip(STATIC_FILES, (excerpts, full)):
        (folder / name).write_text("\n".join(rows) + "\n")


def _write_metadata(folder: Path, songs: list[_Song], rng: np.random.Generator) -> None:
    """The three yearly metadata files: about three songs per artist; the first song has no artist."""
    n_artists = max(2, len(songs) // 3)
    names = [f"Synthetic Artist {i + 1}" for i in range(n_artists)]
    names[0], names[-1] = "Smith, Jane & The Quartet", "Café Ensemble"  # a comma inside quotes; not ASCII
    artist_of = rng.permutation(np.arange(len(songs)) % n_artists)
    rows: dict[str, list[str]] = {name: [header] for name, header in METADATA_HEADERS.items()}
    for i, song in enumerate(songs):
        artist, genre = ("N/A" if i == 0 else names[artist_of[i]]), _GENRES[int(rng.integers(len(_GENRES)))]
        title, album = f"Song {song.song_id}", f"Album {artist_of[i] + 1}"
        if song.song_id <= 1000:  # 2013: cells padded with tabs, inside the quotes or before them
            pad = "\t" if i % 2 else ""
            rows["metadata_2013.csv"].append(
                f'{song.song_id},{song.song_id}.mp3,{pad}"{artist}\t",{pad}"{title}\t",0.30,1.15,"{genre}\t"'
            )
        elif song.song_id <= 2000:  # 2014: some rows trail more cells than the header has
            tags = ",happy,energetic" if i % 3 == 0 else ""
            rows["metadata_2014.csv"].append(f'{song.song_id},"{artist}",{album},{title},{genre}{tags}')
        else:  # 2015: albums may be N/A, genres may trail extra tokens
            rows["metadata_2015.csv"].append(f'{song.song_id},{song.song_id}.mp3,{title},"{artist}",N/A,{genre},Indie')
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in rows.items():
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
