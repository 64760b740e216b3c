"""The HDF5 layout of a feature store, format 2: names, column types and set descriptions.

::

    /features/<set>/data   float32 (N, *shape), one chunk per window; attrs: extractor,
                           extractor_version, config (JSON), kind, frame_rate_hz, backend,
                           about (JSON: e.g. a pretrained model's class, weights and versions)
    /mel                   soft link to /features/mel/data (format-1 readers, h5ls scripts)
    /segments/{song_id, start_s, end_s, arousal, valence}      window means (task window)
    /segments/silent       bool: the window's peak is below the silence floor (``SILENCE_DBFS``)
    /segments/{frame_times, arousal_frames, valence_frames}    (N, F), NaN-padded dynamic
                           values inside each window (task dynamic)
    /songs/{song_id, path, duration_s, first_segment, n_segments,
            valence_mean, valence_std, arousal_mean, arousal_std, backend}   static labels,
                           and the decoder that read the song (``soundfile`` or ``pyav``)
    /songs/<column>        string metadata of the corpus (artist, album, ...), "" where a song
                           has none; the columns are listed in the attribute metadata_columns
    /failures/{song_id, path, reason, set}
    /corpus/{song_id, path, size, mtime_ns, labels}   the corpus the store was built from: every
                           song of the reader, its audio's size and mtime, a hash of its labels
    attrs: format, format_version, windows (JSON), sets (JSON list), dataset, source_root,
           complete, dynamic_scale, static_scale, window_labels, label_rate_hz, *_version,
           metadata_columns (JSON list; absent in stores built before it: no metadata),
           label_layout (JSON), silence_dbfs

Columns added after format 2 first shipped (``OPTIONAL``) read as their default in older stores.

Row ``i`` of every ``segments/*`` column and of every set's ``data`` describes window ``i``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import h5py

from mer_zoo.datasets import STATIC_COLUMNS

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "FRAME_COLUMNS",
    "LIBVER",
    "METADATA_COLUMNS",
    "OPTIONAL",
    "STR",
    "TABLES",
    "SetSpec",
    "set_path",
]

FORMAT = "mer-zoo-features"
FORMAT_VERSION = 2
# SWMR needs at least the HDF5 1.10 file format; pinning it there keeps stores readable by
# any HDF5 >= 1.10 tool (h5ls, h5dump, other languages), whatever library writes them.
LIBVER = ("v110", "v110")
STR = h5py.string_dtype()
SEGMENTS = {"song_id": "i8", "start_s": "f8", "end_s": "f8", "arousal": "f4", "valence": "f4", "silent": "?"}
FRAME_COLUMNS = {"frame_times": "f8", "arousal_frames": "f4", "valence_frames": "f4"}
SONGS = {
    "song_id": "i8",
    "path": STR,
    "duration_s": "f8",
    "first_segment": "i8",
    "n_segments": "i8",
    **dict.fromkeys(STATIC_COLUMNS, "f4"),
    "backend": STR,
}
FAILURES = {"song_id": "i8", "path": STR, "reason": STR, "set": STR}
CORPUS = {"song_id": "i8", "path": STR, "size": "i8", "mtime_ns": "i8", "labels": STR}
TABLES = {"segments": SEGMENTS, "songs": SONGS, "failures": FAILURES, "corpus": CORPUS}
METADATA_COLUMNS = "metadata_columns"  # the root attribute naming the songs' metadata columns
# Columns a store written before they existed lacks: what they read as there.
OPTIONAL: dict[str, object] = {"segments/silent": False, "songs/backend": ""}


def set_path(name: str) -> str:
    """Where a set's array lives."""
    return f"features/{name}/data"


@dataclass(frozen=True)
class SetSpec:
    """A feature set as a store records it: name, per-window shape and what made it."""

    name: str
    kind: str
    shape: tuple[int, ...]
    extractor: str
    extractor_version: str
    config: dict[str, Any]
    frame_rate_hz: float | None
    backend: str
    about: dict[str, Any] = field(default_factory=dict)

    def attrs(self) -> dict[str, Any]:
        """The HDF5 attributes of ``/features/<name>/data``."""
        return {
            "extractor": self.extractor,
            "extractor_version": self.extractor_version,
            "config": json.dumps(self.config, sort_keys=True),
            "kind": self.kind,
            "frame_rate_hz": float("nan") if self.frame_rate_hz is None else float(self.frame_rate_hz),
            "backend": self.backend,
            "about": json.dumps(self.about, sort_keys=True),
        }

    def settings(self) -> dict[str, Any]:
        """What decides the values (a build reuses a set only when these match): no backend."""
        return {"extractor": self.extractor, "version": self.extractor_version, "config": self.config}

    @classmethod
    def of(cls, extractor: Any, windows: Any) -> SetSpec:
        """The spec of the set ``extractor`` computes under the store's ``windows`` settings."""
        return cls(
            name=extractor.name,
            kind=extractor.kind,
            shape=tuple(extractor.shape(windows)),
            extractor=extractor.extractor_name or extractor.name,
            extractor_version=str(extractor.version),
            config=extractor.params(),
            frame_rate_hz=extractor.frame_rate_hz(windows),
            backend=extractor.backend,
            about=extractor.about() if hasattr(extractor, "about") else {},
        )

    @classmethod
    def read(cls, name: str, dset: h5py.Dataset) -> SetSpec:
        """The spec of a stored set."""
        a = dset.attrs
        rate = float(a.get("frame_rate_hz", float("nan")))
        return cls(
            name=name,
            kind=str(a["kind"]),
            shape=tuple(int(d) for d in dset.shape[1:]),
            extractor=str(a["extractor"]),
            extractor_version=str(a["extractor_version"]),
            config=json.loads(a["config"]),
            frame_rate_hz=None if rate != rate else rate,
            backend=str(a.get("backend", "")),
            about=json.loads(a.get("about", "{}")),
        )
