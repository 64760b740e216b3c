"""Read PMEmo2019 as its users unpack it: chorus clips plus static and long dynamic labels on [0, 1].

``root`` is the ``PMEmo2019`` folder (``chorus/``, ``annotations/``, ``metadata.csv``) or the
folder holding it. ``metadata.csv``'s text columns (title, artist, album) go with the songs,
for ``--split group:artist``. Dynamic labels are long rows ``musicId,frameTime,Arousal(mean),Valence(mean)``
at 2 Hz from 15.5 s; PMEmo has static labels for more songs than dynamic ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mer_zoo.datasets import register_reader
from mer_zoo.datasets.base import STATIC_COLUMNS, Corpus, SongRecord
from mer_zoo.datasets.metadata import SongMetadata, read_optional_metadata
from mer_zoo.datasets.tables import BadRows, read_table
from mer_zoo.errors import InputError
from mer_zoo.scales import parse_scale

__all__ = ["read_pmemo"]

RELEASE = "PMEmo2019"  # the folder the release unpacks into
CHORUS = Path("chorus")
DYNAMIC = Path("annotations/dynamic_annotations.csv")
DYNAMIC_STD = Path("annotations/dynamic_annotations_std.csv")
STATIC = Path("annotations/static_annotations.csv")
STATIC_STD = Path("annotations/static_annotations_std.csv")
METADATA = Path("metadata.csv")
SCALE = "0..1"
AUDIO_SUFFIXES = (".mp3", ".wav", ".flac")  # the release ships mp3; converted copies are found too

# Accepted header names per column (matched ignoring case, spaces and punctuation).
_ID = ("musicId", "song_id", "id")
_TIME = ("frameTime", "time_s", "time")
_AROUSAL = ("Arousal(mean)", "arousal")
_VALENCE = ("Valence(mean)", "valence")
_AROUSAL_STD = ("Arousal(std)", "arousal_std")
_VALENCE_STD = ("Valence(std)", "valence_std")

_Dynamic = tuple[np.ndarray, np.ndarray, np.ndarray]  # times (s), arousal, valence


@register_reader("pmemo")
def read_pmemo(root: Path) -> Corpus:
    """Read a PMEmo2019 folder: the union of its chorus clips and annotated songs, sorted by id."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    base = _find_release(root)
    notes: list[str] = []
    dynamic = _read_dynamic(base / DYNAMIC, notes)
    means = _read_pairs(base / STATIC, _AROUSAL, _VALENCE)
    stds: dict[int, tuple[float, float]] = {}
    if (base / STATIC_STD).is_file():
        stds = _read_pairs(base / STATIC_STD, _AROUSAL_STD, _VALENCE_STD)
    else:
        notes.append(f"{base / STATIC_STD}: missing, so the static label stds are unknown")
    if not (base / DYNAMIC_STD).is_file():
        notes.append(f"{base / DYNAMIC_STD}: missing (part of the release; mer-zoo does not need it)")
    metadata = _read_metadata(base / METADATA, notes)
    audio = _find_audio(base / CHORUS, notes)

    no_dynamic = sorted(set(means) - set(dynamic))
    if no_dynamic:
        notes.append(f"{len(no_dynamic)} song(s) have static labels but no dynamic rows (e.g. {no_dynamic[0]})")
    empty: _Dynamic = (np.zeros(0), np.zeros(0, np.float32), np.zeros(0, np.float32))
    songs = []
    for song_id in sorted(set(audio) | set(dynamic) | set(means)):
        times, arousal, valence = dynamic.get(song_id, empty)
        a_mean, v_mean = means.get(song_id, (np.nan, np.nan))
        a_std, v_std = stds.get(song_id, (np.nan, np.nan))
        static = dict(zip(STATIC_COLUMNS, (v_mean, v_std, a_mean, a_std)))
        songs.append(
            SongRecord(
                song_id=song_id,
                audio_path=audio.get(song_id, base / CHORUS / f"{song_id}.mp3"),
                times_s=times,
                arousal=arousal,
                valence=valence,
                static={name: float(value) for name, value in static.items()},
                metadata=metadata.songs.get(song_id, {}),
            )
        )
    firsts = [times[0] for times, _, _ in dynamic.values() if len(times)]
    return Corpus(
        name="pmemo",
        root=root,
        songs=songs,
        notes=notes,
        dynamic_scale=SCALE,
        static_scale=SCALE,
        start_s=float(min(firsts)) if firsts else None,
        metadata_columns=metadata.columns,
    )


def _read_metadata(path: Path, notes: list[str]) -> SongMetadata:
    """The text columns of ``metadata.csv`` (title, artist, album) by musicId; none when it is missing."""
    if not path.is_file():
        notes.append(f"{path}: missing, so no artist/album columns for --split group:COLUMN")
        return SongMetadata((), {})
    return read_optional_metadata([path], _ID, notes)


def _find_release(root: Path) -> Path:
    """``root`` or ``root/PMEmo2019``, whichever holds ``annotations/``."""
    for base in (root, root / RELEASE):
        if (base / DYNAMIC.parent).is_dir():
            return base
    raise InputError(
        f"{root}: no PMEmo2019 release found: looked for {root / DYNAMIC.parent} and {root / RELEASE / DYNAMIC.parent}"
    )


def _read_dynamic(path: Path, notes: list[str]) -> dict[int, _Dynamic]:
    """Long dynamic rows per song, sorted by time; rows with an empty label are skipped (noted)."""
    table = read_table(path)
    cols = table.require(song=_ID, time=_TIME, arousal=_AROUSAL, valence=_VALENCE)
    header = {role: table.header[index] for role, index in cols.items()}
    scale = parse_scale(SCALE)
    bad = BadRows(path)
    first_line: dict[tuple[int, int], int] = {}
    rows: dict[int, list[tuple[float, float, float]]] = {}
    for line, (song, time, arousal, valence) in table.cells(
        cols["song"], cols["time"], cols["arousal"], cols["valence"]
    ):
        song_id = bad.integer(line, header["song"], song)
        seconds = bad.seconds(line, header["time"], time)
        a = bad.number(line, header["arousal"], arousal, scale, empty_ok=True)
        v = bad.number(line, header["valence"], valence, scale, empty_ok=True)
        if song_id is None or seconds is None or a is None or v is None:
            continue
        key = (song_id, round(seconds * 1000))
        if key in first_line:
            bad.add(line, f"song {song_id} at {seconds:g} s again (first on line {first_line[key]})")
            continue
        first_line[key] = line
        rows.setdefault(song_id, []).append((seconds, a, v))
    bad.raise_if_any()

    found: dict[int, _Dynamic] = {}
    skipped = 0
    for song_id, values in rows.items():
        array = np.array(sorted(values), dtype=np.float64)
        keep = ~np.isnan(array[:, 1:]).any(axis=1)
        skipped += int((~keep).sum())
        found[song_id] = (array[keep, 0], array[keep, 1].astype(np.float32), array[keep, 2].astype(np.float32))
    if skipped:
        notes.append(f"{path}: skipped {skipped} rows with an empty arousal or valence")
    return found


def _read_pairs(path: Path, first: tuple[str, ...], second: tuple[str, ...]) -> dict[int, tuple[float, float]]:
    """One (first, second) value pair per song, e.g. (arousal, valence) means; empty cells are NaN."""
    table = read_table(path)
    cols = table.require(song=_ID, first=first, second=second)
    header = {role: table.header[index] for role, index in cols.items()}
    scale = parse_scale(SCALE)
    bad = BadRows(path)
    first_line: dict[int, int] = {}
    found: dict[int, tuple[float, float]] = {}
    for line, (song, a, b) in table.cells(cols["song"], cols["first"], cols["second"]):
        song_id = bad.integer(line, header["song"], song)
        x = bad.number(line, header["first"], a, scale, empty_ok=True)
        y = bad.number(line, header["second"], b, scale, empty_ok=True)
        if song_id is None or x is None or y is None:
            continue
        if song_id in first_line:
            bad.add(line, f"song {song_id} again (first on line {first_line[song_id]})")
            continue
        first_line[song_id] = line
        found[song_id] = (x, y)
    bad.raise_if_any()
    return found


def _find_audio(folder: Path, notes: list[str]) -> dict[int, Path]:
    """Clips named ``{musicId}.mp3`` (or .wav/.flac); an mp3 wins when a song has several."""
    if not folder.is_dir():
        notes.append(f"no audio folder {folder}")
        return {}
    clips = [p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.stem.isdigit() and p.is_file()]
    clips.sort(key=lambda p: (int(p.stem), AUDIO_SUFFIXES.index(p.suffix.lower()), p.name))
    found: dict[int, Path] = {}
    for clip in clips:
        found.setdefault(int(clip.stem), clip)
    if len(clips) > len(found):
        notes.append(
            f"{folder}: ignored {len(clips) - len(found)} second audio files of a song (mp3 wins, then wav, flac)"
        )
    return found
