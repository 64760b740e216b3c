"""Read DEAM (../shared/DEAM_FORMAT.md): mp3 files plus averaged dynamic and static labels.

Both layouts are accepted under ``root``: the Kaggle mirror (``DEAM_audio/MEMD_audio``,
``DEAM_Annotations/annotations/...``) and the official zips (``MEMD_audio``, ``annotations``).
The optional ``metadata/metadata_2013.csv``, ``_2014.csv`` and ``_2015.csv`` (each year with
its own header: ``song_id,file_name,Artist,Song title,...``, ``Id,Artist,Album,Track,Genre``,
``id,...,artist,album,genre``) give the songs' text columns, for ``--split group:artist``.
"""

from __future__ import annotations

import bisect
import re
from pathlib import Path

import numpy as np

from mer_zoo.datasets import register_reader
from mer_zoo.datasets.base import STATIC_COLUMNS, Corpus, SongRecord
from mer_zoo.datasets.metadata import SongMetadata, read_optional_metadata
from mer_zoo.datasets.tables import BadRows, parse_number, read_table
from mer_zoo.errors import InputError

__all__ = ["read_deam"]

# (annotations folder, audio folder) relative to the root, Kaggle layout first.
LAYOUTS = (
    (Path("DEAM_Annotations/annotations"), Path("DEAM_audio/MEMD_audio")),
    (Path("annotations"), Path("MEMD_audio")),
)
AVERAGED = Path("annotations averaged per song")
DYNAMIC = AVERAGED / "dynamic (per second annotations)"
STATIC_FILES = (
    AVERAGED / "song_level/static_annotations_averaged_songs_1_2000.csv",
    AVERAGED / "song_level/static_annotations_averaged_songs_2000_2058.csv",
)
# Where the metadata CSVs may sit under the root (the Kaggle mirror nests them once more).
METADATA_DIRS = (Path("metadata"), Path("metadata/metadata"), Path("DEAM_metadata"), Path("DEAM_metadata/metadata"))
METADATA_FILES = "metadata_*.csv"
_METADATA_ID = ("song_id", "id", "musicId")
_METADATA_ALIASES = {"song_title": "title", "track": "title"}  # 2013's and 2014's names for 2015's title
_SAMPLE = re.compile(r"sample_(\d+)ms")


@register_reader("deam")
def read_deam(root: Path) -> Corpus:
    """DEAM (MediaEval 2013-2015): mp3 excerpts and full songs, 2 Hz dynamic labels on -1..1, static on 1..9."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    annotations, audio_dir = _find_layout(root)
    notes: list[str] = []

    ids, times, arousal, valence = _read_dynamic(annotations / DYNAMIC)
    static = _read_static(annotations, notes)
    metadata = _read_metadata(root, notes)
    if audio_dir.is_dir():
        audio = {int(p.stem): p for p in audio_dir.iterdir() if p.suffix.lower() == ".mp3" and p.stem.isdigit()}
    else:
        audio = {}
        notes.append(f"no audio folder {audio_dir}")

    row_of = {int(song_id): i for i, song_id in enumerate(ids)}
    unlabelled = np.full(len(times), np.nan, dtype=np.float32)
    songs = []
    for song_id in sorted(set(row_of) | set(audio)):
        i = row_of.get(song_id)
        a, v = (arousal[i], valence[i]) if i is not None else (unlabelled, unlabelled)
        keep = ~(np.isnan(a) | np.isnan(v))
        labels = static.get(song_id, {})
        songs.append(
            SongRecord(
                song_id=song_id,
                audio_path=audio.get(song_id, audio_dir / f"{song_id}.mp3"),
                times_s=times[keep],
                arousal=a[keep],
                valence=v[keep],
                static={name: float(labels.get(name, np.nan)) for name in STATIC_COLUMNS},
                metadata=metadata.songs.get(song_id, {}),
            )
        )
    return Corpus(
        name="deam", root=root, songs=songs, notes=notes, dynamic_scale="-1..1", static_scale="1..9", start_s=15.0,
        metadata_columns=metadata.columns,
    )  # fmt: skip


def _read_metadata(root: Path, notes: list[str]) -> SongMetadata:
    """The text columns of every ``metadata_*.csv`` in the first metadata folder that has any (none if absent)."""
    for folder in METADATA_DIRS:
        files = sorted((root / folder).glob(METADATA_FILES)) if (root / folder).is_dir() else []
        if files:
            return read_optional_metadata(files, _METADATA_ID, notes, _METADATA_ALIASES)
    return SongMetadata((), {})


def _find_layout(root: Path) -> tuple[Path, Path]:
    """The (annotations, audio) folders of the first layout whose dynamic labels exist."""
    for labels, audio in LAYOUTS:
        if (root / labels / DYNAMIC / "arousal.csv").is_file():
            return root / labels, root / audio
    looked = " or ".join(str(root / a / DYNAMIC / "arousal.csv") for a, _ in LAYOUTS)
    raise InputError(f"no DEAM dynamic annotations found: looked for {looked}")


def _read_dynamic(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Song ids, the shared time grid (s) and (songs, times) float32 arousal/valence, NaN where empty."""
    tables = {name: _read_wide(folder / f"{name}.csv") for name in ("arousal", "valence")}
    ids = np.union1d(*(list(rows) for _, rows in tables.values())).astype(np.int64)
    grid = np.union1d(*(times for times, _ in tables.values()))
    row_of = {int(song_id): i for i, song_id in enumerate(ids)}
    a, v = (np.full((len(ids), len(grid)), np.nan, dtype=np.float32) for _ in range(2))
    for name, out in (("arousal", a), ("valence", v)):
        times, rows = tables[name]
        columns = np.searchsorted(grid, times)
        for song_id, values in rows.items():
            out[row_of[song_id], columns[: len(values)]] = values
    return ids, grid / 1000.0, a, v


def _read_wide(path: Path) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """One wide dynamic CSV: its sample times (ms) and each song's values in that order, up to its
    last non-empty cell (NaN where empty or not a number); a repeated song id keeps its first row."""
    if not path.is_file():
        raise InputError(f"{path}: missing (DEAM needs both arousal.csv and valence.csv)")
    table = read_table(path)
    samples = [(i, int(m.group(1))) for i, cell in enumerate(table.header) if (m := _SAMPLE.fullmatch(cell))]
    song_column = table.find("song_id")
    if song_column is None or not samples:
        raise InputError(f"{path}: expected columns song_id, sample_15000ms, ...; got {', '.join(table.header[:3])}")
    columns = [i for i, _ in samples]
    bad = BadRows(path)
    rows: dict[int, np.ndarray] = {}
    for line, cells in table.rows:
        song_id = bad.integer(line, "song_id", cells[song_column] if song_column < len(cells) else "")
        if song_id is None or song_id in rows:
            continue
        values = [cells[i] for i in columns[: bisect.bisect_left(columns, len(cells))]]
        rows[song_id] = np.array([_number(cell) for cell in values], dtype=np.float32)
    bad.raise_if_any()
    return np.array([ms for _, ms in samples], dtype=np.float64), rows


def _number(cell: str) -> float:
    value = parse_number(cell) if cell else None
    return np.nan if value is None else value


def _read_static(annotations: Path, notes: list[str]) -> dict[int, dict[str, float]]:
    """Static labels by song id from whichever averaged static file lists the song."""
    found: dict[int, dict[str, float]] = {}
    for relative in STATIC_FILES:
        path = annotations / relative
        if not path.is_file():
            notes.append(f"no static labels file {path}")
            continue
        table = read_table(path)
        # Headers start with spaces, and one reads ` valence_ max_mean`: column_key drops all spaces.
        where = table.require(song_id=("song_id",), **{name: (name,) for name in STATIC_COLUMNS})
        for _, cells in table.cells(*where.values()):
            song_id = parse_number(cells[0])
            if song_id is not None:
                found.setdefault(int(song_id), {name: _number(cell) for name, cell in zip(STATIC_COLUMNS, cells[1:])})
    return found
