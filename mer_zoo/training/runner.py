"""One model on one store's song-level split and task, into a run directory: train, resume, score.

``train(TrainConfig(model="cnn_small"))`` fits the normaliser on the training songs, trains
(or fits) the model, then scores ``best.pt`` on the validation and test songs against the
mean baseline in the task's figures (``metrics.json``). ``resume(RUN)`` continues an
interrupted run from ``last.pt``. The layout is in :mod:`mer_zoo.runs`.

A ``tracker`` (:mod:`mer_zoo.tracking`) observes the run: its config as params, each epoch's
history row, and at the end the figures of ``metrics.json`` with the run's files.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mer_zoo.runs import Run, load_checkpoint, open_run, require_same_features, write_json
from mer_zoo.tasks import from_model, get_task, score
from mer_zoo.tracking import ARTIFACTS, NO_TRACKING, Tracker, final_figures, flat_params
from mer_zoo.training.batches import evaluate_model
from mer_zoo.training.config import TrainConfig
from mer_zoo.training.console import make_console, summary_table
from mer_zoo.training.fit import fit_model, is_fitted
from mer_zoo.training.loop import HISTORY_COLUMNS, part_loader, train_epochs
from mer_zoo.training.runtime import determinism, resolve_device, seed_everything, use_all_cores
from mer_zoo.training.setup import RunData, open_data, start_run

__all__ = ["resume", "score_run", "train"]


def train(config: TrainConfig, *, progress: bool = True, console: Any = None, tracker: Tracker = NO_TRACKING) -> Path:
    """Train ``config.model`` into a new run directory under ``config.out`` and return it."""
    run = start_run(config)
    return _fit(run, config, resume_from=None, progress=progress, console=console, tracker=tracker)


def resume(
    run_dir: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    progress: bool = True,
    console: Any = None,
    tracker: Tracker = NO_TRACKING,
) -> Path:
    """Continue an interrupted run from its ``last.pt`` up to its (or the given) epoch count."""
    run = open_run(run_dir)
    config = TrainConfig.from_dict(run.config["train"])
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
        record = dict(run.config, train=config.to_dict())
        write_json(run.path / "config.json", record)
        run = open_run(run.path)
    last = run.path / "last.pt"
    resume_from = last if last.exists() else None
    return _fit(run, config, resume_from=resume_from, progress=progress, console=console, tracker=tracker)


def _fit(
    run: Run, config: TrainConfig, *, resume_from: Path | None, progress: bool, console: Any, tracker: Tracker
) -> Path:
    console = console or make_console()
    use_all_cores()
    device = resolve_device(config.device)
    store = run.store_path
    require_same_features(store, run)
    data = open_data(run, store, config.augment)
    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    from mer_zoo.models import get_model

    model = get_model(run.model_name, n_mels=run.n_features, **run.model_options).to(device)
    history = pd.DataFrame(columns=HISTORY_COLUMNS)
    start = time.perf_counter()
    with (
        determinism(device),
        tracker.run(run.path.name, flat_params({**run.config, "run_dir": str(run.path)})) as tracked,
    ):
        if is_fitted(model):
            history = fit_model(model, run, data, device)
        else:
            try:
                history = train_epochs(model, run, config, data, device, generator, resume_from, progress, console,
                                       on_epoch=tracked.epoch)  # fmt: skip
            except KeyboardInterrupt:
                console.print(f"interrupted: continue with `mer-zoo train --resume {run.path}`")
                raise
        fit_seconds = time.perf_counter() - start
        metrics = score_run(run, config, data, device, history, fit_seconds)
        write_json(run.path / "metrics.json", metrics)
        from mer_zoo.plots import plot_curves

        plot_curves(history, run.path / "curves.png", title=f"{run.model_name} ({run.task} task): {run.path.name}")
        tracked.final(final_figures(metrics), int(len(history)), [run.path / name for name in ARTIFACTS])
    console.print(summary_table(metrics))
    return run.path


def score_run(
    run: Run, config: TrainConfig, data: RunData, device: torch.device, history: pd.DataFrame, fit_seconds: float
) -> dict[str, Any]:
    """``metrics.json``: the run's settings and ``best.pt`` scored on the validation and test parts."""
    model = run.build_model("best.pt", device)
    best = load_checkpoint(run.path / "best.pt")
    split = run.split()
    task = get_task(run.task)
    metrics: dict[str, Any] = {
        "model": run.model_name,
        "model_options": run.model_options,
        "params": int(run.config["model"]["params"]),
        "task": task.name,
        "unit": task.unit,
        "scale": run.scale,
        "dataset": run.config["store"].get("dataset"),
        "split": {"kind": split.kind, "params": split.params,
                  "songs": {part: len(split.part(part)) for part in ("train", "val", "test")}},
        "features": str(run.store_path),
        "checkpoint": "best.pt",
        "best_epoch": int(best["epoch"]),
        "epochs_run": int(len(history)),
        "train_seconds": round(float(history["seconds"].sum()) if len(history) else fit_seconds, 3),
        "device": str(device),
    }  # fmt: skip
    for name, part in (("val", data.val), ("test", data.test)):
        preds = evaluate_model(model, part_loader(part, config, device, shuffle=False), device, data.n_frames)
        metrics[name] = score(task, part.labels, from_model(preds, data.scale), data.train_mean)
    return metrics
