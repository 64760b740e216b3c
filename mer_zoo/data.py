"""A torch Dataset over the feature store: direct reads of each window's bytes, song splits.

Every window of an uncompressed set is one contiguous chunk whose byte offset is known
(``FeatureStore.offsets``), so an item is one ``os.preadv`` of its bytes straight into
a fresh array: no libhdf5 call, no global lock, and no mapping that would grow the resident
memory as an epoch walks a large store (``benchmarks/bench_dataset.py`` measures this
against ``np.memmap`` and per-clip ``.npy`` files). Compressed stores fall back to h5py.

Batches take the same path whole: ``__getitems__`` (what torch's DataLoader calls for a batch)
reads every window straight into one batch tensor (page-locked for CUDA, else memory kept
and used again, :mod:`mer_zoo.batch`), then normalises and augments it in place, bit for bit
as item by item; ``collate_batch`` hands it to the loop without a copy.

The dataset holds no open file until its first read, and reopens whenever it finds itself
in a new process, so it pickles and works in DataLoader workers under fork and spawn.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import h5py
import numpy as np
import torch

from mer_zoo.augment import Augment
from mer_zoo.batch import WindowBatch, empty_batch
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError, MerZooError
from mer_zoo.normalize import Normalizer, pool_frames
from mer_zoo.splits import SongSplit
from mer_zoo.store import FeatureStore, set_path

__all__ = ["SPLIT_NAMES", "FeatureDataset", "Normalizer", "default_split", "pool_frames"]

SPLIT_NAMES = ("all", "train", "val", "test")


class _Source:
    """One process's open store: a raw file descriptor, or h5py for compressed stores."""

    def __init__(self, path: Path, feature_set: str, raw: bool, stamp: tuple[int, int, int]) -> None:
        self.pid = os.getpid()
        self.fd: int | None = None
        self.file: h5py.File | None = None
        if _stamp(path) != stamp:
            raise MerZooError(f"{path}: the store changed since the dataset was opened; open it again")
        if raw:
            self.fd = os.open(path, os.O_RDONLY)
        else:
            self.file = h5py.File(path, "r")
            self.data = self.file[set_path(feature_set)]

    def read_rows(self, out: np.ndarray, rows: np.ndarray, offsets: np.ndarray | None) -> None:
        """Window ``rows[j]`` into ``out[j]`` (C-contiguous): one ``preadv`` each at ``offsets[j]``, or h5py."""
        if self.fd is None:
            for j, row in enumerate(rows.tolist()):
                self.data.read_direct(out[j], np.s_[row])
            return
        size = out.nbytes // max(len(out), 1)
        view = memoryview(cast(Any, out)).cast("B")  # ndarray is a buffer
        for j, offset in enumerate(cast(np.ndarray, offsets).tolist()):
            if os.preadv(self.fd, [view[j * size : (j + 1) * size]], offset) != size:
                raise MerZooError(f"short read at byte {offset} of the store; it may be truncated")

    def __del__(self) -> None:
        # A handle inherited through fork belongs to the parent: leave it alone.
        if self.pid == os.getpid():
            if self.fd is not None:
                os.close(self.fd)
            elif self.file is not None:
                self.file.close()


def _stamp(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


class FeatureDataset(torch.utils.data.Dataset):
    """The windows of one split part of a feature store, as ``(features, [arousal, valence])``.

    Args:
        store_path: a finished ``features.h5``.
        split: ``all``, ``train``, ``val`` or ``test``: which part of ``songs`` to serve.
        songs: the song split; when None, ``train``/``val``/``test`` are parts of the default
            split, the one ``mer-zoo train --seed SEED`` uses (``random`` 70/15/15 by song).
        feature_set: which of the store's sets to serve (``mel`` by default).
        as_vector: serve a frame-level set as one vector per window, each feature's mean
            and std over time (for models that take vectors).
        normalizer: per-feature statistics applied to every item (fit them on the train part).
        augment: training-only augmentation, applied after normalisation; off when None.
        seed: the seed of the default split.
        skip_silent: leave out the windows the store flags silent (``segments/silent``).

    Items are float32 ``(1, D, frames)`` for frame-level sets (``(1, n_mels, frames)`` for
    ``mel``), ``(D,)`` for vectors, and the window's target float32 ``(2,)``.
    """

    def __init__(
        self,
        store_path: str | os.PathLike[str],
        split: str = "all",
        *,
        songs: SongSplit | None = None,
        feature_set: str = "mel",
        as_vector: bool = False,
        normalizer: Normalizer | None = None,
        augment: Augment | None = None,
        seed: int = 0,
        skip_silent: bool = False,
    ) -> None:
        self.store_path = Path(store_path)
        if split not in SPLIT_NAMES:
            raise InputError(f"unknown split part {split!r}: use {', '.join(SPLIT_NAMES)}")
        if augment is not None and split in ("val", "test"):
            raise InputError(f"augmentation applies to training items only, not to the {split} part")
        with FeatureStore(self.store_path) as store:
            self.spec = store.set_spec(feature_set)
            self.config: FeatureConfig = store.config
            self.dataset_name, self.window_labels = store.dataset, store.window_labels
            self.scales = {labels: store.scale(labels) for labels in ("dynamic", "static")}
            segments = store.segments
            failures = store.failures
            offsets = store.offsets(feature_set)
            silent = store.silent() if skip_silent else np.zeros(len(segments), dtype=bool)
        self.feature_set = self.spec.name
        self._stamp = _stamp(self.store_path)
        if songs is None and split != "all":
            songs = default_split(segments["song_id"].to_numpy(), seed)
        # Songs whose set failed when it was added to the store hold NaN rows there: never served.
        without = failures.song_id[failures["set"] == self.feature_set].to_numpy()
        usable = ~np.isin(segments["song_id"].to_numpy(), without) & ~silent
        if songs is None:
            rows = np.flatnonzero(usable)
            where = "the store"
        else:
            rows = np.flatnonzero(usable & np.isin(segments["song_id"].to_numpy(), songs.part(split)))
            where = f"the {split} part of split {songs.label()}"
        if rows.size == 0:
            raise MerZooError(f"{self.store_path}: no windows in {where}")
        self.split, self.songs = split, songs
        self.rows = rows
        self.song_ids = segments["song_id"].to_numpy()[rows]
        self.start_s = segments["start_s"].to_numpy()[rows]
        self.targets = segments[["arousal", "valence"]].to_numpy(dtype=np.float32)[rows]
        self._offsets = None if offsets is None else offsets[rows]
        self._stored = tuple(self.spec.shape)
        self.frame_level = self.spec.kind != "vector"
        self.as_vector = bool(as_vector and self.frame_level)
        self.item_shape = (2 * self._stored[0],) if self.as_vector else self._stored
        if normalizer is not None and normalizer.n_mels != self.item_shape[0]:
            raise MerZooError(
                f"{self.store_path}: normalizer has {normalizer.n_mels} features, set {self.feature_set!r} "
                f"serves {self.item_shape[0]}"
            )
        if augment is not None:
            if len(self.item_shape) != 2:
                raise InputError(f"augmentation needs frame-level windows; set {self.feature_set!r} serves vectors")
            augment.check(*self.item_shape)
        self.normalizer, self.augment = normalizer, augment
        self.pin_memory = False  # batches of __getitems__ in page-locked memory (make_loader sets it for CUDA)
        self._src: _Source | None = None

    @property
    def memory_mappable(self) -> bool:
        """True when items are read straight from their byte offsets (uncompressed store)."""
        return self._offsets is not None

    def __len__(self) -> int:
        return int(self.rows.size)

    def song_id(self, idx: int) -> int:
        """The song that item ``idx`` comes from."""
        return int(self.song_ids[idx])

    def _source(self) -> _Source:
        if self._src is None or self._src.pid != os.getpid():
            self._src = _Source(self.store_path, self.feature_set, self._offsets is not None, self._stamp)
        return self._src

    def _read_rows(self, out: np.ndarray, ks: np.ndarray) -> None:
        self._source().read_rows(out, self.rows[ks], None if self._offsets is None else self._offsets[ks])

    def read_raw(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Items ``indices`` as served before normalisation and augmentation, ``(len, *item_shape)``."""
        ks = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(ks), *self._stored), dtype=np.float32)
        self._read_rows(out, ks)
        return pool_frames(out) if self.as_vector else out

    def _batch(self, ks: np.ndarray, augment: bool, pin: bool) -> torch.Tensor:
        """Windows ``ks`` read straight into one batch tensor, normalised (and augmented) in place."""
        if self.as_vector:
            vectors = self.read_raw(ks)
            return torch.from_numpy(vectors if self.normalizer is None else self.normalizer.apply_(vectors))
        lead = (len(ks), 1) if len(self._stored) == 2 else (len(ks),)
        batch = empty_batch((*lead, *self._stored), pin)
        self._read_rows(batch.numpy().reshape(len(ks), *self._stored), ks)  # a view of the tensor's memory
        if self.normalizer is not None:
            self.normalizer.apply_(batch)
        return self.augment.apply_(batch) if augment and self.augment is not None else batch

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        """Frame-level windows get their channel axis: ``(..., D, T)`` -> ``(..., 1, D, T)``."""
        t = torch.from_numpy(x)
        return t.unsqueeze(-3) if len(self.item_shape) == 2 else t

    def read(self, indices: Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised items ``(len, 1, D, frames)`` or ``(len, D)`` in one tensor, never augmented, and targets."""
        ks = np.asarray(indices, dtype=np.int64)
        return self._batch(ks, augment=False, pin=False), torch.from_numpy(self.targets[ks])

    def __getitems__(self, indices: Sequence[int]) -> WindowBatch:
        """Items ``indices`` for torch's DataLoader as one batch: one tensor, one ``preadv`` per window.

        Normalised and (training part) augmented in place, drawing what ``__getitem__`` would
        draw item by item; page-locked when ``pin_memory``. See :mod:`mer_zoo.batch`.
        """
        ks = np.asarray(indices, dtype=np.int64)
        if ks.size and not (-len(self) <= ks.min() and ks.max() < len(self)):
            raise IndexError(f"items {ks.min()}..{ks.max()} out of range for {len(self)} windows")
        ks %= len(self)
        return WindowBatch(self._batch(ks, augment=True, pin=self.pin_memory), torch.from_numpy(self.targets[ks]), ks)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = operator.index(idx)
        if not -len(self) <= k < len(self):
            raise IndexError(f"item {idx} out of range for {len(self)} windows")
        k %= len(self)
        x = self.read_raw([k])[0]
        if self.normalizer is not None:
            self.normalizer.apply_(x)
        item = self._tensor(x)
        if self.augment is not None:
            item = self.augment(item)
        return item, torch.from_numpy(self.targets[k].copy())

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_src"] = None  # each process opens its own
        return state


def default_split(song_ids: Sequence[int] | np.ndarray, seed: int = 0) -> SongSplit:
    """The split ``mer-zoo train --seed SEED`` uses when given none: ``random`` 70/15/15 by song."""
    from mer_zoo.splits import parse_split

    return parse_split("random", [int(s) for s in np.unique(song_ids)], seed=seed)
