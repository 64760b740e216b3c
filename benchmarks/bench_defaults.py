"""mer-zoo's training defaults against a plain Adam loop, over k song folds of the demo data.

For each model, each seed (``--seeds``, default 0) and each fold ``kfold:I/K`` of that seed
(repeated k-fold cross-validation) of a synthetic DEAM corpus, two trainers:

- ``mer-zoo``: ``mer_zoo.training.train`` at its defaults, and with each ``--variant`` of
  TrainConfig overrides (e.g. the old defaults ``--variant patience=5,schedule=plateau``);
- ``plain``: the reference loop below, which uses no mer-zoo training code: the same model
  from ``get_model``, per-mel-bin standardisation fitted on the training songs, Adam lr 1e-3,
  batch 32, MSE, every epoch run, the best validation epoch kept, no schedule.

Both report the test MSE over the mean baseline (mean of the training targets) on the same
test windows, and the same seed for initialisation and shuffling. The table gives each fold
(the mean over seeds), the mean ± std (sample std) over all runs, and the paired difference
to the plain loop (mean ± standard error over the (seed, fold) pairs). Every
finished run is kept under ``--out`` and reused, an interrupted mer-zoo run is resumed, so
the sweep can be stopped and restarted.

    nice -n 10 .venv/bin/python benchmarks/bench_defaults.py [--songs 120] [--epochs 30] \
        [--models cnn_small,crnn] [--folds 5] [--out bench_out/defaults] [--variant KEY=VALUE,...]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from mer_zoo.data import FeatureDataset
from mer_zoo.models import get_model
from mer_zoo.splits import SongSplit, kfold_split

CORPUS_SEED = 0


def corpus(out: Path, songs: int, n_mels: int, hop_length: int) -> Path:
    """The synthetic corpus under ``out`` (made once, checked on reuse) and its store for these mel settings."""
    from mer_zoo.config import FeatureConfig
    from mer_zoo.datasets.synthetic import write_synthetic_deam
    from mer_zoo.pipeline.build import build_features

    out.mkdir(parents=True, exist_ok=True)
    stamp, store = out / "corpus.json", out / f"features-{n_mels}mels-hop{hop_length}.h5"
    wanted = {"songs": songs, "seed": CORPUS_SEED}
    if stamp.exists() and json.loads(stamp.read_text()) != wanted:
        sys.exit(f"{out}: holds a corpus of {stamp.read_text().strip()}, not {wanted}; use another --out")
    if not stamp.exists():
        write_synthetic_deam(out / "deam", n_songs=songs, seed=CORPUS_SEED)
        stamp.write_text(json.dumps(wanted))
    if not store.exists():
        config = FeatureConfig(n_mels=n_mels, hop_length=hop_length)
        build_features(out / "deam", store, workers=2, config=config, progress=False)
    return store


# --- the plain reference loop (no mer-zoo training code) -------------------------------------


def _load(store: Path, split: SongSplit, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    ds = FeatureDataset(store, part, songs=split)
    return torch.from_numpy(ds.read_raw(range(len(ds)))).unsqueeze(1), torch.from_numpy(ds.targets)


@torch.no_grad()
def _predict(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + 128]) for i in range(0, len(x), 128)])


def plain_loop(store: Path, split: SongSplit, model_name: str, epochs: int, seed: int) -> dict[str, Any]:
    """Adam 1e-3, batch 32, MSE, ``epochs`` epochs, best validation epoch kept; test MSE over the mean baseline."""
    torch.manual_seed(seed)
    x_train, y_train = _load(store, split, "train")
    x_val, y_val = _load(store, split, "val")
    x_test, y_test = _load(store, split, "test")
    mean = x_train.mean(dim=(0, 1, 3), keepdim=True)
    std = x_train.std(dim=(0, 1, 3), keepdim=True).clamp_min(1e-6)
    x_train, x_val, x_test = ((x - mean) / std for x in (x_train, x_val, x_test))
    model = get_model(model_name, n_mels=x_train.shape[2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    order = torch.Generator().manual_seed(seed)
    best_val, best_epoch, best_state = float("inf"), 0, None
    val_curve, test_curve = [], []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(x_train), generator=order)
        for i in range(0, len(perm), 32):
            idx = perm[i : i + 32]
            if len(idx) < 2:  # BatchNorm cannot train on one window
                continue
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val = float(loss_fn(_predict(model, x_val), y_val))
        val_curve.append(val)
        test_curve.append(float(loss_fn(_predict(model, x_test), y_test)))  # recorded, never used to choose
        if val < best_val:
            best_val, best_epoch, best_state = val, epoch, copy.deepcopy(model.state_dict())
    seconds = time.perf_counter() - start
    assert best_state is not None
    model.load_state_dict(best_state)
    test_mse = float(loss_fn(_predict(model, x_test), y_test))
    baseline = float(((y_test - y_train.mean(dim=0)) ** 2).mean())
    return {
        "ratio": test_mse / baseline,
        "test_mse": test_mse,
        "baseline_mse": baseline,
        "best_epoch": best_epoch,
        "epochs_run": epochs,
        "seconds": seconds,
        "val_curve": val_curve,
        "test_curve": test_curve,
    }


# --- the two trainers, cached under --out ----------------------------------------------------


def _quiet_console() -> Any:
    from rich.console import Console

    return Console(quiet=True)


def merzoo_run(
    out: Path, store: Path, model: str, fold: int, k: int, epochs: int, seed: int, sets: dict[str, Any]
) -> dict[str, Any]:
    """mer-zoo's trainer on one fold (reused when finished, resumed when interrupted)."""
    from mer_zoo.training import TrainConfig, resume, train

    config = TrainConfig(model=model, features=store, split=f"kfold:{fold}/{k}", epochs=epochs, seed=seed, device="cpu")
    config = dataclasses.replace(config, **sets)
    key = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    folder = out / "mer-zoo" / f"{model}-fold{fold}-{key}"
    config = dataclasses.replace(config, out=folder)
    runs = sorted(folder.glob(f"{model}-*")) if folder.exists() else []
    if runs and not (runs[-1] / "metrics.json").exists():
        resume(runs[-1], progress=False, console=_quiet_console())
    elif not runs:
        runs = [train(config, progress=False, console=_quiet_console())]
    run = runs[-1]
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    return {
        "ratio": test["mse"] / test["baseline_mse"],
        "test_mse": test["mse"],
        "baseline_mse": test["baseline_mse"],
        "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["epochs_run"],
        "seconds": metrics["train_seconds"],
        "split": json.loads((run / "config.json").read_text())["split"],
    }


def plain_run(out: Path, store: Path, model: str, fold: int, k: int, epochs: int, seed: int) -> dict[str, Any]:
    """The plain loop on one fold (reused when finished)."""
    path = out / "plain" / f"{store.stem}-{model}-fold{fold}of{k}-e{epochs}-s{seed}.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    song_ids = FeatureDataset(store, "all").song_ids
    split = kfold_split(song_ids, fold, k, seed=seed)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    result = plain_loop(store, split, model, epochs, seed)
    result["split"] = split.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


# --- the table -------------------------------------------------------------------------------


def _mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"**{statistics.mean(values):.3f}** ± {spread:.3f}"


def _paired(rows: list[dict[str, Any]], plain: list[dict[str, Any]]) -> str:
    """Mean ± standard error of (this - plain) over the same (seed, fold) runs, and how often this is lower."""
    theirs = {(r["seed"], r["fold"]): r["ratio"] for r in plain}
    diffs = [r["ratio"] - theirs[(r["seed"], r["fold"])] for r in rows]
    error = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
    return f"{statistics.mean(diffs):+.3f} ± {error:.3f} (lower in {sum(d < 0 for d in diffs)}/{len(diffs)})"


def table(results: dict[tuple[str, str], list[dict[str, Any]]], folds: list[int]) -> str:
    """Markdown: test MSE / mean baseline per fold (mean over seeds), mean ± std over runs, paired vs plain."""
    head = " | ".join(f"fold {i}" for i in folds)
    lines = [
        f"| model | trainer | {head} | mean ± std | vs plain, paired (± s.e.) | epochs run (best) | train s |",
        "|---|---|" + "---:|" * (len(folds) + 4),
    ]
    for (model, trainer), rows in results.items():
        plain = results.get((model, "plain"))
        paired = "-" if trainer == "plain" or plain is None else _paired(rows, plain)
        per_fold = [statistics.mean(r["ratio"] for r in rows if r["fold"] == i) for i in folds]
        run, best = (statistics.mean(r[key] for r in rows) for key in ("epochs_run", "best_epoch"))
        cells = " | ".join(f"{v:.3f}" for v in per_fold)
        seconds = statistics.median(r["seconds"] for r in rows)
        ratios = [r["ratio"] for r in rows]
        lines.append(
            f"| {model} | {trainer} | {cells} | {_mean_std(ratios)} | {paired} | {run:.0f} ({best:.0f}) | "
            f"{seconds:.0f} |"
        )
    return "\n".join(lines) + "\n"


def replay(plain: list[dict[str, Any]], patience: int, min_epochs: int = 0) -> float:
    """Mean test ratio had early stopping (``patience``, not before ``min_epochs``) cut the plain loop's curves."""
    ratios = []
    for r in plain:
        best, bad, best_epoch = float("inf"), 0, 0
        for epoch, val in enumerate(r["val_curve"], start=1):
            best, bad, best_epoch = (val, 0, epoch) if val < best else (best, bad + 1, best_epoch)
            if bad >= patience and epoch >= min_epochs:
                break
        ratios.append(r["test_curve"][best_epoch - 1] / r["baseline_mse"])
    return statistics.mean(ratios)


def _variant(text: str) -> dict[str, Any]:
    """``patience=5,schedule=plateau`` -> TrainConfig overrides (values parsed as JSON when they are)."""
    sets: dict[str, Any] = {}
    for pair in filter(None, text.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {pair!r}")
        try:
            sets[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            sets[key.replace("-", "_")] = value
    return sets


def _replay_table(plain: dict[str, list[dict[str, Any]]], epochs: int) -> str:
    rules = [5, 10, 15, epochs + 1]
    head = " | ".join(f"patience {p}" if p <= epochs else "no early stop" for p in rules)
    lines = [f"| model | {head} |", "|---|" + "---:|" * len(rules)]
    for model, rows in plain.items():
        lines.append(f"| {model} | " + " | ".join(f"{replay(rows, p):.3f}" for p in rules) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--models", default="cnn_small,crnn", help="comma-separated names")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; each repeats the k folds")
    parser.add_argument("--n-mels", type=int, default=32, help="mel bands of the store (mer-zoo's default: 128)")
    parser.add_argument("--hop-length", type=int, default=2048, help="STFT hop of the store (mer-zoo's default: 512)")
    parser.add_argument("--trainers", default="defaults,plain", help="defaults (mer-zoo's), plain, or both")
    parser.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="also run mer-zoo's trainer with these TrainConfig overrides (repeatable), "
        "e.g. the old defaults patience=5,schedule=plateau",
    )
    parser.add_argument("--only-fold", type=int, help="run this fold only (to time one fold)")
    parser.add_argument(
        "--threads", type=int, default=1, help="cores to run on (both trainers use one torch thread per core; 0: all)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench_out/defaults"))
    args = parser.parse_args(argv)
    if args.threads:
        # mer-zoo's trainer uses one thread per core it may run on; on a busy machine two threads
        # stall each other in every parallel region (measured: 115 vs 30 windows/s).
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
    store = corpus(args.out, args.songs, args.n_mels, args.hop_length)
    trainers: dict[str, dict[str, Any] | None] = {}
    for trainer in args.trainers.split(","):
        trainers["mer-zoo defaults" if trainer == "defaults" else trainer] = {} if trainer == "defaults" else None
    for sets in args.variant:
        trainers["mer-zoo " + " ".join(f"{k}={v}" for k, v in sets.items())] = sets
    folds = [args.only_fold] if args.only_fold else list(range(1, args.folds + 1))
    seeds = [int(v) for v in args.seeds.split(",")]
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for model in args.models.split(","):
        for name, sets in trainers.items():
            rows = results.setdefault((model, name), [])
            for seed in seeds:
                for fold in folds:
                    if sets is None:
                        row = plain_run(args.out, store, model, fold, args.folds, args.epochs, seed)
                    else:
                        row = merzoo_run(args.out, store, model, fold, args.folds, args.epochs, seed, sets)
                    rows.append({**row, "seed": seed, "fold": fold})
                    print(
                        f"{model} {name} seed {seed} fold {fold}: ratio {row['ratio']:.3f}, best epoch "
                        f"{row['best_epoch']}/{row['epochs_run']}, {row['seconds']:.0f}s",
                        flush=True,
                    )
    splits = {json.dumps(r["split"], sort_keys=True) for rows in results.values() for r in rows}
    assert len(splits) <= len(folds) * len(seeds), "the trainers saw different song splits"
    text = table(results, folds)
    plain = {m: rows for (m, t), rows in results.items() if t == "plain"}
    if plain:
        text += "\nEarly stopping replayed on the plain loop's curves (mean test ratio over folds):\n\n"
        text += _replay_table(plain, args.epochs)
    command = "nice -n 10 .venv/bin/python benchmarks/bench_defaults.py " + " ".join(argv or sys.argv[1:])
    text += (
        f"\n{args.songs} songs, {len(folds)} of {args.folds} folds x seeds {args.seeds}, {args.epochs} epochs, "
        f"{args.n_mels} mels, hop {args.hop_length}. Command: `{command.strip()}`\n"
    )
    print(text)
    (args.out / "table.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
