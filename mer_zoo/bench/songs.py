"""A run's test songs one by one: truth, prediction and the song's share of the ranking figure.

``scored_songs(RUN)`` scores ``best.pt`` on the run's test part again and keeps one row per
song: the song's mean ``[arousal, valence]`` truth and prediction on the task's scale, its
``error`` in the task's ranking figure and the ``weight`` that figure gives it, so that
``pooled(rows) = sum(weight * error) / sum(weight)`` is the run's own test figure: the MSE
over windows (window task; weight = the song's windows), over songs (static; weight 1), or
the per-song RMSE averaged over songs (dynamic; weight 1). The rows are cached next to the run
as ``test_songs.csv``, so a bench or a report computes them once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mer_zoo.runs import open_run
from mer_zoo.scales import parse_scale
from mer_zoo.tasks import Task, TaskLabels, frame_rows, from_model, get_task, hold, pool_songs, read_labels

__all__ = ["SONGS_FILE", "SONG_COLUMNS", "pooled", "scored_songs", "song_rows"]

SONGS_FILE = "test_songs.csv"
SONG_COLUMNS = ("song_id", "arousal_true", "valence_true", "arousal_pred", "valence_pred", "error", "weight")


def _per_song(song_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Songs (sorted), the mean of ``values`` ``(n, d)`` per song, and each song's row count."""
    songs, means = pool_songs(values, song_ids)
    _, counts = np.unique(np.asarray(song_ids), return_counts=True)
    return songs, means, counts


def song_rows(task: Task, labels: TaskLabels, predictions: np.ndarray) -> pd.DataFrame:
    """One row per song (``SONG_COLUMNS``) from a part's labels and predictions on the task's scale (pure)."""
    p = np.asarray(predictions, dtype=np.float64)
    if task.pooling == "none":
        sq = ((np.asarray(labels.targets, dtype=np.float64) - p) ** 2).mean(axis=1, keepdims=True)
        songs, means, counts = _per_song(labels.song_ids, np.hstack([labels.targets, p, sq]))
        truth, pred, error, weight = means[:, :2], means[:, 2:4], means[:, 4], counts.astype(np.float64)
    elif task.pooling == "song_mean":
        songs, truth = pool_songs(labels.targets, labels.song_ids)
        _, pred = pool_songs(p, labels.song_ids)
        error, weight = ((truth - pred) ** 2).mean(axis=1), np.ones(len(songs))
    else:
        if labels.frame_times is None:
            raise ValueError(f"task {task.name!r}: the labels have no frame times")
        frame_songs, t, f = frame_rows(labels.song_ids, labels.frame_times, labels.targets,
                                       hold(p, labels.targets.shape[1]))  # fmt: skip
        songs, means, _ = _per_song(frame_songs, np.hstack([t, f, (t - f) ** 2]))
        truth, pred = means[:, :2], means[:, 2:4]
        error, weight = np.sqrt(means[:, 4:6]).mean(axis=1), np.ones(len(songs))
    return pd.DataFrame({"song_id": songs.astype(np.int64), "arousal_true": truth[:, 0], "valence_true": truth[:, 1],
                         "arousal_pred": pred[:, 0], "valence_pred": pred[:, 1], "error": error, "weight": weight})  # fmt: skip


def pooled(rows: pd.DataFrame) -> float:
    """The ranking figure over ``rows``: their errors averaged with their weights."""
    w = rows["weight"].to_numpy(dtype=np.float64)
    return float((w * rows["error"].to_numpy(dtype=np.float64)).sum() / w.sum())


def scored_songs(run_dir: str | os.PathLike[str], *, device: str = "cpu") -> pd.DataFrame:
    """The run's test songs (``SONG_COLUMNS``), read from ``test_songs.csv`` or computed once and saved there."""
    path = Path(run_dir) / SONGS_FILE
    if path.exists():
        return pd.read_csv(path)
    from mer_zoo.data import FeatureDataset
    from mer_zoo.training import evaluate_model, make_loader, resolve_device
    from mer_zoo.training.setup import model_frames

    run = open_run(run_dir)
    task, dev = get_task(run.task), resolve_device(device)
    ds = FeatureDataset(run.store_path, "test", songs=run.split(), feature_set=run.feature_set,
                        as_vector=run.as_vector, normalizer=run.normalizer())  # fmt: skip
    raw = evaluate_model(run.build_model("best.pt", dev), make_loader(ds, 128, shuffle=False), dev, model_frames(run))
    rows = song_rows(task, read_labels(task, run.store_path, ds.rows), from_model(raw, parse_scale(run.scale)))
    tmp = path.with_name(path.name + ".tmp")
    rows.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return rows
