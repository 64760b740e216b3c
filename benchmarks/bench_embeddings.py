"""The shipped pretrained embedding (VibeNet through ``hear``) next to ``mel``: build cost, store size, 5-fold cv.

On one synthetic DEAM-like corpus (``write_synthetic_deam(seed=0)``, written once into
``bench_out/embeddings``):

1. ``build_features(--set mel)`` and ``build_features(--set vibenet=hear:module=mer_zoo.features.vibenet_hear)``
   with ``--workers`` local workers, alternated ``--repeats`` times: median wall seconds from
   the call to the finished store (Dask start-up, the workers' model load included), songs/s,
   seconds per 5-s window; and the compute alone: one process, one thread, running the
   worker's code (``extract_song``: decode, windows, the set) after a warm-up, seconds per window;
2. store bytes per window of an encoder set at 2 Hz and at the model's native rate, measured
   on the tests' 2-layer HuBERT of width 32 (hop 320 at 16 kHz, 50 frames/s) saved in a temp
   folder; bytes scale with the width D, so 768-d (HuBERT base, MERT-v1-95M) is x24;
3. ``mer-zoo cv`` (5 folds by song, one seed) of ``mlp_probe`` and ``ridge`` on the VibeNet set
   next to ``crnn`` and ``ridge`` on ``mel``, all on one store built once with both sets (a cv
   folder of an earlier run with the same store, model, set, folds and epochs is reused).

Run: ``.venv/bin/python benchmarks/bench_embeddings.py`` (needs ``pip install -e ".[embeddings]"``;
``--help`` for sizes). Prints markdown tables with the command; writes ``bench_out/embeddings/results.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench_out" / "embeddings"
VIBENET = "vibenet=hear"
VIBENET_OPTIONS = {"vibenet": {"module": "mer_zoo.features.vibenet_hear"}}
CV_RUNS = (("mlp_probe", "vibenet"), ("ridge", "vibenet"), ("crnn", "mel"), ("ridge", "mel"))
FIGURES = ("mse", "vs_baseline", "arousal.r2", "arousal.ccc", "valence.r2", "valence.ccc")


def corpus(songs: int) -> Path:
    """The benchmark's dataset folder, written once per size."""
    from mer_zoo.datasets.synthetic import write_synthetic_deam

    root = OUT / f"deam-{songs}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        write_synthetic_deam(root, n_songs=songs, seed=0)
        (root / ".complete").touch()
    return root


def time_build(root: Path, sets: list[str], options: dict[str, Any], workers: int) -> dict[str, Any]:
    """One build: seconds, songs, windows."""
    from mer_zoo.pipeline.build import build_features

    out = OUT / "store.h5"
    for leftover in (out, out.with_name(out.name + ".partial")):
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    summary = build_features(root, out, sets=sets, set_options=options, workers=workers, progress=False)
    seconds = time.perf_counter() - started
    out.unlink()
    return {"seconds": seconds, "songs": summary.songs_ok, "windows": summary.windows_kept}


def time_compute(root: Path, sets: list[str], options: dict[str, Any], n_songs: int) -> float:
    """Seconds per window of the worker's code for ``sets`` in this process (one thread), after a warm-up."""
    from mer_zoo.config import FeatureConfig
    from mer_zoo.datasets import read_corpus
    from mer_zoo.pipeline.build import make_extractors, plan_job
    from mer_zoo.pipeline.extract import extract_song, warm_up

    config = FeatureConfig(start_s=15.0)
    dataset = read_corpus(root)
    job, _ = plan_job(dataset, config, make_extractors(sets, options, config))
    warm_up(job)  # as a worker: one torch thread, the model loaded
    windows, started = 0, time.perf_counter()
    for song in dataset.songs[:n_songs]:
        result = extract_song(song, job)
        windows += 0 if result.features is None else len(result.features.start_s)
    return (time.perf_counter() - started) / windows


def bytes_per_window(root: Path, workers: int) -> dict[str, float]:
    """Bytes per window of the tiny HuBERT's last layer at 2 Hz and at its native rate (12 songs)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from encoders import write_tiny_hubert

    from mer_zoo.pipeline.build import build_features
    from mer_zoo.store import FeatureStore

    with tempfile.TemporaryDirectory() as folder:
        model = write_tiny_hubert(Path(folder) / "hubert")
        out = Path(folder) / "sizes.h5"
        options = {"at2hz": {"path": str(model)}, "native": {"path": str(model), "rate": "native"}}
        build_features(root, out, sets=["at2hz=hf", "native=hf"], set_options=options, workers=workers, progress=False)
        with FeatureStore(out) as store:
            return {name: store.data(name).id.get_storage_size() / len(store) for name in ("at2hz", "native")} | {
                f"{name}_shape": list(store.set_spec(name).shape) for name in ("at2hz", "native")
            }


def cross_validations(root: Path, folds: int, epochs: int, workers: int) -> list[dict[str, Any]]:
    """cv of each (model, set) of ``CV_RUNS`` on one store holding mel and the VibeNet set."""
    from mer_zoo.pipeline.build import build_features
    from mer_zoo.training import TrainConfig
    from mer_zoo.training.cv import CV_FILE, cross_validate

    store = OUT / f"cv-{root.name}.h5"
    if not store.exists():
        build_features(root, store, sets=["mel", VIBENET], set_options=VIBENET_OPTIONS, workers=workers, progress=False)
    rows = []
    for model, feature_set in CV_RUNS:
        folder = _finished_cv(store, model, feature_set, folds, epochs)
        if folder is None:
            config = TrainConfig(model=model, features=store, out=OUT / "runs", epochs=epochs,
                                 feature_set=feature_set, device="cpu")  # fmt: skip
            folder = cross_validate(config, folds, progress=False)
        summary = json.loads((folder / CV_FILE).read_text())
        cells = {k: (summary["test"][k]["mean"], summary["test"][k]["std"]) for k in FIGURES}
        rows.append({"model": model, "set": feature_set, "cells": cells, "seconds": summary["train_seconds"],
                     "songs": summary["split"]["songs"], "scale": summary["scale"]})  # fmt: skip
    return rows


def _finished_cv(store: Path, model: str, feature_set: str, folds: int, epochs: int) -> Path | None:
    """A cv folder of an earlier run of this script with the same store, model, set, folds and epochs (ridge: any)."""
    for cv_json in sorted((OUT / "runs").glob(f"cv-{model}-window-*/cv.json")):
        summary = json.loads(cv_json.read_text())
        train = json.loads((cv_json.parent / summary["runs"][0] / "config.json").read_text())["train"]
        same_epochs = model == "ridge" or train["epochs"] == epochs
        same_store = Path(train["features"]).resolve() == store.resolve()
        if summary["folds"] == folds and train["feature_set"] == feature_set and same_epochs and same_store:
            return cv_json.parent
    return None


def report(results: dict[str, Any], command: str, args: argparse.Namespace) -> str:
    """The markdown tables."""
    build = {name: statistics.median(r["build_s"]) for name, r in results["builds"].items()}
    lines = [f"Command: `{command}`", "", "| set | build s (median) | songs/s | s per window (build) | "
             "s per window (1 process, 1 thread) | x mel (build) | x mel (compute) |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    mel = results["builds"]["mel"]
    for name, r in results["builds"].items():
        lines.append(
            f"| `{name}` | {build[name]:.1f} | {r['songs'] / build[name]:.2f} | {build[name] / r['windows']:.3f} | "
            f"{r['compute_s']:.3f} | {build[name] / build['mel']:.1f} | {r['compute_s'] / mel['compute_s']:.1f} |"
        )
    sizes = results["sizes"]
    lines += ["", "| encoder set (tiny HuBERT, D=32) | shape per window | bytes per window | D=768 (x24) |",
              "|---|---|---:|---:|"]  # fmt: skip
    for name in ("at2hz", "native"):
        label = "2 Hz (default)" if name == "at2hz" else "native (50 frames/s)"
        shape = " x ".join(map(str, sizes[f"{name}_shape"]))
        lines.append(f"| {label} | {shape} | {sizes[name]:,.0f} | {24 * sizes[name]:,.0f} |")
    cv = results["cv"]
    lines += ["", f"{args.folds}-fold cv by song (seed 0) on {cv[0]['songs']} songs, window task, scale {cv[0]['scale']}; "
              f"networks {args.epochs} epochs; mean ± std over the folds' test parts.", "",
              "| model | set | test MSE | vs mean | arousal R² | arousal CCC | valence R² | valence CCC | training s, all folds |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in sorted(cv, key=lambda r: r["cells"]["mse"][0]):
        cells = " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in (r["cells"][k] for k in FIGURES))
        lines.append(f"| {r['model']} | `{r['set']}` | {cells} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=24, help="songs in the timed corpus")
    parser.add_argument("--cv-songs", type=int, default=60, help="songs in the cross-validated corpus")
    parser.add_argument("--repeats", type=int, default=3, help="builds per set, alternated (the median is reported)")
    parser.add_argument("--workers", type=int, default=2, help="build-features --workers")
    parser.add_argument("--floor-songs", type=int, default=6, help="songs timed in one process per set")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the networks in the cv")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    root = corpus(args.songs)
    plans = {"mel": (["mel"], {}), "vibenet": ([VIBENET], VIBENET_OPTIONS)}
    builds: dict[str, Any] = {name: {"build_s": []} for name in plans}
    for _ in range(args.repeats):
        for name, (sets, options) in plans.items():
            run = time_build(root, sets, options, args.workers)
            builds[name].update(songs=run["songs"], windows=run["windows"])
            builds[name]["build_s"].append(run["seconds"])
            print(f"{name}: build {run['seconds']:.1f} s", file=sys.stderr)
    for name, (sets, options) in plans.items():
        builds[name]["compute_s"] = time_compute(root, sets, options, args.floor_songs)
    results = {"builds": builds, "sizes": bytes_per_window(root, args.workers)}
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    results["cv"] = cross_validations(corpus(args.cv_songs), args.folds, args.epochs, args.workers)
    command = " ".join(
        [".venv/bin/python", "benchmarks/bench_embeddings.py", *(argv if argv is not None else sys.argv[1:])]
    )
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report(results, command, args))


if __name__ == "__main__":
    main()
