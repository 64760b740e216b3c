"""What a tracked run logs, as pure functions of a run's own files.

- params: ``config.json`` flattened to dotted keys (``train.lr``, ``model.options.dropout``);
  long lists (a split's song ids, the normaliser) are logged as their length;
- per epoch: the ``history.csv`` row's losses, learning rate and seconds;
- final: ``metrics.json``'s validation and test figures (``val.mse``, ``test.arousal.ccc``,
  ``test.vs_baseline``), the best epoch and the training seconds; a cv's mean (and std) over folds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from mer_zoo.metrics import flatten
from mer_zoo.tasks import get_task, ratio

__all__ = ["ARTIFACTS", "EPOCH_METRICS", "cv_figures", "epoch_metrics", "final_figures", "flat_params"]

# The files of a run kept with its tracked run (those that exist).
ARTIFACTS = ("metrics.json", "curves.png", "best.pt", "config.json", "history.csv")
# history.csv column -> (MLflow metric, TensorBoard tag)
EPOCH_METRICS = {
    "train_loss": ("train_loss", "loss/train"),
    "val_loss": ("val_loss", "loss/val"),
    "lr": ("lr", "lr"),
    "seconds": ("epoch_seconds", "time/epoch_seconds"),
    "data_seconds": ("data_seconds", "time/data_seconds"),
}
_LONGEST_LIST = 8
_LONGEST_VALUE = 500  # MLflow's oldest limit on a parameter's value


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) > _LONGEST_LIST:
        return f"[{len(value)} items]"
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:_LONGEST_VALUE]


def flat_params(record: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested record (``config.json``) as dotted keys and text values; lists of more than 8 items as their length."""
    out: dict[str, str] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, path + "."))
        else:
            out[path] = _value(value)
    return out


def epoch_metrics(row: Mapping[str, float]) -> dict[str, float]:
    """One ``history.csv`` row as MLflow metric names (``train_loss``, ``val_loss``, ``lr``, ``epoch_seconds``, ...)."""
    return {EPOCH_METRICS[k][0]: float(v) for k, v in row.items() if k in EPOCH_METRICS and _finite(v)}


def final_figures(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``metrics.json``'s figures: ``val.*`` and ``test.*`` (with ``vs_baseline``), ``best_epoch``, ``train_seconds``."""
    task = get_task(metrics.get("task", "window"))
    out: dict[str, float] = {}
    for part in ("val", "test"):
        if part in metrics:
            block = {**metrics[part], "vs_baseline": ratio(task, metrics[part])}
            out.update(flatten(block, f"{part}."))
    for key in ("best_epoch", "epochs_run", "train_seconds"):
        if key in metrics:
            out[key] = float(metrics[key])
    return {k: v for k, v in out.items() if _finite(v)}


def cv_figures(summary: Mapping[str, Any]) -> dict[str, float]:
    """``cv.json``'s figures: each one's mean over folds under the run's name (``test.mse``), its std as ``std.test.mse``."""
    out: dict[str, float] = {}
    for part in ("val", "test"):
        for path, entry in summary.get(part, {}).items():
            for stat, prefix in (("mean", ""), ("std", "std.")):
                if entry.get(stat) is not None:
                    out[f"{prefix}{part}.{path}"] = float(entry[stat])
    out["train_seconds"] = float(summary.get("train_seconds", 0.0))
    return {k: v for k, v in out.items() if _finite(v)}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
