"""The last step of ``add-features``: a new store file holding the old store plus the added sets.

Every group of the old store is copied as it is (HDF5 object copy: same bytes, chunks,
compression and attributes), except the sets being replaced and ``failures``; each added
set is laid out in the old store's row order from the side file, with NaN rows for songs
that failed in it; ``failures`` gets one row per added set for each such song. The result
is written to ``STORE.partial``; the caller moves it over the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mer_zoo.errors import MerZooError
from mer_zoo.store.layout import FAILURES, LIBVER, STR, set_path

__all__ = ["merge_sets"]

_SKIPPED = ("features", "failures", "mel")  # rebuilt below (mel is a soft link into features)


def merge_sets(
    store: Path, side: Path, songs: Sequence[Any], new_sets: Sequence[str], old_sets: Sequence[str]
) -> list[tuple[int, str]]:
    """Write ``STORE.partial``: ``store`` with the sets ``new_sets`` of the finished side file ``side``.

    Args:
        store: the complete store (only read).
        side: the side file of the add, holding ``new_sets`` for every song it did not fail on.
        songs: the store's songs (``song_id``, ``start_s``, ``first_row``), in any order.
        new_sets: the sets added (replacing those of the same name).
        old_sets: the store's sets, in order.

    Returns:
        ``(song_id, reason)`` of each song that failed in the new sets.
    """
    out = store.with_name(store.name + ".partial")
    try:
        with h5py.File(store, "r") as old, h5py.File(side, "r") as added, h5py.File(out, "w", libver=LIBVER) as f:
            f.attrs.update(dict(old.attrs))
            for name in old:
                if name not in _SKIPPED:
                    old.copy(old[name], f, name=name)
            features = f.create_group("features")
            for name in old_sets:
                if name not in new_sets:
                    old.copy(old[f"features/{name}"], features, name=name)
            rows = _side_rows(added)
            for name in new_sets:
                _fill(f, added[set_path(name)], songs, rows, int(old["segments/song_id"].shape[0]), side)
            failed = _read_failures(added["failures"])
            replaced = set(new_sets) & set(old_sets)
            _write_failures(f, old["failures"], failed, new_sets, replaced, {song.song_id for song in songs})
            sets = [*old_sets, *(name for name in new_sets if name not in old_sets)]
            f.attrs["sets"] = json.dumps(sets)
            if "mel" in sets:
                f["mel"] = h5py.SoftLink("/" + set_path("mel"))
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return [(song_id, reason) for song_id, _, reason in failed]


def _side_rows(added: h5py.File) -> dict[int, tuple[int, int, np.ndarray]]:
    """Each song of the side file: its first row, its row count and its window starts."""
    starts = added["segments/start_s"][:]
    found = zip(added["songs/song_id"][:], added["songs/first_segment"][:], added["songs/n_segments"][:])
    return {int(i): (int(first), int(n), starts[first : first + n]) for i, first, n in found}


def _fill(f: h5py.File, src: h5py.Dataset, songs: Sequence[Any], rows: dict[int, Any], n_rows: int, side: Path) -> None:
    """The set ``src`` of the side file in the store's row order (NaN for songs it lacks), same layout as ``src``."""
    row = src.shape[1:]
    dst = f.create_dataset(
        src.name, shape=(n_rows, *row), maxshape=(None, *row), chunks=src.chunks, dtype=src.dtype,
        compression=src.compression, compression_opts=src.compression_opts,
    )  # fmt: skip
    dst.attrs.update(dict(src.attrs))
    for song in songs:
        at, n = song.first_row, len(song.start_s)
        if song.song_id not in rows:
            dst[at : at + n] = np.nan
            continue
        first, count, starts = rows[song.song_id]
        if count != n or not np.array_equal(starts, song.start_s):
            raise MerZooError(
                f"{side}: holds other windows for song {song.song_id} than the store (was the store rebuilt?); "
                "delete it and run add-features again"
            )
        dst[at : at + n] = src[first : first + n]


def _read_failures(group: h5py.Group) -> list[tuple[int, str, str]]:
    ids, paths, reasons = group["song_id"][:], group["path"].asstr()[:], group["reason"].asstr()[:]
    return [(int(i), str(p), str(r)) for i, p, r in zip(ids, paths, reasons)]


def _write_failures(
    f: h5py.File, old: h5py.Group, failed: list[tuple[int, str, str]], new_sets: Sequence[str], replaced: set[str],
    store_songs: set[int],
) -> None:  # fmt: skip
    """The old failures (less those of replaced sets for songs in the store), then one row per new set and failed song."""
    columns = {name: (old[name].asstr()[:] if old[name].dtype == STR else old[name][:]) for name in FAILURES}
    stale = np.isin(columns["set"], sorted(replaced)) & np.isin(columns["song_id"], sorted(store_songs))
    rows = [tuple(columns[name][i] for name in FAILURES) for i in np.flatnonzero(~stale)]
    rows += [(song_id, path, reason, name) for song_id, path, reason in failed for name in new_sets]
    for i, name in enumerate(FAILURES):
        dset = f.create_dataset(
            f"failures/{name}", shape=(len(rows),), maxshape=(None,), chunks=old[name].chunks, dtype=old[name].dtype
        )
        if rows:
            dset[:] = [row[i] for row in rows]
