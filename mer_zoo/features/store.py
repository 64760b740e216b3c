"""The HDF5 feature store: one chunked ``mel`` array plus song, segment and failure tables.

Layout (row ``i`` of every ``segments/*`` column describes ``mel[i]``)::

    /mel                  float32 (N, n_mels, frames), one chunk per segment
    /segments/{song_id, start_s, end_s, arousal, valence}
    /songs/{song_id, path, duration_s, first_segment, n_segments,
            valence_mean, valence_std, arousal_mean, arousal_std}   static labels, 1..9
    /failures/{song_id, path, reason}
    attrs: format, format_version, feature_config (JSON), dataset, source_root,
           complete, mer_zoo_version, h5py_version, hdf5_version, librosa_version

The writer keeps the file valid at every moment (HDF5 SWMR mode: a killed writer leaves a
readable file) and commits one song at a time: its spectrograms, segment rows and ``songs``
row, then a flush. On resume, the ``songs`` and ``failures`` rows are the truth and
anything written past them is dropped; so is the last row of each table, which a kill
during its flush may have left half-written (redoing one song costs less than trusting it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from mer_zoo import __version__
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets.base import STATIC_COLUMNS
from mer_zoo.errors import MerZooError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "STATIC_COLUMNS",
    "FeatureStore",
    "SongFeatures",
    "StoreWriter",
    "read_settings",
]

FORMAT = "mer-zoo-features"
FORMAT_VERSION = 1

# SWMR needs at least the HDF5 1.10 file format; pinning it there keeps stores readable by
# any HDF5 >= 1.10 tool (h5ls, h5dump, other languages), whatever library writes them.
_LIBVER = ("v110", "v110")
_STR = h5py.string_dtype()
_SEGMENTS = {"song_id": "i8", "start_s": "f8", "end_s": "f8", "arousal": "f4", "valence": "f4"}
_SONGS = {
    "song_id": "i8",
    "path": _STR,
    "duration_s": "f8",
    "first_segment": "i8",
    "n_segments": "i8",
    **{name: "f4" for name in STATIC_COLUMNS},
}
_FAILURES = {"song_id": "i8", "path": _STR, "reason": _STR}
_TABLES = {"segments": _SEGMENTS, "songs": _SONGS, "failures": _FAILURES}


@dataclass(frozen=True)
class SongFeatures:
    """One song's extracted windows, ready to append to a store."""

    song_id: int
    path: str
    duration_s: float
    mel: np.ndarray  # (n, n_mels, frames) float32
    start_s: np.ndarray  # (n,)
    end_s: np.ndarray  # (n,)
    arousal: np.ndarray  # (n,) mean of the dynamic values in each window, [-1, 1]
    valence: np.ndarray  # (n,)
    static: Mapping[str, float]  # STATIC_COLUMNS -> value on 1..9, NaN when unknown


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _append(dset: h5py.Dataset, values: Any) -> None:
    """Append rows along axis 0 (numbers through h5py's low-level API: 4x less overhead)."""
    if dset.dtype == _STR:
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


class StoreWriter:
    """Appends songs to a store file, one committed song at a time (crash-safe, resumable)."""

    def __init__(self, file: h5py.File) -> None:
        self._file = file
        # Looking datasets up by path costs more than writing a row: do it once.
        self._dsets = {"mel": file["mel"]}
        self._dsets.update({f"{g}/{c}": file[f"{g}/{c}"] for g, columns in _TABLES.items() for c in columns})

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        config: FeatureConfig,
        *,
        dataset: str,
        source_root: str,
        compression: str | None = None,
    ) -> StoreWriter:
        """Create an empty store at ``path`` (overwriting it) and open it for appending."""
        f = h5py.File(path, "w", libver=_LIBVER)
        f.attrs.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            feature_config=config.to_json(),
            dataset=dataset,
            source_root=str(source_root),
            complete=False,
            mer_zoo_version=__version__,
            h5py_version=h5py.__version__,
            hdf5_version=h5py.version.hdf5_version,
            librosa_version=_package_version("librosa"),
        )
        f.create_dataset(
            "mel",
            shape=(0, config.n_mels, config.frames),
            maxshape=(None, config.n_mels, config.frames),
            chunks=(1, config.n_mels, config.frames),
            dtype="f4",
            compression=compression,
        )
        for group, columns in _TABLES.items():
            for name, dtype in columns.items():
                f.create_dataset(f"{group}/{name}", shape=(0,), maxshape=(None,), chunks=(1024,), dtype=dtype)
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
            n_songs = max(0, min(old[f"songs/{c}"].shape[0] for c in _SONGS) - 1)
            n_segments = _committed_segments(old, n_songs)
            n_failures = max(0, min(old[f"failures/{c}"].shape[0] for c in _FAILURES) - 1)
            keep = {"segments": n_segments, "songs": n_songs, "failures": n_failures}
            mel = old["mel"]
            with h5py.File(fresh, "w", libver=_LIBVER) as new:
                new.attrs.update(dict(old.attrs))
                out = new.create_dataset(
                    "mel",
                    shape=(n_segments, *mel.shape[1:]),
                    maxshape=(None, *mel.shape[1:]),
                    chunks=mel.chunks,
                    dtype=mel.dtype,
                    compression=mel.compression,
                    compression_opts=mel.compression_opts,
                )
                for start in range(0, n_segments, 256):
                    stop = min(start + 256, n_segments)
                    out[start:stop] = mel[start:stop]
                for group, columns in _TABLES.items():
                    for name, dtype in columns.items():
                        data = old[f"{group}/{name}"][: keep[group]]
                        new.create_dataset(
                            f"{group}/{name}", data=data, maxshape=(None,), chunks=(1024,), dtype=dtype
                        )
        os.replace(fresh, path)
        f = h5py.File(path, "r+", libver=_LIBVER)
        f.swmr_mode = True
        return cls(f)

    @property
    def config(self) -> FeatureConfig:
        """The extraction settings this store was created with."""
        return FeatureConfig.from_json(self._file.attrs["feature_config"])

    def done_song_ids(self) -> set[int]:
        """Songs already committed, extracted or failed; a resumed build skips them."""
        done = self._file["songs/song_id"][:].tolist() + self._file["failures/song_id"][:].tolist()
        return {int(s) for s in done}

    def append_song(self, song: SongFeatures) -> None:
        """Write one song's windows and its ``songs`` row, then flush: the song is committed.

        One flush per song is enough: a kill during it can only spoil this last song, and
        ``resume`` always redoes the last song.
        """
        d = self._dsets
        first = d["segments/song_id"].shape[0]
        n = len(song.start_s)
        _append(d["mel"], np.asarray(song.mel, dtype=np.float32).reshape(n, *d["mel"].shape[1:]))
        _append(d["segments/song_id"], np.full(n, song.song_id))
        _append(d["segments/start_s"], song.start_s)
        _append(d["segments/end_s"], song.end_s)
        _append(d["segments/arousal"], song.arousal)
        _append(d["segments/valence"], song.valence)
        row: dict[str, Any] = {
            "song_id": [song.song_id],
            "path": [song.path],
            "duration_s": [song.duration_s],
            "first_segment": [first],
            "n_segments": [n],
        }
        row.update({name: [song.static.get(name, np.nan)] for name in STATIC_COLUMNS})
        for name, values in row.items():
            _append(d[f"songs/{name}"], values)
        self._file.flush()

    def append_failure(self, song_id: int, path: str, reason: str) -> None:
        """Record a song that could not be extracted, with a one-line reason."""
        d = self._dsets
        _append(d["failures/song_id"], [song_id])
        _append(d["failures/path"], [path])
        _append(d["failures/reason"], [reason])
        self._file.flush()

    def close(self, *, complete: bool = False) -> None:
        """Close the file; ``complete=True`` marks the build finished."""
        if complete:
            # Attributes cannot change under SWMR; reopen plainly for this last write.
            name = self._file.filename
            self._file.close()
            with h5py.File(name, "r+", libver=_LIBVER, locking=False) as f:
                f.attrs["complete"] = True
        else:
            self._file.close()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file.id.valid:
            self.close()


def _committed_segments(f: h5py.File, n_songs: int) -> int:
    if n_songs == 0:
        return 0
    return int(f["songs/first_segment"][n_songs - 1] + f["songs/n_segments"][n_songs - 1])


def read_settings(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What decides whether a store (finished or not) can be reused: settings and completeness.

    Returns:
        ``{"feature_config", "dataset", "source_root", "compression", "complete"}``, or None
        when ``path`` is not a readable mer-zoo store.
    """
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            if f.attrs.get("format") != FORMAT or int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
                return None
            return {
                "feature_config": str(f.attrs["feature_config"]),
                "dataset": str(f.attrs["dataset"]),
                "source_root": str(f.attrs["source_root"]),
                "compression": f["mel"].compression,
                "complete": bool(f.attrs.get("complete", False)),
            }
    except (OSError, KeyError, ValueError):
        return None


class FeatureStore:
    """Read access to a finished store: settings, tables and the ``mel`` array.

    Args:
        path: the ``features.h5`` file written by ``mer-zoo build-features``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise MerZooError(f"{self.path}: no such feature store")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            if "already open for write" in str(err):
                raise MerZooError(
                    f"{self.path}: the store is still being built (or its build was stopped); "
                    "run build-features again to finish it"
                ) from None
            raise MerZooError(f"{self.path}: not a readable HDF5 file ({err})") from None
        attrs = self._file.attrs
        if attrs.get("format") != FORMAT:
            self._file.close()
            raise MerZooError(f"{self.path}: not a mer-zoo feature store (no format={FORMAT!r} attribute)")
        version = int(attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            self._file.close()
            raise MerZooError(
                f"{self.path}: store format version {version}, this mer-zoo reads version {FORMAT_VERSION}; "
                "rebuild it with build-features --overwrite"
            )
        if not attrs.get("complete", False):
            self._file.close()
            raise MerZooError(
                f"{self.path}: the store is still being built (or its build was stopped); "
                "run build-features again to finish it"
            )

    @property
    def config(self) -> FeatureConfig:
        """The extraction settings recorded in the store."""
        return FeatureConfig.from_json(self._file.attrs["feature_config"])

    @property
    def attrs(self) -> dict[str, Any]:
        """All root attributes (format, versions, dataset, settings JSON)."""
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._file.attrs.items()}

    @property
    def mel(self) -> h5py.Dataset:
        """The ``(N, n_mels, frames)`` spectrogram array (read lazily through h5py)."""
        return self._file["mel"]

    def __len__(self) -> int:
        return int(self._file["mel"].shape[0])

    def _table(self, group: str) -> pd.DataFrame:
        import pandas as pd

        columns = {}
        for name in _TABLES[group]:
            dset = self._file[f"{group}/{name}"]
            columns[name] = dset.asstr()[:] if dset.dtype == _STR else dset[:]
        return pd.DataFrame(columns)

    @property
    def segments(self) -> pd.DataFrame:
        """One row per spectrogram: song_id, start_s, end_s, arousal, valence."""
        return self._table("segments")

    @property
    def songs(self) -> pd.DataFrame:
        """One row per extracted song: id, source path, duration, segment range, static labels."""
        return self._table("songs")

    @property
    def failures(self) -> pd.DataFrame:
        """Songs that could not be extracted: song_id, path, reason."""
        return self._table("failures")

    def mel_offsets(self) -> np.ndarray | None:
        """Byte offset in the file of each segment's spectrogram, or None if not memory-mappable.

        Each segment is one uncompressed chunk, so its bytes are contiguous on disk and can be
        read with ``np.memmap`` with no HDF5 call. Compressed stores return None.
        """
        dset = self._file["mel"]
        if dset.compression is not None or dset.dtype != np.float32:
            return None
        n = dset.shape[0]
        if dset.chunks is None:
            base = dset.id.get_offset()
            if base is None:
                return None
            row = int(np.prod(dset.shape[1:])) * dset.dtype.itemsize
            return base + row * np.arange(n, dtype=np.int64)
        if dset.chunks[0] != 1 or tuple(dset.chunks[1:]) != tuple(dset.shape[1:]):
            return None
        offsets = np.full(n, -1, dtype=np.int64)

        def visit(info: Any) -> None:
            offsets[info.chunk_offset[0]] = info.byte_offset

        if hasattr(dset.id, "chunk_iter"):
            dset.id.chunk_iter(visit)
        else:
            for i in range(dset.id.get_num_chunks()):
                visit(dset.id.get_chunk_info(i))
        return None if (offsets < 0).any() else offsets

    def describe(self) -> dict[str, Any]:
        """A summary for people: counts, settings, failures and size on disk."""
        failures = self.failures
        return {
            "path": str(self.path),
            "songs": int(self._file["songs/song_id"].shape[0]),
            "segments": len(self),
            "failures": len(failures),
            "mel_shape": list(self.mel.shape),
            "compression": self.mel.compression,
            "size_bytes": self.path.stat().st_size,
            "dataset": self.attrs.get("dataset"),
            "source_root": self.attrs.get("source_root"),
            "feature_config": json.loads(self._file.attrs["feature_config"]),
            "versions": {k: self.attrs[k] for k in self.attrs if k.endswith("_version")},
        }

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
