"""Re-score a run's best checkpoint, and compare runs in a leaderboard.

``evaluate(RUN)`` scores ``best.pt`` again on the run's own validation and test songs;
``evaluate(RUN, features=OTHER)`` scores it on every song of another store whose feature
settings equal the run's. ``compare(RUNS)`` reads each run's ``metrics.json`` into one
table, best test MSE first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.metrics import SCALE, metrics_block
from mer_zoo.runs import open_run

__all__ = ["LEADERBOARD_COLUMNS", "compare", "evaluate", "leaderboard_markdown", "leaderboard_table"]

LEADERBOARD_COLUMNS = [
    "run", "model", "split", "test_songs", "test_windows", "test_mse", "baseline_mse", "vs_baseline",
    "arousal_r2", "arousal_ccc", "valence_r2", "valence_ccc", "params", "train_seconds",
]  # fmt: skip


def evaluate(run_dir: str | os.PathLike[str], features: str | os.PathLike[str] | None = None, *, device: str = "auto") -> dict[str, Any]:
    """Score a run's ``best.pt``; with ``features`` on all songs of that store (same settings required).

    Returns:
        A dict shaped like ``metrics.json``: ``val`` and ``test`` blocks for the run's own
        store, or one ``all`` block for another store.
    """
    from mer_zoo.data import FeatureDataset
    from mer_zoo.runs import require_same_features
    from mer_zoo.train import evaluate_model, make_loader, resolve_device, use_all_cores

    run = open_run(run_dir)
    store = Path(features) if features is not None else run.store_path
    require_same_features(store, run)
    dev = resolve_device(device)
    use_all_cores()
    model = run.build_model("best.pt", dev)
    read = {"feature_set": run.feature_set, "as_vector": run.as_vector, "normalizer": run.normalizer()}
    split = run.split()
    if features is None:
        parts = {part: FeatureDataset(store, part, songs=split, **read) for part in ("val", "test")}
        split_info: dict[str, Any] = {"kind": split.kind, "params": split.params,
                                      "songs": {p: len(split.part(p)) for p in ("train", "val", "test")}}
    else:
        parts = {"all": FeatureDataset(store, "all", **read)}
        split_info = {"kind": "all songs of another store", "params": {}, "songs": {"all": len(set(parts["all"].song_ids.tolist()))}}
    result: dict[str, Any] = {
        "run": str(run.path),
        "model": run.model_name,
        "model_options": run.model_options,
        "scale": SCALE,
        "split": split_info,
        "features": str(store.resolve()),
        "checkpoint": "best.pt",
    }
    for name, ds in parts.items():
        loader = make_loader(ds, 128, shuffle=False)
        preds = evaluate_model(model, loader, dev)
        result[name] = metrics_block(np.asarray(ds.targets), preds, np.asarray(ds.song_ids), run.train_mean)
    return result


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise MerZooError(f"{run_dir}: no metrics.json (the run did not finish; continue it with `mer-zoo train --resume {run_dir}`)")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise MerZooError(f"{path}: unreadable metrics ({err})") from None


def compare(run_dirs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """One row per run from its ``metrics.json`` (test part), sorted by test MSE.

    ``vs_baseline`` is test MSE divided by the mean baseline's on the same windows.
    ``attrs["same_test_songs"]`` says whether every run was tested on the same songs.
    """
    if not run_dirs:
        raise InputError("compare needs at least one run directory")
    rows, test_sets = [], set()
    for d in run_dirs:
        run = open_run(d)
        m = _read_metrics(run.path)
        t = m["test"]
        test_sets.add(tuple(sorted(run.split().test)))
        rows.append({
            "run": run.path.name,
            "model": m["model"],
            "split": m["split"]["kind"],
            "test_songs": t["n_songs"],
            "test_windows": t["n_windows"],
            "test_mse": t["mse"],
            "baseline_mse": t["baseline_mse"],
            "vs_baseline": t["mse"] / t["baseline_mse"] if t["baseline_mse"] else None,
            "arousal_r2": t["arousal"]["r2"],
            "arousal_ccc": t["arousal"]["ccc"],
            "valence_r2": t["valence"]["r2"],
            "valence_ccc": t["valence"]["ccc"],
            "params": m.get("params"),
            "train_seconds": m.get("train_seconds"),
        })  # fmt: skip
    df = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS).sort_values("test_mse", kind="stable").reset_index(drop=True)
    df.attrs["same_test_songs"] = len(test_sets) == 1
    return df


_FORMATS = {
    "test_mse": "{:.4f}", "baseline_mse": "{:.4f}", "vs_baseline": "{:.2f}",
    "arousal_r2": "{:.3f}", "arousal_ccc": "{:.3f}", "valence_r2": "{:.3f}", "valence_ccc": "{:.3f}",
    "params": "{:,}", "train_seconds": "{:.1f}",
}  # fmt: skip


def _cells(df: pd.DataFrame) -> list[list[str]]:
    out = []
    for row in df.itertuples(index=False):
        cells = []
        for col, value in zip(df.columns, row):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                cells.append("-")
            else:
                cells.append(_FORMATS.get(col, "{}").format(value))
        out.append(cells)
    return out


def leaderboard_markdown(df: pd.DataFrame) -> str:
    """The leaderboard as a GitHub Markdown table (MSE on scale [-1, 1])."""
    right = {c for c in df.columns if c not in ("run", "model", "split")}
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "|".join("---:" if c in right else "---" for c in df.columns) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in _cells(df)]
    return "\n".join(lines) + "\n"


_SHORT = {
    "test_songs": "songs", "test_windows": "windows", "test_mse": "MSE", "baseline_mse": "mean MSE",
    "vs_baseline": "ratio", "arousal_r2": "A R²", "arousal_ccc": "A CCC", "valence_r2": "V R²",
    "valence_ccc": "V CCC", "train_seconds": "train s",
}  # fmt: skip


def leaderboard_table(df: pd.DataFrame, title: str = "") -> Any:
    """The leaderboard as a rich table for the terminal (short headers; the CSV has the full names)."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=title or f"leaderboard: test part, scale {SCALE}, lower MSE is better",
        caption="ratio = MSE / mean-baseline MSE on the same windows; A = arousal, V = valence",
        box=box.SIMPLE_HEAD,
    )
    for col in df.columns:
        table.add_column(_SHORT.get(col, col), justify="left" if col in ("run", "model", "split") else "right")
    for cells in _cells(df):
        table.add_row(*cells)
    return table
