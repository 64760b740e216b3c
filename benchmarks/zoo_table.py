"""Train every built-in model on one store and split, and write the README's zoo table.

    .venv/bin/python benchmarks/zoo_table.py --features demo/features.h5 --out demo/zoo \
        [--epochs 20] [--models cnn_small,crnn] [--markdown demo/zoo.md]

Each model trains with the same settings (``mer-zoo train`` defaults unless given) on the
same song-level split; the table lists test MSE (and its ratio to the mean baseline), R²
and CCC per dimension, parameters, and training seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mer_zoo.models import get_model_info, list_models
from mer_zoo.training import TrainConfig, train


def built_ins() -> list[str]:
    """Registered models that ship with mer-zoo (plugins left out)."""
    return [name for name in list_models() if get_model_info(name).source == "built-in"]


def table(runs: list[Path]) -> str:
    """The Markdown table, best test MSE first."""
    rows = []
    for run in runs:
        m = json.loads((run / "metrics.json").read_text())
        t = m["test"]
        rows.append((t["mse"], m, t))
    rows.sort(key=lambda r: r[0])
    m0 = rows[0][1]
    lines = [
        f"Test part of split `{m0['split']['kind']}` {json.dumps(m0['split']['params'])} "
        f"({m0['split']['songs']['test']} songs, {rows[0][2]['n_windows']} windows); scale {m0['scale']}.",
        "",
        "| model | params | test MSE | vs mean | arousal R² | arousal CCC | valence R² | valence CCC | epochs (best) | training s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def f(v: float | None, spec: str = ".3f") -> str:
        return "-" if v is None else format(v, spec)

    for mse, m, t in rows:
        lines.append(
            f"| {m['model']} | {m['params']:,} | {mse:.4f} | {mse / t['baseline_mse']:.2f}x | {f(t['arousal']['r2'])} | "
            f"{f(t['arousal']['ccc'])} | {f(t['valence']['r2'])} | {f(t['valence']['ccc'])} | "
            f"{m['epochs_run']} ({m['best_epoch']}) | {m['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=Path("demo/features.h5"))
    parser.add_argument("--out", type=Path, default=Path("demo/zoo"))
    parser.add_argument("--models", default=",".join(built_ins()), help="comma-separated names")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="random")
    parser.add_argument("--markdown", type=Path, help="write the table here too")
    parser.add_argument("--runs", type=Path, nargs="*", help="skip training: tabulate these run directories")
    args = parser.parse_args(argv)
    runs = list(args.runs or [])
    if not runs:
        for name in args.models.split(","):
            config = TrainConfig(
                model=name, features=args.features, out=args.out, epochs=args.epochs, patience=args.patience,
                batch_size=args.batch_size, lr=args.lr, seed=args.seed, split=args.split,
            )  # fmt: skip
            runs.append(train(config, progress=False))
    text = table(runs)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
