"""Log-mel speed: milliseconds per song for librosa, the old ``log_mel`` and every backend of ``log_mel_windows``.

A song here is what a build worker transforms: six 5-s windows at 44.1 kHz cut from one
30-s decoded span (DEAM's defaults: n_fft 2048, hop 512, 128 mels up to 8 kHz, top_db 80).
The audio is seeded noise under a slow envelope (the cost does not depend on the content).
Each repeat runs every method once on ``--songs`` spans, in turn, so that load on a shared
machine falls on all of them alike; the table shows medians over the repeats, each method's
ratio to librosa, and its largest difference from librosa in dB over those songs.

Methods: librosa (``melspectrogram`` + ``power_to_db`` per window, as the original notebook);
``log_mel`` before issue 12 (scipy.fft on stacked batches of 3 windows, kept below as the
baseline); ``log_mel_windows`` with the numpy backend; the torch backend on the CPU with one
thread, per song and with 8 songs' windows in one ``log_mel_batch``; and, when torch sees a
GPU, the same two on CUDA (synchronised; the batch includes the copies to and from the GPU).

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_mel.py`` (``--help`` for sizes). Other settings
show what sharing frames buys: ``--window-step 2.5 --sample-rate 22050 --hop-length 441`` puts
overlapping windows on one hop grid (half of each window's frames shared), while
``--window-step 2.5`` alone overlaps them off the grid (nothing shared).
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one thread, as in a build worker
    os.environ.setdefault(_name, "1")

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from mer_zoo.audio.mel_basis import mel_plan
from mer_zoo.audio.melspec import log_mel_batch, log_mel_windows
from mer_zoo.config import FeatureConfig

WINDOWS = 6
BATCH = 3  # windows per call of the old log_mel in the build workers
SONGS_PER_BATCH = 8


def log_mel_before(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The batch path of ``log_mel`` before issue 12: whole stacked windows, one big rfft."""
    import scipy.fft

    dtype = np.float32 if config.top_db is not None and config.top_db <= 80 else np.float64
    batch = np.asarray(y, dtype=dtype)
    n_fft, hop = config.n_fft, config.hop_length
    window, basis, lo, hi = mel_plan(config, dtype)
    padded = np.pad(batch, ((0, 0), (n_fft // 2, n_fft // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
    spectrum = scipy.fft.rfft(frames * window, axis=-1)[..., lo:hi]
    power = spectrum.real**2 + spectrum.imag**2
    mel = np.matmul(basis, power.transpose(0, 2, 1))
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db -= 10.0 * np.log10(np.maximum(mel.max(axis=(1, 2), keepdims=True), 1e-10))
    if config.top_db is not None:
        db = np.maximum(db, db.max(axis=(1, 2), keepdims=True) - config.top_db)
    return db.astype(np.float32, copy=False)


def _offsets(config: FeatureConfig) -> list[int]:
    return [i * round(config.hop_s * config.sample_rate) for i in range(WINDOWS)]


def _spans(songs: int, seed: int, config: FeatureConfig) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n = _offsets(config)[-1] + config.clip_samples
    envelope = 0.2 + np.abs(np.sin(np.arange(n) / (0.7 * config.sample_rate)))
    return [(rng.standard_normal(n) * envelope).astype(np.float32) for _ in range(songs)]


def _methods(spans: list[np.ndarray], config: FeatureConfig, cuda: bool) -> dict[str, Callable[[], list[np.ndarray]]]:
    import librosa
    import torch

    torch.set_num_threads(1)
    n = config.clip_samples
    offsets = _offsets(config)

    def librosa_song(y: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                librosa.power_to_db(
                    librosa.feature.melspectrogram(
                        y=y[o : o + n],
                        sr=config.sample_rate,
                        n_fft=config.n_fft,
                        hop_length=config.hop_length,
                        n_mels=config.n_mels,
                        fmin=config.fmin,
                        fmax=config.fmax,
                    ),
                    ref=np.max,
                    top_db=config.top_db,
                )
                for o in offsets
            ]
        )

    def before(y: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                log_mel_before(np.stack([y[o : o + n] for o in offsets[i : i + BATCH]]), config)
                for i in range(0, WINDOWS, BATCH)
            ]
        )

    def batched(device: str) -> Callable[[], list[np.ndarray]]:
        def run() -> list[np.ndarray]:
            out: list[np.ndarray] = []
            for s in range(0, len(spans), SONGS_PER_BATCH):
                group = spans[s : s + SONGS_PER_BATCH]
                clips = np.stack([y[o : o + n] for y in group for o in offsets])
                out.extend(np.split(log_mel_batch(clips, config, device), len(group)))
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        return run

    methods: dict[str, Callable[[], list[np.ndarray]]] = {
        "librosa (per window)": lambda: [librosa_song(y) for y in spans],
        f"log_mel before issue 12 (batches of {BATCH})": lambda: [before(y) for y in spans],
        "log_mel_windows numpy": lambda: [log_mel_windows(y, offsets, config) for y in spans],
        "log_mel_windows torch CPU, 1 thread": lambda: [
            log_mel_windows(y, offsets, config, backend="torch") for y in spans
        ],
        f"log_mel_batch torch CPU, 1 thread, {SONGS_PER_BATCH} songs a call": batched("cpu"),
    }
    if cuda:
        methods["log_mel_windows torch CUDA"] = lambda: [
            log_mel_windows(y, offsets, config, backend="torch", device="cuda") for y in spans
        ]
        methods[f"log_mel_batch torch CUDA, {SONGS_PER_BATCH} songs a call"] = batched("cuda")
    return methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=8, help="spans per method and repeat (default 8)")
    parser.add_argument("--repeats", type=int, default=7, help="repeats; the table shows medians (default 7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--hop-length", type=int, default=512)
    parser.add_argument("--window-step", type=float, default=5.0, help="seconds between 5-s windows (default 5)")
    args = parser.parse_args()
    import torch

    config = FeatureConfig(
        sample_rate=args.sample_rate,
        hop_length=args.hop_length,
        hop_s=args.window_step,
        fmax=min(8000.0, args.sample_rate / 2),
    )
    cuda = torch.cuda.is_available()
    spans = _spans(args.songs, args.seed, config)
    methods = _methods(spans, config, cuda)
    results = {name: run() for name, run in methods.items()}  # warm-up: imports, plans, FFT twiddles
    reference = results["librosa (per window)"]
    error = {name: max(float(np.abs(a - b).max()) for a, b in zip(out, reference)) for name, out in results.items()}
    times: dict[str, list[float]] = {name: [] for name in methods}
    for repeat in range(args.repeats):
        for name, run in methods.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) * 1000 / args.songs)
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
    base = statistics.median(times["librosa (per window)"])
    before = statistics.median(times[f"log_mel before issue 12 (batches of {BATCH})"])
    lines = [
        f"`{' '.join(['python', *sys.argv])}`: {args.songs} songs of {WINDOWS} x {config.clip_s:g}-s windows "
        f"{config.hop_s:g} s apart at {config.sample_rate} Hz, hop {config.hop_length}, n_fft {config.n_fft}; "
        f"median of {args.repeats} repeats; torch {torch.__version__}"
        + (f", GPU {torch.cuda.get_device_name()}" if cuda else ", no GPU"),
        "",
        "| method | ms per song | vs librosa | vs before | max abs diff from librosa (dB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, samples in times.items():
        ms = statistics.median(samples)
        lines.append(f"| {name} | {ms:.1f} | {base / ms:.2f}x | {before / ms:.2f}x | {error[name]:.1e} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
