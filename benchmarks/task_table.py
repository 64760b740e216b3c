"""Train the mean baseline, cnn_small and the best zoo model on each task, cross-validate cnn_small, tabulate.

    .venv/bin/python benchmarks/task_table.py --features demo/features.h5 --out demo/tasks \
        [--epochs 15] [--models mean,cnn_small,crnn] [--folds 5] [--cv-epochs 10] [--markdown demo/tasks.md]

Every run uses the same seed and song-level split (``random`` 70/15/15 by song), so within a
task the models are tested on the same songs. The tables give each task's own figures on its
own scale (window: MSE per window; static: per song on 1..9; dynamic: MediaEval 2015 per-song
RMSE and r, and pooled r), then a ``--folds``-fold cross-validation of cnn_small on the window
task (mean ± std over folds). The script ends with the issue's targets, each PASS or FAIL.
``--runs DIR...`` tabulates finished runs and cv folders instead of training.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mer_zoo.tasks import TASK_NAMES, lookup, ratio
from mer_zoo.tasks import get_task as task_of
from mer_zoo.training import TrainConfig, cross_validate, train

COLUMNS = {
    "window": [("test MSE", "mse", ".4f"), ("A R²", "arousal.r2", ".3f"), ("A CCC", "arousal.ccc", ".3f"),
               ("V R²", "valence.r2", ".3f"), ("V CCC", "valence.ccc", ".3f")],
    "static": [("test MSE", "mse", ".3f"), ("A R²", "arousal.r2", ".3f"), ("A r", "arousal.pearson", ".3f"),
               ("A CCC", "arousal.ccc", ".3f"), ("V R²", "valence.r2", ".3f"), ("V r", "valence.pearson", ".3f"),
               ("V CCC", "valence.ccc", ".3f")],
    "dynamic": [("A RMSE/song", "arousal.per_song.rmse", ".3f"), ("V RMSE/song", "valence.per_song.rmse", ".3f"),
                ("A r/song", "arousal.per_song.pearson", ".3f"), ("V r/song", "valence.per_song.pearson", ".3f"),
                ("A r pooled", "arousal.pooled.pearson", ".3f"), ("V r pooled", "valence.pooled.pearson", ".3f")],
}  # fmt: skip


def _f(value: Any, spec: str) -> str:
    if isinstance(value, dict):
        return "-" if value.get("mean") is None else f"{value['mean']:{spec}} ± {value['std']:{spec}}"
    return "-" if value is None else format(value, spec)


def task_table(task: str, metrics: list[dict[str, Any]]) -> str:
    """One task's Markdown table (best ranking figure first), under a line with its scale and split."""
    t = task_of(task)
    metrics = sorted(metrics, key=lambda m: lookup(m["test"], t.rank_by[0]))
    m0, test = metrics[0], metrics[0]["test"]
    split = m0["split"]
    counts = f"{test['n_songs']} songs, {test['n_windows']} windows" + (
        f", {test['n_frames']} frames" if "n_frames" in test else ""
    )
    lines = [
        f"**{task}** ({t.description}); scale {m0['scale']}; test part of split `{split['kind']}` "
        f"{json.dumps(split['params'])} ({counts}).",
        "",
        "| model | " + " | ".join(h for h, _, _ in COLUMNS[task]) + " | vs mean | epochs (best) | training s |",
        "|---|" + "---:|" * (len(COLUMNS[task]) + 3),
    ]
    for m in metrics:
        cells = [_f(lookup(m["test"], path), spec) for _, path, spec in COLUMNS[task]]
        lines.append(f"| {m['model']} | " + " | ".join(cells) + f" | {_f(ratio(t, m['test']), '.2f')}x | "
                     f"{m['epochs_run']} ({m['best_epoch']}) | {m['train_seconds']:.0f} |")  # fmt: skip
    if task == "dynamic":
        base = ", ".join(
            f"{d} {_f(lookup(m0['test'], f'{d}.baseline_per_song.rmse'), '.3f')}" for d in ("arousal", "valence")
        )
        lines += ["", f"Mean baseline's RMSE per song (mean ± std over songs): {base}. ± in the table: std over songs."]
    return "\n".join(lines) + "\n"


def cv_table(summary: dict[str, Any]) -> str:
    """The cross-validation's Markdown table: mean ± std over folds of the test figures."""
    t = task_of(summary["task"])
    heads = [("test MSE", "mse", ".4f"), ("vs mean", "vs_baseline", ".2f"), *COLUMNS["window"][1:]]
    lines = [
        f"**{summary['folds']}-fold cv** of {summary['model']}, task {t.name}, scale {summary['scale']}: "
        f"k-fold by song {json.dumps(summary['split']['params'])} over {summary['split']['songs']} songs; "
        "mean ± std over folds.",
        "",
        "| model | folds | " + " | ".join(h for h, _, _ in heads) + " | training s (all folds) |",
        "|---|---:|" + "---:|" * (len(heads) + 1),
        f"| {summary['model']} | {summary['folds']} | "
        + " | ".join(_f(summary["test"].get(p), s) for _, p, s in heads)
        + f" | {summary['train_seconds']:.0f} |",
    ]
    return "\n".join(lines) + "\n"


def targets(by_task: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The issue's targets on the demo data, each PASS or FAIL with its figures."""
    out = []
    for task, metrics in by_task.items():
        for m in metrics:
            if m["model"] != "mean":
                r = ratio(task_of(task), m["test"])
                verdict = "PASS" if r is not None and r < 1 else "FAIL"
                out.append(f"{verdict} {task}: {m['model']} beats the mean baseline ({_f(r, '.2f')}x)")
    for m in by_task.get("static", []):
        if m["model"] != "mean":
            r2 = m["test"]["arousal"]["r2"]
            verdict = "PASS" if r2 is not None and r2 > 0.5 else "FAIL"
            out.append(f"{verdict} static: {m['model']} arousal R² {_f(r2, '.3f')} > 0.5")
    for m in by_task.get("dynamic", []):
        if m["model"] != "mean":
            for d in ("arousal", "valence"):
                ours, base = (m["test"][d][k]["rmse"]["mean"] for k in ("per_song", "baseline_per_song"))
                verdict = "PASS" if ours < base else "FAIL"
                out.append(f"{verdict} dynamic: {m['model']} {d} RMSE/song {ours:.3f} < mean's {base:.3f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=Path("demo/features.h5"))
    parser.add_argument("--out", type=Path, default=Path("demo/tasks"))
    parser.add_argument("--models", default="mean,cnn_small,crnn", help="comma-separated names")
    parser.add_argument("--tasks", default=",".join(TASK_NAMES))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5, help="cv folds of cnn_small on the window task (0: none)")
    parser.add_argument("--cv-epochs", type=int, default=10)
    parser.add_argument("--markdown", type=Path, help="write the tables here too")
    parser.add_argument(
        "--runs", type=Path, nargs="*", help="skip training: tabulate these run directories and cv folders"
    )
    args = parser.parse_args(argv)
    runs, cvs = [], []
    if args.runs:
        for path in args.runs:
            (cvs if (path / "cv.json").is_file() else runs).append(path)
    else:
        base = {"features": args.features, "epochs": args.epochs, "patience": args.patience, "seed": args.seed}
        for task in args.tasks.split(","):
            for name in args.models.split(","):
                runs.append(train(TrainConfig(model=name, task=task, out=args.out / task, **base), progress=False))
        if args.folds:
            config = TrainConfig(model="cnn_small", out=args.out / "cv", **{**base, "epochs": args.cv_epochs})
            cvs.append(cross_validate(config, args.folds, progress=False))
    by_task: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        m = json.loads((run / "metrics.json").read_text())
        by_task.setdefault(m.get("task", "window"), []).append(m)
    parts = [task_table(task, by_task[task]) for task in TASK_NAMES if task in by_task]
    parts += [cv_table(json.loads((c / "cv.json").read_text())) for c in cvs]
    text = "\n".join(parts) + "\n" + "\n".join(targets(by_task)) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
