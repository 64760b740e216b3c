"""Training throughput of cnn_small on CPU: windows read from the store vs per-clip .npy files.

The same windows (random log-mel-like values, the default 128 x 431 shape) are written once
into a feature store and once as the original notebook's ``song_{id}_seg_{j}.npy`` files.
For each source, one epoch of cnn_small (Adam, MSE, batch 32, the training process loads
the data, as ``mer-zoo train`` does by default) is timed, with the time spent waiting on
the DataLoader measured separately. Three sources: the store read batch-wise as
``mer-zoo train`` reads it (``make_loader``), the store through a plain per-item
DataLoader, and the original notebook's ``np.load`` per window. Medians of ``--repeats``.

    .venv/bin/python benchmarks/bench_train.py [--windows 384] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mer_zoo.config import FeatureConfig
from mer_zoo.data import FeatureDataset, Normalizer
from mer_zoo.models import get_model
from mer_zoo.store.writer import SongFeatures, StoreWriter
from mer_zoo.training import make_loader, use_all_cores

WINDOWS_PER_SONG = 6


def write_sources(root: Path, n_windows: int, config: FeatureConfig) -> tuple[Path, Path, np.ndarray]:
    """The same windows as a store and as per-clip .npy files; returns both paths and targets."""
    rng = np.random.default_rng(0)
    store = root / "features.h5"
    npy = root / "npy"
    npy.mkdir()
    n_songs = n_windows // WINDOWS_PER_SONG
    targets = rng.uniform(-0.8, 0.8, (n_songs * WINDOWS_PER_SONG, 2)).astype(np.float32)
    with StoreWriter.create(store, config, dataset="bench", source_root=str(root)) as writer:
        for s in range(n_songs):
            mel = rng.uniform(-80, 0, (WINDOWS_PER_SONG, config.n_mels, config.frames)).astype(np.float32)
            for j in range(WINDOWS_PER_SONG):
                np.save(npy / f"song_{s}_seg_{j}.npy", mel[j])
            rows = targets[s * WINDOWS_PER_SONG : (s + 1) * WINDOWS_PER_SONG]
            starts = 15.0 + config.clip_s * np.arange(WINDOWS_PER_SONG)
            writer.append_song(SongFeatures(
                song_id=s, path=f"{s}.mp3", duration_s=45.0, features={"mel": mel}, start_s=starts, end_s=starts + config.clip_s,
                arousal=rows[:, 0], valence=rows[:, 1], static={},
            ))  # fmt: skip
        writer.close(complete=True)
    return store, npy, targets


class NpyDataset(Dataset):
    """The original notebook's Dataset: one ``np.load`` per window, then the same normaliser."""

    def __init__(self, folder: Path, targets: np.ndarray, normalizer: Normalizer) -> None:
        self.folder, self.targets, self.normalizer = folder, targets, normalizer

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        mel = np.load(self.folder / f"song_{idx // WINDOWS_PER_SONG}_seg_{idx % WINDOWS_PER_SONG}.npy")
        mel = self.normalizer(mel[None])
        return torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32)), torch.from_numpy(self.targets[idx])


Loaders = Callable[[int], DataLoader]


def epoch(loaders: Loaders, seed: int) -> tuple[float, float]:
    """One training epoch of cnn_small; returns (seconds, seconds waiting on the loader)."""
    torch.manual_seed(seed)
    model = get_model("cnn_small")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = loaders(seed)
    waiting = 0.0
    start = tick = time.perf_counter()
    for x, y in loader:
        waiting += time.perf_counter() - tick
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tick = time.perf_counter()
    return time.perf_counter() - start, waiting


def read_rate(loaders: Loaders) -> float:
    """Windows per second through the loader with no model."""
    loader = loaders(0)
    start = time.perf_counter()
    n = sum(len(x) for x, _ in loader)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=384, help="windows per epoch (multiple of 6)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    threads = use_all_cores()
    config = FeatureConfig()
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        store, npy, targets = write_sources(Path(tmp), args.windows, config)
        normalizer = Normalizer.fit(FeatureDataset(store, "all"))
        store_ds = FeatureDataset(store, "all", normalizer=normalizer)
        npy_ds = NpyDataset(npy, targets, normalizer)

        def shuffled(ds: Dataset) -> Loaders:
            return lambda seed: DataLoader(
                ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed)
            )

        sources: dict[str, Loaders] = {
            "store, batch reads (`mer-zoo train`)": lambda seed: make_loader(
                store_ds, 32, shuffle=True, generator=torch.Generator().manual_seed(seed)
            ),
            "store, per-item DataLoader": shuffled(store_ds),
            "per-clip .npy (original notebook)": shuffled(npy_ds),
        }
        for loaders in sources.values():  # warm the page cache and the allocator once
            read_rate(loaders)
            epoch(loaders, seed=99)
        rows = []
        for name, loaders in sources.items():
            runs = [epoch(loaders, seed=r) for r in range(args.repeats)]
            secs = statistics.median(r[0] for r in runs)
            share = statistics.median(r[1] / r[0] for r in runs)
            reads = statistics.median(read_rate(loaders) for _ in range(args.repeats))
            rows.append((name, len(store_ds) / secs, share, reads))
    print(
        f"cnn_small, {args.windows} windows of {config.n_mels}x{config.frames}, batch 32, "
        f"{threads} torch threads, DataLoader in the training process, median of {args.repeats}"
    )
    print()
    print("| data source | training samples/s | data loading share of epoch | loader alone, windows/s |")
    print("|---|---:|---:|---:|")
    for name, rate, share, reads in rows:
        print(f"| {name} | {rate:.1f} | {100 * share:.1f}% | {reads:,.0f} |")
    print()
    print(f"store (batch reads) vs .npy training throughput: {rows[0][1] / rows[2][1]:.2f}x")
    worst = rows[0][2]
    if worst > 0.05:
        print(f"FAIL: data loading takes {100 * worst:.1f}% of the epoch from the store (target <= 5%)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
