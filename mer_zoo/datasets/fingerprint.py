"""What a corpus was when a store was built: each song's audio (path, size, mtime) and a hash of its labels.

A store records this table (``corpus/`` in the store) so that a rerun can tell what changed
since: songs added or removed, labels edited, audio replaced. Pure functions of a ``Corpus``
and the file system's ``stat``; nothing here reads audio or knows about stores.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.datasets.base import STATIC_COLUMNS, Corpus, SongRecord

__all__ = ["CorpusChanges", "compare_prints", "corpus_prints", "label_layout", "relative_path"]

_SHOWN = 5  # ids named per kind of change; the rest are counted


def relative_path(path: str | os.PathLike[str], root: Path) -> str:
    """``path`` relative to ``root`` when under it (as the store records song paths), else as it is."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _labels_hash(song: SongRecord) -> str:
    """A SHA-256 (first 32 hex digits) of a song's dynamic and static labels."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(song.times_s, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(song.arousal, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(song.valence, dtype=np.float32).tobytes())
    digest.update(np.array([song.static.get(name, np.nan) for name in STATIC_COLUMNS], dtype=np.float64).tobytes())
    return digest.hexdigest()[:32]


def _stat(path: Path) -> tuple[int, int]:
    """(size in bytes, mtime in ns) of a song's audio; (-1, -1) where this process cannot see it."""
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1
    return int(st.st_size), int(st.st_mtime_ns)


def corpus_prints(corpus: Corpus) -> dict[str, list[Any]]:
    """The corpus table a store records: ``song_id, path, size, mtime_ns, labels`` per song, in corpus order."""
    rows = [
        (song.song_id, relative_path(song.audio_path, corpus.root), *_stat(Path(song.audio_path)), _labels_hash(song))
        for song in corpus.songs
    ]
    names = ("song_id", "path", "size", "mtime_ns", "labels")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def label_layout(corpus: Corpus, **more: Any) -> str:
    """What every song's labels are read as (scales, dynamic or not, ``more``), as JSON: a change here is no mere edit."""
    layout = {"dynamic_scale": corpus.dynamic_scale, "static_scale": corpus.static_scale,
              "has_dynamic": corpus.has_dynamic, **more}  # fmt: skip
    return json.dumps(layout, sort_keys=True)


@dataclass
class CorpusChanges:
    """How a corpus differs from the one a store was built from (song ids per kind of change)."""

    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    relabelled: list[int] = field(default_factory=list)
    audio_changed: list[int] = field(default_factory=list)
    layout: str = ""  # the label layout's change, "" when the same

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.relabelled or self.audio_changed or self.layout)

    def describe(self) -> str:
        """One line: each kind of change with its count and first ids."""
        parts = [
            f"{len(ids)} {what} ({_ids(ids)})"
            for what, ids in (
                ("songs added", self.added),
                ("songs removed", self.removed),
                ("songs with edited labels", self.relabelled),
                ("songs whose audio changed", self.audio_changed),
            )
            if ids
        ]
        if self.layout:
            parts.append(f"labels read differently ({self.layout})")
        return "; ".join(parts)


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(map(str, ids[:_SHOWN]))
    return shown + (f", ... {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")


def compare_prints(
    old: Mapping[str, Sequence[Any]], new: Mapping[str, Sequence[Any]], old_layout: str = "", new_layout: str = ""
) -> CorpusChanges:
    """What changed from the corpus table ``old`` (a store's) to ``new`` (the corpus now)."""
    before = {int(i): row for i, *row in zip(old["song_id"], old["path"], old["size"], old["mtime_ns"], old["labels"])}
    after = {int(i): row for i, *row in zip(new["song_id"], new["path"], new["size"], new["mtime_ns"], new["labels"])}
    changes = CorpusChanges(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
    )
    for song_id in sorted(set(before) & set(after)):
        (path_a, size_a, mtime_a, labels_a), (path_b, size_b, mtime_b, labels_b) = before[song_id], after[song_id]
        if labels_a != labels_b:
            changes.relabelled.append(song_id)
        if (str(path_a), int(size_a), int(mtime_a)) != (str(path_b), int(size_b), int(mtime_b)):
            changes.audio_changed.append(song_id)
    if old_layout and new_layout and old_layout != new_layout:
        changes.layout = f"{_plain(old_layout)}, now {_plain(new_layout)}"
    return changes


def _plain(layout: str) -> str:
    d = json.loads(layout)
    kind = "dynamic" if d.get("has_dynamic") else "static only"
    frames = f", {d['frames_per_window']} frames a window" if "frames_per_window" in d else ""
    return f"{kind}, scales {d.get('dynamic_scale')} / {d.get('static_scale')}{frames}"
