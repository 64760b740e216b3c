"""Re-score a run's best checkpoint, on its own songs or on every song of another store.

``evaluate(RUN)`` scores ``best.pt`` again on the run's validation and test songs, in its
task's figures. ``evaluate(RUN, features=OTHER)`` scores it on every labelled song of another
store whose feature settings fit the run's, which may be another corpus: predictions are then
mapped linearly from the run's label scale onto the other store's (``Scale.map_to``), and the
result names both corpora and both scales. Leaderboards are in :mod:`mer_zoo.compare`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.errors import MerZooError
from mer_zoo.runs import open_run
from mer_zoo.scales import parse_scale
from mer_zoo.tasks import (
    TaskLabels,
    check_task,
    from_model,
    get_task,
    read_labels,
    scale_label,
    score,
    task_scale,
    unlabelled_songs,
)

__all__ = ["evaluate"]


def _labelled(labels: TaskLabels, unlabelled: list[int]) -> np.ndarray:
    return ~np.isin(labels.song_ids, unlabelled)


def evaluate(
    run_dir: str | os.PathLike[str], features: str | os.PathLike[str] | None = None, *, device: str = "auto"
) -> dict[str, Any]:
    """Score a run's ``best.pt``; with ``features`` on all labelled songs of that store.

    Returns:
        A dict shaped like ``metrics.json``: ``val`` and ``test`` blocks for the run's own
        store, or one ``all`` block for another store, with ``source`` and ``target``
        (dataset, scale, store) and ``mapping`` (a sentence, or None when the scales agree).
    """
    from mer_zoo.data import FeatureDataset
    from mer_zoo.runs import require_same_features
    from mer_zoo.training import evaluate_model, make_loader, resolve_device, use_all_cores
    from mer_zoo.training.setup import model_frames

    run = open_run(run_dir)
    task = get_task(run.task)
    store = Path(features) if features is not None else run.store_path
    found = require_same_features(store, run)
    check_task(task, run.model_name, 2, found)
    if task.labels == "frames" and found["frames_per_window"] != run.frames_per_window:
        raise MerZooError(
            f"{store}: {found['frames_per_window']} label frames per window, but run {run.path} predicts "
            f"{run.frames_per_window} (its store's); the dynamic task needs the same label rate"
        )
    source, target = parse_scale(run.scale), task_scale(task, found["scales"], found["window_labels"])
    dev = resolve_device(device)
    use_all_cores()
    model = run.build_model("best.pt", dev)
    read = {"feature_set": run.feature_set, "as_vector": run.as_vector, "normalizer": run.normalizer(),
            "skip_silent": run.skip_silent}  # fmt: skip
    split = run.split()
    if features is None:
        parts = {part: FeatureDataset(store, part, songs=split, **read) for part in ("val", "test")}
        split_info: dict[str, Any] = {"kind": split.kind, "params": split.params,
                                      "songs": {p: len(split.part(p)) for p in ("train", "val", "test")}}  # fmt: skip
    else:
        parts = {"all": FeatureDataset(store, "all", **read)}
        split_info = {
            "kind": "all songs of another store",
            "params": {},
            "songs": {"all": len(set(parts["all"].song_ids.tolist()))},
        }
    mapped = features is not None and (source.low, source.high) != (target.low, target.high)
    ours = run.config["store"].get("dataset")
    result: dict[str, Any] = {
        "run": str(run.path),
        "model": run.model_name,
        "model_options": run.model_options,
        "task": task.name,
        "unit": task.unit,
        "scale": scale_label(target),
        "dataset": found["dataset"],
        "split": split_info,
        "features": str(store.resolve()),
        "checkpoint": "best.pt",
        "source": {"dataset": ours, "scale": run.scale, "store": str(run.store_path)},
        "target": {"dataset": found["dataset"], "scale": scale_label(target), "store": str(store.resolve())},
        "mapping": (
            f"predictions mapped linearly from the run's scale {run.scale} ({ours}) "
            f"onto {scale_label(target)} ({found['dataset']})"
            if mapped else None
        ),
    }  # fmt: skip
    train_mean = source.map_to(np.asarray(run.train_mean), target) if mapped else np.asarray(run.train_mean)
    skip = unlabelled_songs(task, store) if features is not None else []
    for name, ds in parts.items():
        loader = make_loader(ds, 128, shuffle=False, pin_memory=dev.type == "cuda")
        preds = evaluate_model(model, loader, dev, model_frames(run))
        labels = read_labels(task, store, ds.rows)
        keep = _labelled(labels, skip)
        if not keep.any():
            raise MerZooError(f"{store}: no song has {task.name} labels")
        labels = TaskLabels(
            labels.targets[keep],
            labels.song_ids[keep],
            None if labels.frame_times is None else labels.frame_times[keep],
        )
        preds = from_model(preds[keep], source)
        preds = source.map_to(preds, target) if mapped else preds
        result[name] = score(task, labels, preds, train_mean)
    return result
