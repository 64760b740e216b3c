"""Fit the classical regressors on per-window vectors of one store and tabulate their test figures.

    nice -n 10 .venv/bin/python benchmarks/classical_table.py --features demo/features.h5 \
        [--sets mel,egemaps_functionals] [--models ridge,svr,hist_gbt] [--seed 0] [--threads 1] \
        [--markdown demo/classical.md]

Per feature set (a frame-level set is served as each feature's mean and std over time), on
the song-level split ``mer-zoo train --seed SEED`` uses (``random`` 70/15/15): a Normalizer
fit on the training windows, each model fitted with ``fit_arrays`` on the training part
(hyperparameters by the model's own inner cross-validation over the training songs; the
validation part is not used), then scored on the test part through ``evaluate_model``, the
trainer's own evaluation loop. The mean baseline predicts the training targets' mean.

``--threads`` caps scikit-learn's BLAS and OpenMP pools (threadpoolctl): on a small, busy
machine one thread fits these few hundred windows many times faster than contended pools.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import mer_zoo.models.classical_fit  # noqa: F401  (loads the thread pools before threadpoolctl caps them)
from mer_zoo.data import FeatureDataset, Normalizer, default_split
from mer_zoo.metrics import SCALE, metrics_block
from mer_zoo.models import get_model
from mer_zoo.store.reader import FeatureStore
from mer_zoo.training import evaluate_model, make_loader


def vectors(store: Path, feature_set: str, seed: int) -> dict[str, Any]:
    """Normalised train and test vectors, targets and song ids of ``feature_set`` on the default split."""
    with FeatureStore(store) as fs:
        songs = default_split(fs.segments["song_id"].to_numpy(), seed)
    # as_vector pools frame-level sets into mean+std vectors; sets that are vectors already are served as they are.
    normalizer = Normalizer.fit(FeatureDataset(store, "train", songs=songs, feature_set=feature_set, as_vector=True))
    train = FeatureDataset(store, "train", songs=songs, feature_set=feature_set, as_vector=True, normalizer=normalizer)
    test = FeatureDataset(store, "test", songs=songs, feature_set=feature_set, as_vector=True, normalizer=normalizer)
    x, y = train.read(range(len(train)))
    return {"x": x.numpy(), "y": y.numpy(), "groups": train.song_ids, "test": test, "split": songs}


def score(name: str, data: dict[str, Any], feature_set: str) -> dict[str, Any]:
    """Fit ``name`` (or the mean) on the training vectors and score it on the test part."""
    import torch

    test, train_mean = data["test"], data["y"].mean(axis=0)
    start = time.perf_counter()
    if name == "mean":
        predictions = np.broadcast_to(train_mean, test.targets.shape)
        size, chosen = 0, "-"
    else:
        model: Any = get_model(name, n_mels=data["x"].shape[1], n_outputs=2)  # a FittedRegressor
        model.fit_arrays(data["x"], data["y"], data["groups"])
        predictions = evaluate_model(model, make_loader(test, 64, shuffle=False), torch.device("cpu"))
        state = model.state_dict()
        size = sum(v.numel() for v in state.values())
        key = next((k for k in ("alpha", "C") if k in state), None)
        chosen = "-" if key is None else f"{key} " + ", ".join(f"{v:.3g}" for v in state[key].tolist())
    seconds = time.perf_counter() - start
    block = metrics_block(test.targets, predictions, test.song_ids, train_mean)
    return {"set": feature_set, "model": name, "block": block, "seconds": seconds, "size": size, "chosen": chosen}


def table(rows: list[dict[str, Any]], split_label: str) -> str:
    """The Markdown table, one row per set and model, in the order fitted."""
    t0 = rows[0]["block"]
    lines = [
        f"Test part of split {split_label} ({t0['n_songs']} songs, {t0['n_windows']} windows); scale {SCALE}.",
        "",
        "| set | model | test MSE | vs mean | arousal R² | arousal CCC | valence R² | valence CCC | chosen (A, V) | fitted values | fit s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for row in rows:
        t = row["block"]
        lines.append(
            f"| {row['set']} | {row['model']} | {t['mse']:.4f} | {t['mse'] / t['baseline_mse']:.2f}x | "
            f"{f(t['arousal']['r2'])} | {f(t['arousal']['ccc'])} | {f(t['valence']['r2'])} | "
            f"{f(t['valence']['ccc'])} | {row['chosen']} | {row['size']:,} | {row['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=Path("demo/features.h5"))
    parser.add_argument("--sets", default="mel", help="comma-separated feature sets of the store")
    parser.add_argument("--models", default="ridge,svr,hist_gbt", help="comma-separated names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for fitting (0: library default)")
    parser.add_argument("--markdown", type=Path, help="write the table here too")
    args = parser.parse_args(argv)
    with FeatureStore(args.features) as fs:
        missing = [s for s in args.sets.split(",") if s not in fs.sets]
    if missing:
        print(f"{args.features}: no feature set {', '.join(missing)}", file=sys.stderr)
        return 2
    rows, label = [], ""
    for feature_set in args.sets.split(","):
        data = vectors(args.features, feature_set, args.seed)
        label = data["split"].label()
        for name in ["mean", *args.models.split(",")]:
            with threadpool_limits(args.threads or None):
                rows.append(score(name, data, feature_set))
            print(f"{feature_set} {name}: test MSE {rows[-1]['block']['mse']:.4f}", file=sys.stderr)
    text = table(rows, label)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
