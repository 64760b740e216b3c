"""Read DEAM (../shared/DEAM_FORMAT.md): mp3 files plus averaged dynamic and static labels.

Both layouts are accepted under ``root``: the Kaggle mirror (``DEAM_audio/MEMD_audio``,
``DEAM_Annotations/annotations/...``) and the official zips (``MEMD_audio``, ``annotations``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from mer_zoo.datasets import register_reader
from mer_zoo.datasets.base import STATIC_COLUMNS, Corpus, SongRecord
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
_SAMPLE = re.compile(r"sample_(\d+)ms")
_NA = ["", "NaN", "nan", "NA"]


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
            )
        )
    return Corpus(
        name="deam", root=root, songs=songs, notes=notes, dynamic_scale="-1..1", static_scale="1..9", start_s=15.0
    )


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
    ids = pd.Index(tables["arousal"].index).union(tables["valence"].index)
    grid = tables["arousal"].columns.union(tables["valence"].columns)
    a, v = (tables[name].reindex(index=ids, columns=grid).to_numpy(np.float32) for name in ("arousal", "valence"))
    return ids.to_numpy(), grid.to_numpy(np.float64) / 1000.0, a, v


def _read_wide(path: Path) -> pd.DataFrame:
    """One wide dynamic CSV as a frame indexed by song id with integer-ms columns."""
    if not path.is_file():
        raise InputError(f"{path}: missing (DEAM needs both arousal.csv and valence.csv)")
    try:
        frame = pd.read_csv(path, na_values=_NA, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise InputError(f"{path}: unreadable CSV ({_first_line(err)})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    samples = {c: int(m.group(1)) for c in frame.columns if (m := _SAMPLE.fullmatch(c))}
    if "song_id" not in frame.columns or not samples:
        raise InputError(f"{path}: expected columns song_id, sample_15000ms, ...; got {', '.join(frame.columns[:3])}")
    song_ids = pd.to_numeric(frame["song_id"], errors="coerce")
    if song_ids.isna().any():
        raise InputError(f"{path}: song_id column has non-numeric values")
    values = frame[list(samples)].apply(pd.to_numeric, errors="coerce")
    values.columns = list(samples.values())
    values.index = song_ids.astype(np.int64)
    return values[~values.index.duplicated()]


def _read_static(annotations: Path, notes: list[str]) -> dict[int, dict[str, float]]:
    """Static labels by song id from whichever averaged static file lists the song."""
    found: dict[int, dict[str, float]] = {}
    for relative in STATIC_FILES:
        path = annotations / relative
        if not path.is_file():
            notes.append(f"no static labels file {path}")
            continue
        try:
            frame = pd.read_csv(path, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
            raise InputError(f"{path}: unreadable CSV ({_first_line(err)})") from None
        # Headers start with spaces, and one reads ` valence_ max_mean`: drop all spaces.
        frame.columns = [str(c).replace(" ", "") for c in frame.columns]
        missing = [c for c in ("song_id", *STATIC_COLUMNS) if c not in frame.columns]
        if missing:
            raise InputError(f"{path}: missing columns {', '.join(missing)}")
        frame = frame[["song_id", *STATIC_COLUMNS]].apply(pd.to_numeric, errors="coerce").dropna(subset=["song_id"])
        for row in frame.itertuples(index=False):
            found.setdefault(int(row.song_id), {name: getattr(row, name) for name in STATIC_COLUMNS})
    return found


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
