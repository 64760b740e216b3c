"""Batches in, predictions and losses out: the loader, a model's forward pass, the task's loss."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from mer_zoo.batch import collate_batch
from mer_zoo.training.runtime import autocast

__all__ = ["ShuffledBatches", "evaluate_model", "forward", "make_loader", "task_loss"]


class ShuffledBatches(torch.utils.data.Sampler[list[int]]):
    """Batches of a new order each epoch: ``torch.randperm(n, generator=generator)``, cut into ``batch_size`` pieces.

    One permutation per epoch and nothing else drawn, so epoch ``e`` sees the ``e``-th
    permutation of a ``torch.Generator`` seeded like the run (``RandomSampler`` draws a second,
    unused one each epoch, and ``DataLoader`` a worker seed, from the same generator).
    A last batch of one window (of a larger ``batch_size``) is dropped: BatchNorm cannot train on it.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator | None = None) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (rest > 1)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=self.generator).tolist()
        for start in range(0, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            if len(batch) > 1 or self.batch_size == 1:
                yield batch


def make_loader(
    dataset: Any,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
    targets: np.ndarray | None = None,
) -> DataLoader:
    """Batches of ``(features, target)`` from a FeatureDataset, each read whole by its ``__getitems__``.

    Every window of a batch goes straight into one tensor (page-locked with ``pin_memory``
    and no workers; with workers the loader pins it), normalised and augmented in place,
    and reaches the loop with no collate copy. Shuffled batches come from
    :class:`ShuffledBatches` on ``generator``; loader workers (``num_workers``) are seeded
    from a generator of their own, so neither the order nor torch's global generator
    (dropout, augmentation) moves when a loader starts. ``targets`` (one row per window)
    replace the dataset's own window means.
    """
    batches: torch.utils.data.Sampler[list[int]]
    if shuffle:
        batches = ShuffledBatches(len(dataset), batch_size, generator)
    else:
        batches = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(dataset), batch_size, False)
    if pin_memory and num_workers == 0:
        dataset = copy.copy(dataset)  # the caller's dataset keeps serving ordinary memory
        dataset.pin_memory = True
    targets = None if targets is None else np.ascontiguousarray(targets, dtype=np.float32)
    # DataLoader draws its workers' base seed even without workers: never from the run's generators.
    worker_seeds = torch.Generator().manual_seed(generator.initial_seed() + 1 if generator is not None else 0)
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=partial(collate_batch, targets=targets),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        generator=worker_seeds,
        pin_memory=pin_memory,
    )


def forward(model: torch.nn.Module, x: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
    """``model(x)``, or ``model(x, n_frames=F)`` for a temporal model on the dynamic task (``(B, F, 2)``)."""
    return model(x) if n_frames is None else model(x, n_frames=n_frames)


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, n_frames: int | None = None
) -> np.ndarray:
    """Predictions ``(n, 2)`` (or ``(n, F, 2)`` with ``n_frames``) of ``model`` over ``loader``, in its order."""
    model.eval()
    out = []
    for x, _ in loader:
        with autocast(device):
            out.append(forward(model, x.to(device, non_blocking=True), n_frames).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 2), dtype=np.float32)


def task_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE; for frame targets ``(B, F, 2)`` over the labelled frames only, a ``(B, 2)`` prediction held over them."""
    if target.ndim == 2:
        return torch.nn.functional.mse_loss(prediction, target)
    if prediction.ndim == 2:
        prediction = prediction.unsqueeze(1).expand_as(target)
    labelled = ~torch.isnan(target)
    diff = torch.where(labelled, prediction - torch.nan_to_num(target), torch.zeros_like(prediction))
    return diff.square().sum() / labelled.sum().clamp(min=1)
