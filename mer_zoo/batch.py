"""Whole batches for torch's DataLoader: one tensor per batch, handed over without a collate copy.

torch's DataLoader asks a dataset with ``__getitems__`` for a batch's items in one call and
passes what it returns to its ``collate_fn``. ``FeatureDataset.__getitems__`` returns a
:class:`WindowBatch`: the batch's windows already in one ``(B, ...)`` tensor and its targets,
seen as a sequence of ``(features, target)`` items so that torch's default collate (and any
code that walks items) still works. :func:`collate_batch` returns the two tensors as they are.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import torch
from torch.utils.data import default_collate, get_worker_info

__all__ = ["WindowBatch", "collate_batch", "empty_batch"]


class _Buffers:
    """Batch memory used again: a buffer returns to service once no tensor or view holds it.

    A fresh multi-megabyte array per batch costs a page fault per 4 KiB whenever the C
    allocator hands the memory back to the system between batches (it often does, depending
    on the heap's layout). Each batch here is a new numpy view of a kept buffer; the tensor
    made from it holds the view, so the view's weak reference dies exactly when the last
    tensor, view or array sharing the batch is gone. ``per_shape`` buffers of the
    ``shapes`` shapes used last are kept.
    """

    def __init__(self, per_shape: int = 2, shapes: int = 4) -> None:
        self.per_shape, self.shapes = per_shape, shapes
        self._slots: OrderedDict[tuple[int, ...], list[tuple[np.ndarray, weakref.ref[np.ndarray]]]] = OrderedDict()

    def tensor(self, shape: tuple[int, ...]) -> torch.Tensor:
        slots = self._slots.setdefault(shape, [])
        self._slots.move_to_end(shape)
        while len(self._slots) > self.shapes:
            self._slots.popitem(last=False)
        free = next((i for i, (_, lent) in enumerate(slots) if lent() is None), None)
        base = slots[free][0] if free is not None else np.empty(shape, dtype=np.float32)
        view = base.view()
        if free is not None:
            slots[free] = (base, weakref.ref(view))
        elif len(slots) < self.per_shape:
            slots.append((base, weakref.ref(view)))
        return torch.from_numpy(view)


_BUFFERS = _Buffers()


def empty_batch(shape: Sequence[int], pin: bool = False) -> torch.Tensor:
    """An uninitialised float32 batch: page-locked when ``pin`` (CUDA present, loader's own process), else reused memory.

    Page-locked memory comes from torch's caching host allocator; ordinary memory from
    buffers this process keeps for the shapes it reads (see ``_Buffers``).
    """
    if pin and get_worker_info() is None and torch.cuda.is_available():
        return torch.empty(tuple(shape), dtype=torch.float32, pin_memory=True)
    return _BUFFERS.tensor(tuple(int(n) for n in shape))


class WindowBatch(Sequence[tuple[torch.Tensor, torch.Tensor]]):
    """A batch read whole: ``features`` ``(B, ...)``, ``targets`` ``(B, 2)`` and the dataset ``indices`` it holds.

    As a sequence it is its ``B`` items ``(features[j], targets[j])``, views made on demand.
    """

    def __init__(self, features: torch.Tensor, targets: torch.Tensor, indices: np.ndarray) -> None:
        self.features, self.targets, self.indices = features, targets, indices

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @overload
    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor]: ...
    @overload
    def __getitem__(self, j: slice) -> list[tuple[torch.Tensor, torch.Tensor]]: ...
    def __getitem__(self, j: int | slice) -> Any:
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(len(self)))]
        return self.features[j], self.targets[j]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return (self[j] for j in range(len(self)))


def collate_batch(batch: Any, targets: np.ndarray | None = None) -> Any:
    """A DataLoader ``collate_fn``: a WindowBatch's tensors as they are (no copy), anything else collated as torch does.

    ``targets`` (one row per dataset window: the task's, ``(n, 2)`` or ``(n, F, 2)``)
    replace the dataset's window means.
    """
    if not isinstance(batch, WindowBatch):
        if targets is not None:
            raise TypeError("collate_batch: task targets need the batches of FeatureDataset.__getitems__")
        return default_collate(batch)
    y = batch.targets if targets is None else torch.from_numpy(targets[batch.indices])
    return batch.features, y
