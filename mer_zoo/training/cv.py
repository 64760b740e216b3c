"""k-fold cross-validation by song: one run per fold under one parent folder, and ``cv.json``.

Fold ``i`` of ``k`` is the split ``kfold:i/k`` (:func:`mer_zoo.splits.kfold_split`): its test
part is the ``i``-th of ``k`` seeded, disjoint song groups, so every song is tested once.
``split="group:artist"`` makes the folds of whole artists instead (``group:artist:i/k``).
``cv.json`` holds, for the validation and test parts, every figure of the folds'
``metrics.json`` as ``mean``, population ``std``, ``n`` and the per-fold ``values``.

Tracked, a cv is a parent run with one child run per fold; ``on_fold`` observes each finished
fold (a tuning study reports it to its pruner, and may stop the cv by raising ``Stopped``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.folds import fold_family, fold_split
from mer_zoo.metrics import flatten, mean_std
from mer_zoo.runs import open_run, write_json
from mer_zoo.tasks import get_task, ratio
from mer_zoo.tracking import NO_TRACKING, Tracker, cv_figures, flat_params
from mer_zoo.training.config import TrainConfig
from mer_zoo.training.console import fmt, make_console
from mer_zoo.training.runner import train
from mer_zoo.training.setup import new_run_dir

__all__ = ["CV_FILE", "cross_validate", "cv_table", "cv_title", "summarise_folds"]

CV_FILE = "cv.json"


def summarise_folds(run_dirs: Sequence[Path]) -> dict[str, Any]:
    """The ``cv.json`` summary of finished fold runs: mean ± std over folds of every figure."""
    metrics = [json.loads((Path(d) / "metrics.json").read_text()) for d in run_dirs]
    first, run = metrics[0], open_run(run_dirs[0])
    task = get_task(first.get("task", "window"))
    summary: dict[str, Any] = {
        "kind": "cv",
        "model": first["model"],
        "model_options": first["model_options"],
        "params": first["params"],
        "task": task.name,
        "unit": first.get("unit", task.unit),
        "scale": first["scale"],
        "dataset": first.get("dataset"),
        "features": first["features"],
        "folds": len(metrics),
        "split": {"kind": first["split"]["kind"],
                  "params": {k: v for k, v in first["split"]["params"].items() if k != "fold"},
                  "songs": len(run.split().part("all"))},
        "runs": [Path(d).name for d in run_dirs],
        "train_seconds": round(sum(float(m["train_seconds"]) for m in metrics), 3),
    }  # fmt: skip
    for part in ("val", "test"):
        rows: list[dict[str, float | None]] = [
            {**flatten(m[part]), "vs_baseline": ratio(task, m[part])} for m in metrics
        ]
        paths = sorted({p for row in rows for p, v in row.items() if v is not None})
        summary[part] = {}
        for p in paths:
            values = [row.get(p) for row in rows]
            summary[part][p] = {**mean_std([v for v in values if v is not None]), "values": values}
    return summary


def cv_title(summary: Mapping[str, Any]) -> str:
    """One line naming the model, folds, task, scale, songs and seed of a cross-validation."""
    by = summary["split"]["params"].get("column", "song")
    return (
        f"{summary['model']}: {summary['folds']}-fold cv by {by} (task {summary['task']}, scale {summary['scale']}, "
        f"{summary['split']['songs']} songs, seed {summary['split']['params'].get('seed')})"
    )


def cv_table(summary: Mapping[str, Any]) -> Any:
    """A rich table of the test figures: mean ± std over folds, and each fold's value (``cv_title`` names it)."""
    from rich import box
    from rich.table import Table

    task = get_task(summary["task"])
    table = Table(caption="test part of each fold; mean ± population std over folds", box=box.SIMPLE_HEAD)
    table.add_column("figure", justify="left")
    table.add_column("mean ± std", justify="right")
    for i in range(summary["folds"]):
        table.add_column(f"fold {i + 1}", justify="right")
    for name, path in (*task.columns, ("vs_baseline", "vs_baseline")):
        entry = summary["test"].get(path)
        if entry is not None:
            table.add_row(name, fmt(entry, ".4f"), *(fmt(v, ".4f") for v in entry["values"]))
    return table


def cross_validate(
    config: TrainConfig,
    folds: int | None = None,
    *,
    split: str = "kfold",
    progress: bool = True,
    console: Any = None,
    tracker: Tracker = NO_TRACKING,
    on_fold: Callable[[int, Path], None] | None = None,
) -> Path:
    """Train ``config`` once per fold of a ``folds``-fold split by song; returns the parent folder with ``cv.json``.

    ``config.split`` is ignored: fold ``i`` trains with ``SPLIT:i/folds`` under ``config.seed``
    (``split`` a family: ``kfold`` or ``group:COLUMN[:K]``; ``folds`` None: K or 5), over
    ``config.songs`` when given. ``on_fold(i, run_dir)`` is called after each fold.
    """
    split, folds = fold_family(split, folds)
    if folds < 2:
        raise InputError(f"--folds must be at least 2, got {folds}")
    console = console or make_console()
    parent = new_run_dir(config.out, f"cv-{config.model.strip().lower()}-{config.task}")
    runs: list[Path] = []
    params = flat_params({"train": config.to_dict(), "cv": {"folds": folds}, "run_dir": str(parent)})
    try:
        with tracker.run(parent.name, params) as tracked:
            for fold in range(1, folds + 1):
                console.print(f"[bold]fold {fold}/{folds}[/bold] ({time.strftime('%H:%M:%S')})")
                fold_config = dataclasses.replace(config, out=parent, split=fold_split(split, fold, folds))
                runs.append(train(fold_config, progress=progress, console=console, tracker=tracked))
                if on_fold is not None:
                    on_fold(fold, runs[-1])
            summary = summarise_folds(runs)
            write_json(parent / CV_FILE, summary)
            tracked.final(cv_figures(summary), 0, [parent / CV_FILE])
    except MerZooError:
        if not runs and not any(parent.iterdir()):
            parent.rmdir()  # refused before any fold started: leave nothing behind
        raise
    console.print(cv_title(summary), highlight=False)
    console.print(cv_table(summary))
    return parent
