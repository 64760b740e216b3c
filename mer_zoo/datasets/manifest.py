"""Read any folder of audio files labelled by one CSV (``--dataset csv --labels FILE --scale LOW..HIGH``).

The CSV's header says which of two formats it is:

* static, one row per file: ``path,arousal,valence`` (optional ``song_id``). A static-only
  corpus: windows cover each whole file and carry its labels.
* long, dynamic: a ``time_s`` column, and ``path`` and/or ``song_id``: one row per song and
  time. The static labels are the per-song means of the dynamic values.

Paths are relative to ``root`` (absolute ones are kept). Without a ``song_id`` column the songs
are numbered 1..N in the order they first appear. A long CSV with ids and no paths finds each
song's audio as the one file under ``root`` named ``{song_id}.<audio suffix>``. Every bad row
is reported in one InputError, with its line number, before anything is built.

Every other column (``group``, ``artist``, ...) is the songs' metadata, for ``--split
group:COLUMN``, numbers included; in a long CSV a song's first non-empty value counts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mer_zoo.datasets import register_reader
from mer_zoo.datasets.base import STATIC_COLUMNS, Corpus, SongRecord
from mer_zoo.datasets.metadata import RESERVED, metadata_key, metadata_value
from mer_zoo.datasets.tables import BadRows, Table, column_key, read_table
from mer_zoo.errors import InputError
from mer_zoo.scales import Scale, parse_scale

__all__ = ["read_manifest"]

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".aiff", ".aif")  # looked up by song_id
LABEL_COLUMNS = ("path", "song_id", "time_s", "arousal", "valence")


@register_reader("csv")
def read_manifest(root: Path, *, labels: Path, scale: str) -> Corpus:
    """Read the audio under ``root`` labelled by the CSV ``labels`` (as given, or relative to ``root``) on ``scale``."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    label_scale = parse_scale(scale)
    table = read_table(_locate(Path(labels), root))
    if table.find("time_s") is None:
        return _read_static(table, root, label_scale)
    return _read_long(table, root, label_scale)


def _locate(labels: Path, root: Path) -> Path:
    """``labels`` itself, unless only ``root / labels`` exists."""
    if labels.is_absolute() or labels.exists() or not (root / labels).is_file():
        return labels
    return root / labels


def _read_static(table: Table, root: Path, scale: Scale) -> Corpus:
    """One row per file: song-level labels only."""
    cols = table.require(path=("path",), arousal=("arousal",), valence=("valence",))
    id_col = table.find("song_id")
    extras = _extra_columns(table)
    indices = [cols["path"], cols["arousal"], cols["valence"], 0 if id_col is None else id_col, *extras.values()]
    bad = BadRows(table.path)
    line_of_id: dict[int, int] = {}
    line_of_path: dict[str, int] = {}
    songs = []
    for row_number, (line, cells) in enumerate(table.cells(*indices), start=1):
        song_id = bad.integer(line, "song_id", cells[3]) if id_col is not None else row_number
        arousal = bad.number(line, "arousal", cells[1], scale)
        valence = bad.number(line, "valence", cells[2], scale)
        audio = _audio_path(bad, line, root, cells[0])
        if song_id is not None and song_id in line_of_id:
            bad.add(line, f"song_id {song_id} again (first on line {line_of_id[song_id]})")
            song_id = None
        if audio is not None and os.path.normpath(audio) in line_of_path:
            first = line_of_path[os.path.normpath(audio)]
            bad.add(line, f"path {cells[0]} again (first on line {first}; time-varying labels need a time_s column)")
            audio = None
        if song_id is None or audio is None or arousal is None or valence is None:
            continue
        line_of_id[song_id], line_of_path[os.path.normpath(audio)] = line, line
        labels = dict(zip(STATIC_COLUMNS, (valence, np.nan, arousal, np.nan)))
        meta = {name: value for name, cell in zip(extras, cells[4:]) if (value := metadata_value(cell))}
        empty = np.zeros(0, np.float32)
        songs.append(SongRecord(song_id, audio, np.zeros(0), empty, empty, labels, meta))
    bad.raise_if_any()
    note = f"{table.path}: song-level labels on {scale} only; each file's windows carry its song's labels"
    return Corpus(
        name="csv",
        root=root,
        songs=sorted(songs, key=lambda song: song.song_id),
        notes=[note],
        dynamic_scale=str(scale),
        static_scale=str(scale),
        has_dynamic=False,
        start_s=0.0,
        metadata_columns=tuple(extras),
    )


def _extra_columns(table: Table) -> dict[str, int]:
    """The columns that are not labels (``group``, ``artist``, ...), by stored name: the songs' metadata."""
    labels = {column_key(name) for name in LABEL_COLUMNS}
    extras: dict[str, int] = {}
    for index, cell in enumerate(table.header):
        name = metadata_key(cell)
        if column_key(cell) not in labels and name and name not in RESERVED:
            extras.setdefault(name, index)
    return extras


def _read_long(table: Table, root: Path, scale: Scale) -> Corpus:
    """One row per song and time: dynamic labels, static ones as their per-song means."""
    rows, audio_of, metadata = _long_rows(table, root, scale)
    if audio_of is None:
        audio_of = _find_by_id(root, set(rows), table.path)
    songs = []
    for song_id in sorted(rows):
        values = np.array(sorted(rows[song_id]), dtype=np.float64)
        labels = dict(zip(STATIC_COLUMNS, (float(values[:, 2].mean()), np.nan, float(values[:, 1].mean()), np.nan)))
        songs.append(
            SongRecord(
                song_id=song_id,
                audio_path=audio_of.get(song_id, root / f"{song_id}.*"),
                times_s=values[:, 0],
                arousal=values[:, 1].astype(np.float32),
                valence=values[:, 2].astype(np.float32),
                static=labels,
                metadata=metadata.get(song_id, {}),
            )
        )
    start_s = min(float(song.times_s[0]) for song in songs) if songs else None
    note = f"{table.path}: the static labels are the per-song means of the dynamic labels"
    return Corpus("csv", root, songs, [note], dynamic_scale=str(scale), static_scale=str(scale), start_s=start_s,
                  metadata_columns=tuple(_extra_columns(table)))  # fmt: skip


def _long_rows(
    table: Table, root: Path, scale: Scale
) -> tuple[dict[int, list[tuple[float, float, float]]], dict[int, Path] | None, dict[int, dict[str, str]]]:
    """(time, arousal, valence) rows per song id, each song's audio (None without a path column), its metadata."""
    cols = table.require(time=("time_s",), arousal=("arousal",), valence=("valence",))
    path_col, id_col = table.find("path"), table.find("song_id")
    if path_col is None and id_col is None:
        raise InputError(f"{table.path}: missing column(s) path or song_id; the header has: {', '.join(table.header)}")
    extras = _extra_columns(table)
    indices = [cols["time"], cols["arousal"], cols["valence"], path_col or 0, id_col or 0]  # 0: an unused stand-in
    indices += extras.values()
    metadata: dict[int, dict[str, str]] = {}
    bad = BadRows(table.path)
    path_of_id: dict[int, tuple[Path, str, int]] = {}  # song id -> (audio, its cell, first line)
    id_of_path: dict[str, tuple[int, int]] = {}  # normalised audio path -> (song id, first line)
    line_of_row: dict[tuple[int, int], int] = {}  # (song id, time in ms) -> line
    rows: dict[int, list[tuple[float, float, float]]] = {}
    for line, (time, arousal, valence, path, song, *extra) in table.cells(*indices):
        seconds = bad.seconds(line, "time_s", time)
        a = bad.number(line, "arousal", arousal, scale)
        v = bad.number(line, "valence", valence, scale)
        audio = _audio_path(bad, line, root, path) if path_col is not None else None
        song_id = bad.integer(line, "song_id", song) if id_col is not None else None
        if audio is not None:
            known = id_of_path.get(os.path.normpath(audio))
            if id_col is None:
                song_id = known[0] if known else len(id_of_path) + 1
            elif song_id is not None and known and known[0] != song_id:
                bad.add(line, f"path {path} has song_id {song_id} here but {known[0]} on line {known[1]}")
                continue
            elif song_id in path_of_id and os.path.normpath(path_of_id[song_id][0]) != os.path.normpath(audio):
                _, first_path, first = path_of_id[song_id]
                bad.add(line, f"song_id {song_id} has path {path} here but {first_path} on line {first}")
                continue
        if seconds is None or a is None or v is None or song_id is None or (path_col is not None and audio is None):
            continue
        if audio is not None:
            id_of_path.setdefault(os.path.normpath(audio), (song_id, line))
            path_of_id.setdefault(song_id, (audio, path, line))
        key = (song_id, round(seconds * 1000))
        if key in line_of_row:
            song_name = f"song_id {song_id}" if id_col is not None else f"path {path}"
            bad.add(line, f"{song_name} at time_s {seconds:g} again (first on line {line_of_row[key]})")
            continue
        line_of_row[key] = line
        rows.setdefault(song_id, []).append((seconds, a, v))
        known_meta = metadata.setdefault(song_id, {})
        for name, cell in zip(extras, extra):
            if name not in known_meta and (value := metadata_value(cell)):
                known_meta[name] = value
    bad.raise_if_any()
    if path_col is None:
        return rows, None, metadata
    return rows, {song_id: audio for song_id, (audio, _, _) in path_of_id.items()}, metadata


def _audio_path(bad: BadRows, line: int, root: Path, cell: str) -> Path | None:
    """``root / cell`` (or ``cell`` when absolute); None, with the row recorded, when the cell is empty."""
    if not cell:
        bad.add(line, "path is empty")
        return None
    path = Path(cell)
    return path if path.is_absolute() else root / path


def _find_by_id(root: Path, song_ids: set[int], labels: Path) -> dict[int, Path]:
    """The one audio file under ``root`` named after each song id; InputError when a song has several."""
    found: dict[int, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.stem.isdigit() and int(path.stem) in song_ids:
            found.setdefault(int(path.stem), []).append(path)
    for song_id, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(str(p.relative_to(root)) for p in paths)
            raise InputError(
                f"{root}: song {song_id} matches several audio files ({names}); add a path column to {labels}"
            )
    return {song_id: paths[0] for song_id, paths in found.items()}
