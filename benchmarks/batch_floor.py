"""``bench_dataset.py --batches``: batches of 32 against the ``preadv`` floor, and the data share of an epoch.

Two measurements on one store, warm page cache, in one run:

- items/s of random batches of 32 (the same windows, the same order for every reader):
  ``os.preadv`` of each window's bytes into one reused buffer (the floor), then
  ``FeatureDataset.__getitems__`` + ``collate_batch`` (what ``make_loader`` reads) and
  ``FeatureDataset[i]`` + ``default_collate`` (the per-item path), raw and normalised;
  medians of interleaved repeats;
- for each built-in trainable model, one epoch of ``mer_zoo.training.train`` batched and
  with the loader swapped for the per-item one: the loop's own ``data_seconds`` (waiting
  for training batches) over the epoch's ``seconds`` (training and validation).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler, default_collate

from mer_zoo.batch import collate_batch
from mer_zoo.data import FeatureDataset, Normalizer
from mer_zoo.models import get_model, get_model_info, list_models
from mer_zoo.store import FeatureStore
from mer_zoo.training import TrainConfig, train
from mer_zoo.training.batches import ShuffledBatches

BATCH = 32


def floor_reader(store: Path, batches: list[np.ndarray]) -> Callable[[], None]:
    """The floor: each window's bytes ``preadv``-ed into one reused ``(32, D, T)`` buffer, nothing else."""
    with FeatureStore(store) as fs:
        offsets, shape = fs.offsets("mel"), fs.set_spec("mel").shape
    assert offsets is not None, "the floor needs an uncompressed store"
    fd = os.open(store, os.O_RDONLY)
    buf = np.empty((BATCH, *shape), dtype=np.float32)
    view, size = memoryview(buf).cast("B"), buf[0].nbytes

    def run() -> None:
        for b in batches:
            for j, offset in enumerate(offsets[b].tolist()):
                os.preadv(fd, [view[j * size : (j + 1) * size]], offset)

    return run


def rates(store: Path, items: int, repeats: int) -> dict[str, float]:
    """Median items/s of each reader over ``repeats`` interleaved rounds of random batches of 32."""
    order = np.random.default_rng(1).integers(0, len(FeatureDataset(store)), items)
    batches = [order[i : i + BATCH] for i in range(0, items, BATCH)]
    plain = FeatureDataset(store)
    normed = FeatureDataset(store, normalizer=Normalizer.fit(plain))

    def batched(ds: FeatureDataset) -> Callable[[], None]:
        def run() -> None:
            for b in batches:
                collate_batch(ds.__getitems__(b))  # each batch dropped before the next, as a loop drops it

        return run

    def per_item(ds: FeatureDataset) -> Callable[[], None]:
        def run() -> None:
            for b in batches:
                default_collate([ds[int(i)] for i in b])

        return run

    runs = {
        "floor: os.preadv of the same bytes into one reused buffer": floor_reader(store, batches),
        "after: __getitems__ + collate_batch": batched(plain),
        "before: FeatureDataset[i] + default_collate": per_item(plain),
        "after, normalised": batched(normed),
        "before, normalised": per_item(normed),
    }
    found: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # the page cache and the handles warm
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            found[name].append(items / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in found.items()}


class _Items(Dataset):
    """A FeatureDataset item by item (no ``__getitems__``), the task's targets beside it."""

    def __init__(self, ds: FeatureDataset, targets: np.ndarray | None) -> None:
        self.ds, self.targets = ds, None if targets is None else np.asarray(targets, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.ds[i]
        return x, y if self.targets is None else torch.from_numpy(np.ascontiguousarray(self.targets[i]))


def per_item_loader(dataset: FeatureDataset, batch_size: int, *, shuffle: bool, generator: Any = None,
                    targets: Any = None, **_: Any) -> DataLoader:  # fmt: skip
    """``make_loader``'s batches, each window read by ``ds[i]`` and stacked by torch's collate."""
    order = ShuffledBatches(len(dataset), batch_size, generator) if shuffle else None
    batches = order or BatchSampler(SequentialSampler(range(len(dataset))), batch_size, False)
    return DataLoader(_Items(dataset, targets), batch_sampler=batches, generator=torch.Generator())


def trainable_models() -> list[str]:
    """The built-in models trained over epochs (fitted ones, mean and classical, have no epoch)."""
    found = []
    for name in list_models():
        model = get_model(name, n_mels=128)
        trained = getattr(model, "trainable", True) and not getattr(model, "fitted", False)
        if get_model_info(name).source == "built-in" and trained:
            found.append(name)
    return found


def epoch_share(store: Path, model: str, out: Path, per_item: bool, device: str) -> tuple[float, float]:
    """One epoch of ``train`` on ``device`` (AMP on CUDA): (data seconds, epoch seconds) from its history."""
    from rich.console import Console

    import mer_zoo.training.loop as loop

    swapped = loop.make_loader
    if per_item:
        loop.make_loader = per_item_loader  # type: ignore[assignment]
    try:
        config = TrainConfig(model=model, features=store, out=out, epochs=1, batch_size=BATCH, device=device)
        run = train(config, progress=False, console=Console(quiet=True))
    finally:
        loop.make_loader = swapped
    history = pd.read_csv(run / "history.csv")
    return float(history["data_seconds"].iloc[0]), float(history["seconds"].iloc[0])


def main(store: Path, items: int, repeats: int, models: list[str], device: str = "cpu", share_repeats: int = 3) -> None:
    """Print both tables (markdown) for BENCHMARKS.md."""
    found = rates(store, items, repeats)
    floor = next(iter(found.values()))
    n = len(FeatureDataset(store))
    print(f"\nRandom batches of {BATCH} from a store of {n} windows (128 x 431 float32), warm cache,")
    print(f"{items} windows per run, items/s, median of {repeats} interleaved runs, 1 torch thread:\n")
    print("| reader | items/s | vs floor |")
    print("|---|---:|---:|")
    for name, rate in found.items():
        print(f"| {name} | {rate:,.0f} | {rate / floor:.2f}x |")
    where = "CPU, all cores" if device == "cpu" else f"{device}, AMP"
    print(f"\nShare of data time in one training epoch (`train`, {BATCH} per batch, {where}):\n")
    print(f"Medians of {share_repeats} interleaved epochs per path; share = data s / epoch s of each epoch.\n")
    print("| model | after: data s / epoch s | share | before (per item): data s / epoch s | share |")
    print("|---|---:|---:|---:|---:|")
    names = models or trainable_models()
    epoch_share(store, names[0], store.parent / "runs", False, device)  # warm-up: imports, caches, kept buffers
    for model in names:
        found_s: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(share_repeats):
            for per_item in (False, True):
                found_s[per_item].append(epoch_share(store, model, store.parent / "runs", per_item, device))
        cells = []
        for per_item in (False, True):
            data_s = statistics.median(d for d, _ in found_s[per_item])
            epoch_s = statistics.median(e for _, e in found_s[per_item])
            share = statistics.median(d / e for d, e in found_s[per_item])
            cells.append(f"{data_s:.3f} / {epoch_s:.1f} | {share:.1%}")
        print(f"| {model} | {' | '.join(cells)} |", flush=True)
