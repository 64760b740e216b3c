"""Dataset reads: FeatureDataset against one np.load per clip (the original design).

Writes a store of >= 2 GB of random spectrograms (default feature settings, 128 x 431) and
the first ``--items`` of them again as per-clip ``.npy`` files into ``bench_out/dataset``,
then measures, side by side on the same windows:

- random-access items/s with a warm page cache, and cold (the files' cached pages dropped
  before each repeat);
- one epoch through ``DataLoader(batch_size=32, shuffle=True)`` with 0 and 2 workers;
- resident memory (VmRSS of the process and of each worker) during one epoch over the
  whole store, in a fresh process, for FeatureDataset and for a whole-file ``np.memmap``.

With ``--batches`` it measures instead, on a store of ``--songs`` songs (120 by default):
random batches of 32 through ``FeatureDataset.__getitems__`` (what ``mer-zoo train`` reads)
and through ``FeatureDataset[i]`` + ``default_collate`` (the per-item path), against the
floor: ``os.preadv`` of the same bytes into one reused buffer; then the share of data time
in one training epoch of each built-in trainable model, batched and per item.

Run: ``.venv/bin/python benchmarks/bench_dataset.py`` (``--help`` for sizes). The store and
``.npy`` files are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from mer_zoo.config import FeatureConfig
from mer_zoo.data import FeatureDataset
from mer_zoo.store.reader import FeatureStore
from mer_zoo.store.writer import SongFeatures, StoreWriter

OUT = Path(__file__).resolve().parents[1] / "bench_out" / "dataset"
CONFIG = FeatureConfig()
WINDOWS_PER_SONG = 6


class NpyDataset(Dataset):
    """The original design: one ``.npy`` file per clip, one ``np.load`` per item."""

    def __init__(self, folder: Path, n: int, targets: np.ndarray) -> None:
        self.paths = [folder / f"{i}.npy" for i in range(n)]
        self.targets = targets[:n]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.load(self.paths[i])).unsqueeze(0), torch.from_numpy(self.targets[i].copy())


class NotebookDataset(Dataset):
    """The original notebook's Dataset as written: a pandas row per item, np.load, FloatTensor."""

    def __init__(self, folder: Path, n: int, targets: np.ndarray) -> None:
        self.folder = folder
        songs = np.arange(n) // WINDOWS_PER_SONG
        self.data = pd.DataFrame({"song_id": songs, "arousal": targets[:n, 0], "valence": targets[:n, 1]})

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.data.iloc[idx]
        seg = idx % WINDOWS_PER_SONG
        mel_spec = np.load(self.folder / f"{int(row['song_id']) * WINDOWS_PER_SONG + seg}.npy")
        return torch.FloatTensor(mel_spec), torch.FloatTensor([row["arousal"], row["valence"]])


class MemmapDataset(Dataset):
    """The alternative we measured and did not keep: the whole store as one ``np.memmap``."""

    def __init__(self, store: Path) -> None:
        with FeatureStore(store) as fs:
            self.offsets = fs.mel_offsets()
            seg = fs.segments
        self.targets = seg[["arousal", "valence"]].to_numpy(np.float32)
        self.store, self.count = store, CONFIG.n_mels * CONFIG.frames
        self._map: np.memmap | None = None

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._map is None:
            self._map = np.memmap(self.store, dtype=np.uint8, mode="r")
        mel = np.frombuffer(self._map, np.float32, self.count, int(self.offsets[i])).copy()
        mel = mel.reshape(1, CONFIG.n_mels, CONFIG.frames)
        return torch.from_numpy(mel), torch.from_numpy(self.targets[i].copy())


def write_data(size_gb: float, n_npy: int) -> tuple[Path, Path, np.ndarray]:
    """A store of at least ``size_gb`` GB and the first ``n_npy`` windows as .npy files."""
    OUT.mkdir(parents=True, exist_ok=True)
    store, npy = OUT / "features.h5", OUT / "npy"
    npy.mkdir(exist_ok=True)
    item = CONFIG.n_mels * CONFIG.frames * 4
    n_songs = -(-int(size_gb * 1e9) // (item * WINDOWS_PER_SONG))
    rng = np.random.default_rng(0)
    writer = StoreWriter.create(store, CONFIG, dataset="bench", source_root=str(OUT))
    starts = 15.0 + 5.0 * np.arange(WINDOWS_PER_SONG)
    targets = []
    for s in range(n_songs):
        mel = rng.random((WINDOWS_PER_SONG, CONFIG.n_mels, CONFIG.frames), dtype=np.float32) * -80
        av = rng.uniform(-1, 1, (2, WINDOWS_PER_SONG)).astype(np.float32)
        writer.append_song(SongFeatures(s, f"{s}.mp3", 45.0, {"mel": mel}, starts, starts + 5, av[0], av[1]))
        for j in range(WINDOWS_PER_SONG):
            if s * WINDOWS_PER_SONG + j < n_npy:
                np.save(npy / f"{s * WINDOWS_PER_SONG + j}.npy", mel[j])
        targets.append(av.T)
    writer.close(complete=True)
    np.save(OUT / "targets.npy", np.concatenate(targets))
    return store, npy, np.load(OUT / "targets.npy")


def drop_cache(paths: list[Path]) -> None:
    """Evict these files' pages from the page cache (posix_fadvise DONTNEED; they are clean)."""
    os.sync()
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def cached_fraction(paths: list[Path]) -> float:
    """Share of these files' pages in the page cache, from util-linux ``fincore`` (NaN if absent)."""
    if shutil.which("fincore") is None:
        return float("nan")
    res, size = 0, 0
    for start in range(0, len(paths), 500):
        out = subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES,SIZE", *map(str, paths[start : start + 500])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        res += sum(int(v) for v in out[0::2])
        size += sum(int(v) for v in out[1::2])
    return res / size


def items_per_s(get: Callable[[int], object], order: np.ndarray) -> float:
    t0 = time.perf_counter()
    for i in order:
        get(int(i))
    return len(order) / (time.perf_counter() - t0)


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved_medians(
    runs: dict[str, Callable[[], float]], repeats: int, before: Callable[[str], None] | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Median rate and minor page faults of each run over ``repeats`` rounds of all runs (load hits all alike)."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    faults: dict[str, list[int]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            if before is not None:
                before(name)
            f0 = _minor_faults()
            rates[name].append(run())
            faults[name].append(_minor_faults() - f0)
    return {name: statistics.median(r) for name, r in rates.items()}, {
        n: statistics.median(f) for n, f in faults.items()
    }


def warm_cache(path: Path) -> None:
    """Read a file once so that its pages are in the page cache."""
    buf = bytearray(8 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def _rss_kb(pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (FileNotFoundError, StopIteration):
        return 0


def _children() -> list[int]:
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


def epoch_child(reader: str, workers: int, items: int) -> dict[str, float]:
    """One shuffled epoch in this fresh process, sampling VmRSS of the process and its workers.

    ``reader`` is ``npy``, ``FeatureDataset`` or ``memmap``; ``items`` 0 means the whole store.
    """
    store = OUT / "features.h5"
    if reader == "npy":
        ds: Dataset = NpyDataset(OUT / "npy", items, np.load(OUT / "targets.npy"))
        for path in ds.paths:
            warm_cache(path)
    else:
        ds = FeatureDataset(store) if reader == "FeatureDataset" else MemmapDataset(store)
        ds = Subset(ds, range(items)) if items else ds
        warm_cache(store)
    loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers)
    base, f0 = _rss_kb(), _minor_faults()
    peak_main, peak_worker, n = base, 0, 0
    t0 = time.perf_counter()
    for mel, _ in loader:
        n += len(mel)
        peak_main = max(peak_main, _rss_kb())
        peak_worker = max([peak_worker, *(_rss_kb(p) for p in _children())])
        del mel
    return {
        "rate": n / (time.perf_counter() - t0),
        "faults_per_item": (_minor_faults() - f0) / n,
        "base_mb": base / 1024,
        "peak_main_mb": peak_main / 1024,
        "peak_worker_mb": peak_worker / 1024,
    }


def run_epoch(reader: str, workers: int, items: int) -> dict[str, float]:
    """``epoch_child`` in a fresh interpreter, so that no reader inherits another's heap or cache state."""
    cmd = [sys.executable, __file__, "--child", reader, "--workers", str(workers), "--items", str(items)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gb", type=float, default=2.05, help="store size in GB (default 2.05)")
    ap.add_argument("--items", type=int, default=2000, help="windows compared with .npy files (default 2000)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep bench_out/dataset")
    ap.add_argument("--batches", action="store_true", help="batches of 32 against the preadv floor, epoch shares")
    ap.add_argument("--songs", type=int, default=120, help="songs of the --batches store (default 120)")
    ap.add_argument("--models", default="", help="--batches: comma-separated models (default: every built-in)")
    ap.add_argument("--device", default="cpu", help="--batches: the epochs' device (cuda: with AMP)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(1)  # two threads stacking batches on two busy cores ran 60x slower
    if args.child:
        print(json.dumps(epoch_child(args.child, args.workers, args.items)))
        return

    if args.batches:
        from batch_floor import main as batches_main

        store, _, _ = write_data(args.songs * WINDOWS_PER_SONG * CONFIG.n_mels * CONFIG.frames * 4 / 1e9, 0)
        batches_main(store, args.items, args.repeats, [m for m in args.models.split(",") if m], args.device)
        if not args.keep:
            shutil.rmtree(OUT)
        return
    t0 = time.perf_counter()
    store, npy, targets = write_data(args.size_gb, args.items)
    size = store.stat().st_size
    print(
        f"wrote {size / 1e9:.2f} GB store and {args.items} .npy files in {time.perf_counter() - t0:.0f} s", flush=True
    )

    n = args.items
    order = np.random.default_rng(1).permutation(n)
    npy_ds = NpyDataset(npy, n, targets)
    notebook_ds = NotebookDataset(npy, n, targets)
    store_ds = FeatureDataset(store)
    h5 = h5py.File(store, "r")["mel"]
    batches = [order[i : i + 32] for i in range(0, n, 32)]

    def run_items(get: Callable[[int], object]) -> Callable[[], float]:
        return lambda: items_per_s(get, order)

    def run_fresh_memmap() -> float:
        ds = MemmapDataset(store)
        return items_per_s(ds.__getitem__, order)

    def run_batches(read: Callable[[np.ndarray], object]) -> Callable[[], float]:
        def run() -> float:
            t0 = time.perf_counter()
            for b in batches:
                read(b)
            return n / (time.perf_counter() - t0)

        return run

    def npy_batch(b: np.ndarray) -> torch.Tensor:
        return default_collate([npy_ds[int(i)] for i in b])

    base = "np.load per .npy file (original)"
    ours = "FeatureDataset[i] (preadv at chunk offsets)"
    runs = {
        base: run_items(npy_ds.__getitem__),
        "the notebook's Dataset as written (pandas iloc + np.load)": run_items(notebook_ds.__getitem__),
        ours: run_items(store_ds.__getitem__),
        "h5py dset[i]": run_items(lambda i: h5[i]),
        "np.memmap of the whole file, fresh map (first touch)": run_fresh_memmap,
        "batches of 32: np.load + default_collate": run_batches(npy_batch),
        "batches of 32: FeatureDataset.read": run_batches(store_ds.read),
    }
    for run in runs.values():
        run()  # warm the page cache and the handles
    warm, warm_faults = interleaved_medians(runs, args.repeats)
    files = [store, *npy_ds.paths]
    drop_cache(files)
    cold_share = cached_fraction(files)
    cold_runs = {base: runs[base], ours: runs[ours]}
    cold, _ = interleaved_medians(
        cold_runs, args.repeats, lambda name: drop_cache(npy_ds.paths if name == base else [store])
    )

    print(f"\nRandom access to {n} windows (128 x 431 float32) in shuffled order, items/s, median of {args.repeats}.")
    print(f"Cold: pages dropped with posix_fadvise(DONTNEED) before each run; {cold_share:.1%} left cached.\n")
    print("| reader | warm items/s | vs np.load | page faults / item | cold items/s | vs np.load |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rate in warm.items():
        ref = warm["batches of 32: np.load + default_collate"] if name.startswith("batches") else warm[base]
        cells = f"{cold[name]:,.0f} | {cold[name] / cold[base]:.1f}x" if name in cold else "- | -"
        print(f"| {name} | {rate:,.0f} | {rate / ref:.1f}x | {warm_faults[name] / n:.1f} | {cells} |")

    notebook = "the notebook's Dataset as written (pandas iloc + np.load)"
    print(f"\nFeatureDataset[i] vs the notebook's Dataset: {warm[ours] / warm[notebook]:.1f}x warm")
    reps = max(3, args.repeats // 2)
    print(f"\nOne epoch, DataLoader(batch_size=32, shuffle=True), the same {n} windows, warm, fresh process")
    print(f"per run (worker start-up included), items/s, median of {reps}:\n")
    print("| workers | np.load per file | FeatureDataset | ratio | page faults / item (main process) |")
    print("|---:|---:|---:|---:|---:|")
    for workers in (0, 2):
        runs = {r: (lambda r=r, w=workers: run_epoch(r, w, n)) for r in ("npy", "FeatureDataset")}
        results: dict[str, list[dict[str, float]]] = {r: [] for r in runs}
        for _ in range(reps):
            for r, run in runs.items():
                results[r].append(run())
        rate = {r: statistics.median(x["rate"] for x in v) for r, v in results.items()}
        faults = {r: statistics.median(x["faults_per_item"] for x in v) for r, v in results.items()}
        print(
            f"| {workers} | {rate['npy']:,.0f} | {rate['FeatureDataset']:,.0f} | "
            f"{rate['FeatureDataset'] / rate['npy']:.1f}x | {faults['npy']:.0f} vs {faults['FeatureDataset']:.0f} |"
        )

    print(f"\nResident memory during one shuffled epoch over the whole {size / 1e9:.2f} GB store (fresh process):\n")
    print("| reader | workers | items/s | RSS before | peak RSS main | peak RSS per worker | peak / store |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for reader, workers in (("FeatureDataset", 0), ("FeatureDataset", 2), ("memmap", 0)):
        r = run_epoch(reader, workers, 0)
        peak = max(r["peak_main_mb"], r["peak_worker_mb"])
        name = "np.memmap of the whole file" if reader == "memmap" else reader
        print(
            f"| {name} | {workers} | {r['rate']:,.0f} | {r['base_mb']:,.0f} MB | {r['peak_main_mb']:,.0f} MB | "
            f"{r['peak_worker_mb']:,.0f} MB | {peak * 2**20 / size:.1%} |"
        )
    if not args.keep:
        shutil.rmtree(OUT)


if __name__ == "__main__":
    main()
