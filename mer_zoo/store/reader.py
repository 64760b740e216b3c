"""Reading a feature store (format 2, layout in :mod:`mer_zoo.store.layout`).

A store holds one or several named feature sets over the same windows, the windows'
labels (means, 2 Hz frames), the songs' static labels, the failures, and every setting
that made them. Format-1 stores (one ``/mel`` array) are refused with a one-line error
naming the command that rebuilds them: their labels lack the 2 Hz frames the tasks need.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError, MerZooError
from mer_zoo.scales import Scale, parse_scale
from mer_zoo.store.layout import (
    FORMAT,
    FORMAT_VERSION,
    FRAME_COLUMNS,
    METADATA_COLUMNS,
    OPTIONAL,
    STR,
    TABLES,
    SetSpec,
    set_path,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FeatureStore", "read_settings", "rebuild_hint"]


def rebuild_hint(path: str | os.PathLike[str]) -> str:
    """The command that rebuilds a store in place, for error messages."""
    return f"mer-zoo build-features --root DATASET --out {path} --overwrite"


def read_settings(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What decides whether a store (finished or not) can be reused: settings and completeness.

    Returns:
        ``{"windows", "sets", "dataset", "source_root", "compression", "complete", "corpus",
        "label_layout"}`` (``sets`` maps each set to its extractor, version and config;
        ``corpus`` is the corpus table, None in a store that predates it), or None when
        ``path`` is not a readable mer-zoo store of this format.
    """
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            if f.attrs.get("format") != FORMAT or int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
                return None
            names = json.loads(f.attrs["sets"])
            specs = [SetSpec.read(name, f[set_path(name)]) for name in names]
            return {
                "windows": json.loads(f.attrs["windows"]),
                "sets": {spec.name: spec.settings() for spec in specs},
                "dataset": str(f.attrs["dataset"]),
                "source_root": str(f.attrs["source_root"]),
                "compression": f[set_path(names[0])].compression if names else None,
                "complete": bool(f.attrs.get("complete", False)),
                "corpus": _corpus_table(f),
                "label_layout": str(f.attrs.get("label_layout", "")),
            }
    except (OSError, KeyError, ValueError):
        return None


def _corpus_table(f: h5py.File) -> dict[str, list[Any]] | None:
    if "corpus/song_id" not in f or not f["corpus/song_id"].shape[0]:  # a store made before it, or without one
        return None
    return {
        name: (f[f"corpus/{name}"].asstr()[:] if f[f"corpus/{name}"].dtype == STR else f[f"corpus/{name}"][:]).tolist()
        for name in TABLES["corpus"]
    }


class FeatureStore:
    """Read access to a finished store: settings, tables, labels and every feature set.

    Args:
        path: the ``features.h5`` file written by ``mer-zoo build-features``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such feature store (build one with `mer-zoo build-features`)")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            if "already open for write" in str(err):
                raise MerZooError(f"{self.path}: {_UNFINISHED}") from None
            raise MerZooError(f"{self.path}: not a readable HDF5 file ({err})") from None
        attrs = self._file.attrs
        problem = None
        if attrs.get("format") != FORMAT:
            problem = f"not a mer-zoo feature store (no format={FORMAT!r} attribute)"
        elif (version := int(attrs.get("format_version", -1))) != FORMAT_VERSION:
            problem = (
                f"store format version {version}, this mer-zoo reads version {FORMAT_VERSION} "
                f"(feature sets, 2 Hz frame labels, label scales); rebuild it: {rebuild_hint(self.path)}"
            )
        elif not attrs.get("complete", False):
            problem = _UNFINISHED
        if problem:
            self._file.close()
            raise MerZooError(f"{self.path}: {problem}")
        self.sets: list[str] = json.loads(attrs["sets"])
        # The songs' metadata columns (artist, album, ...): strings, "" where a song has none.
        self.metadata_columns: list[str] = json.loads(attrs.get(METADATA_COLUMNS, "[]"))

    @property
    def config(self) -> FeatureConfig:
        """The window settings, with the ``mel`` set's parameters when the store has one."""
        mel = self.set_spec("mel").config if "mel" in self.sets else {}
        return FeatureConfig(**json.loads(self._file.attrs["windows"]), **mel)

    @property
    def attrs(self) -> dict[str, Any]:
        """All root attributes (format, versions, dataset, settings JSON, scales)."""
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._file.attrs.items()}

    @property
    def dataset(self) -> str:
        """The name of the corpus the store was built from."""
        return str(self._file.attrs["dataset"])

    def scale(self, labels: str) -> Scale:
        """The scale of the ``dynamic`` (window and frame) or ``static`` (song) labels."""
        return parse_scale(str(self._file.attrs[f"{labels}_scale"]))

    @property
    def window_labels(self) -> str:
        """``dynamic`` (window means of the 2 Hz values) or ``static`` (the song's label held)."""
        return str(self._file.attrs.get("window_labels", "dynamic"))

    def set_spec(self, name: str) -> SetSpec:
        """The recorded description of feature set ``name``; InputError naming the sets when absent."""
        if name not in self.sets:
            raise InputError(f"{self.path}: no feature set {name!r}; it has {', '.join(self.sets) or 'none'}")
        return SetSpec.read(name, self._file[set_path(name)])

    def data(self, name: str = "mel") -> h5py.Dataset:
        """The ``(N, *shape)`` array of feature set ``name`` (read lazily through h5py)."""
        self.set_spec(name)
        return self._file[set_path(name)]

    @property
    def mel(self) -> h5py.Dataset:
        """The ``(N, n_mels, frames)`` spectrogram array."""
        return self.data("mel")

    def __len__(self) -> int:
        return self.rows("segments")

    def rows(self, group: str) -> int:
        """How many rows table ``group`` (``segments``, ``songs`` or ``failures``) has, read from its shape."""
        return int(self._file[f"{group}/song_id"].shape[0])

    def columns(self, group: str) -> dict[str, np.ndarray]:
        """The columns of table ``group`` (``segments``, ``songs`` with its metadata, ``failures``, ``corpus``) as arrays.

        A column the store predates (``layout.OPTIONAL``) reads as its default value.
        """
        columns = {}
        for name in [*TABLES[group], *(self.metadata_columns if group == "songs" else [])]:
            path = f"{group}/{name}"
            if path not in self._file and path in OPTIONAL:
                columns[name] = np.full(self.rows(group), OPTIONAL[path], dtype=object if name == "backend" else None)
                continue
            dset = self._file[path]
            columns[name] = dset.asstr()[:] if dset.dtype == STR else dset[:]
        return columns

    def corpus(self) -> tuple[dict[str, np.ndarray], str] | None:
        """The corpus table recorded at build time and its label layout; None for a store that predates them."""
        if "corpus/song_id" not in self._file or not self.rows("corpus"):
            return None
        return self.columns("corpus"), str(self._file.attrs.get("label_layout", ""))

    def silent(self) -> np.ndarray:
        """``(N,)`` bool: each window's peak is below the store's silence floor (all False in older stores)."""
        if "segments/silent" not in self._file:
            return np.zeros(len(self), dtype=bool)
        return np.asarray(self._file["segments/silent"][:], dtype=bool)

    def _table(self, group: str) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.columns(group))

    @property
    def segments(self) -> pd.DataFrame:
        """One row per window: song_id, start_s, end_s, arousal, valence (window means)."""
        return self._table("segments")

    def frames(self) -> dict[str, np.ndarray]:
        """The dynamic values inside each window: ``frame_times``, ``arousal_frames``, ``valence_frames`` (N, F)."""
        return {name: self._file[f"segments/{name}"][:] for name in FRAME_COLUMNS}

    @property
    def songs(self) -> pd.DataFrame:
        """One row per extracted song: id, source path, duration, segment range, static labels, metadata."""
        return self._table("songs")

    def metadata(self) -> dict[str, dict[int, str]]:
        """Each metadata column as ``{song_id: value}`` ("" where the song has none); ``{}`` without metadata."""
        ids = self._file["songs/song_id"][:].tolist()
        return {name: dict(zip(ids, self._file[f"songs/{name}"].asstr()[:])) for name in self.metadata_columns}

    @property
    def failures(self) -> pd.DataFrame:
        """Songs that could not be extracted: song_id, path, reason, and the set that failed."""
        return self._table("failures")

    def offsets(self, name: str = "mel") -> np.ndarray | None:
        """Byte offset in the file of each window's features in set ``name``, or None if not mappable.

        Each window is one uncompressed chunk, so its bytes are contiguous on disk and can be
        read with no HDF5 call. Compressed stores return None.
        """
        dset = self.data(name)
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

    def mel_offsets(self) -> np.ndarray | None:
        """``offsets("mel")``."""
        return self.offsets("mel")

    def describe(self) -> dict[str, Any]:
        """A summary for people: counts, sets, settings, labels, failures and size on disk."""
        attrs = self.attrs
        sets = {}
        for name in self.sets:
            spec, dset = self.set_spec(name), self._file[set_path(name)]
            sets[name] = {
                "kind": spec.kind,
                "shape": list(spec.shape),
                "extractor": spec.extractor,
                "version": spec.extractor_version,
                "frame_rate_hz": spec.frame_rate_hz,
                "backend": spec.backend,
                "compression": dset.compression,
                "config": spec.config,
                "about": spec.about,
            }
        return {
            "path": str(self.path),
            "songs": self.rows("songs"),
            "segments": len(self),
            "failures": self.rows("failures"),
            "silent_windows": int(self.silent().sum()),
            "decoders": {
                str(k): int(v)
                for k, v in zip(*np.unique(self.columns("songs")["backend"].astype(str), return_counts=True))
                if k
            },
            "sets": sets,
            "size_bytes": self.path.stat().st_size,
            "dataset": attrs.get("dataset"),
            "source_root": attrs.get("source_root"),
            "windows": json.loads(attrs["windows"]),
            "labels": {
                **{k: attrs.get(k) for k in ("dynamic_scale", "static_scale", "window_labels", "label_rate_hz")},
                "frames_per_window": int(self._file["segments/arousal_frames"].shape[1]),
            },
            "versions": {k: attrs[k] for k in attrs if k.endswith("_version")},
            "metadata": {
                name: {"values": len({v for v in values.values() if v}), "empty": sum(not v for v in values.values())}
                for name, values in self.metadata().items()
            },
        }

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_UNFINISHED = "the store is still being built (or its build was stopped); run build-features again to finish it"
