"""Writing a feature store (layout in :mod:`mer_zoo.store.layout`): crash-safe, resumable.

The writer keeps the file valid at every moment (HDF5 SWMR mode: a killed writer leaves a
readable file) and commits a few songs at a time (a build's batch): their windows in every
set, their segment rows and ``songs`` rows, then one flush. On resume, the ``songs`` and
``failures`` rows are the truth and anything written past them is dropped; so is the last row
of each table, which a kill during its flush may have left half-written (redoing one song
costs less than trusting it), and so is any song whose windows did not all reach the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.datasets import STATIC_COLUMNS
from mer_zoo.store.layout import (
    CORPUS,
    FAILURES,
    FORMAT,
    FORMAT_VERSION,
    FRAME_COLUMNS,
    LIBVER,
    METADATA_COLUMNS,
    OPTIONAL,
    SONGS,
    STR,
    TABLES,
    SetSpec,
    set_path,
)

__all__ = ["SongFeatures", "StoreLabels", "StoreWriter"]

_COPY_ROWS = 256


@dataclass(frozen=True)
class SongFeatures:
    """One song's extracted windows in every set, ready to append to a store."""

    song_id: int
    path: str
    duration_s: float
    features: Mapping[str, np.ndarray]  # set name -> (n, *shape) float32
    start_s: np.ndarray  # (n,)
    end_s: np.ndarray  # (n,)
    arousal: np.ndarray  # (n,) mean of the dynamic values in each window (or the static label)
    valence: np.ndarray  # (n,)
    static: Mapping[str, float] = dataclasses.field(default_factory=dict)  # STATIC_COLUMNS, static scale
    frame_times: np.ndarray | None = None  # (n, F) times of the dynamic values in each window, NaN-padded
    arousal_frames: np.ndarray | None = None  # (n, F); None: no frames (all NaN)
    valence_frames: np.ndarray | None = None  # (n, F)
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)  # the store's metadata columns
    silent: np.ndarray | None = None  # (n,) bool, the window's peak is below the silence floor; None: none is
    backend: str = ""  # the decoder that read the audio: soundfile or pyav


@dataclass(frozen=True)
class StoreLabels:
    """What the labels of a store are: scales, where window labels come from, frames per window."""

    dynamic_scale: str = "-1..1"
    static_scale: str = "1..9"
    window_labels: str = "dynamic"  # or "static": songs labelled only as a whole
    label_rate_hz: float = 2.0
    frames_per_window: int = 10


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _append(dset: h5py.Dataset, values: Any) -> None:
    """Append rows along axis 0 (numbers through h5py's low-level API: 4x less overhead)."""
    if dset.dtype == STR:
        values = list(values)
        if values:
            old = dset.shape[0]
            dset.resize(old + len(values), axis=0)
            dset[old:] = values
        return
    data = np.ascontiguousarray(values, dtype=dset.dtype)
    if len(data) == 0:
        return
    dsid = dset.id
    old = dsid.shape[0]
    dsid.set_extent((old + len(data), *data.shape[1:]))
    file_space = dsid.get_space()
    file_space.select_hyperslab((old,) + (0,) * (data.ndim - 1), data.shape)
    dsid.write(h5py.h5s.create_simple(data.shape), file_space, data)


def _growable(f: h5py.File, path: str, row: tuple[int, ...], dtype: Any, compression: str | None = None) -> None:
    chunks = (1, *row) if len(row) >= 2 else ((64, *row) if row else (1024,))
    f.create_dataset(path, shape=(0, *row), maxshape=(None, *row), chunks=chunks, dtype=dtype, compression=compression)


class StoreWriter:
    """Appends songs to a store file, one committed song at a time (crash-safe, resumable)."""

    def __init__(self, file: h5py.File) -> None:
        self._file = file
        self.sets: list[str] = json.loads(file.attrs["sets"])
        self.metadata_columns: list[str] = json.loads(file.attrs.get(METADATA_COLUMNS, "[]"))
        # Looking datasets up by path costs more than writing a row: do it once.
        self._dsets = {name: file[set_path(name)] for name in self.sets}
        columns = {
            **TABLES,
            "segments": {**TABLES["segments"], **FRAME_COLUMNS},
            "songs": {**TABLES["songs"], **dict.fromkeys(self.metadata_columns, STR)},
        }
        # (a stopped build of an older mer-zoo lacks the OPTIONAL columns and the corpus: not written then)
        paths = [f"{g}/{c}" for g, cols in columns.items() for c in cols]
        self._dsets.update({path: file[path] for path in paths if path in file})

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        windows: FeatureConfig,
        sets: Sequence[SetSpec] | None = None,
        *,
        dataset: str,
        source_root: str,
        labels: StoreLabels = StoreLabels(),
        compression: str | None = None,
        metadata_columns: Sequence[str] = (),
        corpus: Mapping[str, Sequence[Any]] | None = None,
        label_layout: str = "",
        silence_dbfs: float | None = None,
    ) -> StoreWriter:
        """Create an empty store at ``path`` (overwriting it) and open it for appending.

        ``sets`` default to the one ``mel`` set of ``windows``' mel settings; ``metadata_columns``
        are string columns of ``songs`` (artist, ...) filled from each song's ``metadata``.
        ``corpus`` is the corpus table to record (``datasets.fingerprint.corpus_prints``), with
        the corpus's ``label_layout``; ``silence_dbfs`` the floor below which a window was flagged silent.
        """
        clash = sorted(set(metadata_columns) & set(SONGS))
        if clash:
            raise ValueError(f"metadata columns {clash} would replace columns of the songs table")
        if sets is None:
            from mer_zoo.features import get_extractor

            sets = [SetSpec.of(get_extractor("mel", **windows.mel_settings()), windows)]
        f = h5py.File(path, "w", libver=LIBVER)
        f.attrs.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            windows=json.dumps(windows.window_settings(), sort_keys=True),
            sets=json.dumps([s.name for s in sets]),
            dataset=dataset,
            source_root=str(source_root),
            complete=False,
            dynamic_scale=labels.dynamic_scale,
            static_scale=labels.static_scale,
            window_labels=labels.window_labels,
            label_rate_hz=float(labels.label_rate_hz),
            mer_zoo_version=_package_version("mer-zoo"),
            h5py_version=h5py.__version__,
            hdf5_version=h5py.version.hdf5_version,
            librosa_version=_package_version("librosa"),
            label_layout=label_layout,
        )
        f.attrs[METADATA_COLUMNS] = json.dumps(list(metadata_columns))
        if silence_dbfs is not None:
            f.attrs["silence_dbfs"] = float(silence_dbfs)
        for spec in sets:
            _growable(f, set_path(spec.name), spec.shape, "f4", compression)
            f[set_path(spec.name)].attrs.update(spec.attrs())
        if any(spec.name == "mel" for spec in sets):
            f["mel"] = h5py.SoftLink("/" + set_path("mel"))
        for group, columns in TABLES.items():
            for name, dtype in columns.items():
                _growable(f, f"{group}/{name}", (), dtype)
        for name, dtype in FRAME_COLUMNS.items():
            _growable(f, f"segments/{name}", (labels.frames_per_window,), dtype)
        for name in metadata_columns:
            _growable(f, f"songs/{name}", (), STR)
        for name, values in (corpus or {}).items():
            _append(f[f"corpus/{name}"], values)
        f.swmr_mode = True
        return cls(f)

    @classmethod
    def resume(cls, path: str | os.PathLike[str]) -> StoreWriter:
        """Reopen a store whose writer stopped (or was killed), keeping only committed songs.

        A SWMR file left by a dead writer can be read but not reopened for writing, so the
        committed prefix is copied into a fresh file that replaces the old one.
        """
        path = Path(path)
        fresh = path.with_name(path.name + ".resume")
        with h5py.File(path, "r", libver="latest", swmr=True) as old:
            n_songs = max(0, min(old[f"songs/{c}"].shape[0] for c in old["songs"]) - 1)
            n_failures = max(0, min(old[f"failures/{c}"].shape[0] for c in FAILURES) - 1)
            # Songs committed together share a flush: keep only those whose windows all reached the file.
            per_window = [f"segments/{c}" for c in old["segments"]] + [
                set_path(n) for n in json.loads(old.attrs["sets"])
            ]
            window_rows = min(old[name].shape[0] for name in per_window)
            ends = old["songs/first_segment"][:n_songs] + old["songs/n_segments"][:n_songs]
            n_songs = int(np.searchsorted(ends, window_rows, side="right"))
            n_segments = int(ends[n_songs - 1]) if n_songs else 0
            keep = {"features": n_segments, "segments": n_segments, "songs": n_songs, "failures": n_failures}
            keep["corpus"] = min((old[f"corpus/{c}"].shape[0] for c in CORPUS if f"corpus/{c}" in old), default=0)
            with h5py.File(fresh, "w", libver=LIBVER) as new:
                new.attrs.update(dict(old.attrs))

                def copy(name: str, obj: Any) -> None:
                    if isinstance(obj, h5py.Dataset) and name != "mel":
                        _copy_prefix(obj, new, name, keep[name.split("/")[0]])

                old.visititems(copy)
                if "mel" in old:
                    new["mel"] = h5py.SoftLink("/" + set_path("mel"))
        os.replace(fresh, path)
        f = h5py.File(path, "r+", libver=LIBVER)
        f.swmr_mode = True
        return cls(f)

    def record_corpus(self, corpus: Mapping[str, Sequence[Any]]) -> None:
        """Record the corpus table in a store that has none yet (a stopped build made without one)."""
        if "corpus/song_id" in self._dsets and self._dsets["corpus/song_id"].shape[0] == 0:
            for name, values in corpus.items():
                _append(self._dsets[f"corpus/{name}"], values)
            self._file.flush()

    def done_song_ids(self) -> set[int]:
        """Songs already committed, extracted or failed; a resumed build skips them."""
        done = self._file["songs/song_id"][:].tolist() + self._file["failures/song_id"][:].tolist()
        return {int(s) for s in done}

    def append_song(self, song: SongFeatures) -> None:
        """Write one song's windows and its ``songs`` row, then flush: the song is committed."""
        self.append_songs([song])

    def append_songs(self, songs: Sequence[SongFeatures]) -> None:
        """Write several songs' windows and ``songs`` rows, then flush once: they are committed together.

        One flush per call is enough: a kill during it can only spoil these songs, and
        ``resume`` keeps only songs whose windows were all written before their rows.
        """
        if not songs:
            return
        d = self._dsets
        first = d["segments/song_id"].shape[0]
        counts = np.array([len(song.start_s) for song in songs])
        for name in self.sets:
            shape = d[name].shape[1:]
            for song, n in zip(songs, counts):  # each song's own array: no concatenated copy
                _append(d[name], np.asarray(song.features[name], dtype=np.float32).reshape(n, *shape))
        _append(d["segments/song_id"], np.repeat([song.song_id for song in songs], counts))
        for column in ("start_s", "end_s", "arousal", "valence"):
            _append(d[f"segments/{column}"], np.concatenate([getattr(song, column) for song in songs]))
        if "segments/silent" in d:
            silent = [np.zeros(n, bool) if song.silent is None else song.silent for song, n in zip(songs, counts)]
            _append(d["segments/silent"], np.concatenate(silent))
        n_frames = d["segments/arousal_frames"].shape[1]
        for column in FRAME_COLUMNS:
            parts = [getattr(song, column) for song in songs]
            _append(
                d[f"segments/{column}"],
                np.concatenate([np.full((n, n_frames), np.nan) if p is None else p for p, n in zip(parts, counts)]),
            )
        rows: dict[str, Any] = {
            "song_id": [song.song_id for song in songs],
            "path": [song.path for song in songs],
            "duration_s": [song.duration_s for song in songs],
            "first_segment": first + np.cumsum(counts) - counts,
            "n_segments": counts,
        }
        rows.update({name: [song.static.get(name, np.nan) for song in songs] for name in STATIC_COLUMNS})
        rows.update({name: [song.metadata.get(name, "") for song in songs] for name in self.metadata_columns})
        rows["backend"] = [song.backend for song in songs]
        for name, values in rows.items():
            if f"songs/{name}" in d or f"songs/{name}" not in OPTIONAL:
                _append(d[f"songs/{name}"], values)
        self._file.flush()

    def append_failure(self, song_id: int, path: str, reason: str, set_name: str = "") -> None:
        """Record a song that could not be extracted, with a one-line reason (and the set that failed)."""
        for column, value in zip(FAILURES, (song_id, path, reason, set_name)):
            _append(self._dsets[f"failures/{column}"], [value])
        self._file.flush()

    def close(self, *, complete: bool = False) -> None:
        """Close the file; ``complete=True`` marks the build finished."""
        if complete:
            # Attributes cannot change under SWMR; reopen plainly for this last write.
            name = self._file.filename
            self._file.close()
            with h5py.File(name, "r+", libver=LIBVER, locking=False) as f:
                f.attrs["complete"] = True
        else:
            self._file.close()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file.id.valid:
            self.close()


def _copy_prefix(src: h5py.Dataset, dst: h5py.File, name: str, rows: int) -> None:
    """Copy the first ``rows`` rows of ``src`` to a growable ``dst[name]`` with the same layout and attrs."""
    out = dst.create_dataset(
        name,
        shape=(rows, *src.shape[1:]),
        maxshape=(None, *src.shape[1:]),
        chunks=src.chunks,
        dtype=src.dtype,
        compression=src.compression,
        compression_opts=src.compression_opts,
    )
    out.attrs.update(dict(src.attrs))
    for start in range(0, rows, _COPY_ROWS):
        stop = min(start + _COPY_ROWS, rows)
        out[start:stop] = src[start:stop]
