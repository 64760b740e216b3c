"""Train every built-in model on one store, on one split or over k song folds, and write the README's zoo table.

    .venv/bin/python benchmarks/zoo_table.py --features demo/features.h5 --out demo/zoo \
        [--epochs 20] [--models cnn_small,crnn] [--folds 5] [--markdown demo/zoo.md]

Each model trains with the same settings (``mer-zoo train`` defaults unless given). With
``--folds K`` each model is cross-validated (``mer-zoo cv``: fold ``i`` is ``kfold:i/K``
under ``--seed``) and every cell is the mean ± population std over the folds' test parts;
without it, one song-level split. The table lists test MSE (and its ratio to the mean
baseline), R² and CCC per dimension, parameters, and training seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mer_zoo.models import get_model_info, list_models
from mer_zoo.training import TrainConfig, train
from mer_zoo.training.cv import CV_FILE, cross_validate

FIGURES = ("mse", "vs_baseline", "arousal.r2", "arousal.ccc", "valence.r2", "valence.ccc")


def built_ins() -> list[str]:
    """Registered models that ship with mer-zoo (plugins left out)."""
    return [name for name in list_models() if get_model_info(name).source == "built-in"]


def _row(path: Path) -> dict[str, Any]:
    """One model's figures: from a run's metrics.json (one value each) or a cv folder's cv.json (mean ± std)."""
    if (path / CV_FILE).exists():
        s = json.loads((path / CV_FILE).read_text())
        runs = [json.loads((path / name / "metrics.json").read_text()) for name in s["runs"]]
        cells = {k: (s["test"][k]["mean"], s["test"][k]["std"]) for k in FIGURES}
        epochs = sum(m["epochs_run"] for m in runs) / len(runs), sum(m["best_epoch"] for m in runs) / len(runs)
        split = f"{s['folds']}-fold cv by song, seed {s['split']['params'].get('seed')} ({s['split']['songs']} songs)"
        seconds = s["train_seconds"] / s["folds"]
        return {"model": s["model"], "params": s["params"], "cells": cells, "epochs": epochs, "seconds": seconds,
                "split": split, "scale": s["scale"]}  # fmt: skip
    m = json.loads((path / "metrics.json").read_text())
    t = m["test"]
    flat = {"mse": t["mse"], "vs_baseline": t["mse"] / t["baseline_mse"]}
    flat.update({f"{d}.{k}": t[d][k] for d in ("arousal", "valence") for k in ("r2", "ccc")})
    split = (f"split `{m['split']['kind']}` {json.dumps(m['split']['params'])} "
             f"({m['split']['songs']['test']} test songs, {t['n_windows']} windows)")  # fmt: skip
    return {"model": m["model"], "params": m["params"], "cells": {k: (flat[k], None) for k in FIGURES},
            "epochs": (m["epochs_run"], m["best_epoch"]), "seconds": m["train_seconds"], "split": split,
            "scale": m["scale"]}  # fmt: skip


def _cell(value: tuple[float | None, float | None], spec: str) -> str:
    mean, std = value
    if mean is None:
        return "-"
    return format(mean, spec) if std is None else f"{mean:{spec}} ± {std:{spec}}"


def table(paths: list[Path]) -> str:
    """The Markdown table, best test MSE first."""
    rows = sorted((_row(p) for p in paths), key=lambda r: r["cells"]["mse"][0])
    lines = [
        f"Test part of {rows[0]['split']}; scale {rows[0]['scale']}.",
        "",
        "| model | params | test MSE | vs mean | arousal R² | arousal CCC | valence R² | valence CCC | epochs (best) | training s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c = r["cells"]
        figures = " | ".join(
            _cell(c[k], ".4f" if k == "mse" else ".2f" if k == "vs_baseline" else ".3f") for k in FIGURES
        )
        run, best = r["epochs"]
        lines.append(f"| {r['model']} | {r['params']:,} | {figures} | {run:.0f} ({best:.0f}) | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=Path("demo/features.h5"))
    parser.add_argument("--out", type=Path, default=Path("demo/zoo"))
    parser.add_argument("--models", default=",".join(built_ins()), help="comma-separated names")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, help="default: mer-zoo train's (half the epochs, at least 10)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="random", help="the one split, without --folds")
    parser.add_argument("--folds", type=int, help="cross-validate each model over this many song folds")
    parser.add_argument("--markdown", type=Path, help="write the table here too")
    parser.add_argument("--runs", type=Path, nargs="*", help="skip training: tabulate these run or cv directories")
    args = parser.parse_args(argv)
    runs = list(args.runs or [])
    if not runs:
        for name in args.models.split(","):
            config = TrainConfig(
                model=name, features=args.features, out=args.out, epochs=args.epochs, patience=args.patience,
                batch_size=args.batch_size, lr=args.lr, seed=args.seed, split=args.split,
            )  # fmt: skip
            runs.append(
                cross_validate(config, args.folds, progress=False) if args.folds else train(config, progress=False)
            )
    text = table(runs)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
