"""Extraction cost of each feature set, next to ``mel``'s.

On one synthetic DEAM-like corpus (``write_synthetic_deam(seed=0)``, generated once into
``bench_out/sets``), for each set alone:

- ``build_features(root, out, sets=[SET], workers=2)``: wall time from the call to the
  finished store (Dask start-up and worker warm-up included, as a user sees it), as ms per
  song and songs/s, median of ``--repeats`` builds, and the ratio to ``mel``'s median;
- the compute alone: one process running the worker's code (``extract_song``: span decode,
  window planning, the set) on the first ``--floor-songs`` songs after a warm-up, ms per song;
- the store's size per song.

Run: ``.venv/bin/python benchmarks/bench_sets.py`` (``--help`` for sizes and repeats).
Prints a markdown table with the command and writes ``bench_out/sets/results.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench_out" / "sets"
SETS = (
    "mel", "mfcc", "chroma", "spectral", "tempogram", "egemaps", "compare", "egemaps_functionals",
    "compare_functionals",
)  # fmt: skip


def corpus(songs: int) -> Path:
    """The benchmark's dataset folder, written once per size."""
    from mer_zoo.datasets.synthetic import write_synthetic_deam

    root = OUT / f"deam-{songs}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        write_synthetic_deam(root, n_songs=songs, seed=0)
        (root / ".complete").touch()
    return root


def time_build(root: Path, name: str, workers: int) -> dict[str, Any]:
    """One build of set ``name`` alone: seconds, songs, windows, bytes on disk."""
    from mer_zoo.pipeline.build import build_features

    out = OUT / "store.h5"
    for leftover in (out, out.with_name(out.name + ".partial")):
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    summary = build_features(root, out, sets=[name], workers=workers, progress=False)
    seconds = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "songs": summary.songs_ok,
        "windows": summary.windows_kept,
        "bytes": out.stat().st_size,
    }
    out.unlink()
    return result


def time_compute(root: Path, name: str, n_songs: int) -> float:
    """Seconds per song of ``extract_song`` for set ``name`` in this process, after a warm-up."""
    from mer_zoo.config import FeatureConfig
    from mer_zoo.datasets import read_corpus
    from mer_zoo.pipeline.build import make_extractors, plan_job
    from mer_zoo.pipeline.extract import extract_song, warm_up

    config = FeatureConfig(start_s=15.0)
    dataset = read_corpus(root)
    job, _ = plan_job(dataset, config, make_extractors([name], {}, config))
    songs = dataset.songs[:n_songs]
    warm_up(job)
    started = time.perf_counter()
    for song in songs:
        extract_song(song, job)
    return (time.perf_counter() - started) / len(songs)


def table(results: dict[str, Any], command: str, songs: int, workers: int) -> str:
    """The markdown report."""
    mel = statistics.median(results["mel"]["build_s"])
    lines = [
        f"Command: `{command}`",
        "",
        (
            f"{songs} synthetic songs (~45 s, 44.1 kHz), each set built alone with `--workers {workers}`; "
            "build times are medians (start-up included), compute is one process running the worker's code."
        ),
        "",
        "| set | kind | shape per window | build ms/song | songs/s | x mel | compute ms/song (1 process) | store KiB/song |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        build = statistics.median(r["build_s"])
        lines.append(
            f"| `{name}` | {r['kind']} | {' x '.join(map(str, r['shape']))} | {1000 * build / r['songs']:.0f} | "
            f"{r['songs'] / build:.2f} | {build / mel:.1f} | {1000 * r['compute_s']:.0f} | {r['bytes'] / r['songs'] / 1024:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure every set and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=40, help="songs in the corpus")
    parser.add_argument("--repeats", type=int, default=3, help="builds per set (the median is reported)")
    parser.add_argument("--workers", type=int, default=2, help="build-features --workers")
    parser.add_argument("--floor-songs", type=int, default=8, help="songs timed in one process per set")
    parser.add_argument("--sets", nargs="+", default=list(SETS), help="sets to measure (mel is always first)")
    args = parser.parse_args(argv)
    from mer_zoo.config import FeatureConfig
    from mer_zoo.features import get_extractor

    OUT.mkdir(parents=True, exist_ok=True)
    root = corpus(args.songs)
    names = ["mel", *(name for name in args.sets if name != "mel")]
    results: dict[str, Any] = {}
    for name in names:
        extractor = get_extractor(name)
        runs = [time_build(root, name, args.workers) for _ in range(args.repeats)]
        results[name] = {
            "kind": extractor.kind,
            "shape": list(extractor.shape(FeatureConfig())),
            "build_s": [run["seconds"] for run in runs],
            "songs": runs[0]["songs"],
            "windows": runs[0]["windows"],
            "bytes": runs[0]["bytes"],
            "compute_s": time_compute(root, name, args.floor_songs),
        }
        print(f"{name}: builds {', '.join(f'{s:.1f}' for s in results[name]['build_s'])} s", file=sys.stderr)
    command = " ".join([".venv/bin/python", "benchmarks/bench_sets.py", *(argv if argv is not None else sys.argv[1:])])
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results, command, args.songs, args.workers))


if __name__ == "__main__":
    main()
